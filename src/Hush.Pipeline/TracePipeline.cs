using System.Threading.Channels;
using Hush.Otlp;
using Microsoft.Extensions.Logging;

namespace Hush.Pipeline;

/// <summary>
/// One traces pipeline: privacy stage → bounded queue → per-tenant batching → processors → exporters.
/// <para>
/// <see cref="Submit"/> scrubs on the caller's thread and only then creates the <see cref="SpanBatch"/>,
/// so nothing unscrubbed is ever queued, processed or exported. The queue is bounded in spans
/// (<see cref="PipelineOptions.QueueCapacitySpans"/>, counting queued, batching and in-flight spans): when
/// it is full, <see cref="Submit"/> answers <see cref="SubmitStatus.Throttled"/> at once instead of growing memory.
/// An exporter that waits (its own queue full) holds a worker, which fills this queue, which throttles
/// receivers: that is the back-pressure chain.
/// </para>
/// <para>
/// With several exporters every exporter receives the same <see cref="SpanBatch"/> instance: exporters must
/// treat batches as read-only. Processors may edit a batch in place (they run one after another).
/// The pipeline does not own its exporters: the host disposes them (flushing their queues) after stopping
/// every pipeline that uses them.
/// </para>
/// </summary>
public sealed class TracePipeline : IAsyncDisposable
{
    /// <summary>Batches handed from the batcher to each worker ahead of time: enough to keep workers busy, small enough to bound memory.</summary>
    private const int ReadyBatchesPerWorker = 2;

    /// <summary>After the shutdown timeout, exports are cancelled; this is how long to wait for them to notice.</summary>
    private static readonly TimeSpan AbortGrace = TimeSpan.FromSeconds(2);

    private const int StateCreated = 0;
    private const int StateRunning = 1;
    private const int StateStopping = 2;
    private const int StateStopped = 3;

    private readonly PipelineOptions _options;
    private readonly IPrivacyStage _privacy;
    private readonly ISpanProcessor[] _processors;
    private readonly IDeferringSpanProcessor?[] _deferring;
    private readonly ISpanExporter[] _exporters;
    private readonly IIngestJournal? _journal;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly Channel<SpanBatch> _input;
    private readonly Channel<SpanBatch> _ready;
    private readonly CancellationTokenSource _abort = new();
    private readonly Lock _stateLock = new();

    private readonly Counter _submitted;
    private readonly Counter _refusedQueueFull;
    private readonly Counter _refusedNotRunning;
    private readonly Counter _refusedPrivacy;
    private readonly Counter _refusedJournal;
    private readonly Counter[] _processorFailures;
    private readonly CounterFamily _exporterFailures;

    private int _state;
    private long _queuedSpans;
    private Task? _runTask;
    private Task? _stopTask;

    /// <summary>Creates a stopped pipeline; <paramref name="options"/> must be valid (see <see cref="PipelineOptions.Validate"/>).</summary>
    public TracePipeline(
        string name,
        PipelineOptions options,
        IPrivacyStage privacy,
        IReadOnlyList<ISpanProcessor> processors,
        IReadOnlyList<ISpanExporter> exporters,
        HushMetrics metrics,
        ILoggerFactory loggerFactory,
        TimeProvider timeProvider,
        IIngestJournal? journal = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(privacy);
        ArgumentNullException.ThrowIfNull(processors);
        ArgumentNullException.ThrowIfNull(exporters);
        ArgumentNullException.ThrowIfNull(metrics);
        ArgumentNullException.ThrowIfNull(loggerFactory);
        ArgumentNullException.ThrowIfNull(timeProvider);
        var errors = options.Validate("pipeline");
        if (errors.Count > 0)
        {
            throw new ArgumentException("Invalid pipeline options: " + string.Join("; ", errors), nameof(options));
        }

        Name = name;
        _options = options;
        _privacy = privacy;
        _processors = [.. processors];
        _deferring = new IDeferringSpanProcessor?[_processors.Length];
        for (var i = 0; i < _processors.Length; i++)
        {
            _deferring[i] = _processors[i] as IDeferringSpanProcessor;
        }

        _exporters = [.. exporters];
        _journal = journal;
        _logger = loggerFactory.CreateLogger<TracePipeline>();
        _time = timeProvider;

        // Unbounded channel: the bound is enforced in spans by _queuedSpans before anything is written.
        _input = Channel.CreateUnbounded<SpanBatch>(new UnboundedChannelOptions { SingleReader = true });
        _ready = Channel.CreateBounded<SpanBatch>(new BoundedChannelOptions(options.Workers * ReadyBatchesPerWorker)
        {
            SingleWriter = true,
            FullMode = BoundedChannelFullMode.Wait,
        });

        _submitted = PipelineMetrics.SpansSubmitted(metrics).WithLabels(name);
        var refused = PipelineMetrics.SpansRefused(metrics);
        _refusedQueueFull = refused.WithLabels(name, "queue_full");
        _refusedNotRunning = refused.WithLabels(name, "not_running");
        _refusedPrivacy = refused.WithLabels(name, "privacy_failure");
        _refusedJournal = refused.WithLabels(name, "journal_unavailable");
        var processorFailures = PipelineMetrics.ProcessorFailures(metrics);
        _processorFailures = new Counter[_processors.Length];
        for (var i = 0; i < _processors.Length; i++)
        {
            _processorFailures[i] = processorFailures.WithLabels(_processors[i].Name);
        }

        _exporterFailures = PipelineMetrics.ExporterSpansFailed(metrics);
        var labels = new[] { name };
        metrics.Gauge(
            PipelineMetrics.QueueSpansName,
            "Spans accepted by the pipeline and not yet exported (queued, batching or in flight).",
            ["pipeline"],
            () => [new KeyValuePair<string[], double>(labels, QueuedSpans)]);
    }

    /// <summary>The configured pipeline name, such as <c>traces</c>.</summary>
    public string Name { get; }

    /// <summary>True between <see cref="StartAsync"/> and <see cref="StopAsync"/>: <see cref="Submit"/> accepts spans (for readiness probes).</summary>
    public bool IsRunning => Volatile.Read(ref _state) == StateRunning;

    /// <summary>Spans accepted and not yet through the exporters.</summary>
    public int QueuedSpans => (int)Math.Min(int.MaxValue, Interlocked.Read(ref _queuedSpans));

    /// <summary>Starts the batcher and workers. Calling it again while running does nothing; a stopped pipeline cannot restart.</summary>
    public Task StartAsync(CancellationToken ct)
    {
        lock (_stateLock)
        {
            switch (_state)
            {
                case StateCreated:
                    for (var i = 0; i < _deferring.Length; i++)
                    {
                        // What a deferring processor releases later runs the processors after it, then the exporters.
                        var next = i + 1;
                        _deferring[i]?.Start((batch, token) => new ValueTask<bool>(ProcessAndExportAsync(batch, next, token)));
                    }

                    _runTask = RunAsync();
                    _state = StateRunning;
                    Log.Started(_logger, Name, _options.Workers, _exporters.Length);
                    return Task.CompletedTask;
                case StateRunning:
                    return Task.CompletedTask;
                default:
                    throw new InvalidOperationException($"Pipeline '{Name}' was stopped and cannot be started again.");
            }
        }
    }

    /// <summary>
    /// Stops accepting spans and drains: everything accepted is batched, processed and exported, within
    /// <see cref="PipelineOptions.ShutdownTimeout"/>; after that, exports still running are cancelled and the
    /// spans they held are counted as lost. Safe to call twice (the second call awaits the first).
    /// </summary>
    public Task StopAsync(CancellationToken ct)
    {
        Task stop;
        lock (_stateLock)
        {
            switch (_state)
            {
                case StateCreated:
                    _state = StateStopped;
                    _input.Writer.TryComplete();
                    return Task.CompletedTask;
                case StateRunning:
                    _state = StateStopping;
                    _input.Writer.TryComplete();
                    _stopTask = DrainAsync();
                    break;
            }

            stop = _stopTask ?? Task.CompletedTask;
        }

        return stop.WaitAsync(ct);
    }

    /// <summary>Stops (draining) the pipeline.</summary>
    public async ValueTask DisposeAsync()
    {
        await StopAsync(CancellationToken.None);

        // A worker stuck in an exporter that ignores cancellation may still read the token.
        if (_runTask is null || _runTask.IsCompleted)
        {
            _abort.Dispose();
        }
    }

    /// <summary>
    /// Whether receivers may hand this pipeline requests in wire form (see <see cref="IPrivacyStage.MayPassWireForm"/>):
    /// true only when its privacy stage may let requests through without decoding them.
    /// </summary>
    public bool AcceptsWireForm => _privacy.MayPassWireForm;

    /// <summary>
    /// Scrubs <paramref name="request"/> (privacy stage, on the caller's thread) then enqueues it. Never throws
    /// for the content of a request. Answers <see cref="SubmitStatus.Throttled"/> when the queue is full and
    /// <see cref="SubmitStatus.Unavailable"/> when the pipeline is not running. If the privacy stage fails, the
    /// spans are refused for good (Accepted with every span rejected) and never forwarded unscrubbed.
    /// The request object is owned by the pipeline afterwards. Only for a pipeline without a journal: with one,
    /// use <see cref="SubmitAsync"/>, which answers only once the request is on disk.
    /// </summary>
    /// <exception cref="InvalidOperationException">The pipeline has a journal.</exception>
    public SubmitResult Submit(TraceRequest request, IngestContext context)
    {
        if (_journal is not null)
        {
            throw new InvalidOperationException($"Pipeline '{Name}' journals what it accepts: use SubmitAsync.");
        }

        if (Admit(request, context, out var scrubbed) is { } answer)
        {
            request.ReleaseWireForm();
            return answer;
        }

        return Enqueue(new SpanBatch(context.Tenant, request, scrubbed), scrubbed);
    }

    /// <summary>
    /// <see cref="Submit"/>, then, when the pipeline has a journal, records the scrubbed request durably before
    /// answering <see cref="SubmitStatus.Accepted"/>: an accepted request survives a crash of the process. A journal
    /// that cannot write (disk full) answers <see cref="SubmitStatus.Unavailable"/> and keeps nothing.
    /// </summary>
    public async ValueTask<SubmitResult> SubmitAsync(TraceRequest request, IngestContext context, CancellationToken cancellationToken)
    {
        if (Admit(request, context, out var scrubbed) is { } answer)
        {
            request.ReleaseWireForm();
            return answer;
        }

        List<IJournalReceipt>? receipts = null;
        if (_journal is not null)
        {
            try
            {
                receipts = [await _journal.AppendAsync(context.Tenant, request, cancellationToken)];
            }
            catch (Exception ex) when (ex is JournalUnavailableException or OperationCanceledException)
            {
                Interlocked.Add(ref _queuedSpans, -scrubbed);
                _refusedJournal.Add(scrubbed);
                request.ReleaseWireForm();
                return new SubmitResult(SubmitStatus.Unavailable, 0, "the store cannot record the request now (disk full or I/O error); retry later", _options.RetryAfter);
            }
        }

        return Enqueue(new SpanBatch(context.Tenant, request, scrubbed, receipts), scrubbed);
    }

    /// <summary>
    /// Replays a request the journal held at start (already scrubbed: it was recorded after the privacy stage, under
    /// the store's authenticated encryption). Waits while the queue is full; exporters see <see cref="SpanBatch.IsRecovered"/>.
    /// </summary>
    public async ValueTask<bool> SubmitRecoveredAsync(string tenant, TraceRequest scrubbed, IJournalReceipt receipt, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(tenant);
        ArgumentNullException.ThrowIfNull(scrubbed);
        ArgumentNullException.ThrowIfNull(receipt);
        var spans = scrubbed.CountSpans();
        if (spans == 0)
        {
            receipt.Release();
            return true;
        }

        while (IsRunning && Interlocked.Read(ref _queuedSpans) > 0 && Interlocked.Read(ref _queuedSpans) + spans > _options.QueueCapacitySpans)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(5), _time, cancellationToken);
        }

        if (!IsRunning)
        {
            return false;
        }

        Interlocked.Add(ref _queuedSpans, spans);
        return Enqueue(new SpanBatch(tenant, scrubbed, spans, [receipt]) { IsRecovered = true }, spans).Status == SubmitStatus.Accepted;
    }

    /// <summary>Reserves room and runs the privacy stage; returns the answer when the request goes no further.</summary>
    private SubmitResult? Admit(TraceRequest request, IngestContext context, out int scrubbed)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(context);
        scrubbed = 0;
        var spans = request.CountSpans();
        if (Volatile.Read(ref _state) != StateRunning)
        {
            _refusedNotRunning.Add(spans);
            return SubmitResult.Unavailable(_options.RetryAfter);
        }

        if (spans == 0)
        {
            return SubmitResult.Accepted();
        }

        // Reserve room first, so a full queue costs no scrubbing. A request larger than the whole queue is
        // still admitted when the queue is empty, or it could never be accepted at all.
        var after = Interlocked.Add(ref _queuedSpans, spans);
        if (after > _options.QueueCapacitySpans && after - spans > 0)
        {
            Interlocked.Add(ref _queuedSpans, -spans);
            _refusedQueueFull.Add(spans);
            return SubmitResult.Throttled(_options.RetryAfter);
        }

        try
        {
            _privacy.Scrub(request, context);
        }
#pragma warning disable CA1031 // Any failure of the privacy stage must refuse the spans, never forward them unscrubbed.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            Interlocked.Add(ref _queuedSpans, -spans);
            _refusedPrivacy.Add(spans);

            // The exception type only: a message could quote the value being scrubbed.
            Log.PrivacyStageFailed(_logger, Name, ex.GetType().Name, spans, context.Tenant);
            return new SubmitResult(SubmitStatus.Accepted, spans, "privacy stage failed", TimeSpan.Zero);
        }

        // The privacy stage may drop spans; keep the reservation exact.
        scrubbed = request.CountSpans();
        if (scrubbed != spans)
        {
            Interlocked.Add(ref _queuedSpans, scrubbed - spans);
        }

        _submitted.Add(spans);
        return scrubbed == 0 ? SubmitResult.Accepted() : null;
    }

    private SubmitResult Enqueue(SpanBatch batch, int spans)
    {
        if (!_input.Writer.TryWrite(batch))
        {
            // Stop completed the queue between the state check and the write. A journalled record stays on
            // disk (its receipt is never released) and is replayed at the next start.
            Interlocked.Add(ref _queuedSpans, -spans);
            _refusedNotRunning.Add(spans);
            batch.Traces.ReleaseWireForm();
            return SubmitResult.Unavailable(_options.RetryAfter);
        }

        return SubmitResult.Accepted();
    }

    private async Task RunAsync()
    {
        await Task.Yield();
        var workers = new Task[_options.Workers];
        for (var i = 0; i < workers.Length; i++)
        {
            workers[i] = Task.Run(RunWorkerAsync);
        }

        try
        {
            await RunBatcherAsync();
        }
        finally
        {
            _ready.Writer.TryComplete();
            await Task.WhenAll(workers);
        }
    }

    private async Task DrainAsync()
    {
        var run = RunThenStopProcessorsAsync();
        try
        {
            await run.WaitAsync(_options.ShutdownTimeout, _time);
        }
        catch (TimeoutException)
        {
            Log.ShutdownTimedOut(_logger, Name, _options.ShutdownTimeout.TotalSeconds, QueuedSpans);
            await _abort.CancelAsync();
            try
            {
                await run.WaitAsync(AbortGrace, _time);
            }
            catch (TimeoutException)
            {
                // An exporter ignoring cancellation: give up waiting; its spans are lost and were logged above.
            }
        }
#pragma warning disable CA1031 // Stop must complete; a failed run task was already logged where it failed.
        catch (Exception)
#pragma warning restore CA1031
        {
        }

        lock (_stateLock)
        {
            _state = StateStopped;
        }

        Log.Stopped(_logger, Name, QueuedSpans);
    }

    /// <summary>Drains the queue, then lets each deferring processor release what it holds, in pipeline order.</summary>
    private async Task RunThenStopProcessorsAsync()
    {
        if (_runTask is not null)
        {
            await _runTask;
        }

        for (var i = 0; i < _deferring.Length; i++)
        {
            if (_deferring[i] is not { } deferring)
            {
                continue;
            }

            try
            {
                await deferring.StopAsync(_abort.Token);
            }
#pragma warning disable CA1031 // A processor failing to stop must not keep the pipeline from stopping.
            catch (Exception ex)
#pragma warning restore CA1031
            {
                _processorFailures[i].Add();
                Log.ProcessorFailed(_logger, Name, _processors[i].Name, ex.GetType().Name, 0, "*");
            }
        }
    }

    private async Task RunBatcherAsync()
    {
        var reader = _input.Reader;
        var pending = new Dictionary<string, PendingBatch>(StringComparer.Ordinal);
        Task<bool>? wait = null;
        try
        {
            while (true)
            {
                while (reader.TryRead(out var batch))
                {
                    await AddAsync(pending, batch);
                }

                if (pending.Count == 0)
                {
                    var more = wait is null ? await reader.WaitToReadAsync() : await wait;
                    wait = null;
                    if (!more)
                    {
                        return;
                    }

                    continue;
                }

                var now = _time.GetUtcNow();
                var earliest = DateTimeOffset.MaxValue;
                List<string>? expired = null;
                foreach (var (tenant, p) in pending)
                {
                    if (p.Deadline <= now)
                    {
                        (expired ??= []).Add(tenant);
                    }
                    else if (p.Deadline < earliest)
                    {
                        earliest = p.Deadline;
                    }
                }

                if (expired is not null)
                {
                    foreach (var tenant in expired)
                    {
                        var p = pending[tenant];
                        pending.Remove(tenant);
                        await FlushAsync(p);
                    }

                    continue;
                }

                wait ??= reader.WaitToReadAsync().AsTask();
                if (!wait.IsCompleted)
                {
                    using var delayCancel = new CancellationTokenSource();
                    var delay = Task.Delay(earliest - now, _time, delayCancel.Token);
                    var first = await Task.WhenAny(wait, delay);
                    if (first != wait)
                    {
                        continue;
                    }

                    await delayCancel.CancelAsync();
                }

                var hasMore = await wait;
                wait = null;
                if (!hasMore)
                {
                    return;
                }
            }
        }
        finally
        {
            foreach (var p in pending.Values)
            {
                await FlushAsync(p);
            }
        }
    }

    private async ValueTask AddAsync(Dictionary<string, PendingBatch> pending, SpanBatch batch)
    {
        if (pending.TryGetValue(batch.Tenant, out var p))
        {
            if (p.SpanCount + batch.SpanCount > _options.SendBatchSize)
            {
                pending.Remove(batch.Tenant);
                await FlushAsync(p);
                p = null;
            }
            else
            {
                p.Traces.Append(batch.Traces);
                p.SpanCount += batch.SpanCount;
                p.AddReceipts(batch);
            }
        }

        if (p is null)
        {
            p = new PendingBatch(batch.Tenant, batch.Traces, batch.SpanCount, _time.GetUtcNow() + _options.BatchTimeout);
            p.AddReceipts(batch);
            pending.Add(batch.Tenant, p);
        }

        if (p.SpanCount >= _options.SendBatchSize)
        {
            pending.Remove(batch.Tenant);
            await FlushAsync(p);
        }
    }

    private async ValueTask FlushAsync(PendingBatch p)
    {
        var batch = new SpanBatch(p.Tenant, p.Traces, p.SpanCount, p.Receipts) { IsRecovered = p.IsRecovered };
        try
        {
            // Waits while every worker is busy: this is what makes a slow exporter fill the queue.
            await _ready.Writer.WriteAsync(batch, _abort.Token);
        }
        catch (OperationCanceledException)
        {
            Interlocked.Add(ref _queuedSpans, -p.SpanCount);
            p.Traces.ReleaseWireForm();
        }
        catch (ChannelClosedException)
        {
            Interlocked.Add(ref _queuedSpans, -p.SpanCount);
            p.Traces.ReleaseWireForm();
        }
    }

    private async Task RunWorkerAsync()
    {
        await foreach (var batch in _ready.Reader.ReadAllAsync())
        {
            var spans = batch.SpanCount;
            try
            {
                var done = await ProcessAndExportAsync(batch, 0, _abort.Token);

                // Through every exporter (or dropped by a processor): the journal may forget these requests. When a
                // durable exporter (the store) could not take them (disk full), or after an aborted shutdown, they
                // stay journalled and are replayed at the next start. A deferring processor (tail sampling) that
                // still holds spans of them has claimed the records and releases them itself.
                if (done && batch.Journal is { IsClaimed: false } journal && !_abort.IsCancellationRequested)
                {
                    journal.Release();
                }
            }
            finally
            {
                // Every exporter is done with the batch: the buffers of requests kept in wire form go back.
                batch.Traces.ReleaseWireForm();
                Interlocked.Add(ref _queuedSpans, -spans);
            }
        }
    }

    /// <summary>
    /// Runs processors from <paramref name="firstProcessor"/> on, then every exporter. False when an exporter could not
    /// take the batch for now (retryable): its journal records are then kept for the next start.
    /// </summary>
    private async Task<bool> ProcessAndExportAsync(SpanBatch batch, int firstProcessor, CancellationToken ct)
    {
        SpanBatch? current = batch;
        for (var i = firstProcessor; i < _processors.Length; i++)
        {
            var spans = current.SpanCount;
            try
            {
                current = await _processors[i].ProcessAsync(current, ct);
            }
#pragma warning disable CA1031 // A failing processor drops its batch; it never takes the pipeline down.
            catch (Exception ex)
#pragma warning restore CA1031
            {
                _processorFailures[i].Add();
                Log.ProcessorFailed(_logger, Name, _processors[i].Name, ex.GetType().Name, spans, batch.Tenant);
                return true;
            }

            if (current is null || current.SpanCount == 0)
            {
                return true;
            }
        }

        if (_exporters.Length == 1)
        {
            return await ExportAsync(_exporters[0], current, ct);
        }

        // Every exporter gets the same (read-only) batch; they run concurrently so one slow backend
        // delays the others only by the batches it holds.
        var exports = new Task<bool>[_exporters.Length];
        for (var i = 0; i < _exporters.Length; i++)
        {
            exports[i] = ExportAsync(_exporters[i], current, ct);
        }

        var done = await Task.WhenAll(exports);
        return Array.TrueForAll(done, d => d);
    }

    private async Task<bool> ExportAsync(ISpanExporter exporter, SpanBatch batch, CancellationToken ct)
    {
        try
        {
            return await exporter.ExportAsync(batch, ct) != ExportOutcome.RetryableFailure || !exporter.IsDurable;
        }
#pragma warning disable CA1031 // Exporters must not throw; one that does loses its batch, never the pipeline.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            var reason = ex is OperationCanceledException && ct.IsCancellationRequested ? "shutdown" : "exception";
            _exporterFailures.WithLabels(exporter.Name, reason).Add(batch.SpanCount);
            Log.ExporterThrew(_logger, Name, exporter.Name, ex.GetType().Name, batch.SpanCount);
            return !exporter.IsDurable;
        }
    }

    private sealed class PendingBatch(string tenant, TraceRequest traces, int spanCount, DateTimeOffset deadline)
    {
        public string Tenant { get; } = tenant;

        public TraceRequest Traces { get; } = traces;

        public int SpanCount { get; set; } = spanCount;

        public DateTimeOffset Deadline { get; } = deadline;

        public List<IJournalReceipt>? Receipts { get; private set; }

        /// <summary>True when any merged request was replayed from the journal.</summary>
        public bool IsRecovered { get; private set; }

        public void AddReceipts(SpanBatch batch)
        {
            IsRecovered |= batch.IsRecovered;
            if (batch.Journal?.Receipts is { } receipts)
            {
                (Receipts ??= []).AddRange(receipts);
            }
        }
    }
}
