using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using Hush.Cli.Loadgen;
using Hush.Otlp;
using Hush.Store.Reading;

namespace Hush.Cli.StoreBench;

/// <summary>What one <see cref="StoreReadBench"/> run measured: trace by id over known ids and over ids never stored.</summary>
internal sealed record StoreReadReport(LatencySummary Known, LatencySummary Unknown, long Missing, long SpansRead)
{
    public void WriteSummary(TextWriter output)
    {
        output.WriteLine($"trace by id, known ids:   {Known}");
        output.WriteLine($"trace by id, unknown ids: {Unknown}");
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  spans returned {SpansRead}, known ids not found {Missing}"));
    }
}

/// <summary>Percentiles of one set of timed calls.</summary>
internal sealed record LatencySummary(long Count, TimeSpan Elapsed, TimeSpan P50, TimeSpan P95, TimeSpan P99, TimeSpan Max)
{
    public double PerSecond => Elapsed > TimeSpan.Zero ? Count / Elapsed.TotalSeconds : 0;

    public static LatencySummary Of(LatencyHistogram histogram, TimeSpan elapsed, TimeSpan max) =>
        new(histogram.Count, elapsed, histogram.Percentile(0.50), histogram.Percentile(0.95), histogram.Percentile(0.99), max);

    public override string ToString() => string.Create(
        CultureInfo.InvariantCulture,
        $"{Count} calls, {PerSecond:0}/s, p50 {LoadgenReport.Milliseconds(P50)}, p95 {LoadgenReport.Milliseconds(P95)}, p99 {LoadgenReport.Milliseconds(P99)}, max {LoadgenReport.Milliseconds(Max)}");
}

/// <summary>
/// Times <see cref="ITraceReader.FindTraceAsync"/> one call at a time (no queueing in the figure): random ids from a
/// file of ids known to be stored, then random ids that are not. Every call is timed on its own, so the percentiles
/// are of single lookups, not of a batch averaged by a benchmark harness. A warm-up of the same size is not recorded.
/// </summary>
[SuppressMessage("Security", "CA5394:Do not use insecure randomness", Justification = "Benchmark id choice must be reproducible.")]
internal static class StoreReadBench
{
    public static async Task<StoreReadReport> RunAsync(ITraceReader reader, string tenant, IReadOnlyList<TraceId> known, int calls, int warmup, int seed, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(reader);
        ArgumentNullException.ThrowIfNull(known);
        if (known.Count == 0)
        {
            throw new ArgumentException("At least one known trace id is needed.", nameof(known));
        }

        var random = new Random(seed);
        long missing = 0, spans = 0;
        _ = await TimeAsync(warmup, () => known[random.Next(known.Count)]);
        var knownSummary = await TimeAsync(calls, () => known[random.Next(known.Count)], (trace) =>
        {
            if (trace is null)
            {
                missing++;
            }
            else
            {
                spans += trace.CountSpans();
            }
        });

        // Random 128-bit ids: none of them was ever written (2^-100 odds), so each lookup exercises the miss path.
        var unknownSummary = await TimeAsync(calls, () => new TraceId((ulong)random.NextInt64(1, long.MaxValue), (ulong)random.NextInt64(1, long.MaxValue)));
        return new StoreReadReport(knownSummary, unknownSummary, missing, spans);

        async Task<LatencySummary> TimeAsync(int count, Func<TraceId> next, Action<TraceRequest?>? observe = null)
        {
            var histogram = new LatencyHistogram();
            var max = TimeSpan.Zero;
            var total = Stopwatch.StartNew();
            for (var i = 0; i < count && !cancellationToken.IsCancellationRequested; i++)
            {
                var id = next();
                var started = Stopwatch.GetTimestamp();
                var trace = await reader.FindTraceAsync(tenant, id, null, null, cancellationToken);
                var latency = Stopwatch.GetElapsedTime(started);
                histogram.Record(latency);
                max = latency > max ? latency : max;
                observe?.Invoke(trace);
            }

            return LatencySummary.Of(histogram, total.Elapsed, max);
        }
    }

    /// <summary>Reads an id file (one 32-hex id a line; blank lines and <c>#</c> comments skipped). Errors name the line, never its text.</summary>
    public static List<TraceId> ReadIds(string path, out List<string> errors)
    {
        errors = [];
        var ids = new List<TraceId>();
        var line = 0;
        foreach (var text in File.ReadLines(path))
        {
            line++;
            var t = text.Trim();
            if (t.Length == 0 || t.StartsWith('#'))
            {
                continue;
            }

            if (TraceId.TryParse(t, out var id) && !id.IsEmpty)
            {
                ids.Add(id);
            }
            else if (errors.Count < 5)
            {
                errors.Add($"line {line} is not a trace id (32 hex digits)");
            }
        }

        return ids;
    }
}
