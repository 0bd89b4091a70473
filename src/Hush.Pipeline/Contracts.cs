using Hush.Otlp;

namespace Hush.Pipeline;

/// <summary>How a request reached Hush.</summary>
public enum IngestTransport
{
    Http,
    Grpc,
}

/// <summary>
/// Who sent a request and into which tenant it goes. The tenant comes only from the verified
/// identity (never from a client header); until authentication lands every request is bound to
/// the <see cref="DevTenant"/>.
/// </summary>
public sealed record IngestContext(string Tenant, string Identity, IngestTransport Transport)
{
    /// <summary>The tenant of unauthenticated loopback ingest.</summary>
    public const string DevTenant = "dev";
}

/// <summary>What the pipeline answers a receiver.</summary>
public enum SubmitStatus
{
    /// <summary>Taken: the client may forget the data (partial rejections are in the result).</summary>
    Accepted,

    /// <summary>The queue is full: retryable (HTTP 429 / gRPC UNAVAILABLE with a retry delay).</summary>
    Throttled,

    /// <summary>The pipeline is stopping or not started: retryable (HTTP 503 / gRPC UNAVAILABLE).</summary>
    Unavailable,
}

/// <summary>The pipeline's answer to one export request.</summary>
/// <param name="Status">Taken, or why not.</param>
/// <param name="RejectedSpans">Spans refused permanently (OTLP partial success); zero for full success.</param>
/// <param name="ErrorMessage">Why spans were refused. Never carries an attribute value.</param>
/// <param name="RetryAfter">How long a client should wait before retrying a throttled request.</param>
public readonly record struct SubmitResult(SubmitStatus Status, long RejectedSpans, string? ErrorMessage, TimeSpan RetryAfter)
{
    public static SubmitResult Accepted() => new(SubmitStatus.Accepted, 0, null, TimeSpan.Zero);

    public static SubmitResult Throttled(TimeSpan retryAfter) => new(SubmitStatus.Throttled, 0, null, retryAfter);

    public static SubmitResult Unavailable(TimeSpan retryAfter) => new(SubmitStatus.Unavailable, 0, null, retryAfter);
}

/// <summary>
/// The privacy slot. Runs first, on every request, before anything is queued, buffered, stored or
/// exported; it scrubs the request in place. Implementations must not throw for any input and must
/// never log, count by or return a raw attribute value.
/// </summary>
public interface IPrivacyStage
{
    /// <summary>Scrubs <paramref name="request"/> in place for the tenant of <paramref name="context"/>.</summary>
    void Scrub(TraceRequest request, IngestContext context);

    /// <summary>
    /// Whether the stage may let a request through unchanged without decoding it, so that receivers may hand it over in
    /// wire form (<see cref="TraceRequest.IsWireForm"/>) instead of decoding it. <see cref="Scrub"/> still decides for
    /// each request and decodes any it must look into. False unless a stage says otherwise: receivers then decode.
    /// </summary>
    bool MayPassWireForm => false;
}

/// <summary>
/// Spans of one tenant that have passed the privacy stage. Only the pipeline creates these (the
/// constructor is internal), so a processor or exporter can only ever be handed scrubbed data.
/// </summary>
public sealed class SpanBatch
{
    internal SpanBatch(string tenant, TraceRequest traces, int spanCount, List<IJournalReceipt>? receipts = null)
        : this(tenant, traces, spanCount, receipts is null ? null : new JournalReceipts(receipts))
    {
    }

    private SpanBatch(string tenant, TraceRequest traces, int spanCount, JournalReceipts? journal)
    {
        Tenant = tenant;
        Traces = traces;
        SpanCount = spanCount;
        Journal = journal;
    }

    /// <summary>
    /// The journal records of the requests in this batch, released once every exporter has had it, or by the
    /// deferring processor that claimed them once it has passed on or dropped every span it held of them.
    /// </summary>
    internal JournalReceipts? Journal { get; }

    /// <summary>
    /// Takes over the journal records of this batch's requests (null when there are none or they were claimed): the
    /// caller lets them go (<see cref="JournalClaim.Done"/>) once nothing of the batch is held any more.
    /// </summary>
    public JournalClaim? ClaimJournal() => Journal?.Claim();

    /// <summary>True for spans replayed from the journal after a crash: an exporter may already hold some of them.</summary>
    public bool IsRecovered { get; internal init; }

    /// <summary>The tenant every span in the batch belongs to. Batches never mix tenants.</summary>
    public string Tenant { get; }

    /// <summary>The scrubbed spans. Processors that mutate them say so in their docs.</summary>
    public TraceRequest Traces { get; }

    public int SpanCount { get; }

    /// <summary>A batch of the same tenant with other (already scrubbed) spans, for processors that filter.</summary>
    /// The copy carries this batch's journal records: they are released once, by whoever ends up holding the spans.
    public SpanBatch With(TraceRequest traces) => new(Tenant, traces, traces.CountSpans(), Journal) { IsRecovered = IsRecovered };
}

/// <summary>The journal records of a batch and whether a deferring processor has claimed them.</summary>
internal sealed class JournalReceipts(List<IJournalReceipt> receipts)
{
    private int _claimed;

    public List<IJournalReceipt> Receipts { get; } = receipts;

    public bool IsClaimed => Volatile.Read(ref _claimed) != 0;

    public JournalClaim? Claim() => Interlocked.Exchange(ref _claimed, 1) == 0 ? new JournalClaim(this) : null;

    public void Release()
    {
        foreach (var receipt in Receipts)
        {
            receipt.Release();
        }
    }
}

/// <summary>
/// Journal records a deferring processor took over from a batch. <see cref="Hold"/> once per place that keeps spans
/// of the batch, <see cref="Done"/> once per place that let them go; the records are released when the last place
/// is done, unless one of them could not pass its spans on (then the journal keeps them for the next start).
/// Starts with one hold, for the caller of <see cref="SpanBatch.ClaimJournal"/>. Thread-safe.
/// </summary>
public sealed class JournalClaim
{
    private readonly JournalReceipts _receipts;
    private int _holds = 1;
    private int _failed;

    internal JournalClaim(JournalReceipts receipts) => _receipts = receipts;

    public void Hold() => Interlocked.Increment(ref _holds);

    /// <summary>One holder let go: <paramref name="passedOn"/> false when its spans could not be passed on for now.</summary>
    public void Done(bool passedOn)
    {
        if (!passedOn)
        {
            Volatile.Write(ref _failed, 1);
        }

        if (Interlocked.Decrement(ref _holds) == 0 && Volatile.Read(ref _failed) == 0)
        {
            _receipts.Release();
        }
    }
}

/// <summary>A pipeline stage after the privacy slot: sampling, enrichment, filtering.</summary>
public interface ISpanProcessor
{
    /// <summary>The configured name, such as <c>tail_sampling/default</c>.</summary>
    string Name { get; }

    /// <summary>Returns the batch to pass on (possibly the same instance, edited), or null to pass nothing on.</summary>
    ValueTask<SpanBatch?> ProcessAsync(SpanBatch batch, CancellationToken cancellationToken);
}

/// <summary>
/// Runs the processors after a <see cref="IDeferringSpanProcessor"/>, then every exporter, for one batch it releases.
/// True when the batch went through (or a processor dropped it); false when an exporter could not take it for now
/// (the journal must then keep the requests it came from).
/// </summary>
public delegate ValueTask<bool> SpanDownstream(SpanBatch batch, CancellationToken cancellationToken);

/// <summary>
/// A processor that holds spans and releases them later, on its own schedule (tail sampling). The pipeline
/// recognises it: <see cref="Start"/> hands it the rest of the pipeline as a <see cref="SpanDownstream"/>;
/// <see cref="ISpanProcessor.ProcessAsync"/> may then return null and release the spans later through that
/// delegate. Only <see cref="SpanBatch"/>es flow through the delegate, so only scrubbed data, one tenant per batch.
/// A processor that holds spans past <see cref="ISpanProcessor.ProcessAsync"/> must claim the batch's journal records
/// (<see cref="SpanBatch.ClaimJournal"/>) and release them when nothing of the batch is held any more; otherwise the
/// pipeline releases them when <see cref="ISpanProcessor.ProcessAsync"/> returns, and a crash loses what was held.
/// </summary>
public interface IDeferringSpanProcessor : ISpanProcessor
{
    /// <summary>Called once by <see cref="TracePipeline.StartAsync"/>, before the first <see cref="ISpanProcessor.ProcessAsync"/>.</summary>
    void Start(SpanDownstream downstream);

    /// <summary>
    /// Called by <see cref="TracePipeline.StopAsync"/> once no more batches will arrive: releases (decides) everything it
    /// holds through the downstream before returning. <paramref name="cancellationToken"/> fires when the shutdown
    /// timeout elapsed. Safe to call twice.
    /// </summary>
    Task StopAsync(CancellationToken cancellationToken);
}

/// <summary>How an export attempt ended.</summary>
public enum ExportOutcome
{
    Success,

    /// <summary>The destination refused the data for good (such as HTTP 400); retrying cannot help.</summary>
    PermanentFailure,

    /// <summary>The destination could not take the data now; retries were exhausted or not allowed.</summary>
    RetryableFailure,
}

/// <summary>A destination for scrubbed spans: an OTLP backend, the store, a test sink.</summary>
public interface ISpanExporter : IAsyncDisposable
{
    /// <summary>The configured name, such as <c>otlphttp/tempo</c>.</summary>
    string Name { get; }

    /// <summary>
    /// True for a destination that stores what it takes (the embedded store): when it answers
    /// <see cref="ExportOutcome.RetryableFailure"/>, the journal keeps the batch's requests for the next start.
    /// A forwarding exporter's failures are counted and logged instead, so a backend that is down cannot fill the journal.
    /// </summary>
    bool IsDurable => false;

    /// <summary>
    /// Exports one batch. Never throws for a failure of the destination: the outcome says what happened.
    /// May wait (back-pressure) when the exporter's own bounded queue is full. An exporter that still reads the batch
    /// after this returned (a queue) calls <c>batch.Traces.RetainWireForm()</c> before returning and
    /// <c>ReleaseWireForm()</c> when done: the pipeline gives back a wire-form request's buffers once this returned.
    /// </summary>
    ValueTask<ExportOutcome> ExportAsync(SpanBatch batch, CancellationToken cancellationToken);
}

/// <summary>
/// The ingest journal (write-ahead log): records each scrubbed request durably before the client is answered,
/// so an acknowledged request survives a crash. The pipeline releases a record's receipt once every exporter
/// has returned for the batch that carried it; on the next start, the host replays the records still held.
/// </summary>
public interface IIngestJournal
{
    /// <summary>
    /// Records <paramref name="scrubbed"/> for <paramref name="tenant"/>; completes once it is on disk.
    /// Throws <see cref="JournalUnavailableException"/> when it cannot (disk full, I/O error, journal full).
    /// </summary>
    ValueTask<IJournalReceipt> AppendAsync(string tenant, TraceRequest scrubbed, CancellationToken cancellationToken);
}

/// <summary>One journal record, held until the spans it carried are through the pipeline.</summary>
public interface IJournalReceipt
{
    /// <summary>The spans are through every exporter (or were dropped by a processor): the journal may forget them. Idempotent.</summary>
    void Release();
}

/// <summary>The journal could not record a request; the client is told to retry (HTTP 503 / gRPC UNAVAILABLE).</summary>
public sealed class JournalUnavailableException : Exception
{
    public JournalUnavailableException()
    {
    }

    public JournalUnavailableException(string message)
        : base(message)
    {
    }

    public JournalUnavailableException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
