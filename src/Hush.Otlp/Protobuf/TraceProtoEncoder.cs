using Hush.Otlp.Implementation;

namespace Hush.Otlp.Protobuf;

/// <summary>
/// Encodes the OTLP trace messages in two passes: <c>Size*</c> measures every embedded message once
/// and records it in a <see cref="SizeList"/>; <c>Write*</c> replays those sizes in the same order.
/// Fields go out in field-number order and proto3 defaults are omitted, as protoc-generated code does,
/// so canonical input encodes byte-for-byte like the reference implementation.
/// </summary>
internal static class TraceProtoEncoder
{
    /// <summary>A first guess at how many embedded messages a request holds; the pooled list grows as needed.</summary>
    private const int InitialSizeSlots = 256;

    public static int GetEncodedSize(TraceRequest request)
    {
        var sizes = new SizeList(InitialSizeSlots);
        try
        {
            return SizeRequest(request, ref sizes);
        }
        finally
        {
            sizes.Dispose();
        }
    }

    public static byte[] Encode(TraceRequest request)
    {
        var sizes = new SizeList(InitialSizeSlots);
        try
        {
            var buffer = new byte[SizeRequest(request, ref sizes)];
            var writer = new ProtoWriter(buffer);
            WriteRequest(request, ref writer, ref sizes);
            return buffer;
        }
        finally
        {
            sizes.Dispose();
        }
    }

    public static int Encode(TraceRequest request, Span<byte> destination)
    {
        var sizes = new SizeList(InitialSizeSlots);
        try
        {
            var size = SizeRequest(request, ref sizes);
            if (destination.Length < size)
            {
                throw new ArgumentException($"The destination holds {destination.Length} bytes; the encoded request needs {size}.", nameof(destination));
            }

            var writer = new ProtoWriter(destination[..size]);
            WriteRequest(request, ref writer, ref sizes);
            return writer.Written;
        }
        finally
        {
            sizes.Dispose();
        }
    }

    public static void Encode(TraceRequest request, System.Buffers.IBufferWriter<byte> output)
    {
        var sizes = new SizeList(InitialSizeSlots);
        try
        {
            var size = SizeRequest(request, ref sizes);
            if (size == 0)
            {
                return;
            }

            var writer = new ProtoWriter(output.GetSpan(size)[..size]);
            WriteRequest(request, ref writer, ref sizes);
            output.Advance(size);
        }
        finally
        {
            sizes.Dispose();
        }
    }

    // ---- size pass ----
    private static int SizeRequest(TraceRequest request, ref SizeList sizes)
    {
        var size = 0;
        foreach (var rs in request.ResourceSpans)
        {
            size += ProtoSize.LengthDelimited(1, SizeResourceSpans(rs, ref sizes));
        }

        return size;
    }

    private static int SizeResourceSpans(ResourceSpans rs, ref SizeList sizes)
    {
        var slot = sizes.Reserve();
        var size = 0;
        var resource = SizeResource(rs.Resource, ref sizes);
        if (resource > 0)
        {
            size += ProtoSize.LengthDelimited(1, resource);
        }

        foreach (var ss in rs.ScopeSpans)
        {
            size += ProtoSize.LengthDelimited(2, SizeScopeSpans(ss, ref sizes));
        }

        size += StringSize(3, rs.SchemaUrl);
        sizes.Set(slot, size);
        return size;
    }

    private static int SizeResource(Resource resource, ref SizeList sizes)
    {
        var slot = sizes.Reserve();
        var size = SizeAttributes(1, resource.Attributes, 0, ref sizes) + UInt32Size(2, resource.DroppedAttributesCount);
        sizes.Set(slot, size);
        return size;
    }

    private static int SizeScopeSpans(ScopeSpans ss, ref SizeList sizes)
    {
        var slot = sizes.Reserve();
        var size = 0;
        var scope = SizeScope(ss.Scope, ref sizes);
        if (scope > 0)
        {
            size += ProtoSize.LengthDelimited(1, scope);
        }

        foreach (var span in ss.Spans)
        {
            size += ProtoSize.LengthDelimited(2, SizeSpan(span, ref sizes));
        }

        size += StringSize(3, ss.SchemaUrl);
        sizes.Set(slot, size);
        return size;
    }

    private static int SizeScope(InstrumentationScope scope, ref SizeList sizes)
    {
        var slot = sizes.Reserve();
        var size = StringSize(1, scope.Name)
            + StringSize(2, scope.Version)
            + SizeAttributes(3, scope.Attributes, 0, ref sizes)
            + UInt32Size(4, scope.DroppedAttributesCount);
        sizes.Set(slot, size);
        return size;
    }

    private static int SizeSpan(Span span, ref SizeList sizes)
    {
        var slot = sizes.Reserve();
        var size = 0;
        if (!span.TraceId.IsEmpty)
        {
            size += 2 + TraceId.Length;
        }

        if (!span.SpanId.IsEmpty)
        {
            size += 2 + SpanId.Length;
        }

        size += StringSize(3, span.TraceState);
        if (!span.ParentSpanId.IsEmpty)
        {
            size += 2 + SpanId.Length;
        }

        size += StringSize(5, span.Name);
        if (span.Kind != 0)
        {
            size += 1 + ProtoSize.Varint((ulong)(long)span.Kind);
        }

        if (span.StartTimeUnixNano != 0)
        {
            size += 9;
        }

        if (span.EndTimeUnixNano != 0)
        {
            size += 9;
        }

        size += SizeAttributes(9, span.Attributes, 0, ref sizes);
        size += UInt32Size(10, span.DroppedAttributesCount);
        foreach (var ev in span.Events)
        {
            size += ProtoSize.LengthDelimited(11, SizeEvent(ev, ref sizes));
        }

        size += UInt32Size(12, span.DroppedEventsCount);
        foreach (var link in span.Links)
        {
            size += ProtoSize.LengthDelimited(13, SizeLink(link, ref sizes));
        }

        size += UInt32Size(14, span.DroppedLinksCount);
        var status = SizeStatus(span.Status, ref sizes);
        if (status > 0)
        {
            size += ProtoSize.LengthDelimited(15, status);
        }

        if (span.Flags != 0)
        {
            size += 2 + 4; // field 16 needs a 2-byte tag
        }

        sizes.Set(slot, size);
        return size;
    }

    private static int SizeEvent(SpanEvent ev, ref SizeList sizes)
    {
        var slot = sizes.Reserve();
        var size = (ev.TimeUnixNano != 0 ? 9 : 0)
            + StringSize(2, ev.Name)
            + SizeAttributes(3, ev.Attributes, 0, ref sizes)
            + UInt32Size(4, ev.DroppedAttributesCount);
        sizes.Set(slot, size);
        return size;
    }

    private static int SizeLink(SpanLink link, ref SizeList sizes)
    {
        var slot = sizes.Reserve();
        var size = (link.TraceId.IsEmpty ? 0 : 2 + TraceId.Length)
            + (link.SpanId.IsEmpty ? 0 : 2 + SpanId.Length)
            + StringSize(3, link.TraceState)
            + SizeAttributes(4, link.Attributes, 0, ref sizes)
            + UInt32Size(5, link.DroppedAttributesCount)
            + (link.Flags != 0 ? 5 : 0);
        sizes.Set(slot, size);
        return size;
    }

    private static int SizeStatus(SpanStatus status, ref SizeList sizes)
    {
        var slot = sizes.Reserve();
        var size = StringSize(2, status.Message) + (status.Code != 0 ? 1 + ProtoSize.Varint((ulong)(long)status.Code) : 0);
        sizes.Set(slot, size);
        return size;
    }

    private static int SizeAttributes(int field, List<KeyValue> attributes, int depth, ref SizeList sizes)
    {
        var size = 0;
        foreach (var kv in attributes)
        {
            size += ProtoSize.LengthDelimited(field, SizeKeyValue(kv, depth, ref sizes));
        }

        return size;
    }

    private static int SizeKeyValue(in KeyValue kv, int depth, ref SizeList sizes)
    {
        var slot = sizes.Reserve();
        var size = StringSize(1, kv.Key);
        if (kv.Value.Kind != AnyValueKind.Empty)
        {
            size += ProtoSize.LengthDelimited(2, SizeAnyValue(kv.Value, depth, ref sizes));
        }

        sizes.Set(slot, size);
        return size;
    }

    private static int SizeAnyValue(in AnyValue value, int depth, ref SizeList sizes)
    {
        var slot = sizes.Reserve();
        int size;
        switch (value.Kind)
        {
            case AnyValueKind.String:
                size = ProtoSize.String(1, value.StringValue!);
                break;
            case AnyValueKind.Bool:
                size = 2;
                break;
            case AnyValueKind.Int:
                size = 1 + ProtoSize.Varint((ulong)value.IntValue);
                break;
            case AnyValueKind.Double:
                size = 9;
                break;
            case AnyValueKind.Bytes:
                size = ProtoSize.LengthDelimited(7, value.BytesValue!.Length);
                break;
            case AnyValueKind.Array:
                {
                    CheckDepth(depth);
                    var inner = sizes.Reserve();
                    var body = 0;
                    foreach (var element in value.ArrayValue!)
                    {
                        body += ProtoSize.LengthDelimited(1, SizeAnyValue(element, depth + 1, ref sizes));
                    }

                    sizes.Set(inner, body);
                    size = ProtoSize.LengthDelimited(5, body);
                    break;
                }

            case AnyValueKind.KeyValueList:
                {
                    CheckDepth(depth);
                    var inner = sizes.Reserve();
                    var body = 0;
                    foreach (var kv in value.KeyValueListValue!)
                    {
                        body += ProtoSize.LengthDelimited(1, SizeKeyValue(kv, depth + 1, ref sizes));
                    }

                    sizes.Set(inner, body);
                    size = ProtoSize.LengthDelimited(6, body);
                    break;
                }

            default:
                size = 0;
                break;
        }

        sizes.Set(slot, size);
        return size;
    }

    private static void CheckDepth(int depth)
    {
        if (depth >= CodecLimits.MaxAnyValueDepth)
        {
            throw new ArgumentException($"Attribute values nest deeper than {CodecLimits.MaxAnyValueDepth} levels (or contain a cycle); OTLP receivers would reject them.");
        }
    }

    private static int StringSize(int field, string value) => string.IsNullOrEmpty(value) ? 0 : ProtoSize.String(field, value);

    private static int UInt32Size(int field, uint value) => value == 0 ? 0 : ProtoSize.Tag(field) + ProtoSize.Varint(value);

    // ---- write pass: mirrors the size pass call for call ----
    private static void WriteRequest(TraceRequest request, ref ProtoWriter w, ref SizeList sizes)
    {
        foreach (var rs in request.ResourceSpans)
        {
            w.WriteMessageHeader(1, sizes.Next());
            WriteResourceSpans(rs, ref w, ref sizes);
        }
    }

    private static void WriteResourceSpans(ResourceSpans rs, ref ProtoWriter w, ref SizeList sizes)
    {
        var resource = sizes.Next();
        if (resource > 0)
        {
            w.WriteMessageHeader(1, resource);
            WriteAttributes(1, rs.Resource.Attributes, ref w, ref sizes);
            WriteUInt32(2, rs.Resource.DroppedAttributesCount, ref w);
        }

        foreach (var ss in rs.ScopeSpans)
        {
            w.WriteMessageHeader(2, sizes.Next());
            WriteScopeSpans(ss, ref w, ref sizes);
        }

        WriteString(3, rs.SchemaUrl, ref w);
    }

    private static void WriteScopeSpans(ScopeSpans ss, ref ProtoWriter w, ref SizeList sizes)
    {
        var scopeSize = sizes.Next();
        if (scopeSize > 0)
        {
            var scope = ss.Scope;
            w.WriteMessageHeader(1, scopeSize);
            WriteString(1, scope.Name, ref w);
            WriteString(2, scope.Version, ref w);
            WriteAttributes(3, scope.Attributes, ref w, ref sizes);
            WriteUInt32(4, scope.DroppedAttributesCount, ref w);
        }

        foreach (var span in ss.Spans)
        {
            w.WriteMessageHeader(2, sizes.Next());
            WriteSpan(span, ref w, ref sizes);
        }

        WriteString(3, ss.SchemaUrl, ref w);
    }

    private static void WriteSpan(Span span, ref ProtoWriter w, ref SizeList sizes)
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

        WriteAttributes(9, span.Attributes, ref w, ref sizes);
        WriteUInt32(10, span.DroppedAttributesCount, ref w);
        foreach (var ev in span.Events)
        {
            w.WriteMessageHeader(11, sizes.Next());
            if (ev.TimeUnixNano != 0)
            {
                w.WriteTag(1, WireType.Fixed64);
                w.WriteFixed64(ev.TimeUnixNano);
            }

            WriteString(2, ev.Name, ref w);
            WriteAttributes(3, ev.Attributes, ref w, ref sizes);
            WriteUInt32(4, ev.DroppedAttributesCount, ref w);
        }

        WriteUInt32(12, span.DroppedEventsCount, ref w);
        foreach (var link in span.Links)
        {
            w.WriteMessageHeader(13, sizes.Next());
            if (!link.TraceId.IsEmpty)
            {
                w.WriteTraceId(1, link.TraceId);
            }

            if (!link.SpanId.IsEmpty)
            {
                w.WriteSpanId(2, link.SpanId);
            }

            WriteString(3, link.TraceState, ref w);
            WriteAttributes(4, link.Attributes, ref w, ref sizes);
            WriteUInt32(5, link.DroppedAttributesCount, ref w);
            if (link.Flags != 0)
            {
                w.WriteTag(6, WireType.Fixed32);
                w.WriteFixed32(link.Flags);
            }
        }

        WriteUInt32(14, span.DroppedLinksCount, ref w);
        var status = sizes.Next();
        if (status > 0)
        {
            w.WriteMessageHeader(15, status);
            WriteString(2, span.Status.Message, ref w);
            if (span.Status.Code != 0)
            {
                w.WriteTag(3, WireType.Varint);
                w.WriteVarint((ulong)(long)span.Status.Code);
            }
        }

        if (span.Flags != 0)
        {
            w.WriteTag(16, WireType.Fixed32);
            w.WriteFixed32(span.Flags);
        }
    }

    private static void WriteAttributes(int field, List<KeyValue> attributes, ref ProtoWriter w, ref SizeList sizes)
    {
        foreach (var kv in attributes)
        {
            w.WriteMessageHeader(field, sizes.Next());
            WriteKeyValue(kv, ref w, ref sizes);
        }
    }

    private static void WriteKeyValue(in KeyValue kv, ref ProtoWriter w, ref SizeList sizes)
    {
        WriteString(1, kv.Key, ref w);
        if (kv.Value.Kind != AnyValueKind.Empty)
        {
            w.WriteMessageHeader(2, sizes.Next());
            WriteAnyValue(kv.Value, ref w, ref sizes);
        }
    }

    private static void WriteAnyValue(in AnyValue value, ref ProtoWriter w, ref SizeList sizes)
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
                w.WriteMessageHeader(5, sizes.Next());
                foreach (var element in value.ArrayValue!)
                {
                    w.WriteMessageHeader(1, sizes.Next());
                    WriteAnyValue(element, ref w, ref sizes);
                }

                break;
            case AnyValueKind.KeyValueList:
                w.WriteMessageHeader(6, sizes.Next());
                foreach (var kv in value.KeyValueListValue!)
                {
                    w.WriteMessageHeader(1, sizes.Next());
                    WriteKeyValue(kv, ref w, ref sizes);
                }

                break;
            default:
                break;
        }
    }

    private static void WriteString(int field, string value, ref ProtoWriter w)
    {
        if (!string.IsNullOrEmpty(value))
        {
            w.WriteString(field, value);
        }
    }

    private static void WriteUInt32(int field, uint value, ref ProtoWriter w)
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

        var body = (partial.RejectedSpans != 0 ? 1 + ProtoSize.Varint((ulong)partial.RejectedSpans) : 0) + StringSize(2, partial.ErrorMessage);
        var buffer = new byte[ProtoSize.LengthDelimited(1, body)];
        var w = new ProtoWriter(buffer);
        w.WriteMessageHeader(1, body);
        if (partial.RejectedSpans != 0)
        {
            w.WriteTag(1, WireType.Varint);
            w.WriteVarint((ulong)partial.RejectedSpans);
        }

        WriteString(2, partial.ErrorMessage, ref w);
        return buffer;
    }

    public static byte[] EncodeRpcStatus(int code, string message)
    {
        var size = (code != 0 ? 1 + ProtoSize.Varint((ulong)(long)code) : 0) + StringSize(2, message);
        var buffer = new byte[size];
        var w = new ProtoWriter(buffer);
        if (code != 0)
        {
            w.WriteTag(1, WireType.Varint);
            w.WriteVarint((ulong)(long)code);
        }

        WriteString(2, message, ref w);
        return buffer;
    }
}
