using System.Buffers;
using Hush.Otlp.Implementation;

namespace Hush.Otlp.Protobuf;

/// <summary>
/// Encodes the OTLP trace messages in one forward pass (<see cref="ForwardWriter"/>): each embedded message's length
/// prefix is reserved before its body, at the size its body most likely needs, and written once the body is; a guess
/// that was wrong moves the body by a byte or two. So every string is read once (the two-pass encoder this replaced
/// counted each string's UTF-8 bytes, then transcoded it) and the object graph is walked once. Fields go out in
/// field-number order and proto3 defaults are omitted, as protoc-generated code does, so canonical input encodes
/// byte-for-byte like the reference implementation.
/// </summary>
internal static class TraceProtoEncoder
{
    /// <summary>First guess at a request's encoded bytes per span (the load generator's spans take 850-1,050).</summary>
    private const int BytesPerSpanGuess = 1_280;

    // Length prefixes reserved per message, from the sizes they usually have: a resource's attributes and a scope are
    // short, a span is under 16 KiB, a scope's spans and a resource's scopes under 2 MiB.
    private const int ResourceSpansPrefix = 3;
    private const int ScopeSpansPrefix = 3;
    private const int ResourcePrefix = 2;
    private const int SpanPrefix = 2;
    private const int SmallPrefix = 1;

    public static int GetEncodedSize(TraceRequest request)
    {
        if (request.Wire is { } wire)
        {
            return WireFormWriter.GetSize(wire);
        }

        var writer = new ForwardWriter(ArrayPool<byte>.Shared.Rent(Estimate(request)));
        try
        {
            WriteRequest(request, ref writer);
            return writer.Written;
        }
        finally
        {
            writer.Release();
        }
    }

    public static byte[] Encode(TraceRequest request)
    {
        if (request.Wire is { } wire)
        {
            var bytes = new byte[WireFormWriter.GetSize(wire)];
            WireFormWriter.Write(wire, bytes);
            return bytes;
        }

        var writer = new ForwardWriter(ArrayPool<byte>.Shared.Rent(Estimate(request)));
        try
        {
            WriteRequest(request, ref writer);
            return writer.WrittenSpan.ToArray();
        }
        finally
        {
            writer.Release();
        }
    }

    public static int Encode(TraceRequest request, Span<byte> destination)
    {
        if (request.Wire is { } wire)
        {
            var needed = WireFormWriter.GetSize(wire);
            return needed <= destination.Length
                ? WireFormWriter.Write(wire, destination)
                : throw new ArgumentException($"The destination holds {destination.Length} bytes; the encoded request needs {needed}.", nameof(destination));
        }

        var writer = new ForwardWriter(destination);
        try
        {
            WriteRequest(request, ref writer);
            var size = writer.Written;
            if (writer.IsRented && destination.Length < size)
            {
                throw new ArgumentException($"The destination holds {destination.Length} bytes; the encoded request needs {size}.", nameof(destination));
            }

            writer.ClearInitialLeftovers();
            if (writer.IsRented)
            {
                writer.WrittenSpan.CopyTo(destination);
            }

            return size;
        }
        catch
        {
            // What was written of a failed encoding is not left in the caller's buffer.
            writer.ClearInitial();
            throw;
        }
        finally
        {
            writer.Release();
        }
    }

    public static void Encode(TraceRequest request, IBufferWriter<byte> output)
    {
        if (request.Wire is { } wire)
        {
            var size = WireFormWriter.GetSize(wire);
            output.Advance(WireFormWriter.Write(wire, output.GetSpan(size)));
            return;
        }

        var writer = new ForwardWriter(output.GetSpan(Estimate(request)));
        try
        {
            WriteRequest(request, ref writer);
            var size = writer.Written;

            // Never advanced, so the output would not clear them itself.
            writer.ClearInitialLeftovers();
            if (writer.IsRented)
            {
                // The first span ran out: the output is asked again, for the real size.
                writer.WrittenSpan.CopyTo(output.GetSpan(size));
            }

            output.Advance(size);
        }
        catch
        {
            writer.ClearInitial();
            throw;
        }
        finally
        {
            writer.Release();
        }
    }

    private static int Estimate(TraceRequest request)
    {
        var spans = 0;
        foreach (var rs in request.ResourceSpans)
        {
            foreach (var ss in rs.ScopeSpans)
            {
                spans += ss.Spans.Count;
            }
        }

        return (int)Math.Min(((long)spans * BytesPerSpanGuess) + 1_024, 1 << 26);
    }

    private static void WriteRequest(TraceRequest request, ref ForwardWriter w)
    {
        foreach (var rs in request.ResourceSpans)
        {
            var body = w.BeginMessage(1, ResourceSpansPrefix);
            WriteResourceSpans(rs, ref w);
            w.EndMessage(body, ResourceSpansPrefix);
        }
    }

    private static void WriteResourceSpans(ResourceSpans rs, ref ForwardWriter w)
    {
        var resource = rs.Resource;
        var tag = w.Written;
        var body = w.BeginMessage(1, ResourcePrefix);
        WriteAttributes(1, resource.Attributes, 0, ref w);
        WriteUInt32(2, resource.DroppedAttributesCount, ref w);
        w.EndMessageOrDrop(tag, body, ResourcePrefix);

        foreach (var ss in rs.ScopeSpans)
        {
            var scopeSpans = w.BeginMessage(2, ScopeSpansPrefix);
            WriteScopeSpans(ss, ref w);
            w.EndMessage(scopeSpans, ScopeSpansPrefix);
        }

        WriteString(3, rs.SchemaUrl, ref w);
    }

    private static void WriteScopeSpans(ScopeSpans ss, ref ForwardWriter w)
    {
        var scope = ss.Scope;
        var tag = w.Written;
        var body = w.BeginMessage(1, SmallPrefix);
        WriteString(1, scope.Name, ref w);
        WriteString(2, scope.Version, ref w);
        WriteAttributes(3, scope.Attributes, 0, ref w);
        WriteUInt32(4, scope.DroppedAttributesCount, ref w);
        w.EndMessageOrDrop(tag, body, SmallPrefix);

        foreach (var span in ss.Spans)
        {
            var spanBody = w.BeginMessage(2, SpanPrefix);
            WriteSpan(span, ref w);
            w.EndMessage(spanBody, SpanPrefix);
        }

        WriteString(3, ss.SchemaUrl, ref w);
    }

    private static void WriteSpan(Span span, ref ForwardWriter w)
    {
        if (!span.TraceId.IsEmpty)
        {
            w.WriteTraceId(1, span.TraceId);
        }

        if (!span.SpanId.IsEmpty)
        {
            w.WriteSpanId(2, span.SpanId);
        }

        WriteString(3, span.TraceState, ref w);
        if (!span.ParentSpanId.IsEmpty)
        {
            w.WriteSpanId(4, span.ParentSpanId);
        }

        WriteString(5, span.Name, ref w);
        if (span.Kind != 0)
        {
            w.WriteTag(6, WireType.Varint);
            w.WriteVarint((ulong)(long)span.Kind);
        }

        if (span.StartTimeUnixNano != 0)
        {
            w.WriteTag(7, WireType.Fixed64);
            w.WriteFixed64(span.StartTimeUnixNano);
        }

        if (span.EndTimeUnixNano != 0)
        {
            w.WriteTag(8, WireType.Fixed64);
            w.WriteFixed64(span.EndTimeUnixNano);
        }

        WriteAttributes(9, span.Attributes, 0, ref w);
        WriteUInt32(10, span.DroppedAttributesCount, ref w);
        foreach (var ev in span.Events)
        {
            var body = w.BeginMessage(11, SmallPrefix);
            if (ev.TimeUnixNano != 0)
            {
                w.WriteTag(1, WireType.Fixed64);
                w.WriteFixed64(ev.TimeUnixNano);
            }

            WriteString(2, ev.Name, ref w);
            WriteAttributes(3, ev.Attributes, 0, ref w);
            WriteUInt32(4, ev.DroppedAttributesCount, ref w);
            w.EndMessage(body, SmallPrefix);
        }

        WriteUInt32(12, span.DroppedEventsCount, ref w);
        foreach (var link in span.Links)
        {
            var body = w.BeginMessage(13, SmallPrefix);
            if (!link.TraceId.IsEmpty)
            {
                w.WriteTraceId(1, link.TraceId);
            }

            if (!link.SpanId.IsEmpty)
            {
                w.WriteSpanId(2, link.SpanId);
            }

            WriteString(3, link.TraceState, ref w);
            WriteAttributes(4, link.Attributes, 0, ref w);
            WriteUInt32(5, link.DroppedAttributesCount, ref w);
            if (link.Flags != 0)
            {
                w.WriteTag(6, WireType.Fixed32);
                w.WriteFixed32(link.Flags);
            }

            w.EndMessage(body, SmallPrefix);
        }

        WriteUInt32(14, span.DroppedLinksCount, ref w);
        var status = span.Status;
        if (status.Code != 0 || !string.IsNullOrEmpty(status.Message))
        {
            var body = w.BeginMessage(15, SmallPrefix);
            WriteString(2, status.Message, ref w);
            if (status.Code != 0)
            {
                w.WriteTag(3, WireType.Varint);
                w.WriteVarint((ulong)(long)status.Code);
            }

            w.EndMessage(body, SmallPrefix);
        }

        if (span.Flags != 0)
        {
            w.WriteTag(16, WireType.Fixed32);
            w.WriteFixed32(span.Flags);
        }
    }

    /// <summary>
    /// The entries of a repeated attributes field alone (tag, length and KeyValue each), as they are written inside a
    /// message: what a wire-form request splices into each resource (<see cref="WireFormWriter"/>).
    /// </summary>
    public static byte[] EncodeAttributes(int field, List<KeyValue> attributes)
    {
        var writer = new ForwardWriter(ArrayPool<byte>.Shared.Rent(256));
        try
        {
            WriteAttributes(field, attributes, 0, ref writer);
            return writer.WrittenSpan.ToArray();
        }
        finally
        {
            writer.Release();
        }
    }

    private static void WriteAttributes(int field, List<KeyValue> attributes, int depth, ref ForwardWriter w)
    {
        foreach (var kv in System.Runtime.InteropServices.CollectionsMarshal.AsSpan(attributes))
        {
            WriteKeyValue(field, kv, depth, ref w);
        }
    }

    private static void WriteKeyValue(int field, in KeyValue kv, int depth, ref ForwardWriter w)
    {
        var prefix = SmallPrefix;
        if (kv.Value.StringValue is { } text)
        {
            if (w.TryWriteShortAsciiAttribute(field, kv.Key, text))
            {
                return;
            }

            // A key and a string value of under ~120 chars fit a one-byte prefix (ASCII: bytes = chars); longer ones get two.
            prefix = text.Length + kv.Key.Length > 120 ? 2 : SmallPrefix;
        }

        var body = w.BeginMessage(field, prefix);
        WriteString(1, kv.Key, ref w);
        if (kv.Value.Kind != AnyValueKind.Empty)
        {
            var value = w.BeginMessage(2, prefix);
            WriteAnyValue(kv.Value, depth, ref w);
            w.EndMessage(value, prefix);
        }

        w.EndMessage(body, prefix);
    }

    private static void WriteAnyValue(in AnyValue value, int depth, ref ForwardWriter w)
    {
        switch (value.Kind)
        {
            case AnyValueKind.String:
                // A oneof member is written even when it holds the default value.
                w.WriteString(1, value.StringValue!);
                break;
            case AnyValueKind.Bool:
                w.WriteTag(2, WireType.Varint);
                w.WriteVarint(value.BoolValue ? 1u : 0u);
                break;
            case AnyValueKind.Int:
                w.WriteTag(3, WireType.Varint);
                w.WriteVarint((ulong)value.IntValue);
                break;
            case AnyValueKind.Double:
                w.WriteTag(4, WireType.Fixed64);
                w.WriteFixed64(BitConverter.DoubleToUInt64Bits(value.DoubleValue));
                break;
            case AnyValueKind.Bytes:
                w.WriteBytes(7, value.BytesValue!);
                break;
            case AnyValueKind.Array:
                {
                    CheckDepth(depth);
                    var array = w.BeginMessage(5, SpanPrefix);
                    foreach (var element in value.ArrayValue!)
                    {
                        var body = w.BeginMessage(1, SmallPrefix);
                        WriteAnyValue(element, depth + 1, ref w);
                        w.EndMessage(body, SmallPrefix);
                    }

                    w.EndMessage(array, SpanPrefix);
                    break;
                }

            case AnyValueKind.KeyValueList:
                {
                    CheckDepth(depth);
                    var list = w.BeginMessage(6, SpanPrefix);
                    foreach (var kv in value.KeyValueListValue!)
                    {
                        WriteKeyValue(1, kv, depth + 1, ref w);
                    }

                    w.EndMessage(list, SpanPrefix);
                    break;
                }

            default:
                break;
        }
    }

    private static void CheckDepth(int depth)
    {
        if (depth >= CodecLimits.MaxAnyValueDepth)
        {
            throw new ArgumentException($"Attribute values nest deeper than {CodecLimits.MaxAnyValueDepth} levels (or contain a cycle); OTLP receivers would reject them.");
        }
    }

    private static void WriteString(int field, string value, ref ForwardWriter w)
    {
        if (!string.IsNullOrEmpty(value))
        {
            w.WriteString(field, value);
        }
    }

    private static void WriteUInt32(int field, uint value, ref ForwardWriter w)
    {
        if (value != 0)
        {
            w.WriteTag(field, WireType.Varint);
            w.WriteVarint(value);
        }
    }

    // ---- small messages ----
    public static byte[] EncodeExportResponse(TraceExportResponse response)
    {
        var partial = response.PartialSuccess;
        if (partial is null)
        {
            return [];
        }

        var w = new ForwardWriter(ArrayPool<byte>.Shared.Rent(256));
        try
        {
            var body = w.BeginMessage(1, SmallPrefix);
            if (partial.RejectedSpans != 0)
            {
                w.WriteTag(1, WireType.Varint);
                w.WriteVarint((ulong)partial.RejectedSpans);
            }

            WriteString(2, partial.ErrorMessage, ref w);
            w.EndMessage(body, SmallPrefix);
            return w.WrittenSpan.ToArray();
        }
        finally
        {
            w.Release();
        }
    }

    public static byte[] EncodeRpcStatus(int code, string message)
    {
        var w = new ForwardWriter(ArrayPool<byte>.Shared.Rent(256));
        try
        {
            if (code != 0)
            {
                w.WriteTag(1, WireType.Varint);
                w.WriteVarint((ulong)(long)code);
            }

            WriteString(2, message, ref w);
            return w.WrittenSpan.ToArray();
        }
        finally
        {
            w.Release();
        }
    }
}
