using System.Buffers.Binary;
using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Text;
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

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private readonly ReadOnlySpan<byte> _data;
    private readonly int _baseOffset;
    private readonly string _message;
    private int _pos;

    public ProtoReader(ReadOnlySpan<byte> data, int baseOffset, string message)
    {
        _data = data;
        _baseOffset = baseOffset;
        _message = message;
        _pos = 0;
    }

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
        return new ProtoReader(slice, offset, message);
    }

    public string ReadString(string field)
    {
        var slice = ReadLengthDelimited(out var offset);
        if (slice.IsEmpty)
        {
            return string.Empty;
        }

        try
        {
            return StrictUtf8.GetString(slice);
        }
        catch (DecoderFallbackException)
        {
            throw Error(offset, $"{_message}.{field} is not valid UTF-8");
        }
    }

    /// <summary>Reads an attribute key through the per-thread intern cache.</summary>
    public string ReadKey()
    {
        var slice = ReadLengthDelimited(out var offset);
        try
        {
            return AttributeKeyCache.GetOrAdd(slice);
        }
        catch (DecoderFallbackException)
        {
            throw Error(offset, $"{_message}.key is not valid UTF-8");
        }
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

    public readonly OtlpDecodeException Error(int offset, string what) =>
        new($"Invalid OTLP protobuf in {_message} at byte offset {offset}: {what}.") { Offset = offset };
}
