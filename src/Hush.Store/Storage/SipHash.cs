using System.Buffers.Binary;
using System.Numerics;

namespace Hush.Store.Storage;

/// <summary>
/// SipHash-2-4 (Aumasson and Bernstein, 2012): a pseudorandom function of short inputs under a 128-bit key, built for
/// keyed hash tables. The store keys its Bloom-filter terms with it: without the key an output neither reveals nor
/// confirms an input, as with an HMAC, at a twentieth of the cost of one HMAC-SHA256 call through OpenSSL for the
/// short strings terms are. Checked against the reference vectors of the paper.
/// </summary>
internal readonly struct SipHash
{
    private readonly ulong _k0;
    private readonly ulong _k1;

    /// <summary>A hash under the 16-byte <paramref name="key"/> (read little-endian, as the reference does).</summary>
    public SipHash(ReadOnlySpan<byte> key)
    {
        if (key.Length != 16)
        {
            throw new ArgumentException("a SipHash key is 16 bytes", nameof(key));
        }

        _k0 = BinaryPrimitives.ReadUInt64LittleEndian(key);
        _k1 = BinaryPrimitives.ReadUInt64LittleEndian(key[8..]);
    }

    public ulong Hash(ReadOnlySpan<byte> data)
    {
        var state = Start();
        state.Append(data);
        return state.Finish();
    }

    /// <summary>A hash fed in pieces: the same value as <see cref="Hash"/> of the pieces concatenated.</summary>
    public SipHashStream Start() => new(_k0, _k1);

    internal static void Round(ref ulong v0, ref ulong v1, ref ulong v2, ref ulong v3)
    {
        v0 += v1;
        v1 = BitOperations.RotateLeft(v1, 13);
        v1 ^= v0;
        v0 = BitOperations.RotateLeft(v0, 32);
        v2 += v3;
        v3 = BitOperations.RotateLeft(v3, 16);
        v3 ^= v2;
        v0 += v3;
        v3 = BitOperations.RotateLeft(v3, 21);
        v3 ^= v0;
        v2 += v1;
        v1 = BitOperations.RotateLeft(v1, 17);
        v1 ^= v2;
        v2 = BitOperations.RotateLeft(v2, 32);
    }
}

/// <summary>
/// SipHash-2-4 fed in pieces, bytes or ASCII text, without copying them into one buffer first: the store hashes
/// <c>kind | key | 0 | value</c> with the key's prefix absorbed once per block and the value read straight from its
/// UTF-16 characters when they are ASCII (their UTF-8 bytes are their low bytes). A copy of the struct is a copy of the
/// state, so a prefix is resumed by value.
/// </summary>
internal struct SipHashStream
{
    private ulong _v0;
    private ulong _v1;
    private ulong _v2;
    private ulong _v3;

    /// <summary>Bytes not yet compressed (fewer than 8, little-endian).</summary>
    private ulong _tail;

    /// <summary>Bytes fed so far (the final block holds its low 8 bits).</summary>
    private int _length;

    internal SipHashStream(ulong k0, ulong k1)
    {
        _v0 = k0 ^ 0x736f6d6570736575UL;
        _v1 = k1 ^ 0x646f72616e646f6dUL;
        _v2 = k0 ^ 0x6c7967656e657261UL;
        _v3 = k1 ^ 0x7465646279746573UL;
        _tail = 0;
        _length = 0;
    }

    public void Append(byte value)
    {
        _tail |= (ulong)value << (8 * (_length & 7));
        if ((++_length & 7) == 0)
        {
            Compress(_tail);
            _tail = 0;
        }
    }

    public void Append(ReadOnlySpan<byte> data)
    {
        var i = 0;
        while ((_length & 7) != 0 && i < data.Length)
        {
            Append(data[i++]);
        }

        _length += data.Length - i;
        for (; i + 8 <= data.Length; i += 8)
        {
            Compress(BinaryPrimitives.ReadUInt64LittleEndian(data[i..]));
        }

        for (var shift = 0; i < data.Length; i++, shift += 8)
        {
            _tail |= (ulong)data[i] << shift;
        }
    }

    /// <summary>Feeds the UTF-8 bytes of <paramref name="text"/>, which the caller has checked to be all ASCII (<see cref="System.Text.Ascii.IsValid(ReadOnlySpan{char})"/>).</summary>
    public void AppendAscii(ReadOnlySpan<char> text)
    {
        var i = 0;
        while ((_length & 7) != 0 && i < text.Length)
        {
            Append((byte)text[i++]);
        }

        if (!BitConverter.IsLittleEndian)
        {
            for (; i < text.Length; i++)
            {
                Append((byte)text[i]);
            }

            return;
        }

        // Eight characters (16 bytes of UTF-16, little-endian) make one 8-byte word: keep the low byte of each.
        _length += text.Length - i;
        var bytes = System.Runtime.InteropServices.MemoryMarshal.AsBytes(text);
        for (; i + 8 <= text.Length; i += 8)
        {
            var low = BinaryPrimitives.ReadUInt64LittleEndian(bytes[(2 * i)..]);
            var high = BinaryPrimitives.ReadUInt64LittleEndian(bytes[((2 * i) + 8)..]);
            Compress(NarrowAscii(low) | (NarrowAscii(high) << 32));
        }

        for (var shift = 0; i < text.Length; i++, shift += 8)
        {
            _tail |= (ulong)text[i] << shift;
        }
    }

    /// <summary>The hash of everything fed; the state itself is left as it was.</summary>
    public readonly ulong Finish()
    {
        var (v0, v1, v2, v3) = (_v0, _v1, _v2, _v3);
        var last = _tail | ((ulong)(_length & 0xff) << 56);
        v3 ^= last;
        SipHash.Round(ref v0, ref v1, ref v2, ref v3);
        SipHash.Round(ref v0, ref v1, ref v2, ref v3);
        v0 ^= last;
        v2 ^= 0xff;
        SipHash.Round(ref v0, ref v1, ref v2, ref v3);
        SipHash.Round(ref v0, ref v1, ref v2, ref v3);
        SipHash.Round(ref v0, ref v1, ref v2, ref v3);
        SipHash.Round(ref v0, ref v1, ref v2, ref v3);
        return v0 ^ v1 ^ v2 ^ v3;
    }

    /// <summary>Four UTF-16 code units below 0x100 (one little-endian word) to their four low bytes.</summary>
    private static ulong NarrowAscii(ulong chars)
    {
        chars = (chars | (chars >> 8)) & 0x0000ffff0000ffffUL;
        return (chars | (chars >> 16)) & 0x00000000ffffffffUL;
    }

    private void Compress(ulong m)
    {
        var (v0, v1, v2, v3) = (_v0, _v1, _v2, _v3);
        v3 ^= m;
        SipHash.Round(ref v0, ref v1, ref v2, ref v3);
        SipHash.Round(ref v0, ref v1, ref v2, ref v3);
        v0 ^= m;
        (_v0, _v1, _v2, _v3) = (v0, v1, v2, v3);
    }
}
