using System.Buffers.Binary;
using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using Hush.Otlp.Implementation;

namespace Hush.Otlp.Protobuf;

/// <summary>Protobuf wire types (the low 3 bits of a tag).</summary>
internal enum WireType
{
    Varint = 0,
    Fixed64 = 1,
    LengthDelimited = 2,
    StartGroup = 3,
    EndGroup = 4,
    Fixed32 = 5,
}

/// <summary>
/// A forward-only reader over one protobuf message. Every length is checked against the bytes that
/// remain, so a lying length fails fast instead of allocating. Nested messages get their own reader
/// over an exact slice, carrying the absolute offset for error messages.
/// </summary>
internal ref struct ProtoReader
{
    /// <summary>A varint is at most 10 bytes (64 bits in 7-bit groups).</summary>
    private const int MaxVarintBytes = 10;

    private readonly ReadOnlySpan<byte> _data;
    private readonly int _baseOffset;
    private readonly string _message;
    private readonly AttributeKeyCache? _keys;
    private int _pos;

    /// <param name="data">The message's bytes.</param>
    /// <param name="baseOffset">Offset of <paramref name="data"/> in the whole payload.</param>
    /// <param name="message">Message type name for errors.</param>
    /// <param name="keys">Key table for <see cref="ReadKey"/>, passed on to nested readers; the thread's own when null.</param>
    public ProtoReader(ReadOnlySpan<byte> data, int baseOffset, string message, AttributeKeyCache? keys = null)
    {
        _data = data;
        _baseOffset = baseOffset;
        _message = message;
        _keys = keys;
        _pos = 0;
    }

    /// <summary>The key table this reader and the readers it creates intern through.</summary>
    public readonly AttributeKeyCache Keys => _keys ?? AttributeKeyCache.Current;

    /// <summary>Absolute offset of the next byte in the whole payload.</summary>
    public readonly int Offset => _baseOffset + _pos;

    /// <summary>Reads the next tag; false at the end of the message.</summary>
    public bool TryReadTag(out int field, out WireType wireType)
    {
        if (_pos >= _data.Length)
        {
            field = 0;
            wireType = default;
            return false;
        }

        var start = Offset;
        ulong tag;
        var b = _data[_pos];
        if (b < 0x80)
        {
            _pos++;
            tag = b;
        }
        else
        {
            tag = ReadVarint();
        }

        // Field numbers are at most 2^29 - 1, so a valid tag fits in 32 bits.
        if (tag > uint.MaxValue || (tag >> 3) == 0)
        {
            ThrowAt(start, "invalid field number in tag");
        }

        var wt = (int)(tag & 7);
        if (wt > (int)WireType.Fixed32)
        {
            ThrowAt(start, $"invalid wire type {wt}");
        }

        field = (int)(tag >> 3);
        wireType = (WireType)wt;
        return true;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ulong ReadVarint()
    {
        var data = _data;
        var pos = _pos;
        if ((uint)pos < (uint)data.Length && data[pos] < 0x80)
        {
            _pos = pos + 1;
            return data[pos];
        }

        return ReadVarintSlow();
    }

    private ulong ReadVarintSlow()
    {
        var data = _data;
        var pos = _pos;
        ulong result = 0;
        for (var i = 0; i < MaxVarintBytes; i++)
        {
            if (pos >= data.Length)
            {
                ThrowAt(_baseOffset + _pos, "truncated varint");
            }

            var b = data[pos++];
            result |= (ulong)(b & 0x7F) << (7 * i);
            if (b < 0x80)
            {
                _pos = pos;
                return result;
            }
        }

        throw Error(_baseOffset + _pos, "varint longer than 10 bytes");
    }

    public uint ReadFixed32()
    {
        if (_data.Length - _pos < 4)
        {
            ThrowAt(Offset, "truncated fixed32");
        }

        var value = BinaryPrimitives.ReadUInt32LittleEndian(_data[_pos..]);
        _pos += 4;
        return value;
    }

    public ulong ReadFixed64()
    {
        if (_data.Length - _pos < 8)
        {
            ThrowAt(Offset, "truncated fixed64");
        }

        var value = BinaryPrimitives.ReadUInt64LittleEndian(_data[_pos..]);
        _pos += 8;
        return value;
    }

    /// <summary>Reads a length prefix and returns the exact slice it covers.</summary>
    public ReadOnlySpan<byte> ReadLengthDelimited(out int sliceOffset)
    {
        var start = Offset;
        var length = ReadVarint();
        var remaining = _data.Length - _pos;
        if (length > (ulong)remaining)
        {
            ThrowAt(start, $"length {length} exceeds the {remaining} bytes remaining");
        }

        sliceOffset = Offset;
        var slice = _data.Slice(_pos, (int)length);
        _pos += (int)length;
        return slice;
    }

    /// <summary>Reads an embedded message field and returns a reader over it.</summary>
    public ProtoReader ReadMessage(string message)
    {
        var slice = ReadLengthDelimited(out var offset);
        return new ProtoReader(slice, offset, message, _keys);
    }

    public string ReadString(string field)
    {
        var slice = ReadLengthDelimited(out var offset);
        return Keys.Strings.TryDecode(slice) ?? throw Error(offset, $"{_message}.{field} is not valid UTF-8");
    }

    /// <summary>Reads an attribute key through the per-thread intern cache.</summary>
    public string ReadKey()
    {
        var slice = ReadLengthDelimited(out var offset);
        return Keys.TryGetOrAdd(slice) ?? throw Error(offset, $"{_message}.key is not valid UTF-8");
    }

    public byte[] ReadBytes()
    {
        var slice = ReadLengthDelimited(out _);
        return slice.IsEmpty ? [] : slice.ToArray();
    }

    public TraceId ReadTraceId(string field)
    {
        var start = Offset;
        var slice = ReadLengthDelimited(out _);
        if (slice.Length == TraceId.Length)
        {
            return TraceId.FromBytes(slice);
        }

        if (slice.Length != 0)
        {
            ThrowAt(start, $"{_message}.{field} must be 0 or {TraceId.Length} bytes, not {slice.Length}");
        }

        return default;
    }

    public SpanId ReadSpanId(string field)
    {
        var start = Offset;
        var slice = ReadLengthDelimited(out _);
        if (slice.Length == SpanId.Length)
        {
            return SpanId.FromBytes(slice);
        }

        if (slice.Length != 0)
        {
            ThrowAt(start, $"{_message}.{field} must be 0 or {SpanId.Length} bytes, not {slice.Length}");
        }

        return default;
    }

    /// <summary>
    /// Counts the occurrences of <paramref name="field"/> in the rest of this message without consuming
    /// it, so repeated fields can be sized once (a span's ~20 attributes would otherwise regrow the list
    /// 4 times). Malformed input fails here with the same errors the decoding pass would raise.
    /// </summary>
    public readonly int CountField(int field)
    {
        var fast = CountFieldFast(_data[_pos..], field);
        if (fast >= 0)
        {
            return fast;
        }

        var scan = this;
        var count = 0;
        while (scan.TryReadTag(out var f, out var wt))
        {
            if (f == field)
            {
                count++;
            }

            scan.Skip(f, wt);
        }

        return count;
    }

    /// <summary>
    /// The common case of <see cref="CountField"/> in one tight loop over locals: 1-2 byte tags, no groups,
    /// everything in range. Returns -1 on anything else, and the checked scan then raises the error.
    /// </summary>
    private static int CountFieldFast(ReadOnlySpan<byte> data, int field)
    {
        var pos = 0;
        var count = 0;
        while (pos < data.Length)
        {
            if (!TryReadShortVarint(data, ref pos, out var tag) || (tag >> 3) == 0)
            {
                return -1;
            }

            if ((int)(tag >> 3) == field)
            {
                count++;
            }

            switch ((WireType)(tag & 7))
            {
                case WireType.Varint:
                    for (var i = 0; ; i++)
                    {
                        if (i == MaxVarintBytes || pos >= data.Length)
                        {
                            return -1;
                        }

                        if (data[pos++] < 0x80)
                        {
                            break;
                        }
                    }

                    break;
                case WireType.Fixed64:
                    pos += 8;
                    break;
                case WireType.LengthDelimited:
                    if (!TryReadShortVarint(data, ref pos, out var length) || length > (uint)(data.Length - pos))
                    {
                        return -1;
                    }

                    pos += (int)length;
                    break;
                case WireType.Fixed32:
                    pos += 4;
                    break;
                default:
                    return -1;
            }
        }

        // A fixed-width value that ran past the end leaves pos beyond it.
        return pos == data.Length ? count : -1;
    }

    /// <summary>
    /// Reads a 1- or 2-byte varint (tags, lengths below 16 KiB, small integers) at <paramref name="pos"/>;
    /// false, with <paramref name="pos"/> unspecified, when it is longer or truncated, so that callers take
    /// the checked path.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool TryReadShortVarint(ReadOnlySpan<byte> data, ref int pos, out uint value)
    {
        if ((uint)pos < (uint)data.Length)
        {
            uint b0 = data[pos];
            if (b0 < 0x80)
            {
                pos++;
                value = b0;
                return true;
            }

            if ((uint)(pos + 1) < (uint)data.Length)
            {
                uint b1 = data[pos + 1];
                if (b1 < 0x80)
                {
                    pos += 2;
                    value = (b0 & 0x7F) | (b1 << 7);
                    return true;
                }
            }
        }

        value = 0;
        return false;
    }

    /// <summary>Fails unless a known field arrived with the wire type its schema declares.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly void Expect(WireType actual, WireType expected, string field)
    {
        if (actual != expected)
        {
            ThrowWrongWireType(actual, expected, field);
        }
    }

    /// <summary>Skips the value of an unknown field (any wire type, groups included).</summary>
    public void Skip(int field, WireType wireType) => Skip(field, wireType, 0);

    private void Skip(int field, WireType wireType, int groupDepth)
    {
        switch (wireType)
        {
            case WireType.Varint:
                ReadVarint();
                break;
            case WireType.Fixed64:
                ReadFixed64();
                break;
            case WireType.LengthDelimited:
                ReadLengthDelimited(out _);
                break;
            case WireType.Fixed32:
                ReadFixed32();
                break;
            case WireType.StartGroup:
                if (groupDepth >= CodecLimits.MaxUnknownGroupDepth)
                {
                    ThrowAt(Offset, $"unknown groups nested deeper than {CodecLimits.MaxUnknownGroupDepth}");
                }

                while (true)
                {
                    var start = Offset;
                    if (!TryReadTag(out var inner, out var innerType))
                    {
                        ThrowAt(start, $"unterminated group for field {field}");
                    }

                    if (innerType == WireType.EndGroup)
                    {
                        if (inner != field)
                        {
                            ThrowAt(start, $"group for field {field} closed by field {inner}");
                        }

                        return;
                    }

                    Skip(inner, innerType, groupDepth + 1);
                }

            case WireType.EndGroup:
                ThrowAt(Offset, $"unexpected end-group tag for field {field}");
                break;
            default:
                throw new UnreachableException();
        }
    }

    [DoesNotReturn]
    [StackTraceHidden]
    private readonly void ThrowWrongWireType(WireType actual, WireType expected, string field) =>
        ThrowAt(Offset, $"{_message}.{field} has wire type {(int)actual}, expected {(int)expected}");

    [DoesNotReturn]
    [StackTraceHidden]
    public readonly void ThrowAt(int offset, string what) => throw Error(offset, what);

    public readonly OtlpDecodeException Error(int offset, string what) => Error(_message, offset, what);

    public static OtlpDecodeException Error(string message, int offset, string what) =>
        new($"Invalid OTLP protobuf in {message} at byte offset {offset}: {what}.") { Offset = offset };
}
