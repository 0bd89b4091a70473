using System.Buffers;
using System.Buffers.Binary;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Text;

namespace Hush.Otlp.Protobuf;

/// <summary>
/// The sizes of every embedded message, in the order the writer meets them (pre-order). The size
/// pass fills it, the write pass replays it, so each message is measured exactly once.
/// </summary>
internal struct SizeList : IDisposable
{
    private int[] _items;
    private int _count;
    private int _next;

    public SizeList(int capacity)
    {
        _items = ArrayPool<int>.Shared.Rent(capacity);
        _count = 0;
        _next = 0;
    }

    public int Reserve()
    {
        if (_count == _items.Length)
        {
            var bigger = ArrayPool<int>.Shared.Rent(_items.Length * 2);
            _items.AsSpan(0, _count).CopyTo(bigger);
            ArrayPool<int>.Shared.Return(_items);
            _items = bigger;
        }

        return _count++;
    }

    public readonly void Set(int slot, int size) => _items[slot] = size;

    /// <summary>The next recorded size, in write order.</summary>
    public int Next() => _items[_next++];

    // Sizes are not telemetry, so the buffer goes back without clearing.
    public void Dispose()
    {
        if (_items is not null)
        {
            ArrayPool<int>.Shared.Return(_items);
            _items = null!;
        }
    }
}

/// <summary>Writes protobuf wire format into a span that the size pass proved large enough.</summary>
internal ref struct ProtoWriter
{
    /// <summary>
    /// Strings up to this many UTF-16 chars encode to at most 16,383 UTF-8 bytes (3 per char), so their
    /// length prefix is 1 or 2 bytes and can be fixed up after encoding instead of counted first.
    /// </summary>
    private const int ShortLengthMaxChars = 16_383 / 3;

    private readonly Span<byte> _buffer;
    private int _pos;

    public ProtoWriter(Span<byte> buffer)
    {
        _buffer = buffer;
        _pos = 0;
    }

    public readonly int Written => _pos;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void WriteTag(int field, WireType wireType) => WriteVarint((uint)((field << 3) | (int)wireType));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void WriteVarint(ulong value)
    {
        var buffer = _buffer;
        var pos = _pos;
        while (value >= 0x80)
        {
            buffer[pos++] = (byte)(value | 0x80);
            value >>= 7;
        }

        buffer[pos++] = (byte)value;
        _pos = pos;
    }

    public void WriteFixed32(uint value)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(_buffer[_pos..], value);
        _pos += 4;
    }

    public void WriteFixed64(ulong value)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(_buffer[_pos..], value);
        _pos += 8;
    }

    /// <summary>Writes tag, length and UTF-8 bytes of a string field (the caller skips empty strings where proto3 omits them).</summary>
    public void WriteString(int field, string value)
    {
        WriteTag(field, WireType.LengthDelimited);
        if (value.Length <= ShortLengthMaxChars)
        {
            // Encode first, guessing the prefix from the char count (a UTF-8 length is never below it),
            // then write the real prefix: one pass over the string instead of a count and an encode.
            // The size pass counted the real prefix, so the buffer has room at either guess.
            var guess = value.Length < 0x80 ? 1 : 2;
            var written = Encoding.UTF8.GetBytes(value, _buffer[(_pos + guess)..]);
            if (guess == 1 && written >= 0x80)
            {
                _buffer.Slice(_pos + 1, written).CopyTo(_buffer[(_pos + 2)..]);
            }

            WriteVarint((uint)written);
            _pos += written;
            return;
        }

        var length = Encoding.UTF8.GetByteCount(value);
        WriteVarint((uint)length);
        _pos += Encoding.UTF8.GetBytes(value, _buffer[_pos..]);
    }

    public void WriteBytes(int field, ReadOnlySpan<byte> value)
    {
        WriteTag(field, WireType.LengthDelimited);
        WriteVarint((uint)value.Length);
        value.CopyTo(_buffer[_pos..]);
        _pos += value.Length;
    }

    public void WriteTraceId(int field, TraceId id)
    {
        WriteTag(field, WireType.LengthDelimited);
        _buffer[_pos++] = TraceId.Length;
        id.WriteTo(_buffer.Slice(_pos, TraceId.Length));
        _pos += TraceId.Length;
    }

    public void WriteSpanId(int field, SpanId id)
    {
        WriteTag(field, WireType.LengthDelimited);
        _buffer[_pos++] = SpanId.Length;
        id.WriteTo(_buffer.Slice(_pos, SpanId.Length));
        _pos += SpanId.Length;
    }

    /// <summary>Writes the tag and length prefix of an embedded message; its fields follow.</summary>
    public void WriteMessageHeader(int field, int size)
    {
        WriteTag(field, WireType.LengthDelimited);
        WriteVarint((uint)size);
    }
}

/// <summary>Wire-size arithmetic.</summary>
internal static class ProtoSize
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int Varint(ulong value) => ((64 - BitOperations.LeadingZeroCount(value | 1)) + 6) / 7;

    /// <summary>Tag size for a field number: 1 byte up to field 15, 2 bytes up to 2047.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int Tag(int field) => Varint((uint)(field << 3));

    /// <summary>Tag + length prefix + payload of a length-delimited field.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int LengthDelimited(int field, int length) => Tag(field) + Varint((uint)length) + length;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int String(int field, string value) => LengthDelimited(field, Encoding.UTF8.GetByteCount(value));
}
