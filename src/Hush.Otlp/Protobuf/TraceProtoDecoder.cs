using System.Buffers.Binary;
using Hush.Otlp.Implementation;

namespace Hush.Otlp.Protobuf;

/// <summary>
/// Decodes the OTLP trace messages. Field numbers follow opentelemetry-proto
/// (collector/trace/v1, trace/v1, common/v1, resource/v1). Unknown fields of any wire type are
/// skipped; a known field with the wrong wire type is an error.
/// </summary>
internal static class TraceProtoDecoder
{
    // Single-byte tags (field << 3 | wire type) of the fast paths.
    private const byte KeyTag = (1 << 3) | (byte)WireType.LengthDelimited;
    private const byte ValueTag = (2 << 3) | (byte)WireType.LengthDelimited;
    private const byte StringValueTag = (1 << 3) | (byte)WireType.LengthDelimited;
    private const byte BoolValueTag = (2 << 3) | (byte)WireType.Varint;
    private const byte IntValueTag = (3 << 3) | (byte)WireType.Varint;
    private const byte DoubleValueTag = (4 << 3) | (byte)WireType.Fixed64;

    /// <param name="data">The message.</param>
    /// <param name="only">When not empty: decode only the spans of this trace, skipping every other span unread past
    /// its id, and leave out scopes and resources left without a span (a store block holds ~1,000 spans of ~150 traces).</param>
    public static TraceRequest DecodeTraceRequest(ReadOnlySpan<byte> data, TraceId only = default)
    {
        var keys = AttributeKeyCache.Current;
        var opened = keys.Strings.Begin();
        try
        {
            var r = new ProtoReader(data, 0, "ExportTraceServiceRequest", keys);
            var request = new TraceRequest();
            while (r.TryReadTag(out var field, out var wt))
            {
                if (field == 1)
                {
                    r.Expect(wt, WireType.LengthDelimited, "resource_spans");
                    var inner = r.ReadMessage("ResourceSpans");
                    var rs = DecodeResourceSpans(ref inner, only);
                    if (only.IsEmpty || rs.ScopeSpans.Count > 0)
                    {
                        request.ResourceSpans.Add(rs);
                    }
                }
                else
                {
                    r.Skip(field, wt);
                }
            }

            return request;
        }
        finally
        {
            if (opened)
            {
                keys.Strings.End();
            }
        }
    }

    private static ResourceSpans DecodeResourceSpans(ref ProtoReader r, TraceId only)
    {
        var rs = new ResourceSpans();
        while (r.TryReadTag(out var field, out var wt))
        {
            switch (field)
            {
                case 1:
                    {
                        r.Expect(wt, WireType.LengthDelimited, "resource");
                        var inner = r.ReadMessage("Resource");
                        DecodeResource(ref inner, rs.Resource);
                        break;
                    }

                case 2:
                    {
                        r.Expect(wt, WireType.LengthDelimited, "scope_spans");
                        var inner = r.ReadMessage("ScopeSpans");
                        var ss = DecodeScopeSpans(ref inner, only);
                        if (only.IsEmpty || ss.Spans.Count > 0)
                        {
                            rs.ScopeSpans.Add(ss);
                        }

                        break;
                    }

                case 3:
                    r.Expect(wt, WireType.LengthDelimited, "schema_url");
                    rs.SchemaUrl = r.ReadString("schema_url");
                    break;
                default:
                    r.Skip(field, wt);
                    break;
            }
        }

        return rs;
    }

    private static void DecodeResource(ref ProtoReader r, Resource resource)
    {
        // A repeated resource field merges into the same object, hence Count + n.
        resource.Attributes.EnsureCapacity(resource.Attributes.Count + r.CountField(1));
        while (r.TryReadTag(out var field, out var wt))
        {
            switch (field)
            {
                case 1:
                    r.Expect(wt, WireType.LengthDelimited, "attributes");
                    resource.Attributes.Add(DecodeKeyValue(ref r, 0));
                    break;
                case 2:
                    r.Expect(wt, WireType.Varint, "dropped_attributes_count");
                    resource.DroppedAttributesCount = (uint)r.ReadVarint();
                    break;
                default:
                    r.Skip(field, wt);
                    break;
            }
        }
    }

    private static ScopeSpans DecodeScopeSpans(ref ProtoReader r, TraceId only)
    {
        var ss = new ScopeSpans();
        if (only.IsEmpty)
        {
            ss.Spans.Capacity = r.CountField(2);
        }

        while (r.TryReadTag(out var field, out var wt))
        {
            switch (field)
            {
                case 1:
                    {
                        r.Expect(wt, WireType.LengthDelimited, "scope");
                        var inner = r.ReadMessage("InstrumentationScope");
                        DecodeScope(ref inner, ss.Scope);
                        break;
                    }

                case 2:
                    {
                        r.Expect(wt, WireType.LengthDelimited, "spans");
                        var inner = r.ReadMessage("Span");
                        if (only.IsEmpty || IsOfTrace(inner, only))
                        {
                            ss.Spans.Add(DecodeSpan(ref inner));
                        }

                        break;
                    }

                case 3:
                    r.Expect(wt, WireType.LengthDelimited, "schema_url");
                    ss.SchemaUrl = r.ReadString("schema_url");
                    break;
                default:
                    r.Skip(field, wt);
                    break;
            }
        }

        return ss;
    }

    private static void DecodeScope(ref ProtoReader r, InstrumentationScope scope)
    {
        scope.Attributes.EnsureCapacity(scope.Attributes.Count + r.CountField(3));
        while (r.TryReadTag(out var field, out var wt))
        {
            switch (field)
            {
                case 1:
                    r.Expect(wt, WireType.LengthDelimited, "name");
                    scope.Name = r.ReadString("name");
                    break;
                case 2:
                    r.Expect(wt, WireType.LengthDelimited, "version");
                    scope.Version = r.ReadString("version");
                    break;
                case 3:
                    r.Expect(wt, WireType.LengthDelimited, "attributes");
                    scope.Attributes.Add(DecodeKeyValue(ref r, 0));
                    break;
                case 4:
                    r.Expect(wt, WireType.Varint, "dropped_attributes_count");
                    scope.DroppedAttributesCount = (uint)r.ReadVarint();
                    break;
                default:
                    r.Skip(field, wt);
                    break;
            }
        }
    }

    /// <summary>Whether the span's <c>trace_id</c> is <paramref name="traceId"/>, reading no further than that field (first, as every OTLP encoder writes it).</summary>
    private static bool IsOfTrace(ProtoReader r, TraceId traceId)
    {
        while (r.TryReadTag(out var field, out var wt))
        {
            if (field == 1)
            {
                r.Expect(wt, WireType.LengthDelimited, "trace_id");
                return r.ReadTraceId("trace_id") == traceId;
            }

            r.Skip(field, wt);
        }

        return false;
    }

    private static Span DecodeSpan(ref ProtoReader r)
    {
        var span = new Span();
        span.Attributes.Capacity = r.CountField(9);
        while (r.TryReadTag(out var field, out var wt))
        {
            switch (field)
            {
                case 1:
                    r.Expect(wt, WireType.LengthDelimited, "trace_id");
                    span.TraceId = r.ReadTraceId("trace_id");
                    break;
                case 2:
                    r.Expect(wt, WireType.LengthDelimited, "span_id");
                    span.SpanId = r.ReadSpanId("span_id");
                    break;
                case 3:
                    r.Expect(wt, WireType.LengthDelimited, "trace_state");
                    span.TraceState = r.ReadString("trace_state");
                    break;
                case 4:
                    r.Expect(wt, WireType.LengthDelimited, "parent_span_id");
                    span.ParentSpanId = r.ReadSpanId("parent_span_id");
                    break;
                case 5:
                    r.Expect(wt, WireType.LengthDelimited, "name");
                    span.Name = r.ReadString("name");
                    break;
                case 6:
                    r.Expect(wt, WireType.Varint, "kind");
                    span.Kind = (SpanKind)(int)r.ReadVarint();
                    break;
                case 7:
                    r.Expect(wt, WireType.Fixed64, "start_time_unix_nano");
                    span.StartTimeUnixNano = r.ReadFixed64();
                    break;
                case 8:
                    r.Expect(wt, WireType.Fixed64, "end_time_unix_nano");
                    span.EndTimeUnixNano = r.ReadFixed64();
                    break;
                case 9:
                    r.Expect(wt, WireType.LengthDelimited, "attributes");
                    span.Attributes.Add(DecodeKeyValue(ref r, 0));
                    break;
                case 10:
                    r.Expect(wt, WireType.Varint, "dropped_attributes_count");
                    span.DroppedAttributesCount = (uint)r.ReadVarint();
                    break;
                case 11:
                    {
                        r.Expect(wt, WireType.LengthDelimited, "events");
                        var inner = r.ReadMessage("Span.Event");
                        span.Events.Add(DecodeEvent(ref inner));
                        break;
                    }

                case 12:
                    r.Expect(wt, WireType.Varint, "dropped_events_count");
                    span.DroppedEventsCount = (uint)r.ReadVarint();
                    break;
                case 13:
                    {
                        r.Expect(wt, WireType.LengthDelimited, "links");
                        var inner = r.ReadMessage("Span.Link");
                        span.Links.Add(DecodeLink(ref inner));
                        break;
                    }

                case 14:
                    r.Expect(wt, WireType.Varint, "dropped_links_count");
                    span.DroppedLinksCount = (uint)r.ReadVarint();
                    break;
                case 15:
                    {
                        r.Expect(wt, WireType.LengthDelimited, "status");
                        var inner = r.ReadMessage("Status");
                        DecodeStatus(ref inner, span.Status);
                        break;
                    }

                case 16:
                    r.Expect(wt, WireType.Fixed32, "flags");
                    span.Flags = r.ReadFixed32();
                    break;
                default:
                    r.Skip(field, wt);
                    break;
            }
        }

        return span;
    }

    private static SpanEvent DecodeEvent(ref ProtoReader r)
    {
        var ev = new SpanEvent();
        ev.Attributes.Capacity = r.CountField(3);
        while (r.TryReadTag(out var field, out var wt))
        {
            switch (field)
            {
                case 1:
                    r.Expect(wt, WireType.Fixed64, "time_unix_nano");
                    ev.TimeUnixNano = r.ReadFixed64();
                    break;
                case 2:
                    r.Expect(wt, WireType.LengthDelimited, "name");
                    ev.Name = r.ReadString("name");
                    break;
                case 3:
                    r.Expect(wt, WireType.LengthDelimited, "attributes");
                    ev.Attributes.Add(DecodeKeyValue(ref r, 0));
                    break;
                case 4:
                    r.Expect(wt, WireType.Varint, "dropped_attributes_count");
                    ev.DroppedAttributesCount = (uint)r.ReadVarint();
                    break;
                default:
                    r.Skip(field, wt);
                    break;
            }
        }

        return ev;
    }

    private static SpanLink DecodeLink(ref ProtoReader r)
    {
        var link = new SpanLink();
        link.Attributes.Capacity = r.CountField(4);
        while (r.TryReadTag(out var field, out var wt))
        {
            switch (field)
            {
                case 1:
                    r.Expect(wt, WireType.LengthDelimited, "trace_id");
                    link.TraceId = r.ReadTraceId("trace_id");
                    break;
                case 2:
                    r.Expect(wt, WireType.LengthDelimited, "span_id");
                    link.SpanId = r.ReadSpanId("span_id");
                    break;
                case 3:
                    r.Expect(wt, WireType.LengthDelimited, "trace_state");
                    link.TraceState = r.ReadString("trace_state");
                    break;
                case 4:
                    r.Expect(wt, WireType.LengthDelimited, "attributes");
                    link.Attributes.Add(DecodeKeyValue(ref r, 0));
                    break;
                case 5:
                    r.Expect(wt, WireType.Varint, "dropped_attributes_count");
                    link.DroppedAttributesCount = (uint)r.ReadVarint();
                    break;
                case 6:
                    r.Expect(wt, WireType.Fixed32, "flags");
                    link.Flags = r.ReadFixed32();
                    break;
                default:
                    r.Skip(field, wt);
                    break;
            }
        }

        return link;
    }

    private static void DecodeStatus(ref ProtoReader r, SpanStatus status)
    {
        while (r.TryReadTag(out var field, out var wt))
        {
            switch (field)
            {
                case 2:
                    r.Expect(wt, WireType.LengthDelimited, "message");
                    status.Message = r.ReadString("message");
                    break;
                case 3:
                    r.Expect(wt, WireType.Varint, "code");
                    status.Code = (StatusCode)(int)r.ReadVarint();
                    break;
                default:
                    r.Skip(field, wt);
                    break;
            }
        }
    }

    /// <summary>Reads one length-delimited KeyValue from <paramref name="outer"/>.</summary>
    private static KeyValue DecodeKeyValue(ref ProtoReader outer, int depth)
    {
        var body = outer.ReadLengthDelimited(out var bodyOffset);
        var key = string.Empty;
        var value = AnyValue.Empty;

        // Fast path for what every SDK writes: key (tag 0x0A) then value (tag 0x12), lengths of 1-2 bytes,
        // read straight off the span. Anything else, malformed input included, goes on in the checked loop
        // from where this stopped, so fields, precedence and errors are exactly those of that loop.
        var pos = 0;
        if (body.Length >= 2 && body[0] == KeyTag)
        {
            pos = 1;
            if (ProtoReader.TryReadShortVarint(body, ref pos, out var keyLength) && keyLength <= (uint)(body.Length - pos))
            {
                key = outer.Keys.TryGetOrAdd(body.Slice(pos, (int)keyLength))
                    ?? throw ProtoReader.Error("KeyValue", bodyOffset + pos, "KeyValue.key is not valid UTF-8");
                pos += (int)keyLength;
            }
            else
            {
                pos = 0;
            }
        }

        if (pos < body.Length && body[pos] == ValueTag)
        {
            var start = pos;
            pos++;
            if (ProtoReader.TryReadShortVarint(body, ref pos, out var valueLength) && valueLength <= (uint)(body.Length - pos))
            {
                value = DecodeAnyValueBody(body.Slice(pos, (int)valueLength), bodyOffset + pos, depth, outer.Keys);
                pos += (int)valueLength;
            }
            else
            {
                pos = start;
            }
        }

        if (pos < body.Length)
        {
            var r = new ProtoReader(body[pos..], bodyOffset + pos, "KeyValue", outer.Keys);
            DecodeKeyValueFields(ref r, depth, ref key, ref value);
        }

        return new KeyValue(key, value);
    }

    private static void DecodeKeyValueFields(ref ProtoReader r, int depth, ref string key, ref AnyValue value)
    {
        while (r.TryReadTag(out var field, out var wt))
        {
            switch (field)
            {
                case 1:
                    r.Expect(wt, WireType.LengthDelimited, "key");
                    key = r.ReadKey();
                    break;
                case 2:
                    r.Expect(wt, WireType.LengthDelimited, "value");
                    value = DecodeAnyValue(ref r, depth);
                    break;
                default:
                    r.Skip(field, wt);
                    break;
            }
        }
    }

    /// <summary>Reads one length-delimited AnyValue from <paramref name="outer"/>; the last oneof member present wins.</summary>
    private static AnyValue DecodeAnyValue(ref ProtoReader outer, int depth)
    {
        var body = outer.ReadLengthDelimited(out var bodyOffset);
        return DecodeAnyValueBody(body, bodyOffset, depth, outer.Keys);
    }

    /// <summary>
    /// Decodes an AnyValue message body. Fast path: the body is exactly one scalar member, as every SDK
    /// writes it; anything else goes through the checked loop.
    /// </summary>
    private static AnyValue DecodeAnyValueBody(ReadOnlySpan<byte> body, int bodyOffset, int depth, AttributeKeyCache keys)
    {
        if (body.Length >= 2)
        {
            var pos = 1;
            switch (body[0])
            {
                case StringValueTag:
                    if (ProtoReader.TryReadShortVarint(body, ref pos, out var length) && length == (uint)(body.Length - pos))
                    {
                        return AnyValue.Of(keys.Strings.TryDecode(body[pos..])
                            ?? throw ProtoReader.Error("AnyValue", bodyOffset + pos, "AnyValue.string_value is not valid UTF-8"));
                    }

                    break;
                case BoolValueTag:
                    if (ProtoReader.TryReadShortVarint(body, ref pos, out var flag) && pos == body.Length)
                    {
                        return AnyValue.Of(flag != 0);
                    }

                    break;
                case IntValueTag:
                    if (ProtoReader.TryReadShortVarint(body, ref pos, out var number) && pos == body.Length)
                    {
                        return AnyValue.Of((long)number);
                    }

                    break;
                case DoubleValueTag:
                    if (body.Length == 1 + sizeof(double))
                    {
                        return AnyValue.Of(BitConverter.UInt64BitsToDouble(BinaryPrimitives.ReadUInt64LittleEndian(body[1..])));
                    }

                    break;
            }
        }

        var r = new ProtoReader(body, bodyOffset, "AnyValue", keys);
        return DecodeAnyValueFields(ref r, depth);
    }

    /// <summary>The checked AnyValue loop; the last oneof member present wins.</summary>
    private static AnyValue DecodeAnyValueFields(ref ProtoReader r, int depth)
    {
        var value = AnyValue.Empty;
        while (r.TryReadTag(out var field, out var wt))
        {
            switch (field)
            {
                case 1:
                    r.Expect(wt, WireType.LengthDelimited, "string_value");
                    value = AnyValue.Of(r.ReadString("string_value"));
                    break;
                case 2:
                    r.Expect(wt, WireType.Varint, "bool_value");
                    value = AnyValue.Of(r.ReadVarint() != 0);
                    break;
                case 3:
                    r.Expect(wt, WireType.Varint, "int_value");
                    value = AnyValue.Of((long)r.ReadVarint());
                    break;
                case 4:
                    r.Expect(wt, WireType.Fixed64, "double_value");
                    value = AnyValue.Of(BitConverter.UInt64BitsToDouble(r.ReadFixed64()));
                    break;
                case 5:
                    {
                        r.Expect(wt, WireType.LengthDelimited, "array_value");
                        CheckDepth(ref r, depth);
                        var inner = r.ReadMessage("ArrayValue");
                        var list = new List<AnyValue>();
                        while (inner.TryReadTag(out var f, out var w))
                        {
                            if (f == 1)
                            {
                                inner.Expect(w, WireType.LengthDelimited, "values");
                                list.Add(DecodeAnyValue(ref inner, depth + 1));
                            }
                            else
                            {
                                inner.Skip(f, w);
                            }
                        }

                        value = AnyValue.Of(list);
                        break;
                    }

                case 6:
                    {
                        r.Expect(wt, WireType.LengthDelimited, "kvlist_value");
                        CheckDepth(ref r, depth);
                        var inner = r.ReadMessage("KeyValueList");
                        var list = new List<KeyValue>();
                        while (inner.TryReadTag(out var f, out var w))
                        {
                            if (f == 1)
                            {
                                inner.Expect(w, WireType.LengthDelimited, "values");
                                list.Add(DecodeKeyValue(ref inner, depth + 1));
                            }
                            else
                            {
                                inner.Skip(f, w);
                            }
                        }

                        value = AnyValue.Of(list);
                        break;
                    }

                case 7:
                    r.Expect(wt, WireType.LengthDelimited, "bytes_value");
                    value = AnyValue.Of(r.ReadBytes());
                    break;
                default:
                    r.Skip(field, wt);
                    break;
            }
        }

        return value;
    }

    private static void CheckDepth(ref ProtoReader r, int depth)
    {
        if (depth >= CodecLimits.MaxAnyValueDepth)
        {
            r.ThrowAt(r.Offset, $"attribute values nested deeper than {CodecLimits.MaxAnyValueDepth} levels");
        }
    }

    public static TraceExportResponse DecodeExportResponse(ReadOnlySpan<byte> data)
    {
        var r = new ProtoReader(data, 0, "ExportTraceServiceResponse");
        var response = new TraceExportResponse();
        while (r.TryReadTag(out var field, out var wt))
        {
            if (field == 1)
            {
                r.Expect(wt, WireType.LengthDelimited, "partial_success");
                var inner = r.ReadMessage("ExportTracePartialSuccess");
                var partial = response.PartialSuccess ??= new ExportPartialSuccess();
                while (inner.TryReadTag(out var f, out var w))
                {
                    switch (f)
                    {
                        case 1:
                            inner.Expect(w, WireType.Varint, "rejected_spans");
                            partial.RejectedSpans = (long)inner.ReadVarint();
                            break;
                        case 2:
                            inner.Expect(w, WireType.LengthDelimited, "error_message");
                            partial.ErrorMessage = inner.ReadString("error_message");
                            break;
                        default:
                            inner.Skip(f, w);
                            break;
                    }
                }
            }
            else
            {
                r.Skip(field, wt);
            }
        }

        return response;
    }

    public static (int Code, string Message) DecodeRpcStatus(ReadOnlySpan<byte> data)
    {
        var r = new ProtoReader(data, 0, "google.rpc.Status");
        var code = 0;
        var message = string.Empty;
        while (r.TryReadTag(out var field, out var wt))
        {
            switch (field)
            {
                case 1:
                    r.Expect(wt, WireType.Varint, "code");
                    code = (int)r.ReadVarint();
                    break;
                case 2:
                    r.Expect(wt, WireType.LengthDelimited, "message");
                    message = r.ReadString("message");
                    break;
                default:
                    // details (3, repeated google.protobuf.Any) are not surfaced.
                    r.Skip(field, wt);
                    break;
            }
        }

        return (code, message);
    }
}
