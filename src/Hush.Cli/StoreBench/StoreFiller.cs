using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using Hush.Cli.Loadgen;
using Hush.Otlp;
using Hush.Store.Storage;

namespace Hush.Cli.StoreBench;

/// <summary>What <see cref="StoreFiller.Fill"/> is asked to write.</summary>
internal sealed record StoreFillOptions
{
    /// <summary>Most sampled trace ids kept for the id file: 100,000 ids are 3.3 MB of hex, enough for any read run.</summary>
    public const int MaxSampledIds = 1_000_000;

    public required string Tenant { get; init; }

    public long Spans { get; init; } = 1_000_000;

    /// <summary>Spans per <see cref="TraceStore.Append"/>: each call is one <c>fsync</c>, so bigger is faster (8 blocks of 1,024).</summary>
    public int Batch { get; init; } = 8192;

    public int Services { get; init; } = 5;

    public int Seed { get; init; } = 42;

    public int Threads { get; init; } = 1;

    /// <summary>Span start times are spread evenly over this window, ending now.</summary>
    public TimeSpan Window { get; init; } = TimeSpan.FromHours(24);

    /// <summary>Trace ids to sample (reservoir, uniform over everything written) for the id file.</summary>
    public int SampleIds { get; init; } = 100_000;

    public IEnumerable<string> Validate()
    {
        if (string.IsNullOrWhiteSpace(Tenant))
        {
            yield return "'--tenant' must not be empty";
        }

        if (Spans < 1)
        {
            yield return "'--spans' must be at least 1";
        }

        if (Batch is < 1 or > 65_536)
        {
            yield return "'--batch' must be between 1 and 65536";
        }

        if (Services is < 1 or > SpanMixGenerator.MaxServices)
        {
            yield return $"'--services' must be between 1 and {SpanMixGenerator.MaxServices}";
        }

        if (Threads is < 1 or > 64)
        {
            yield return "'--threads' must be between 1 and 64";
        }

        if (Window <= TimeSpan.Zero)
        {
            yield return "'--window' must be greater than zero";
        }

        if (SampleIds is < 0 or > MaxSampledIds)
        {
            yield return $"'--sample-ids' must be between 0 and {MaxSampledIds}";
        }
    }
}

/// <summary>What a fill wrote.</summary>
internal sealed record StoreFillReport(long Spans, long Traces, TimeSpan Elapsed, IReadOnlyList<TraceId> SampledIds, DateTimeOffset From, DateTimeOffset To)
{
    public double SpansPerSecond => Elapsed > TimeSpan.Zero ? Spans / Elapsed.TotalSeconds : 0;
}

/// <summary>
/// Fills a store with <c>hush loadgen</c>'s span mix straight through <see cref="TraceStore.Append"/>: no HTTP, no
/// journal, no pipeline, so a 10-million-span store for read benchmarks costs only the store's own write path. The mix
/// is generated without planted PII (the fill bypasses the scrubber, and nothing unscrubbed may persist), with start
/// times spread evenly over a window ending now, so searches over the window see realistic time-ordered blocks.
/// </summary>
[SuppressMessage("Security", "CA5394:Do not use insecure randomness", Justification = "Reservoir sampling of synthetic ids must be reproducible.")]
internal static class StoreFiller
{
    /// <summary>Progress is printed every this many spans per thread.</summary>
    private const long ProgressEvery = 500_000;

    public static StoreFillReport Fill(TraceStore store, StoreFillOptions options, TextWriter progress, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(options);
        var to = DateTimeOffset.UtcNow;
        var clock = new FillClock(to - options.Window, options.Window, options.Spans);
        var root = new SpanMixGenerator(options.Seed, options.Services, piiRatio: 0, clock);
        var reservoir = new List<TraceId>(options.SampleIds);
        var random = new Random(options.Seed);
        long traces = 0;
        var watch = Stopwatch.StartNew();
        Parallel.For(0, options.Threads, new ParallelOptions { MaxDegreeOfParallelism = options.Threads, CancellationToken = cancellationToken }, t =>
        {
            var generator = root.Fork(t);
            var nextProgress = ProgressEvery;
            while (!cancellationToken.IsCancellationRequested && clock.Take(options.Batch) is var n and > 0)
            {
                var request = generator.NextRequest(n);
                lock (reservoir)
                {
                    // One reservoir for every thread (Algorithm R): uniform over all traces, however batches fall to threads.
                    foreach (var id in TraceIdsOf(request))
                    {
                        traces++;
                        if (reservoir.Count < options.SampleIds)
                        {
                            reservoir.Add(id);
                        }
                        else if (options.SampleIds > 0 && random.NextInt64(traces) is var slot && slot < options.SampleIds)
                        {
                            reservoir[(int)slot] = id;
                        }
                    }
                }

                store.Append(options.Tenant, request);
                if (t == 0 && clock.Issued >= nextProgress)
                {
                    nextProgress += ProgressEvery;
                    progress.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {clock.Issued:N0} spans, {clock.Issued / watch.Elapsed.TotalSeconds:N0}/s"));
                }
            }
        });

        return new StoreFillReport(Math.Min(clock.Issued, options.Spans), traces, watch.Elapsed, reservoir, to - options.Window, to);
    }

    /// <summary>Writes one trace id per line, 32 lower-case hex digits (what <c>hush loadgen query --trace-ids</c> reads).</summary>
    public static void WriteIds(string path, IEnumerable<TraceId> ids)
    {
        using var writer = new StreamWriter(path);
        foreach (var id in ids)
        {
            writer.WriteLine(id.ToString());
        }
    }

    private static HashSet<TraceId> TraceIdsOf(TraceRequest request)
    {
        var ids = new HashSet<TraceId>();
        foreach (var rs in request.ResourceSpans)
        {
            foreach (var ss in rs.ScopeSpans)
            {
                foreach (var span in ss.Spans)
                {
                    ids.Add(span.TraceId);
                }
            }
        }

        return ids;
    }

    /// <summary>
    /// Hands out the span budget in batches and tells the generator the time: the share of the budget issued so far,
    /// mapped onto the window, so span times grow evenly from its start to its end whatever the thread count.
    /// </summary>
    private sealed class FillClock(DateTimeOffset from, TimeSpan window, long total) : TimeProvider
    {
        private long _issued;

        public long Issued => Interlocked.Read(ref _issued);

        /// <summary>Up to <paramref name="batch"/> spans of the budget; 0 when it is spent.</summary>
        public int Take(int batch)
        {
            var after = Interlocked.Add(ref _issued, batch);
            return (int)Math.Clamp(total - (after - batch), 0, batch);
        }

        public override DateTimeOffset GetUtcNow() => from + (window * Math.Min(1.0, (double)Issued / total));
    }
}
