using Hush.Otlp;
using Hush.Pipeline.Tests.Support;

namespace Hush.Pipeline.Tests;

/// <summary>The pipeline's side of the ingest journal: answer only after the record is durable, forget it only after export.</summary>
public sealed class JournalTests
{
    private static readonly PipelineOptions Fast = new() { BatchTimeout = TimeSpan.FromMilliseconds(10), ShutdownTimeout = TimeSpan.FromSeconds(10) };

    private static TracePipeline Create(FakeJournal journal, params ISpanExporter[] exporters) => new(
        "traces", Fast, PassThroughPrivacyStage.Instance, [], exporters, new HushMetrics(), new CollectingLoggerFactory(), TimeProvider.System, journal);

    [Fact]
    public async Task SubmitAsync_AnswersOnlyOnceTheJournalHasTheScrubbedRequest()
    {
        var journal = new FakeJournal { Hold = true };
        var exporter = new RecordingExporter();
        await using var pipeline = new TracePipeline(
            "traces", Fast, new MarkingPrivacyStage(), [], [exporter], new HushMetrics(), new CollectingLoggerFactory(), TimeProvider.System, journal);
        await pipeline.StartAsync(CancellationToken.None);

        var submit = pipeline.SubmitAsync(TestData.Request(3), TestData.Context(), CancellationToken.None).AsTask();
        await Task.Delay(50);

        Assert.False(submit.IsCompleted);
        var recorded = Assert.Single(journal.Appended);
        Assert.All(TestData.AllSpans(recorded), s => Assert.Equal("scrubbed", TestData.Attribute(s, "user.email")));
        journal.Release();
        Assert.Equal(SubmitStatus.Accepted, (await submit).Status);
        await pipeline.StopAsync(CancellationToken.None);
        Assert.Equal(3, exporter.SpanCount);
    }

    [Fact]
    public async Task Export_ReleasesEveryMergedRequestsReceipt_AfterTheExporterReturned()
    {
        var journal = new FakeJournal();
        var exporter = new RecordingExporter();
        await using var pipeline = Create(journal, exporter);
        await pipeline.StartAsync(CancellationToken.None);

        for (var i = 0; i < 10; i++)
        {
            Assert.Equal(SubmitStatus.Accepted, (await pipeline.SubmitAsync(TestData.Request(2), TestData.Context(), CancellationToken.None)).Status);
        }

        await pipeline.StopAsync(CancellationToken.None);
        Assert.Equal(20, exporter.SpanCount);
        Assert.Equal(10, journal.Receipts.Count);
        Assert.All(journal.Receipts, r => Assert.Equal(1, r.Releases));
    }

    [Fact]
    public async Task DurableExporterRetryableFailure_KeepsTheRecords_ForwardingExporterFailureDoesNot()
    {
        var durable = new FakeJournal();
        var failing = new DurableExporter { Outcome = ExportOutcome.RetryableFailure };
        await using (var pipeline = Create(durable, failing))
        {
            await pipeline.StartAsync(CancellationToken.None);
            await pipeline.SubmitAsync(TestData.Request(2), TestData.Context(), CancellationToken.None);
            await pipeline.StopAsync(CancellationToken.None);
        }

        Assert.Equal(0, Assert.Single(durable.Receipts).Releases);

        var forwarding = new FakeJournal();
        var down = new RecordingExporter { OnExport = _ => ExportOutcome.RetryableFailure };
        await using (var pipeline = Create(forwarding, down))
        {
            await pipeline.StartAsync(CancellationToken.None);
            await pipeline.SubmitAsync(TestData.Request(2), TestData.Context(), CancellationToken.None);
            await pipeline.StopAsync(CancellationToken.None);
        }

        Assert.Equal(1, Assert.Single(forwarding.Receipts).Releases);
    }

    [Fact]
    public async Task JournalCannotWrite_AnswersUnavailable_AndNothingIsExported()
    {
        var journal = new FakeJournal { Fail = true };
        var exporter = new RecordingExporter();
        await using var pipeline = Create(journal, exporter);
        await pipeline.StartAsync(CancellationToken.None);

        var result = await pipeline.SubmitAsync(TestData.Request(4), TestData.Context(), CancellationToken.None);

        Assert.Equal(SubmitStatus.Unavailable, result.Status);
        Assert.Contains("disk full", result.ErrorMessage, StringComparison.Ordinal);
        Assert.Equal(0, pipeline.QueuedSpans);
        await pipeline.StopAsync(CancellationToken.None);
        Assert.Equal(0, exporter.SpanCount);
    }

    [Fact]
    public async Task Submit_WithAJournal_IsRefused_SoNothingIsAnsweredBeforeItIsDurable()
    {
        await using var pipeline = Create(new FakeJournal(), new RecordingExporter());
        await pipeline.StartAsync(CancellationToken.None);

        Assert.Throws<InvalidOperationException>(() => pipeline.Submit(TestData.Request(1), TestData.Context()));
    }

    [Fact]
    public async Task SubmitRecovered_SkipsThePrivacyStage_MarksTheBatch_AndReleasesAfterExport()
    {
        var privacy = new MarkingPrivacyStage();
        var exporter = new RecordingExporter();
        var journal = new FakeJournal();
        await using var pipeline = new TracePipeline("traces", Fast, privacy, [], [exporter], new HushMetrics(), new CollectingLoggerFactory(), TimeProvider.System, journal);
        await pipeline.StartAsync(CancellationToken.None);
        var receipt = new FakeReceipt();

        Assert.True(await pipeline.SubmitRecoveredAsync("acme", TestData.Request(3), receipt, CancellationToken.None));
        await pipeline.StopAsync(CancellationToken.None);

        Assert.Equal(0, privacy.Calls);
        var batch = Assert.Single(exporter.Batches);
        Assert.True(batch.IsRecovered);
        Assert.Equal("acme", batch.Tenant);
        Assert.Equal(1, receipt.Releases);
    }

    private sealed class FakeJournal : IIngestJournal
    {
        private readonly TaskCompletionSource _gate = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public bool Hold { get; init; }

        public bool Fail { get; init; }

        public List<TraceRequest> Appended { get; } = [];

        public List<FakeReceipt> Receipts { get; } = [];

        public void Release() => _gate.TrySetResult();

        public async ValueTask<IJournalReceipt> AppendAsync(string tenant, TraceRequest scrubbed, CancellationToken cancellationToken)
        {
            if (Fail)
            {
                throw new JournalUnavailableException("disk full");
            }

            lock (Appended)
            {
                Appended.Add(scrubbed);
            }

            if (Hold)
            {
                await _gate.Task;
            }

            var receipt = new FakeReceipt();
            lock (Receipts)
            {
                Receipts.Add(receipt);
            }

            return receipt;
        }
    }

    private sealed class FakeReceipt : IJournalReceipt
    {
        private int _releases;

        public int Releases => Volatile.Read(ref _releases);

        public void Release() => Interlocked.Increment(ref _releases);
    }

    private sealed class DurableExporter : ISpanExporter
    {
        public ExportOutcome Outcome { get; init; }

        public string Name => "store";

        public bool IsDurable => true;

        public ValueTask<ExportOutcome> ExportAsync(SpanBatch batch, CancellationToken cancellationToken) => ValueTask.FromResult(Outcome);

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
