using System.Diagnostics;
using Hush.Pipeline;
using Hush.Store.Journal;
using Microsoft.Extensions.Logging;

namespace Hush.Store.Storage;

/// <summary>
/// The pipeline's <c>store</c> exporter: appends each batch to the <see cref="TraceStore"/> (durable on return),
/// runs retention once a minute (and at start), and publishes the store's and journal's metrics. Owns the store
/// and the journal: disposing it closes both.
/// </summary>
public sealed partial class StoreExporter : ISpanExporter
{
    /// <summary>How often retention runs.</summary>
    public static readonly TimeSpan RetentionInterval = TimeSpan.FromMinutes(1);

    /// <summary>Append latency buckets, seconds: a batch takes ~1-10 ms on an idle disk, an fsync can take far longer.</summary>
    private static readonly double[] AppendBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

    private readonly TraceStore _store;
    private readonly IngestJournal? _journal;
    private readonly ILogger _logger;
    private readonly Counter _sent;
    private readonly CounterFamily _failed;
    private readonly Counter _retentionSpans;
    private readonly Counter _retentionFailures;
    private readonly Histogram _appendDuration;
    private readonly ITimer _retention;
    private readonly Lock _retentionLock = new();
    private StoreLock? _ownership;

    public StoreExporter(string name, TraceStore store, IngestJournal? journal, HushMetrics metrics, ILogger logger, TimeProvider time)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(metrics);
        ArgumentNullException.ThrowIfNull(logger);
        ArgumentNullException.ThrowIfNull(time);
        Name = name;
        _store = store;
        _journal = journal;
        _logger = logger;
        _sent = PipelineMetrics.ExporterSpansSent(metrics).WithLabels(name);
        _failed = PipelineMetrics.ExporterSpansFailed(metrics);
        _retentionSpans = metrics.Counter("hush_store_retention_spans_removed_total", "Spans the retention job removed.").WithLabels();
        _retentionFailures = metrics.Counter("hush_store_retention_failures_total", "Retention runs that failed (see the log).").WithLabels();
        // Totals kept by the store, read at scrape time: counters, not gauges.
        metrics.ObservedCounter("hush_store_spans_written_total", "Spans written to the store since start.", [], () => [new([], store.SpansWritten)]);
        metrics.ObservedCounter("hush_store_blocks_written_total", "Blocks written to the store since start.", [], () => [new([], store.BlocksWritten)]);
        metrics.ObservedCounter("hush_store_bytes_written_total", "Bytes of blocks written to the store since start.", [], () => [new([], store.BytesWritten)]);
        metrics.ObservedCounter("hush_store_unreadable_blocks_total", "Block reads since start that found a block missing, truncated or failing to decrypt (corruption or tampering; run 'hush store verify').", [], () => [new([], store.BlocksUnreadable)]);

        // Per tenant, from the index at scrape time: what is stored now, and every signed removal ever made (retention,
        // erasure, rewrap, tenant erasure), including those the hush erase and hush keys commands made while the server was down.
        // Each query runs once per scrape, however many families it feeds.
        var tenantTotals = HushMetrics.OncePerScrape(store.TenantTotals);
        var removalTotals = HushMetrics.OncePerScrape(store.RemovalTotals);
        metrics.Gauge("hush_store_tenant_blocks", "Live blocks stored, by tenant.", ["tenant"], () => tenantTotals().Select(t => new KeyValuePair<string[], double>([t.Tenant], t.Blocks)));
        metrics.Gauge("hush_store_tenant_spans", "Live spans stored, by tenant.", ["tenant"], () => tenantTotals().Select(t => new KeyValuePair<string[], double>([t.Tenant], t.Spans)));
        metrics.Gauge("hush_store_tenant_bytes", "Bytes of live blocks stored (compressed and encrypted), by tenant.", ["tenant"], () => tenantTotals().Select(t => new KeyValuePair<string[], double>([t.Tenant], t.Bytes)));
        metrics.ObservedCounter("hush_store_removals_total", "Signed removal records, by tenant and kind (retention, erasure, rewrap, tenant).", ["tenant", "kind"], () => removalTotals().Select(r => new KeyValuePair<string[], double>([r.Tenant, r.Kind], r.Records)));
        metrics.ObservedCounter("hush_store_removed_spans_total", "Spans removed by signed removals, by tenant and kind.", ["tenant", "kind"], () => removalTotals().Select(r => new KeyValuePair<string[], double>([r.Tenant, r.Kind], r.Spans)));
        _appendDuration = metrics.Histogram("hush_store_append_duration_seconds", "Time to append one batch to the store: compress, encrypt, fsync the segment, index.", AppendBuckets).WithLabels();
        if (journal is not null)
        {
            metrics.Gauge("hush_journal_bytes", "Bytes of ingest journal files on disk (accepted, not yet through every exporter).", () => journal.TotalBytes);
        }

        _retention = time.CreateTimer(_ => RunRetention(), null, TimeSpan.Zero, RetentionInterval);
    }

    /// <inheritdoc />
    public string Name { get; }

    /// <inheritdoc />
    public bool IsDurable => true;

    /// <summary>The store this exporter writes to (the query layer reads it).</summary>
    public TraceStore Store => _store;

    /// <summary>The ingest journal in front of the store (the pipeline writes it before answering clients).</summary>
    public IngestJournal? Journal => _journal;

    /// <summary>
    /// Opens the store of <paramref name="dataDirectory"/> and its journal: the KEK from <paramref name="kekFile"/>,
    /// else <c>HUSH_STORE_KEK</c>, else <c>{data_dir}/keys/kek.key</c> (created on first start).
    /// </summary>
    public static StoreExporter Open(string name, string dataDirectory, string? kekFile, StoreOptions options, JournalOptions journalOptions, HushMetrics metrics, ILoggerFactory loggerFactory, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(loggerFactory);
        var ownership = StoreLock.Acquire(dataDirectory);
        TraceStore store;
        try
        {
            using var kek = KeyEncryptionKey.Load(dataDirectory, kekFile, Environment.GetEnvironmentVariable, out _);
            store = TraceStore.Open(dataDirectory, kek, options, time, loggerFactory.CreateLogger<TraceStore>());
        }
        catch
        {
            ownership.Dispose();
            throw;
        }

        try
        {
            var journal = IngestJournal.Open(dataDirectory, store.Keys, journalOptions, time, loggerFactory.CreateLogger<IngestJournal>());
            return new StoreExporter(name, store, journal, metrics, loggerFactory.CreateLogger<StoreExporter>(), time) { _ownership = ownership };
        }
        catch
        {
            store.Dispose();
            ownership.Dispose();
            throw;
        }
    }

    /// <inheritdoc />
    public ValueTask<ExportOutcome> ExportAsync(SpanBatch batch, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(batch);
        try
        {
            var started = Stopwatch.GetTimestamp();
            _store.Append(batch.Tenant, batch.Traces);
            _appendDuration.Observe(Stopwatch.GetElapsedTime(started).TotalSeconds);
            _sent.Add(batch.SpanCount);
            return ValueTask.FromResult(ExportOutcome.Success);
        }
        catch (Exception ex) when (ex is IOException or KeyStoreException or UnauthorizedAccessException)
        {
            _failed.WithLabels(Name, "io_error").Add(batch.SpanCount);
            LogWriteFailed(_logger, Name, ex.GetType().Name, batch.SpanCount, batch.Tenant);
            return ValueTask.FromResult(ExportOutcome.RetryableFailure);
        }
    }

    /// <summary>Runs retention now (also what the timer does).</summary>
    public RemovalReport? RunRetention()
    {
        lock (_retentionLock)
        {
            try
            {
                var report = _store.EnforceRetention();
                _retentionSpans.Add(report.Spans);
                return report;
            }
#pragma warning disable CA1031 // A failed retention run is logged and retried at the next tick; it never stops ingest.
            catch (Exception ex)
#pragma warning restore CA1031
            {
                _retentionFailures.Add();
                LogRetentionFailed(_logger, ex.GetType().Name);
                return null;
            }
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await _retention.DisposeAsync();
        if (_journal is not null)
        {
            await _journal.DisposeAsync();
        }

        lock (_retentionLock)
        {
            _store.Dispose();
        }

        _ownership?.Dispose();
    }

    [LoggerMessage(EventId = 6020, Level = LogLevel.Error, Message = "exporter {Exporter}: cannot write ({ExceptionType}); {Spans} spans of tenant {Tenant} stay in the journal for the next start")]
    private static partial void LogWriteFailed(ILogger logger, string exporter, string exceptionType, int spans, string tenant);

    [LoggerMessage(EventId = 6021, Level = LogLevel.Error, Message = "store: retention run failed ({ExceptionType}); retrying at the next tick")]
    private static partial void LogRetentionFailed(ILogger logger, string exceptionType);
}
