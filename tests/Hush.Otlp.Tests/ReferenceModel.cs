using Google.Protobuf;
using R = Hush.Otlp.Tests.Reference;

namespace Hush.Otlp.Tests;

/// <summary>
/// Converts Hush's model to the protoc-generated reference model, so Google.Protobuf's value
/// equality (bitwise for doubles) can compare two requests deeply and print a readable diff.
/// Optional messages are set only when non-empty, matching the canonical encoding.
/// </summary>
internal static class ReferenceModel
{
    public static R.ExportTraceServiceRequest ToReference(TraceRequest request)
    {
        var result = new R.ExportTraceServiceRequest();
        foreach (var rs in request.ResourceSpans)
        {
            var rrs = new R.ResourceSpans { SchemaUrl = rs.SchemaUrl };
            if (rs.Resource.Attributes.Count > 0 || rs.Resource.DroppedAttributesCount != 0)
            {
                rrs.Resource = new R.Resource { DroppedAttributesCount = rs.Resource.DroppedAttributesCount };
                rrs.Resource.Attributes.AddRange(rs.Resource.Attributes.Select(ToReference));
            }

            foreach (var ss in rs.ScopeSpans)
            {
                var rss = new R.ScopeSpans { SchemaUrl = ss.SchemaUrl };
                var scope = ss.Scope;
                if (scope.Name.Length > 0 || scope.Version.Length > 0 || scope.Attributes.Count > 0 || scope.DroppedAttributesCount != 0)
                {
                    rss.Scope = new R.InstrumentationScope { Name = scope.Name, Version = scope.Version, DroppedAttributesCount = scope.DroppedAttributesCount };
                    rss.Scope.Attributes.AddRange(scope.Attributes.Select(ToReference));
                }

                rss.Spans.AddRange(ss.Spans.Select(ToReference));
                rrs.ScopeSpans.Add(rss);
            }

            result.ResourceSpans.Add(rrs);
        }

        return result;
    }

    public static R.Span ToReference(Span span)
    {
        var r = new R.Span
        {
            TraceId = Id(span.TraceId),
            SpanId = Id(span.SpanId),
            TraceState = span.TraceState,
            ParentSpanId = Id(span.ParentSpanId),
            Flags = span.Flags,
            Name = span.Name,
            Kind = (R.Span.Types.SpanKind)(int)span.Kind,
            StartTimeUnixNano = span.StartTimeUnixNano,
            EndTimeUnixNano = span.EndTimeUnixNano,
            DroppedAttributesCount = span.DroppedAttributesCount,
            DroppedEventsCount = span.DroppedEventsCount,
            DroppedLinksCount = span.DroppedLinksCount,
        };
        r.Attributes.AddRange(span.Attributes.Select(ToReference));
        foreach (var ev in span.Events)
        {
            var rev = new R.Span.Types.Event { TimeUnixNano = ev.TimeUnixNano, Name = ev.Name, DroppedAttributesCount = ev.DroppedAttributesCount };
            rev.Attributes.AddRange(ev.Attributes.Select(ToReference));
            r.Events.Add(rev);
        }

        foreach (var link in span.Links)
        {
            var rl = new R.Span.Types.Link
            {
                TraceId = Id(link.TraceId),
                SpanId = Id(link.SpanId),
                TraceState = link.TraceState,
                DroppedAttributesCount = link.DroppedAttributesCount,
                Flags = link.Flags,
            };
            rl.Attributes.AddRange(link.Attributes.Select(ToReference));
            r.Links.Add(rl);
        }

        if (span.Status.Message.Length > 0 || span.Status.Code != 0)
        {
            r.Status = new R.Status { Message = span.Status.Message, Code = (R.Status.Types.StatusCode)(int)span.Status.Code };
        }

        return r;
    }

    public static R.KeyValue ToReference(KeyValue kv)
    {
        var r = new R.KeyValue { Key = kv.Key };
        if (kv.Value.Kind != AnyValueKind.Empty)
        {
            r.Value = ToReference(kv.Value);
        }

        return r;
    }

    public static R.AnyValue ToReference(AnyValue value)
    {
        var r = new R.AnyValue();
        switch (value.Kind)
        {
            case AnyValueKind.String:
                r.StringValue = value.StringValue;
                break;
            case AnyValueKind.Bool:
                r.BoolValue = value.BoolValue;
                break;
            case AnyValueKind.Int:
                r.IntValue = value.IntValue;
                break;
            case AnyValueKind.Double:
                r.DoubleValue = value.DoubleValue;
                break;
            case AnyValueKind.Bytes:
                r.BytesValue = ByteString.CopyFrom(value.BytesValue);
                break;
            case AnyValueKind.Array:
                r.ArrayValue = new R.ArrayValue();
                r.ArrayValue.Values.AddRange(value.ArrayValue!.Select(ToReference));
                break;
            case AnyValueKind.KeyValueList:
                r.KvlistValue = new R.KeyValueList();
                r.KvlistValue.Values.AddRange(value.KeyValueListValue!.Select(ToReference));
                break;
            default:
                break;
        }

        return r;
    }

    private static ByteString Id(TraceId id) => id.IsEmpty ? ByteString.Empty : ByteString.CopyFrom(id.ToBytes());

    private static ByteString Id(SpanId id) => id.IsEmpty ? ByteString.Empty : ByteString.CopyFrom(id.ToBytes());
}
