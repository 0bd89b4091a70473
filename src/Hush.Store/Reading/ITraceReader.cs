using Hush.Otlp;

namespace Hush.Store.Reading;

/// <summary>What a <see cref="TermHint"/> names.</summary>
public enum TermKind
{
    /// <summary>A span name equals <see cref="TermHint.Value"/>.</summary>
    SpanName,

    /// <summary>A resource's <c>service.name</c> equals <see cref="TermHint.Value"/>.</summary>
    ServiceName,

    /// <summary>A string attribute <see cref="TermHint.Key"/> (resource, span or event) equals <see cref="TermHint.Value"/>.</summary>
    Attribute,
}

/// <summary>
/// An equality the store can test against its keyed index before decrypting anything. A hint only narrows the
/// candidates: the store may return traces that do not satisfy it (false positives), never drop one that does.
/// </summary>
public sealed record TermHint(TermKind Kind, string Key, string Value);

/// <summary>Which traces to scan, newest first, within one tenant.</summary>
public sealed record TraceScan
{
    /// <summary>Only traces with a span ending at or after this instant; null for no lower bound.</summary>
    public DateTimeOffset? Start { get; init; }

    /// <summary>Only traces with a span starting before this instant; null for no upper bound.</summary>
    public DateTimeOffset? End { get; init; }

    /// <summary>Every hint must hold for some span of the trace (a conjunction); empty scans everything in the window.</summary>
    public IReadOnlyList<TermHint> Hints { get; init; } = [];

    /// <summary>
    /// When set, a trace none of whose spans satisfies it may be skipped without being assembled (the caller's query
    /// must then need a matching span, and the predicate must read only that span and its resource). Like a hint it
    /// only narrows: a reader may ignore it. Called on the reader's thread, on already-scrubbed spans.
    /// </summary>
    public Func<ResourceSpans, Span, bool>? SpanFilter { get; init; }

    /// <summary>
    /// When set with <see cref="SpanFilter"/>: false only when no span with these intrinsics can satisfy the span filter,
    /// whatever its name, attributes and resource. The reader may then skip decoding those spans: a trace none of whose
    /// spans passes is not decoded at all. Like the span filter, it only narrows.
    /// </summary>
    public Func<SpanIntrinsics, bool>? IntrinsicFilter { get; init; }

    /// <summary>
    /// When set, the reader stops after looking at this many candidate traces (returned or skipped): the caller's bound
    /// on the work of one scan, which a <see cref="SpanFilter"/> would otherwise hide from it.
    /// </summary>
    public long? MaxTraces { get; init; }

    /// <summary>When set, the reader counts in it every candidate trace it looked at, returned or skipped.</summary>
    public ScanProgress? Progress { get; init; }
}

/// <summary>What a scan has looked at so far: the caller's bound on work, and the figures of a search response.</summary>
public sealed class ScanProgress
{
    /// <summary>Candidate traces looked at, whether returned or skipped by <see cref="TraceScan.SpanFilter"/>.</summary>
    public long Traces { get; set; }

    /// <summary>Their spans.</summary>
    public long Spans { get; set; }
}

/// <summary>
/// The store's read side, for the query layer. Everything is within one tenant; a trace id of another tenant
/// is indistinguishable from one that does not exist. What comes back has been scrubbed at ingest.
/// </summary>
public interface ITraceReader
{
    /// <summary>
    /// Every stored span of the trace, merged across blocks (a span stored twice comes back once), grouped by
    /// resource and scope; null when the tenant has no span of it in the window.
    /// </summary>
    Task<TraceRequest?> FindTraceAsync(string tenant, TraceId traceId, DateTimeOffset? start, DateTimeOffset? end, CancellationToken cancellationToken);

    /// <summary>
    /// Candidate traces, newest first (by their latest span end), each with every stored span of it. The caller
    /// evaluates its own query on them and stops enumerating when it has enough.
    /// </summary>
    IAsyncEnumerable<TraceRequest> ScanAsync(string tenant, TraceScan scan, CancellationToken cancellationToken);
}
