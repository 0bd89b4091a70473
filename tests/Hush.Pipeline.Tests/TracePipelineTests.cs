using Hush.Pipeline.Tests.Support;

namespace Hush.Pipeline.Tests;

public sealed class TracePipelineTests
{
    private static readonly PipelineOptions Fast = new() { BatchTimeout = TimeSpan.FromMilliseconds(10), ShutdownTimeout = TimeSpan.FromSeconds(10) };

    private static TracePipeline Create(
        PipelineOptions? options = null,
        IPrivacyStage? privacy = null,
        IReadOnlyList<ISpanProcessor>? processors = null,
        IReadOnlyList<ISpanExporter>? exporters = null,
        HushMetrics? metrics = null,
        CollectingLoggerFactory? logs = null,
        TimeProvider? time = null) =>
        new(
            "traces",
            options ?? Fast,
            privacy ?? PassThroughPrivacyStage.Instance,
            processors ?? [],
            exporters ?? [new RecordingExporter()],
            metrics ?? new HushMetrics(),
            logs ?? new CollectingLoggerFactory(),
            time ?? TimeProvider.System);

    [Fact]
    public async Task Submit_PrivacyStageMarksSpans_ExporterOnlySeesScrubbedSpans()
    {
        var privacy = new MarkingPrivacyStage();
        var sawRaw = 0;
        var exporter = new RecordingExporter
        {
            OnExport = batch =>
            {
                foreach (var span in TestData.AllSpans(batch.Traces))
                {
                    if (TestData.Attribute(span, "marker") != "scrubbed" || TestData.Attribute(span, "user.email") != "scrubbed")
                    {
                        Interlocked.Increment(ref sawRaw);
                    }
                }

                return ExportOutcome.Success;
            },
        };
        await using var pipeline = Create(privacy: privacy, exporters: [exporter]);
        await pipeline.StartAsync(CancellationToken.None);

        for (var i = 0; i < 20; i++)
        {
            Assert.Equal(SubmitStatus.Accepted, pipeline.Submit(TestData.Request(3), TestData.Context()).Status);
        }

        await pipeline.StopAsync(CancellationToken.None);
        Assert.Equal(20, privacy.Calls);
        Assert.Equal(60, exporter.SpanCount);
        Assert.Equal(0, sawRaw);
    }

    [Fact]
    public async Task Submit_PrivacyStageThrows_NothingReachesExporterAndAllSpansRejected()
    {
        var exporter = new RecordingExporter();
        var metrics = new HushMetrics();
        var logs = new CollectingLoggerFactory();
        await using var pipeline = Create(privacy: new ThrowingPrivacyStage(), exporters: [exporter], metrics: metrics, logs: logs);
        await pipeline.StartAsync(CancellationToken.None);

        var result = pipeline.Submit(TestData.Request(5), TestData.Context());
        await pipeline.StopAsync(CancellationToken.None);

        Assert.Equal(SubmitStatus.Accepted, result.Status);
        Assert.Equal(5, result.RejectedSpans);
        Assert.Equal("privacy stage failed", result.ErrorMessage);
        Assert.Empty(exporter.Batches);
        Assert.Equal(0, pipeline.QueuedSpans);
        Assert.Contains("hush_pipeline_spans_refused_total{pipeline=\"traces\",reason=\"privacy_failure\"} 5", metrics.ToText());
        Assert.Contains(logs.Entries, e => e.EventId == 5003);
        Assert.DoesNotContain(TestData.Secret, logs.AllText);
    }

    [Fact]
    public void Submit_NotStarted_UnavailableWithRetryAfter()
    {
        var metrics = new HushMetrics();
        var pipeline = Create(options: Fast with { RetryAfter = TimeSpan.FromSeconds(3) }, metrics: metrics);

        var result = pipeline.Submit(TestData.Request(2), TestData.Context());

        Assert.Equal(SubmitStatus.Unavailable, result.Status);
        Assert.Equal(TimeSpan.FromSeconds(3), result.RetryAfter);
        Assert.Contains("hush_pipeline_spans_refused_total{pipeline=\"traces\",reason=\"not_running\"} 2", metrics.ToText());
    }

    [Fact]
    public async Task Submit_AfterStop_Unavailable()
    {
        var pipeline = Create();
        await pipeline.StartAsync(CancellationToken.None);
        await pipeline.StopAsync(CancellationToken.None);

        Assert.Equal(SubmitStatus.Unavailable, pipeline.Submit(TestData.Request(1), TestData.Context()).Status);
    }

    [Fact]
    public async Task Submit_EmptyRequest_AcceptedAndNothingExported()
    {
        var exporter = new RecordingExporter();
        await using var pipeline = Create(exporters: [exporter]);
        await pipeline.StartAsync(CancellationToken.None);

        var result = pipeline.Submit(new Otlp.TraceRequest(), TestData.Context());
        await pipeline.StopAsync(CancellationToken.None);

        Assert.Equal(SubmitStatus.Accepted, result.Status);
        Assert.Empty(exporter.Batches);
    }

    [Fact]
    public async Task Submit_QueueFull_ThrottledAndEveryAcceptedSpanExportedAfterUnblocking()
    {
        var exporter = new RecordingExporter();
        exporter.Block();
        var metrics = new HushMetrics();
        var options = Fast with { QueueCapacitySpans = 100, SendBatchSize = 10, Workers = 1, RetryAfter = TimeSpan.FromSeconds(2) };
        await using var pipeline = Create(options: options, exporters: [exporter], metrics: metrics);
        await pipeline.StartAsync(CancellationToken.None);

        var accepted = 0;
        SubmitResult throttled = default;
        for (var i = 0; i < 50 && throttled.Status != SubmitStatus.Throttled; i++)
        {
            var result = pipeline.Submit(TestData.Request(10), TestData.Context());
            if (result.Status == SubmitStatus.Accepted)
            {
                accepted += 10;
            }
            else
            {
                throttled = result;
            }
        }

        Assert.Equal(SubmitStatus.Throttled, throttled.Status);
        Assert.Equal(TimeSpan.FromSeconds(2), throttled.RetryAfter);
        Assert.Equal(100, accepted);
        Assert.Equal(100, pipeline.QueuedSpans);
        Assert.Contains("hush_pipeline_queue_spans{pipeline=\"traces\"} 100", metrics.ToText());
        Assert.Contains("hush_pipeline_spans_refused_total{pipeline=\"traces\",reason=\"queue_full\"} 10", metrics.ToText());

        exporter.Unblock();
        Assert.True(await TestData.Eventually(() => exporter.SpanCount == 100));
        Assert.True(await TestData.Eventually(() => pipeline.QueuedSpans == 0));
        Assert.Equal(SubmitStatus.Accepted, pipeline.Submit(TestData.Request(10), TestData.Context()).Status);
        await pipeline.StopAsync(CancellationToken.None);
        Assert.Equal(110, exporter.SpanCount);
    }

    [Fact]
    public async Task Submit_RequestLargerThanQueueWhileEmpty_Accepted()
    {
        var exporter = new RecordingExporter();
        await using var pipeline = Create(options: Fast with { QueueCapacitySpans = 10, SendBatchSize = 10 }, exporters: [exporter]);
        await pipeline.StartAsync(CancellationToken.None);

        Assert.Equal(SubmitStatus.Accepted, pipeline.Submit(TestData.Request(25), TestData.Context()).Status);
        await pipeline.StopAsync(CancellationToken.None);
        Assert.Equal(25, exporter.SpanCount);
    }

    [Fact]
    public async Task Batching_TwoTenantsInterleaved_BatchesNeverMixTenants()
    {
        var exporter = new RecordingExporter();
        await using var pipeline = Create(options: Fast with { SendBatchSize = 7 }, exporters: [exporter]);
        await pipeline.StartAsync(CancellationToken.None);

        for (var i = 0; i < 30; i++)
        {
            var tenant = i % 2 == 0 ? "alpha" : "beta";
            Assert.Equal(SubmitStatus.Accepted, pipeline.Submit(TestData.Request(2, service: tenant + "-svc"), TestData.Context(tenant)).Status);
        }

        await pipeline.StopAsync(CancellationToken.None);
        Assert.Equal(60, exporter.SpanCount);
        foreach (var batch in exporter.Batches)
        {
            Assert.True(batch.SpanCount <= 7);
            Assert.Equal(batch.SpanCount, batch.Traces.CountSpans());
            foreach (var rs in batch.Traces.ResourceSpans)
            {
                Assert.Equal(batch.Tenant + "-svc", rs.Resource.Attributes[0].Value.StringValue);
            }
        }

        Assert.Equal(30, exporter.Batches.Where(b => b.Tenant == "alpha").Sum(b => b.SpanCount));
        Assert.Equal(30, exporter.Batches.Where(b => b.Tenant == "beta").Sum(b => b.SpanCount));
    }

    [Fact]
    public async Task Batching_SmallRequestsReachSendBatchSize_SentAsFullBatchesWithoutWaitingForTimeout()
    {
        var time = new ManualTimeProvider();
        var exporter = new RecordingExporter();
        await using var pipeline = Create(options: Fast with { SendBatchSize = 4, BatchTimeout = TimeSpan.FromSeconds(5) }, exporters: [exporter], time: time);
        await pipeline.StartAsync(CancellationToken.None);

        for (var i = 0; i < 8; i++)
        {
            pipeline.Submit(TestData.Request(1), TestData.Context());
        }

        Assert.True(await TestData.Eventually(() => exporter.SpanCount == 8));
        Assert.All(exporter.Batches, b => Assert.Equal(4, b.SpanCount));
        Assert.Equal(2, exporter.Batches.Count);
        await pipeline.StopAsync(CancellationToken.None);
    }

    [Fact]
    public async Task Batching_PartialBatch_SentOnlyAfterBatchTimeout()
    {
        var time = new ManualTimeProvider();
        var exporter = new RecordingExporter();
        var timeout = TimeSpan.FromMilliseconds(200);
        await using var pipeline = Create(options: Fast with { SendBatchSize = 100, BatchTimeout = timeout }, exporters: [exporter], time: time);
        await pipeline.StartAsync(CancellationToken.None);

        pipeline.Submit(TestData.Request(3), TestData.Context());
        pipeline.Submit(TestData.Request(2), TestData.Context());
        Assert.True(await time.WaitForPendingAsync(d => d > TimeSpan.Zero && d <= timeout));
        Assert.Empty(exporter.Batches);

        time.Advance(timeout);
        Assert.True(await TestData.Eventually(() => exporter.Batches.Count == 1));
        Assert.Equal(5, exporter.Batches[0].SpanCount);
        Assert.Equal(2, exporter.Batches[0].Traces.ResourceSpans.Count);
        await pipeline.StopAsync(CancellationToken.None);
    }

    [Fact]
    public async Task StopAsync_WithQueuedSpans_DrainsEverythingAccepted()
    {
        var exporter = new RecordingExporter();
        await using var pipeline = Create(options: Fast with { BatchTimeout = TimeSpan.FromMinutes(10) }, exporters: [exporter]);
        await pipeline.StartAsync(CancellationToken.None);

        var accepted = 0;
        for (var i = 0; i < 200; i++)
        {
            if (pipeline.Submit(TestData.Request(5), TestData.Context(i % 3 == 0 ? "a" : "b")).Status == SubmitStatus.Accepted)
            {
                accepted += 5;
            }
        }

        await pipeline.StopAsync(CancellationToken.None);
        Assert.Equal(1000, accepted);
        Assert.Equal(1000, exporter.SpanCount);
        Assert.Equal(0, pipeline.QueuedSpans);
    }

    [Fact]
    public async Task StartStop_CalledTwice_Safe()
    {
        var pipeline = Create();
        Assert.False(pipeline.IsRunning);
        await pipeline.StartAsync(CancellationToken.None);
        await pipeline.StartAsync(CancellationToken.None);
        Assert.True(pipeline.IsRunning);
        await pipeline.StopAsync(CancellationToken.None);
        Assert.False(pipeline.IsRunning);
        await pipeline.StopAsync(CancellationToken.None);
        await pipeline.DisposeAsync();
        await Assert.ThrowsAsync<InvalidOperationException>(() => pipeline.StartAsync(CancellationToken.None));
    }

    [Fact]
    public async Task StopAsync_NeverStarted_Completes()
    {
        var pipeline = Create();
        await pipeline.StopAsync(CancellationToken.None);
        await pipeline.DisposeAsync();
    }

    [Fact]
    public async Task StopAsync_ExporterStuckPastShutdownTimeout_CancelsAndCompletes()
    {
        var time = new ManualTimeProvider();
        var exporter = new RecordingExporter();
        exporter.Block();
        var logs = new CollectingLoggerFactory();
        var pipeline = Create(options: Fast with { ShutdownTimeout = TimeSpan.FromSeconds(5) }, exporters: [exporter], logs: logs, time: time);
        await pipeline.StartAsync(CancellationToken.None);
        pipeline.Submit(TestData.Request(3), TestData.Context());
        Assert.True(await time.WaitForPendingAsync(d => d > TimeSpan.Zero));
        time.Advance(TimeSpan.FromSeconds(1));
        Assert.True(await TestData.Eventually(() => exporter.Waiting == 1));

        var stop = pipeline.StopAsync(CancellationToken.None);
        Assert.True(await time.WaitForPendingAsync(d => d == TimeSpan.FromSeconds(5)), string.Join(",", time.RequestedDelays) + " / " + string.Join(",", time.PendingDueTimes()));
        time.Advance(TimeSpan.FromSeconds(5));
        await stop.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Contains(logs.Entries, e => e.EventId == 5002);
        Assert.Equal(0, pipeline.QueuedSpans);
    }

    [Fact]
    public async Task Processors_RunInOrderBeforeExporters()
    {
        var order = new List<string>();
        var exporter = new RecordingExporter();
        var first = new DelegateProcessor("first", b => { lock (order) { order.Add("first"); } return b; });
        var second = new DelegateProcessor("second", b => { lock (order) { order.Add("second"); } return b; });
        await using var pipeline = Create(options: Fast with { Workers = 1 }, processors: [first, second], exporters: [exporter]);
        await pipeline.StartAsync(CancellationToken.None);

        pipeline.Submit(TestData.Request(2), TestData.Context());
        await pipeline.StopAsync(CancellationToken.None);

        Assert.Equal(["first", "second"], order);
        Assert.Equal(2, exporter.SpanCount);
    }

    [Fact]
    public async Task Processors_ReturnsNull_NothingExported()
    {
        var exporter = new RecordingExporter();
        await using var pipeline = Create(processors: [new DelegateProcessor("drop-all", _ => null)], exporters: [exporter]);
        await pipeline.StartAsync(CancellationToken.None);

        pipeline.Submit(TestData.Request(2), TestData.Context());
        await pipeline.StopAsync(CancellationToken.None);

        Assert.Empty(exporter.Batches);
        Assert.Equal(0, pipeline.QueuedSpans);
    }

    [Fact]
    public async Task Processors_Throws_BatchDroppedCountedLoggedWithoutValuesAndPipelineContinues()
    {
        var exporter = new RecordingExporter();
        var metrics = new HushMetrics();
        var logs = new CollectingLoggerFactory();
        var calls = 0;
        var flaky = new DelegateProcessor("flaky", b =>
            Interlocked.Increment(ref calls) == 1 ? throw new InvalidOperationException("bad " + TestData.Secret) : b);
        await using var pipeline = Create(options: Fast with { Workers = 1 }, processors: [flaky], exporters: [exporter], metrics: metrics, logs: logs);
        await pipeline.StartAsync(CancellationToken.None);

        pipeline.Submit(TestData.Request(2), TestData.Context("a"));
        Assert.True(await TestData.Eventually(() => Volatile.Read(ref calls) == 1));
        pipeline.Submit(TestData.Request(3), TestData.Context("b"));
        await pipeline.StopAsync(CancellationToken.None);

        Assert.Equal(3, exporter.SpanCount);
        Assert.Contains("hush_processor_failures_total{processor=\"flaky\"} 1", metrics.ToText());
        Assert.Contains(logs.Entries, e => e.EventId == 5004 && e.Message.Contains("InvalidOperationException", StringComparison.Ordinal));
        Assert.DoesNotContain(TestData.Secret, logs.AllText);
    }

    [Fact]
    public async Task Exporters_Several_EachGetsEveryBatch()
    {
        var a = new RecordingExporter("a");
        var b = new RecordingExporter("b");
        await using var pipeline = Create(exporters: [a, b]);
        await pipeline.StartAsync(CancellationToken.None);

        for (var i = 0; i < 10; i++)
        {
            pipeline.Submit(TestData.Request(3), TestData.Context());
        }

        await pipeline.StopAsync(CancellationToken.None);
        Assert.Equal(30, a.SpanCount);
        Assert.Equal(30, b.SpanCount);
    }

    [Fact]
    public async Task Exporters_OneThrows_OthersStillReceiveAndFailureCounted()
    {
        var good = new RecordingExporter("good");
        var bad = new RecordingExporter("bad") { OnExport = _ => throw new InvalidOperationException("boom") };
        var metrics = new HushMetrics();
        await using var pipeline = Create(exporters: [bad, good], metrics: metrics);
        await pipeline.StartAsync(CancellationToken.None);

        pipeline.Submit(TestData.Request(4), TestData.Context());
        await pipeline.StopAsync(CancellationToken.None);

        Assert.Equal(4, good.SpanCount);
        Assert.Contains("hush_exporter_spans_failed_total{exporter=\"bad\",reason=\"exception\"} 4", metrics.ToText());
    }

    [Fact]
    public async Task Submit_ManyThreadsConcurrently_EverySpanAccountedFor()
    {
        var exporter = new RecordingExporter();
        var metrics = new HushMetrics();
        await using var pipeline = Create(options: Fast with { QueueCapacitySpans = 1_000, SendBatchSize = 100 }, exporters: [exporter], metrics: metrics);
        await pipeline.StartAsync(CancellationToken.None);

        var accepted = 0;
        var throttled = 0;
        await Task.WhenAll(Enumerable.Range(0, 4).Select(t => Task.Run(() =>
        {
            for (var i = 0; i < 500; i++)
            {
                var status = pipeline.Submit(TestData.Request(3), TestData.Context("t" + (t % 2))).Status;
                Interlocked.Add(ref status == SubmitStatus.Accepted ? ref accepted : ref throttled, 3);
            }
        })));
        await pipeline.StopAsync(CancellationToken.None);

        Assert.Equal(6_000, accepted + throttled);
        Assert.Equal(accepted, exporter.SpanCount);
        Assert.Equal(0, pipeline.QueuedSpans);
    }

    [Fact]
    public void Constructor_InvalidOptions_Throws()
    {
        var ex = Assert.Throws<ArgumentException>(() => Create(options: new PipelineOptions { Workers = 0 }));
        Assert.Contains("workers", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_Defaults_NoErrors()
    {
        Assert.Empty(new PipelineOptions().Validate("service.pipelines.traces"));
    }

    [Fact]
    public void Validate_EverythingWrong_ListsEveryErrorWithKeyPath()
    {
        var options = new PipelineOptions
        {
            QueueCapacitySpans = 0,
            SendBatchSize = -1,
            BatchTimeout = TimeSpan.Zero,
            Workers = 0,
            RetryAfter = TimeSpan.FromSeconds(-1),
            ShutdownTimeout = TimeSpan.FromSeconds(-1),
        };

        var errors = options.Validate("service.pipelines.traces");

        Assert.Equal(
            [
                "'service.pipelines.traces.queue_capacity_spans' must be greater than zero",
                "'service.pipelines.traces.send_batch_size' must be greater than zero",
                "'service.pipelines.traces.batch_timeout' must be greater than zero",
                "'service.pipelines.traces.workers' must be between 1 and 256",
                "'service.pipelines.traces.retry_after' must be greater than zero",
                "'service.pipelines.traces.shutdown_timeout' must not be negative",
            ],
            errors);
    }

    [Fact]
    public void Validate_BatchLargerThanQueue_Error()
    {
        var errors = new PipelineOptions { QueueCapacitySpans = 10, SendBatchSize = 20 }.Validate("p");
        Assert.Equal(["'p.send_batch_size' must not be greater than 'p.queue_capacity_spans' (10)"], errors);
    }
}

public sealed class TracePipelineGarbageTests
{
    [Fact]
    public async Task Submit_ResourcesWithoutScopesOrSpans_AcceptedAndNothingExported()
    {
        var exporter = new RecordingExporter();
        await using var pipeline = new TracePipeline("traces", new PipelineOptions(), PassThroughPrivacyStage.Instance, [], [exporter], new HushMetrics(), new CollectingLoggerFactory(), TimeProvider.System);
        await pipeline.StartAsync(CancellationToken.None);
        var request = new Otlp.TraceRequest
        {
            ResourceSpans = [new Otlp.ResourceSpans(), new Otlp.ResourceSpans { ScopeSpans = [new Otlp.ScopeSpans(), new Otlp.ScopeSpans()] }],
        };

        Assert.Equal(SubmitStatus.Accepted, pipeline.Submit(request, TestData.Context()).Status);
        await pipeline.StopAsync(CancellationToken.None);
        Assert.Empty(exporter.Batches);
    }

    [Fact]
    public async Task Submit_PrivacyStageDropsEverySpan_AcceptedAndQueueEmpty()
    {
        var exporter = new RecordingExporter();
        var dropAll = new DropAllPrivacyStage();
        await using var pipeline = new TracePipeline("traces", new PipelineOptions(), dropAll, [], [exporter], new HushMetrics(), new CollectingLoggerFactory(), TimeProvider.System);
        await pipeline.StartAsync(CancellationToken.None);

        Assert.Equal(SubmitStatus.Accepted, pipeline.Submit(TestData.Request(4), TestData.Context()).Status);
        Assert.Equal(0, pipeline.QueuedSpans);
        await pipeline.StopAsync(CancellationToken.None);
        Assert.Empty(exporter.Batches);
    }

    private sealed class DropAllPrivacyStage : IPrivacyStage
    {
        public void Scrub(Otlp.TraceRequest request, IngestContext context) => request.ResourceSpans.Clear();
    }
}
