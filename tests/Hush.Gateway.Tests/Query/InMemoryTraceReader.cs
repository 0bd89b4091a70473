using System.Runtime.CompilerServices;
using Hush.Otlp;
using Hush.Store.Reading;

namespace Hush.Gateway.Tests.Query;

/// <summary>
/// An <see cref="ITraceReader"/> over traces held in memory, honouring the contract: one tenant at a time, the time
/// window, hints as a sound filter (a trace is dropped only when some hint holds on none of its spans), newest first.
/// Records what it was asked, so tests can check hints and early stops.
/// </summary>
internal sealed class InMemoryTraceReader : ITraceReader
{
    private readonly List<(string Tenant, TraceRequest Trace)> _traces = [];
    private readonly Lock _lock = new();

    public List<TraceScan> Scans { get; } = [];

    /// <summary>How many traces the last scan yielded before the caller stopped.</summary>
    public int Yielded { get; private set; }

    /// <summary>How many traces the last scan skipped on its span filter.</summary>
    public int Skipped { get; private set; }

    public Func<CancellationToken, Task>? Delay { get; set; }

    /// <summary>How many stored requests there are (an exporter may be adding concurrently).</summary>
    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _traces.Count;
            }
        }
    }

    public void Add(string tenant, TraceRequest trace)
    {
        lock (_lock)
        {
            _traces.Add((tenant, trace));
        }
    }

    private List<(string Tenant, TraceRequest Trace)> Snapshot()
    {
        lock (_lock)
        {
            return [.. _traces];
        }
    }

    public async Task<TraceRequest?> FindTraceAsync(string tenant, TraceId traceId, DateTimeOffset? start, DateTimeOffset? end, CancellationToken cancellationToken)
    {
        if (Delay is { } delay)
        {
            await delay(cancellationToken);
        }

        var merged = new TraceRequest();
        foreach (var (t, trace) in Snapshot())
        {
            if (t != tenant || !InWindow(trace, start, end))
            {
                continue;
            }

            foreach (var rs in trace.ResourceSpans)
            {
                var spans = rs.ScopeSpans.SelectMany(s => s.Spans).Where(s => s.TraceId == traceId).ToList();
                if (spans.Count > 0)
                {
                    merged.ResourceSpans.Add(new ResourceSpans { Resource = rs.Resource, ScopeSpans = [new ScopeSpans { Scope = rs.ScopeSpans[0].Scope, Spans = spans }] });
                }
            }
        }

        return merged.ResourceSpans.Count == 0 ? null : merged;
    }

    public async IAsyncEnumerable<TraceRequest> ScanAsync(string tenant, TraceScan scan, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        Scans.Add(scan);
        Yielded = 0;
        Skipped = 0;
        var candidates = Snapshot()
            .Where(t => t.Tenant == tenant && InWindow(t.Trace, scan.Start, scan.End) && scan.Hints.All(h => Holds(h, t.Trace)))
            .OrderByDescending(t => t.Trace.ResourceSpans.SelectMany(r => r.ScopeSpans).SelectMany(s => s.Spans).Max(s => s.EndTimeUnixNano))
            .Select(t => t.Trace)
            .ToList();
        long looked = 0;
        foreach (var trace in candidates)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (Delay is { } delay)
            {
                await delay(cancellationToken);
            }

            if (++looked > (scan.MaxTraces ?? long.MaxValue))
            {
                yield break;
            }

            var spans = trace.ResourceSpans.SelectMany(rs => rs.ScopeSpans.SelectMany(ss => ss.Spans).Select(span => (rs, span))).ToList();
            if (scan.Progress is { } progress)
            {
                progress.Traces++;
                progress.Spans += spans.Count;
            }

            if (scan.SpanFilter is { } filter && !spans.Any(s => filter(s.rs, s.span)))
            {
                Skipped++;
                continue;
            }

            Yielded++;
            yield return trace;
        }
    }

    private static bool InWindow(TraceRequest trace, DateTimeOffset? start, DateTimeOffset? end)
    {
        var spans = trace.ResourceSpans.SelectMany(r => r.ScopeSpans).SelectMany(s => s.Spans).ToList();
        return spans.Any(s =>
            (start is null || s.EndTimeUnixNano >= (ulong)start.Value.ToUnixTimeMilliseconds() * 1_000_000) &&
            (end is null || s.StartTimeUnixNano < (ulong)end.Value.ToUnixTimeMilliseconds() * 1_000_000));
    }

    private static bool Holds(TermHint hint, TraceRequest trace)
    {
        foreach (var rs in trace.ResourceSpans)
        {
            var service = rs.Resource.Attributes.FirstOrDefault(a => a.Key == "service.name").Value.StringValue;
            foreach (var span in rs.ScopeSpans.SelectMany(s => s.Spans))
            {
                var holds = hint.Kind switch
                {
                    TermKind.SpanName => span.Name == hint.Value,
                    TermKind.ServiceName => service == hint.Value,
                    _ => span.Attributes.Concat(rs.Resource.Attributes).Concat(span.Events.SelectMany(e => e.Attributes))
                        .Any(a => a.Key == hint.Key && a.Value.StringValue == hint.Value),
                };
                if (holds)
                {
                    return true;
                }
            }
        }

        return false;
    }
}
