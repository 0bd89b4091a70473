using System.Collections.Concurrent;
using System.Globalization;

namespace Hush.Cli.Loadgen;

/// <summary>The outcome of a <c>hush loadgen</c> run.</summary>
internal sealed record LoadgenReport
{
    /// <summary>Exit code when every request was accepted, or at least one was and none was refused as bad.</summary>
    public const int ExitOk = 0;

    /// <summary>Exit code when a request failed permanently (4xx other than 429, or a non-retryable gRPC code) or nothing succeeded.</summary>
    public const int ExitFailed = 1;

    /// <summary>Exit code for invalid options.</summary>
    public const int ExitUsage = 2;

    public TimeSpan Elapsed { get; init; }

    /// <summary>Spans in accepted requests, minus spans the server rejected in a partial success.</summary>
    public long SpansSent { get; init; }

    /// <summary>Spans the server reported rejected (partial success).</summary>
    public long SpansRejected { get; init; }

    /// <summary>Spans in requests that were not accepted in the end.</summary>
    public long SpansFailed { get; init; }

    public long RequestsOk { get; init; }

    /// <summary>Requests that ended without being accepted (after any retries).</summary>
    public long RequestsFailed { get; init; }

    /// <summary>Requests refused as bad: 4xx other than 429, or INVALID_ARGUMENT and friends.</summary>
    public long PermanentFailures { get; init; }

    /// <summary>Responses that asked the client to slow down: 429, 503, UNAVAILABLE, RESOURCE_EXHAUSTED.</summary>
    public long Throttled { get; init; }

    /// <summary>Sends repeated after a retryable response, having waited Retry-After or a back-off.</summary>
    public long Retries { get; init; }

    /// <summary>Bytes of request bodies that got a response (after compression and framing), retries included.</summary>
    public long BytesSent { get; init; }

    /// <summary>Every response by status label (<c>http 200</c>, <c>grpc 14 UNAVAILABLE</c>, <c>error timeout</c>).</summary>
    public IReadOnlyDictionary<string, long> ByStatus { get; init; } = new Dictionary<string, long>();

    public TimeSpan LatencyP50 { get; init; }

    public TimeSpan LatencyP99 { get; init; }

    public double SpansPerSecond => Elapsed > TimeSpan.Zero ? SpansSent / Elapsed.TotalSeconds : 0;

    /// <summary>Non-zero when a request failed permanently or nothing succeeded.</summary>
    public int ExitCode => PermanentFailures > 0 || RequestsOk == 0 ? ExitFailed : ExitOk;

    /// <summary>Writes the end-of-run summary.</summary>
    public void WriteSummary(TextWriter output)
    {
        output.WriteLine($"done in {Elapsed.TotalSeconds:0.0} s");
        output.WriteLine($"  spans sent     {SpansSent} ({SpansPerSecond:0}/s), rejected {SpansRejected}, failed {SpansFailed}");
        output.WriteLine($"  requests       ok {RequestsOk}, failed {RequestsFailed} (permanent {PermanentFailures}), throttled (429/503/UNAVAILABLE) {Throttled}, retries {Retries}");
        output.WriteLine($"  by status      {Statuses(ByStatus)}");
        output.WriteLine($"  latency        p50 {Milliseconds(LatencyP50)}, p99 {Milliseconds(LatencyP99)}");
        output.WriteLine($"  bytes sent     {Bytes(BytesSent)}");
        output.WriteLine($"  result         {(ExitCode == ExitOk ? "ok" : PermanentFailures > 0 ? "FAILED (requests refused as bad)" : "FAILED (nothing accepted)")}");
    }

    /// <summary>Counts by status label, sorted (<c>http 200: 12, http 429: 1</c>), or <c>none</c>.</summary>
    internal static string Statuses(IReadOnlyDictionary<string, long> byStatus)
        => byStatus.Count == 0
            ? "none"
            : string.Join(", ", byStatus.Select(kv => string.Create(CultureInfo.InvariantCulture, $"{kv.Key}: {kv.Value}")).Order(StringComparer.Ordinal));

    internal static string Milliseconds(TimeSpan t) => string.Create(CultureInfo.InvariantCulture, $"{t.TotalMilliseconds:0.0} ms");

    internal static string Bytes(long bytes) => bytes switch
    {
        < 1024 => string.Create(CultureInfo.InvariantCulture, $"{bytes} B"),
        < 1024 * 1024 => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1024.0:0.0} KiB"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{bytes / (1024.0 * 1024):0.0} MiB"),
    };
}

/// <summary>Counters shared by the workers. Thread-safe; the per-second line reads and resets an interval view.</summary>
internal sealed class LoadgenStats
{
    /// <summary>Status labels of sends that got no response (connection error, timeout): their bytes are not counted.</summary>
    internal const string ErrorPrefix = "error ";

    private readonly ConcurrentDictionary<string, long> _byStatus = new(StringComparer.Ordinal);
    private readonly LatencyHistogram _latency = new();
    private LatencyHistogram _intervalLatency = new();
    private long _spansSent;
    private long _spansRejected;
    private long _spansFailed;
    private long _requestsOk;
    private long _requestsFailed;
    private long _permanent;
    private long _throttled;
    private long _retries;
    private long _bytes;
    private long _lastSpans;

    public long SpansSent => Interlocked.Read(ref _spansSent);

    /// <summary>Counts one response (every attempt, retries included).</summary>
    public void RecordResponse(in SendOutcome outcome, int bodyBytes, TimeSpan latency)
    {
        _byStatus.AddOrUpdate(outcome.Status, 1, static (_, n) => n + 1);
        if (!outcome.Status.StartsWith(ErrorPrefix, StringComparison.Ordinal))
        {
            Interlocked.Add(ref _bytes, bodyBytes);
        }

        _latency.Record(latency);
        Volatile.Read(ref _intervalLatency).Record(latency);
        if (outcome.Throttled)
        {
            Interlocked.Increment(ref _throttled);
        }
    }

    public void RecordAccepted(int spans, long rejected)
    {
        rejected = Math.Clamp(rejected, 0, spans);
        Interlocked.Increment(ref _requestsOk);
        Interlocked.Add(ref _spansSent, spans - rejected);
        Interlocked.Add(ref _spansRejected, rejected);
    }

    public void RecordFailed(int spans, bool permanent)
    {
        Interlocked.Increment(ref _requestsFailed);
        Interlocked.Add(ref _spansFailed, spans);
        if (permanent)
        {
            Interlocked.Increment(ref _permanent);
        }
    }

    public void RecordRetry() => Interlocked.Increment(ref _retries);

    /// <summary>Writes one progress line covering the time since the previous one.</summary>
    public void WriteInterval(TextWriter output, TimeSpan elapsed, TimeSpan interval)
    {
        var spans = SpansSent;
        var delta = spans - _lastSpans;
        _lastSpans = spans;
        var window = Interlocked.Exchange(ref _intervalLatency, new LatencyHistogram());
        var rate = interval > TimeSpan.Zero ? delta / interval.TotalSeconds : 0;
        output.WriteLine(
            $"{elapsed.TotalSeconds,6:0.0}s  spans {spans} ({rate:0}/s)  ok {Interlocked.Read(ref _requestsOk)}  failed {Interlocked.Read(ref _requestsFailed)}  " +
            $"throttled {Interlocked.Read(ref _throttled)}  p50 {LoadgenReport.Milliseconds(window.Percentile(0.50))}  " +
            $"p99 {LoadgenReport.Milliseconds(window.Percentile(0.99))}  sent {LoadgenReport.Bytes(Interlocked.Read(ref _bytes))}");
    }

    public LoadgenReport ToReport(TimeSpan elapsed) => new()
    {
        Elapsed = elapsed,
        SpansSent = SpansSent,
        SpansRejected = Interlocked.Read(ref _spansRejected),
        SpansFailed = Interlocked.Read(ref _spansFailed),
        RequestsOk = Interlocked.Read(ref _requestsOk),
        RequestsFailed = Interlocked.Read(ref _requestsFailed),
        PermanentFailures = Interlocked.Read(ref _permanent),
        Throttled = Interlocked.Read(ref _throttled),
        Retries = Interlocked.Read(ref _retries),
        BytesSent = Interlocked.Read(ref _bytes),
        ByStatus = new Dictionary<string, long>(_byStatus, StringComparer.Ordinal),
        LatencyP50 = _latency.Percentile(0.50),
        LatencyP99 = _latency.Percentile(0.99),
    };
}
