using Hush.Pipeline.Sampling;
using Hush.Pipeline.Tests.Support;
using static Hush.Pipeline.Tests.Sampling.SamplingTestData;

namespace Hush.Pipeline.Tests.Sampling;

/// <summary>
/// Tail sampling and the ingest journal: a request's record is kept while the sampler holds any of its spans
/// (so a crash before the decision loses nothing acknowledged), and released once every trace of it was decided
/// and passed on or dropped.
/// </summary>
public sealed class SamplingJournalTests
{
    private static readonly TailSamplingOptions KeepErrors = new()
    {
        DecisionWait = TimeSpan.FromSeconds(10),
        Policies = [new() { Name = "errors", Type = "status_code", StatusCode = new() { StatusCodes = ["ERROR"] } }],
    };

    [Fact]
    public async Task Record_IsKeptUntilItsTraceIsDecidedAndPassedOn()
    {
        await using var harness = new SamplerHarness(KeepErrors);
        var receipt = new CountingReceipt();
        var traceId = NewTraceId();

        await harness.SendAsync(Journalled(TraceSpans(traceId, childStatus: Otlp.StatusCode.Error), receipt));

        Assert.Equal(0, receipt.Releases);
        await harness.AdvanceAsync(TimeSpan.FromSeconds(11));
        Assert.Equal(3, harness.Downstream.SpansOf(traceId));
        Assert.Equal(1, receipt.Releases);
    }

    [Fact]
    public async Task Record_OfTwoTraces_IsReleasedOnlyAfterBoth_DroppedOnesCountAsDone()
    {
        await using var harness = new SamplerHarness(KeepErrors);
        var receipt = new CountingReceipt();
        var kept = NewTraceId();
        var dropped = NewTraceId();
        await harness.SendAsync(Journalled([.. TraceSpans(dropped), .. TraceSpans(kept, withRoot: false, childStatus: Otlp.StatusCode.Error)], receipt));

        await harness.AdvanceAsync(TimeSpan.FromSeconds(11));

        Assert.Equal(0, harness.Downstream.SpansOf(dropped));
        Assert.True(harness.Downstream.SpansOf(kept) > 0);
        Assert.Equal(1, receipt.Releases);
    }

    [Fact]
    public async Task Record_SpansOfOneTraceInTwoRequests_EachRecordWaitsForTheDecision()
    {
        await using var harness = new SamplerHarness(KeepErrors);
        var first = new CountingReceipt();
        var second = new CountingReceipt();
        var traceId = NewTraceId();
        var spans = TraceSpans(traceId, spans: 4, childStatus: Otlp.StatusCode.Error);

        await harness.SendAsync(Journalled(spans.Take(2), first));
        await harness.SendAsync(Journalled(spans.Skip(2), second));
        Assert.Equal(0, first.Releases + second.Releases);

        await harness.AdvanceAsync(TimeSpan.FromSeconds(11));

        Assert.Equal(4, harness.Downstream.SpansOf(traceId));
        Assert.Equal(1, first.Releases);
        Assert.Equal(1, second.Releases);
    }

    [Fact]
    public async Task Record_WhoseTraceCouldNotBePassedOn_IsKeptForTheNextStart()
    {
        await using var harness = new SamplerHarness(KeepErrors);
        harness.Downstream.Refuse = true;
        var receipt = new CountingReceipt();
        await harness.SendAsync(Journalled(TraceSpans(NewTraceId(), childStatus: Otlp.StatusCode.Error), receipt));

        await harness.AdvanceAsync(TimeSpan.FromSeconds(11));

        Assert.Equal(0, receipt.Releases);
    }

    [Fact]
    public async Task Pipeline_WithTailSampling_ReleasesRecordsOnlyAfterTheDecision()
    {
        var time = new ManualTimeProvider();
        var journal = new CountingJournal();
        var exporter = new RecordingExporter();
        var sampler = new TailSamplingProcessor("tail_sampling", KeepErrors, new HushMetrics(), new CollectingLoggerFactory(), time);
        var options = new PipelineOptions { BatchTimeout = TimeSpan.FromMilliseconds(5), ShutdownTimeout = TimeSpan.FromSeconds(10) };
        await using var pipeline = new TracePipeline(
            "traces", options, PassThroughPrivacyStage.Instance, [sampler], [exporter], new HushMetrics(), new CollectingLoggerFactory(), TimeProvider.System, journal);
        await pipeline.StartAsync(CancellationToken.None);

        var traceId = NewTraceId();
        var request = Batch(TraceSpans(traceId, childStatus: Otlp.StatusCode.Error)).Traces;
        Assert.Equal(SubmitStatus.Accepted, (await pipeline.SubmitAsync(request, TestData.Context(), CancellationToken.None)).Status);

        // The batch reaches the sampler (the worker has returned from it) without its record being forgotten.
        await WaitUntilAsync(() => pipeline.QueuedSpans == 0);
        await Task.Delay(50);
        Assert.Equal(0, journal.Released);

        time.Advance(TimeSpan.FromSeconds(11));
        await sampler.DecideDueAsync();

        Assert.Equal(3, exporter.SpanCount);
        Assert.Equal(1, journal.Released);
        await pipeline.StopAsync(CancellationToken.None);
        Assert.Equal(1, journal.Released);
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        for (var i = 0; i < 200 && !condition(); i++)
        {
            await Task.Delay(10);
        }

        Assert.True(condition());
    }

    private static SpanBatch Journalled(IEnumerable<Otlp.Span> spans, CountingReceipt receipt)
    {
        var batch = Batch(spans);
        return new SpanBatch(batch.Tenant, batch.Traces, batch.SpanCount, [receipt]);
    }

    private sealed class CountingReceipt : IJournalReceipt
    {
        private int _releases;

        public int Releases => Volatile.Read(ref _releases);

        public void Release() => Interlocked.Increment(ref _releases);
    }

    private sealed class CountingJournal : IIngestJournal
    {
        private readonly List<CountingReceipt> _receipts = [];

        public int Released
        {
            get
            {
                lock (_receipts)
                {
                    return _receipts.Sum(r => r.Releases);
                }
            }
        }

        public ValueTask<IJournalReceipt> AppendAsync(string tenant, Otlp.TraceRequest scrubbed, CancellationToken cancellationToken)
        {
            var receipt = new CountingReceipt();
            lock (_receipts)
            {
                _receipts.Add(receipt);
            }

            return ValueTask.FromResult<IJournalReceipt>(receipt);
        }
    }
}
