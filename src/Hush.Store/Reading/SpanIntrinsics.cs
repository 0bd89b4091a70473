using System.Buffers.Binary;
using Hush.Otlp;

namespace Hush.Store.Reading;

/// <summary>
/// What a search can know of a span without decoding its names, attributes or events: its times, kind and status
/// code. <see cref="TraceScan.IntrinsicFilter"/> looks at these.
/// </summary>
public readonly record struct SpanIntrinsics(ulong StartUnixNano, ulong EndUnixNano, SpanKind Kind, StatusCode Status)
{
    /// <summary>The duration as TraceQL counts it: zero when the end precedes the start.</summary>
    public ulong DurationNanos => EndUnixNano >= StartUnixNano ? EndUnixNano - StartUnixNano : 0;
}

/// <summary>
/// Walks the OTLP <c>TracesData</c> bytes of a block for each span's trace id and <see cref="SpanIntrinsics"/>, reading
/// the wire format directly: resources, scopes, names and attributes are skipped, not decoded, which is most of a
/// block's decoding time. Last value wins for a repeated field, as in the full decoder. Never throws: false for
/// bytes that do not parse (the caller decodes the block in full then, and that decoder reports the error).
/// </summary>
internal static class SpanIntrinsicsReader
{
    public static bool TryRead(ReadOnlySpan<byte> tracesData, List<(TraceId Trace, SpanIntrinsics Span)> spans)
    {
        var data = new Cursor(tracesData);
        while (data.TryField(out var field, out var resourceSpans))
        {
            if (field == 1 && !ReadResourceSpans(resourceSpans, spans))
            {
                return false;
            }
        }

        return data.Ok;
    }

    private static bool ReadResourceSpans(ReadOnlySpan<byte> message, List<(TraceId, SpanIntrinsics)> spans)
    {
        var resource = new Cursor(message);
        while (resource.TryField(out var field, out var scopeSpans))
        {
            if (field != 2)
            {
                continue;
            }

            var scope = new Cursor(scopeSpans);
            while (scope.TryField(out var scopeField, out var span))
            {
                if (scopeField == 2 && !ReadSpan(span, spans))
                {
                    return false;
                }
            }

            if (!scope.Ok)
            {
                return false;
            }
        }

        return resource.Ok;
    }

    private static bool ReadSpan(ReadOnlySpan<byte> message, List<(TraceId, SpanIntrinsics)> spans)
    {
        var span = new Cursor(message);
        TraceId traceId = default;
        ulong start = 0, end = 0;
        var kind = SpanKind.Unspecified;
        var status = StatusCode.Unset;
        while (span.TryField(out var field, out var wire, out var bytes))
        {
            // A known field of another wire type or size fails here as it fails the full decoder.
            switch (field)
            {
                case 1 when wire == 2 && bytes.Length is TraceId.Length or 0:
                    traceId = bytes.IsEmpty ? default : TraceId.FromBytes(bytes);
                    break;
                case 6 when wire == 0:
                    kind = (SpanKind)(int)span.Varint;
                    break;
                case 7 when wire == 1:
                    start = BinaryPrimitives.ReadUInt64LittleEndian(bytes);
                    break;
                case 8 when wire == 1:
                    end = BinaryPrimitives.ReadUInt64LittleEndian(bytes);
                    break;
                case 15 when wire == 2:
                    var inner = new Cursor(bytes);
                    while (inner.TryField(out var statusField, out var statusWire, out _))
                    {
                        if (statusField == 3)
                        {
                            if (statusWire != 0)
                            {
                                return false;
                            }

                            status = (StatusCode)(int)inner.Varint;
                        }
                    }

                    if (!inner.Ok)
                    {
                        return false;
                    }

                    break;
                case 1 or 6 or 7 or 8 or 15:
                    return false;
            }
        }

        if (!span.Ok)
        {
            return false;
        }

        spans.Add((traceId, new SpanIntrinsics(start, end, kind, status)));
        return true;
    }

    /// <summary>
    /// Reads fields one at a time: a length-delimited field's bytes, a fixed one's 4 or 8 bytes, a varint's value in
    /// <see cref="Varint"/> (its bytes empty). <see cref="Ok"/> turns false on anything malformed, and reading stops.
    /// </summary>
    private ref struct Cursor(ReadOnlySpan<byte> data)
    {
        private ReadOnlySpan<byte> _rest = data;

        public bool Ok { get; private set; } = true;

        public ulong Varint { get; private set; }

        public bool TryField(out int field, out ReadOnlySpan<byte> bytes) => TryField(out field, out _, out bytes);

        public bool TryField(out int field, out int wireType, out ReadOnlySpan<byte> bytes)
        {
            field = 0;
            wireType = -1;
            bytes = default;
            if (_rest.IsEmpty || !Ok)
            {
                return false;
            }

            if (!TryVarint(out var tag) || tag >> 3 is 0 or > int.MaxValue)
            {
                return Fail();
            }

            field = (int)(tag >> 3);
            wireType = (int)(tag & 7);
            switch (wireType)
            {
                case 0:
                    if (!TryVarint(out var value))
                    {
                        return Fail();
                    }

                    Varint = value;
                    return true;
                case 1:
                    return Take(8, out bytes);
                case 2:
                    return TryVarint(out var length) && length <= (ulong)_rest.Length ? Take((int)length, out bytes) : Fail();
                case 5:
                    return Take(4, out bytes);
                default:
                    // Groups (3, 4) are not used by OTLP; anything else is not protobuf.
                    return Fail();
            }
        }

        private bool Take(int length, out ReadOnlySpan<byte> bytes)
        {
            if (length > _rest.Length)
            {
                bytes = default;
                return Fail();
            }

            bytes = _rest[..length];
            _rest = _rest[length..];
            return true;
        }

        private bool TryVarint(out ulong value)
        {
            value = 0;
            for (var shift = 0; shift < 64 && !_rest.IsEmpty; shift += 7)
            {
                var b = _rest[0];
                _rest = _rest[1..];
                value |= (ulong)(b & 0x7F) << shift;
                if (b < 0x80)
                {
                    return true;
                }
            }

            return false;
        }

        private bool Fail()
        {
            Ok = false;
            return false;
        }
    }
}
