using Hush.Otlp;
using Hush.Pipeline.Tests.Support;

namespace Hush.Pipeline.Tests;

public sealed class EndToEndTests
{
    [Fact]
    public async Task Pipeline_WithOtlpExporter_BackendReceivesOnlyScrubbedSpansOfEachTenantSeparately()
    {
        await using var backend = await FakeBackend.StartAsync();
        var metrics = new HushMetrics();
        var logs = new CollectingLoggerFactory();
        var exporter = new OtlpHttpExporter(
            "otlphttp/backend",
            new OtlpHttpExporterOptions { Endpoint = backend.BaseUrl, TenantHeaders = t => [new("X-Scope-OrgID", t)] },
            metrics,
            logs.CreateLogger("exporter"),
            TimeProvider.System);
        var pipeline = new TracePipeline(
            "traces",
            new PipelineOptions { BatchTimeout = TimeSpan.FromMilliseconds(20) },
            new MarkingPrivacyStage(),
            [],
            [exporter],
            metrics,
            logs,
            TimeProvider.System);
        await pipeline.StartAsync(CancellationToken.None);

        for (var i = 0; i < 10; i++)
        {
            Assert.Equal(SubmitStatus.Accepted, pipeline.Submit(TestData.Request(4), TestData.Context(i % 2 == 0 ? "red" : "blue")).Status);
        }

        await pipeline.StopAsync(CancellationToken.None);
        await exporter.DisposeAsync();

        var spans = 0;
        foreach (var request in backend.Requests)
        {
            var tenant = request.Headers["X-Scope-OrgID"];
            Assert.Contains(tenant, new[] { "red", "blue" });
            var decoded = OtlpProtobuf.DecodeTraceRequest(request.Body);
            foreach (var span in TestData.AllSpans(decoded))
            {
                Assert.Equal("scrubbed", TestData.Attribute(span, "user.email"));
                spans++;
            }

            Assert.DoesNotContain(TestData.Secret, System.Text.Encoding.UTF8.GetString(request.Body));
        }

        Assert.Equal(40, spans);
        var text = metrics.ToText();
        Assert.Contains("hush_pipeline_spans_submitted_total{pipeline=\"traces\"} 40", text);
        Assert.Contains("hush_exporter_spans_sent_total{exporter=\"otlphttp/backend\"} 40", text);
        Assert.Contains("hush_pipeline_queue_spans{pipeline=\"traces\"} 0", text);
        Assert.DoesNotContain(TestData.Secret, logs.AllText);
    }

    [Fact]
    public async Task Pipeline_SlowBackend_FillsExporterQueueThenThrottlesAndLosesNothingAccepted()
    {
        using var release = new ManualResetEventSlim();
        await using var backend = await FakeBackend.StartAsync(respond: (_, _) =>
        {
            release.Wait(TimeSpan.FromSeconds(30));
            return new BackendResponse(200);
        });
        var metrics = new HushMetrics();
        var logs = new CollectingLoggerFactory();
        var exporter = new OtlpHttpExporter(
            "otlphttp/slow",
            new OtlpHttpExporterOptions { Endpoint = backend.BaseUrl, QueueSize = 1, Consumers = 1 },
            metrics,
            logs.CreateLogger("exporter"),
            TimeProvider.System);
        var pipeline = new TracePipeline(
            "traces",
            new PipelineOptions { QueueCapacitySpans = 50, SendBatchSize = 10, Workers = 1, BatchTimeout = TimeSpan.FromMilliseconds(5) },
            PassThroughPrivacyStage.Instance,
            [],
            [exporter],
            metrics,
            logs,
            TimeProvider.System);
        await pipeline.StartAsync(CancellationToken.None);

        var accepted = 0;
        var throttled = false;
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (!throttled && DateTime.UtcNow < deadline)
        {
            var result = pipeline.Submit(TestData.Request(10), TestData.Context());
            if (result.Status == SubmitStatus.Accepted)
            {
                accepted += 10;
            }
            else
            {
                Assert.Equal(SubmitStatus.Throttled, result.Status);
                throttled = true;
            }

            await Task.Delay(2);
        }

        Assert.True(throttled);
        Assert.True(accepted >= 50, $"accepted {accepted}");

        release.Set();
        await pipeline.StopAsync(CancellationToken.None);
        await exporter.DisposeAsync();

        var delivered = backend.Requests.Sum(r => OtlpProtobuf.DecodeTraceRequest(r.Body).CountSpans());
        Assert.Equal(accepted, delivered);
    }
}
