using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text.Unicode;

namespace Hush.Otlp.Protobuf;

/// <summary>What <see cref="TraceProtoScanner"/> found in a request it accepted.</summary>
/// <param name="SpanCount">Spans in the request (at least one).</param>
/// <param name="ContainerDepth">The deepest nesting level at which an array or map value starts (0: a top-level attribute's value); -1 when there is none.</param>
/// <param name="SchemaUrls">The distinct non-empty schema URLs of its resources and scopes, as byte ranges of the request.</param>
internal readonly record struct WireSummary(int SpanCount, int ContainerDepth, Range[] SchemaUrls);

/// <summary>
/// Checks, without building a single object, that an <c>ExportTraceServiceRequest</c> has the plain shape every
/// OpenTelemetry SDK writes and that <see cref="TraceProtoDecoder"/> would accept it: every field known and of its
/// wire type, one-byte tags (the canonical encoding), lengths in bounds, ids of 0 or their full length, every string
/// valid UTF-8, an attribute value with at most one member, nesting within the codec limit.
/// <para>
/// It is stricter than the decoder, never looser: anything it is not sure of (an unknown field, a repeated resource,
/// a non-canonical tag, a reserved resource key) answers false, and the caller decodes the request the ordinary way,
/// which then accepts or refuses it with its error. So an accepted request always decodes, and it holds nothing the
/// decoder would skip: no unknown field travels in the bytes unseen by the privacy stage.
/// </para>
/// </summary>
internal static class TraceProtoScanner
{
    private const int MaxSchemaUrls = 4;

    /// <summary>Scans <paramref name="data"/>; false when it is not plain (or not valid), or holds no span.</summary>
    /// <param name="data">The serialized request.</param>
    /// <param name="reservedResourceKey">UTF-8 of a resource attribute key whose presence makes the request not plain (empty: none).</param>
    /// <param name="summary">Counts and ranges of an accepted request.</param>
    public static bool TryScan(ReadOnlySpan<byte> data, ReadOnlySpan<byte> reservedResourceKey, out WireSummary summary)
    {
        var scan = new Scan(reservedResourceKey);
        summary = default;
        var pos = 0;
        while (pos < data.Length)
        {
            if (data[pos++] != 0x0A || !TryBody(data, ref pos, out var start, out var end) || !scan.ResourceSpans(data, start, end))
            {
                return false;
            }
        }

        if (scan.Spans == 0)
        {
            return false;
        }

        summary = new WireSummary(scan.Spans, scan.Depth, scan.Urls[..scan.UrlCount]);
        return true;
    }

    /// <summary>Reads a length prefix at <paramref name="pos"/> and the body it bounds; moves past the body.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool TryBody(ReadOnlySpan<byte> data, ref int pos, out int start, out int end)
    {
        start = end = 0;
        ulong length;
        if ((uint)pos < (uint)data.Length && data[pos] < 0x80)
        {
            // Most lengths (every attribute, key and value) fit one byte.
            length = data[pos++];
        }
        else if (!TryVarint(data, ref pos, out length))
        {
            return false;
        }

        if (length > (ulong)(data.Length - pos))
        {
            return false;
        }

        start = pos;
        end = pos + (int)length;
        pos = end;
        return true;
    }

    private static bool TryVarint(ReadOnlySpan<byte> data, ref int pos, out ulong value)
    {
        value = 0;
        for (var shift = 0; shift < 64; shift += 7)
        {
            if (pos >= data.Length)
            {
                return false;
            }

            var b = data[pos++];

            // The tenth byte may only carry the top bit of a 64-bit value.
            if (shift == 63 && b > 1)
            {
                return false;
            }

            value |= (ulong)(b & 0x7F) << shift;
            if (b < 0x80)
            {
                return true;
            }
        }

        return false;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool SkipVarint(ReadOnlySpan<byte> data, ref int pos) => TryVarint(data, ref pos, out _);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool SkipFixed(ReadOnlySpan<byte> data, ref int pos, int bytes)
    {
        if (data.Length - pos < bytes)
        {
            return false;
        }

        pos += bytes;
        return true;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool Text(ReadOnlySpan<byte> data, ref int pos) =>
        TryBody(data, ref pos, out var start, out var end) && IsValidText(data[start..end]);

    /// <summary>
    /// Valid UTF-8. Telemetry text is short and nearly always ASCII: up to 64 bytes are OR-ed together 8 at a time and
    /// only a text with a high bit set goes to the validator, whose call costs more than that for a 20-byte value
    /// (the scan of loadgen's mix: 680-700 -> 516-528 ns per span, best of 40 rounds).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool IsValidText(ReadOnlySpan<byte> text)
    {
        if (text.Length <= 64)
        {
            ulong bits = 0;
            ref var start = ref MemoryMarshal.GetReference(text);
            var i = 0;
            for (; i + 8 <= text.Length; i += 8)
            {
                bits |= Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref start, i));
            }

            if (i + 4 <= text.Length)
            {
                bits |= Unsafe.ReadUnaligned<uint>(ref Unsafe.Add(ref start, i));
                i += 4;
            }

            for (; i < text.Length; i++)
            {
                bits |= Unsafe.Add(ref start, i);
            }

            if ((bits & 0x8080_8080_8080_8080UL) == 0)
            {
                return true;
            }
        }

        return Utf8.IsValid(text);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool Id(ReadOnlySpan<byte> data, ref int pos, int length) =>
        TryBody(data, ref pos, out var start, out var end) && (end - start == length || end == start);

    /// <summary>The walk's state: what it counted so far.</summary>
    private ref struct Scan(ReadOnlySpan<byte> reservedResourceKey)
    {
        private readonly ReadOnlySpan<byte> _reserved = reservedResourceKey;

        public int Spans;
        public int Depth = -1;
        public Range[] Urls = new Range[MaxSchemaUrls];
        public int UrlCount;

        public bool ResourceSpans(ReadOnlySpan<byte> data, int pos, int end)
        {
            var resources = 0;
            while (pos < end)
            {
                int start;
                int stop;
                var ok = data[pos++] switch
                {
                    0x0A => ++resources == 1 && TryBody(data, ref pos, out start, out stop) && Resource(data, start, stop),
                    0x12 => TryBody(data, ref pos, out start, out stop) && ScopeSpans(data, start, stop),
                    0x1A => SchemaUrl(data, ref pos),
                    _ => false,
                };
                if (!ok)
                {
                    return false;
                }
            }

            return pos == end;
        }

        private bool Resource(ReadOnlySpan<byte> data, int pos, int end)
        {
            while (pos < end)
            {
                var ok = data[pos++] switch
                {
                    0x0A => TryBody(data, ref pos, out var start, out var stop) && KeyValue(data, start, stop, 0, _reserved),
                    0x10 => SkipVarint(data, ref pos),
                    _ => false,
                };
                if (!ok)
                {
                    return false;
                }
            }

            return pos == end;
        }

        private bool ScopeSpans(ReadOnlySpan<byte> data, int pos, int end)
        {
            while (pos < end)
            {
                int start;
                int stop;
                var ok = data[pos++] switch
                {
                    0x0A => TryBody(data, ref pos, out start, out stop) && Scope(data, start, stop),
                    0x12 => TryBody(data, ref pos, out start, out stop) && Span(data, start, stop),
                    0x1A => SchemaUrl(data, ref pos),
                    _ => false,
                };
                if (!ok)
                {
                    return false;
                }
            }

            return pos == end;
        }

        private bool Scope(ReadOnlySpan<byte> data, int pos, int end)
        {
            while (pos < end)
            {
                var ok = data[pos++] switch
                {
                    0x0A or 0x12 => Text(data, ref pos),
                    0x1A => TryBody(data, ref pos, out var start, out var stop) && KeyValue(data, start, stop, 0, default),
                    0x20 => SkipVarint(data, ref pos),
                    _ => false,
                };
                if (!ok)
                {
                    return false;
                }
            }

            return pos == end;
        }

        private bool Span(ReadOnlySpan<byte> data, int pos, int end)
        {
            while (pos < end)
            {
                int start;
                int stop;
                var ok = data[pos++] switch
                {
                    0x0A => Id(data, ref pos, TraceId.Length),
                    0x12 or 0x22 => Id(data, ref pos, SpanId.Length),
                    0x1A or 0x2A => Text(data, ref pos),
                    0x30 or 0x50 or 0x60 or 0x70 => SkipVarint(data, ref pos),
                    0x39 or 0x41 => SkipFixed(data, ref pos, sizeof(ulong)),
                    0x4A => TryBody(data, ref pos, out start, out stop) && KeyValue(data, start, stop, 0, default),
                    0x5A => TryBody(data, ref pos, out start, out stop) && Event(data, start, stop),
                    0x6A => TryBody(data, ref pos, out start, out stop) && Link(data, start, stop),
                    0x7A => TryBody(data, ref pos, out start, out stop) && Status(data, start, stop),

                    // Field 16 (flags, fixed32) is the one two-byte tag of a span.
                    0x85 => pos < end && data[pos++] == 0x01 && SkipFixed(data, ref pos, sizeof(uint)),
                    _ => false,
                };
                if (!ok)
                {
                    return false;
                }
            }

            if (pos != end)
            {
                return false;
            }

            Spans++;
            return true;
        }

        private bool Event(ReadOnlySpan<byte> data, int pos, int end)
        {
            while (pos < end)
            {
                var ok = data[pos++] switch
                {
                    0x09 => SkipFixed(data, ref pos, sizeof(ulong)),
                    0x12 => Text(data, ref pos),
                    0x1A => TryBody(data, ref pos, out var start, out var stop) && KeyValue(data, start, stop, 0, default),
                    0x20 => SkipVarint(data, ref pos),
                    _ => false,
                };
                if (!ok)
                {
                    return false;
                }
            }

            return pos == end;
        }

        private bool Link(ReadOnlySpan<byte> data, int pos, int end)
        {
            while (pos < end)
            {
                var ok = data[pos++] switch
                {
                    0x0A => Id(data, ref pos, TraceId.Length),
                    0x12 => Id(data, ref pos, SpanId.Length),
                    0x1A => Text(data, ref pos),
                    0x22 => TryBody(data, ref pos, out var start, out var stop) && KeyValue(data, start, stop, 0, default),
                    0x28 => SkipVarint(data, ref pos),
                    0x35 => SkipFixed(data, ref pos, sizeof(uint)),
                    _ => false,
                };
                if (!ok)
                {
                    return false;
                }
            }

            return pos == end;
        }

        private static bool Status(ReadOnlySpan<byte> data, int pos, int end)
        {
            while (pos < end)
            {
                var ok = data[pos++] switch
                {
                    0x12 => Text(data, ref pos),
                    0x18 => SkipVarint(data, ref pos),
                    _ => false,
                };
                if (!ok)
                {
                    return false;
                }
            }

            return pos == end;
        }

        /// <summary>A KeyValue; <paramref name="reserved"/> (when not empty) is a key that makes the request not plain.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private bool KeyValue(ReadOnlySpan<byte> data, int pos, int end, int depth, ReadOnlySpan<byte> reserved)
        {
            while (pos < end)
            {
                int start;
                int stop;
                var ok = data[pos++] switch
                {
                    0x0A => TryBody(data, ref pos, out start, out stop) && IsValidText(data[start..stop])
                        && (reserved.IsEmpty || !data[start..stop].SequenceEqual(reserved)),
                    0x12 => TryBody(data, ref pos, out start, out stop) && AnyValue(data, start, stop, depth),
                    _ => false,
                };
                if (!ok)
                {
                    return false;
                }
            }

            return pos == end;
        }

        /// <summary>An AnyValue of no member or exactly one (the decoder's "last member wins" is never needed).</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private bool AnyValue(ReadOnlySpan<byte> data, int pos, int end, int depth)
        {
            if (pos == end)
            {
                return true;
            }

            int start;
            int stop;
            var ok = data[pos++] switch
            {
                0x0A => Text(data, ref pos),
                0x10 or 0x18 => SkipVarint(data, ref pos),
                0x21 => SkipFixed(data, ref pos, sizeof(double)),
                0x2A => Container(depth) && TryBody(data, ref pos, out start, out stop) && ArrayValue(data, start, stop, depth + 1),
                0x32 => Container(depth) && TryBody(data, ref pos, out start, out stop) && KeyValueList(data, start, stop, depth + 1),
                0x3A => TryBody(data, ref pos, out _, out _),
                _ => false,
            };
            return ok && pos == end;
        }

        /// <summary>Records an array or map starting at <paramref name="depth"/>; false past the codec's nesting limit.</summary>
        private bool Container(int depth)
        {
            if (depth >= Implementation.CodecLimits.MaxAnyValueDepth)
            {
                return false;
            }

            Depth = Math.Max(Depth, depth);
            return true;
        }

        private bool ArrayValue(ReadOnlySpan<byte> data, int pos, int end, int depth)
        {
            while (pos < end)
            {
                if (data[pos++] != 0x0A || !TryBody(data, ref pos, out var start, out var stop) || !AnyValue(data, start, stop, depth))
                {
                    return false;
                }
            }

            return pos == end;
        }

        private bool KeyValueList(ReadOnlySpan<byte> data, int pos, int end, int depth)
        {
            while (pos < end)
            {
                if (data[pos++] != 0x0A || !TryBody(data, ref pos, out var start, out var stop) || !KeyValue(data, start, stop, depth, default))
                {
                    return false;
                }
            }

            return pos == end;
        }

        /// <summary>A schema URL: valid UTF-8, remembered when new (a request names few; more than four is not plain).</summary>
        private bool SchemaUrl(ReadOnlySpan<byte> data, ref int pos)
        {
            if (!TryBody(data, ref pos, out var start, out var stop) || !IsValidText(data[start..stop]))
            {
                return false;
            }

            if (start == stop)
            {
                return true;
            }

            var url = data[start..stop];
            for (var i = 0; i < UrlCount; i++)
            {
                var (offset, length) = Urls[i].GetOffsetAndLength(data.Length);
                if (data.Slice(offset, length).SequenceEqual(url))
                {
                    return true;
                }
            }

            if (UrlCount == MaxSchemaUrls)
            {
                return false;
            }

            Urls[UrlCount++] = start..stop;
            return true;
        }
    }
}
