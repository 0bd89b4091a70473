using System.Buffers;
using System.Buffers.Binary;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Text;

namespace Hush.Otlp.Protobuf;

/// <summary>
/// The forward writer of <see cref="TraceProtoEncoder"/>: writes into a span it is given (the caller's buffer) and,
/// when that runs out, into arrays rented from the pool, grown by doubling. Length prefixes of embedded messages are
/// reserved by <see cref="BeginMessage"/> and filled by <see cref="EndMessage"/>, which moves the body when its length
/// needs another prefix size than was reserved, so the output is canonical. Every rented array held telemetry and is
/// cleared before it goes back (<see cref="Release"/>).
/// </summary>
internal ref struct ForwardWriter
{
    private const int ShortLengthMaxChars = 16_383 / 3;

    /// <summary>Room for a tag and a 64-bit varint.</summary>
    private const int ScalarRoom = 16;

    private readonly Span<byte> _initial;
    private Span<byte> _buffer;
    private byte[]? _rented;
    private int _pos;
    private int _initialWritten;

    /// <summary>The end of what was ever written into the current buffer, when it lies past <see cref="Written"/>.</summary>
    private int _dirty;

    public ForwardWriter(Span<byte> buffer)
    {
        _initial = buffer;
        _buffer = buffer;
        _rented = null;
        _pos = 0;
        _initialWritten = 0;
        _dirty = 0;
    }

    /// <summary>A writer over an array rented from the shared pool (its first buffer is returned like the later ones).</summary>
    public ForwardWriter(byte[] pooled)
    {
        _initial = default;
        _buffer = pooled;
        _rented = pooled;
        _pos = 0;
        _initialWritten = 0;
        _dirty = 0;
    }

    public readonly int Written => _pos;

    /// <summary>True once the writing has moved to a rented array (or started in one).</summary>
    public readonly bool IsRented => _rented is not null;

    public readonly ReadOnlySpan<byte> WrittenSpan => _buffer[.._pos];

    /// <summary>
    /// Where bytes were written into the current buffer: past <see cref="Written"/> when a message's body moved back, a
    /// dropped message was taken back, or an attribute shortcut gave up half way.
    /// </summary>
    private readonly int Dirty => Math.Max(_pos, _dirty);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void WriteTag(int field, WireType wireType) => WriteVarint((uint)((field << 3) | (int)wireType));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void WriteVarint(ulong value)
    {
        Ensure(ScalarRoom);
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
        Ensure(4);
        BinaryPrimitives.WriteUInt32LittleEndian(_buffer[_pos..], value);
        _pos += 4;
    }

    public void WriteFixed64(ulong value)
    {
        Ensure(8);
        BinaryPrimitives.WriteUInt64LittleEndian(_buffer[_pos..], value);
        _pos += 8;
    }

    public void WriteString(int field, string value)
    {
        WriteTag(field, WireType.LengthDelimited);
        if (value.Length <= ShortLengthMaxChars)
        {
            // Encode first, guessing the prefix from the char count (a UTF-8 length is never below it), then write the
            // real prefix: one pass over the string instead of a count and an encode.
            Ensure(2 + (value.Length * 3));
            var guess = value.Length < 0x80 ? 1 : 2;
            var destination = _buffer[(_pos + guess)..];

            // Most telemetry is ASCII: narrowing it costs about half of the general transcoder's call on short strings.
            if (Ascii.FromUtf16(value, destination, out var written) != OperationStatus.Done)
            {
                written = Encoding.UTF8.GetBytes(value, destination);
            }

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
        Ensure(length);
        _pos += Encoding.UTF8.GetBytes(value, _buffer[_pos..]);
    }

    /// <summary>
    /// The common attribute in one go: a <c>KeyValue</c> (as field <paramref name="field"/>, under 16) whose key and
    /// string value are ASCII and short enough for every length prefix to be one byte: one room check, constant tags,
    /// lengths from the char counts. False, with nothing written, when the attribute is not of that kind.
    /// </summary>
    public bool TryWriteShortAsciiAttribute(int field, string key, string value)
    {
        // KeyValue = 0x0A klen key 0x12 alen (AnyValue = 0x0A slen value); every length under 0x80.
        var body = 2 + key.Length + 2 + 2 + value.Length;
        if (body >= 0x80 || key.Length == 0)
        {
            return false;
        }

        Ensure(2 + body);
        var buffer = _buffer;
        var pos = _pos;
        if (Ascii.FromUtf16(key, buffer[(pos + 4)..], out _) != OperationStatus.Done
            || Ascii.FromUtf16(value, buffer[(pos + 4 + key.Length + 4)..], out _) != OperationStatus.Done)
        {
            _dirty = Math.Max(_dirty, pos + 2 + body);
            return false;
        }

        buffer[pos] = (byte)((field << 3) | (int)WireType.LengthDelimited);
        buffer[pos + 1] = (byte)body;
        buffer[pos + 2] = 0x0A;
        buffer[pos + 3] = (byte)key.Length;
        var value0 = pos + 4 + key.Length;
        buffer[value0] = 0x12;
        buffer[value0 + 1] = (byte)(2 + value.Length);
        buffer[value0 + 2] = 0x0A;
        buffer[value0 + 3] = (byte)value.Length;
        _pos = pos + 2 + body;
        return true;
    }

    public void WriteBytes(int field, ReadOnlySpan<byte> value)
    {
        WriteTag(field, WireType.LengthDelimited);
        WriteVarint((uint)value.Length);
        Ensure(value.Length);
        value.CopyTo(_buffer[_pos..]);
        _pos += value.Length;
    }

    public void WriteTraceId(int field, TraceId id) => id.WriteTo(ReserveShortBytes(field, TraceId.Length));

    public void WriteSpanId(int field, SpanId id) => id.WriteTo(ReserveShortBytes(field, SpanId.Length));

    /// <summary>Writes the tag of an embedded message and reserves <paramref name="prefix"/> bytes for its length; returns where they start.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int BeginMessage(int field, int prefix)
    {
        Ensure(ScalarRoom + prefix);
        WriteTag(field, WireType.LengthDelimited);
        var start = _pos;
        _pos += prefix;
        return start;
    }

    /// <summary>Writes the length of the message begun at <paramref name="start"/>, moving its body if the length needs another prefix size.</summary>
    public void EndMessage(int start, int prefix)
    {
        var body = start + prefix;
        var length = _pos - body;
        if (length < 0x80 && prefix == 1)
        {
            _buffer[start] = (byte)length;
            return;
        }

        var needed = ProtoSize.Varint((uint)length);
        if (needed != prefix)
        {
            Ensure(needed - prefix);
            _dirty = Math.Max(_dirty, _pos);
            _buffer.Slice(body, length).CopyTo(_buffer[(start + needed)..]);
            _pos += needed - prefix;
        }

        var value = (uint)length;
        var pos = start;
        while (value >= 0x80)
        {
            _buffer[pos++] = (byte)(value | 0x80);
            value >>= 7;
        }

        _buffer[pos] = (byte)value;
    }

    /// <summary><see cref="EndMessage"/>, or takes the message back (tag included, from <paramref name="tag"/>) when its body is empty: proto3 omits a default message.</summary>
    public void EndMessageOrDrop(int tag, int start, int prefix)
    {
        if (_pos == start + prefix)
        {
            _dirty = Math.Max(_dirty, _pos);
            _pos = tag;
            return;
        }

        EndMessage(start, prefix);
    }

    /// <summary>Clears what was written into the caller's buffer (a failed encoding leaves no telemetry behind in it).</summary>
    public readonly void ClearInitial() => _initial[..(_rented is null ? Dirty : _initialWritten)].Clear();

    /// <summary>
    /// Clears what the caller's buffer holds besides a finished encoding: all it was given once the writing moved to a
    /// rented array (the encoding is copied from there), else what lies written past the end.
    /// </summary>
    public readonly void ClearInitialLeftovers() => (_rented is null ? _initial[_pos..Dirty] : _initial[.._initialWritten]).Clear();

    /// <summary>Clears and returns the rented array, if any. The writer must not be used afterwards.</summary>
    public void Release()
    {
        if (_rented is not null)
        {
            _buffer[..Dirty].Clear();
            ArrayPool<byte>.Shared.Return(_rented);
            _rented = null;
            _buffer = default;
        }
    }

    /// <summary>Writes the tag and one-byte length of a bytes field of <paramref name="length"/> (under 128) bytes; returns where they go.</summary>
    private Span<byte> ReserveShortBytes(int field, int length)
    {
        Ensure(ScalarRoom + length);
        WriteTag(field, WireType.LengthDelimited);
        _buffer[_pos++] = (byte)length;
        var bytes = _buffer.Slice(_pos, length);
        _pos += length;
        return bytes;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Ensure(int bytes)
    {
        if (_buffer.Length - _pos < bytes)
        {
            Grow(bytes);
        }
    }

    private void Grow(int bytes)
    {
        var size = (int)Math.Min(Math.Max((long)_buffer.Length * 2, (long)_pos + bytes + 4_096), Array.MaxLength);
        if (size - _pos < bytes)
        {
            throw new ArgumentException("The encoded request would exceed the largest array .NET allows.");
        }

        var bigger = ArrayPool<byte>.Shared.Rent(size);
        _buffer[.._pos].CopyTo(bigger);
        if (_rented is not null)
        {
            _buffer[..Dirty].Clear();
            ArrayPool<byte>.Shared.Return(_rented);
        }
        else
        {
            _initialWritten = Dirty;
        }

        _dirty = 0;

        _rented = bigger;
        _buffer = bigger;
    }
}

/// <summary>Wire-size arithmetic.</summary>
internal static class ProtoSize
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int Varint(ulong value) => ((64 - BitOperations.LeadingZeroCount(value | 1)) + 6) / 7;
}
