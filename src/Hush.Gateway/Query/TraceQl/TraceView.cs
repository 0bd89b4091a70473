using Hush.Otlp;

namespace Hush.Gateway.Query.TraceQl;

/// <summary>One span with the resource it came from.</summary>
internal readonly record struct SpanRef(ResourceSpans Resource, Span Span)
{
    public ulong DurationNanos => Span.EndTimeUnixNano >= Span.StartTimeUnixNano ? Span.EndTimeUnixNano - Span.StartTimeUnixNano : 0;
}

/// <summary>
/// A stored trace flattened for evaluation: its spans in stored order, its root, its bounds. Built once per
/// candidate trace; the trace-level intrinsics (traceDuration, rootName, rootServiceName) come from here.
/// </summary>
internal sealed class TraceView
{
    /// <summary>What Tempo reports when the root span has not arrived.</summary>
    public const string MissingRoot = "<root span not yet received>";

    public TraceView(TraceRequest trace)
    {
        ArgumentNullException.ThrowIfNull(trace);
        var spans = new List<SpanRef>();
        ulong start = ulong.MaxValue;
        ulong end = 0;
        SpanRef? root = null;
        SpanRef? earliest = null;
        foreach (var rs in trace.ResourceSpans)
        {
            foreach (var ss in rs.ScopeSpans)
            {
                foreach (var span in ss.Spans)
                {
                    var item = new SpanRef(rs, span);
                    spans.Add(item);
                    start = Math.Min(start, span.StartTimeUnixNano);
                    end = Math.Max(end, span.EndTimeUnixNano);
                    if (span.ParentSpanId.IsEmpty && root is null)
                    {
                        root = item;
                    }

                    if (earliest is null || span.StartTimeUnixNano < earliest.Value.Span.StartTimeUnixNano)
                    {
                        earliest = item;
                    }
                }
            }
        }

        Trace = trace;
        Spans = spans;
        TraceId = spans.Count > 0 ? spans[0].Span.TraceId : default;
        StartUnixNano = spans.Count > 0 ? start : 0;
        EndUnixNano = spans.Count > 0 ? Math.Max(end, start) : 0;
        Root = root;
        RootName = root?.Span.Name ?? MissingRoot;
        RootServiceName = root is { } r ? ServiceName(r.Resource) ?? MissingRoot : MissingRoot;
    }

    public TraceRequest Trace { get; }

    public IReadOnlyList<SpanRef> Spans { get; }

    public TraceId TraceId { get; }

    public ulong StartUnixNano { get; }

    public ulong EndUnixNano { get; }

    public ulong DurationNanos => EndUnixNano - StartUnixNano;

    public SpanRef? Root { get; }

    public string RootName { get; }

    public string RootServiceName { get; }

    public static string? ServiceName(ResourceSpans resource)
    {
        foreach (var kv in resource.Resource.Attributes)
        {
            if (kv.Key == "service.name" && kv.Value.StringValue is { } name)
            {
                return name;
            }
        }

        return null;
    }

    public static bool TryGet(List<KeyValue> attributes, string key, out AnyValue value)
    {
        foreach (var kv in attributes)
        {
            if (kv.Key == key)
            {
                value = kv.Value;
                return true;
            }
        }

        value = default;
        return false;
    }
}
