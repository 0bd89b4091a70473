using Hush.Otlp;
using Hush.Pipeline.Tests.Support;

namespace Hush.Pipeline.Tests;

/// <summary>Requests in wire form through the pipeline: merged undecoded, decoded by whoever reads them, and their buffers given back on every path.</summary>
public sealed class WireFormPipelineTests
{
    private static readonly PipelineOptions Fast = new() { BatchTimeout = TimeSpan.FromMilliseconds(20), ShutdownTimeout = TimeSpan.FromSeconds(10) };

    [Fact]
    public async Task WireRequests_AreBatchedUndecoded_ExportedAsTheirBytes_AndReleasedAfterTheExport()
    {
        var sawWire = 0;
        byte[]? exported = null;
        var exporter = new RecordingExporter
        {
            OnExport = batch =>
            {
                if (batch.Traces.IsWireForm)
                {
                    Interlocked.Increment(ref sawWire);
                }

                exported = OtlpProtobuf.Encode(batch.Traces);
                return ExportOutcome.Success;
            },
        };
        await using var pipeline = Create(new WireStage(), exporters: [exporter]);
        Assert.True(pipeline.AcceptsWireForm);
        await pipeline.StartAsync(CancellationToken.None);

        var owners = new List<Owner>();
        var requests = new List<TraceRequest>();
        for (var i = 0; i < 3; i++)
        {
            var (request, owner) = Wire(TestData.Request(4, marker: "m" + i));
            owners.Add(owner);
            requests.Add(OtlpProtobuf.DecodeTraceRequest(OtlpProtobuf.Encode(request)));
            Assert.Equal(SubmitStatus.Accepted, pipeline.Submit(request, TestData.Context()).Status);
        }

        await pipeline.StopAsync(CancellationToken.None);

        Assert.Equal(12, exporter.SpanCount);
        Assert.Equal(exporter.Batches.Count, sawWire);
        Assert.All(owners, o => Assert.Equal(1, o.Disposals));
        if (exporter.Batches.Count == 1)
        {
            var expected = new TraceRequest { ResourceSpans = [.. requests.SelectMany(r => r.ResourceSpans)] };
            Assert.Equal(OtlpProtobuf.Encode(expected), exported);
        }
    }

    [Fact]
    public async Task AProcessorThatReadsSpans_DecodesThem_AndTheBuffersAreStillReleased()
    {
        var exporter = new RecordingExporter();
        var processor = new DelegateProcessor("reads", batch =>
        {
            foreach (var span in TestData.AllSpans(batch.Traces))
            {
                span.Attributes.Add(new KeyValue("seen", AnyValue.Of(true)));
            }

            return batch;
        });
        await using var pipeline = Create(new WireStage(), processors: [processor], exporters: [exporter]);
        await pipeline.StartAsync(CancellationToken.None);
        var (request, owner) = Wire(TestData.Request(5));
        pipeline.Submit(request, TestData.Context());
        await pipeline.StopAsync(CancellationToken.None);

        var batch = Assert.Single(exporter.Batches);
        Assert.False(batch.Traces.IsWireForm);
        Assert.All(TestData.AllSpans(batch.Traces), s => Assert.Contains(s.Attributes, a => a.Key == "seen"));
        Assert.Equal(1, owner.Disposals);
    }

    [Fact]
    public async Task RefusedRequests_GiveTheirBuffersBackAtOnce()
    {
        var exporter = new RecordingExporter();
        exporter.Block();
        await using var pipeline = Create(new WireStage(), new PipelineOptions { QueueCapacitySpans = 10, SendBatchSize = 10, BatchTimeout = TimeSpan.FromMilliseconds(5), ShutdownTimeout = TimeSpan.FromSeconds(10) }, exporters: [exporter]);

        var (early, earlyOwner) = Wire(TestData.Request(2));
        Assert.Equal(SubmitStatus.Unavailable, pipeline.Submit(early, TestData.Context()).Status);
        Assert.Equal(1, earlyOwner.Disposals);

        await pipeline.StartAsync(CancellationToken.None);
        var (first, firstOwner) = Wire(TestData.Request(8));
        Assert.Equal(SubmitStatus.Accepted, pipeline.Submit(first, TestData.Context()).Status);
        var (over, overOwner) = Wire(TestData.Request(8));
        Assert.Equal(SubmitStatus.Throttled, pipeline.Submit(over, TestData.Context()).Status);
        Assert.Equal(1, overOwner.Disposals);
        Assert.Equal(0, firstOwner.Disposals);

        exporter.Unblock();
        await pipeline.StopAsync(CancellationToken.None);
        Assert.Equal(1, firstOwner.Disposals);
    }

    [Fact]
    public async Task AFailingPrivacyStage_ReleasesTheRequest()
    {
        await using var pipeline = Create(new ThrowingPrivacyStage());
        await pipeline.StartAsync(CancellationToken.None);
        Assert.False(pipeline.AcceptsWireForm);
        var (request, owner) = Wire(TestData.Request(3));
        var result = pipeline.Submit(request, TestData.Context());
        Assert.Equal(3, result.RejectedSpans);
        Assert.Equal(1, owner.Disposals);
    }

    private static (TraceRequest Request, Owner Owner) Wire(TraceRequest request)
    {
        var owner = new Owner();
        Assert.True(OtlpProtobuf.TryKeepWireForm(OtlpProtobuf.Encode(request), owner, null, out var wire));
        return (wire, owner);
    }

    private static TracePipeline Create(IPrivacyStage privacy, PipelineOptions? options = null, IReadOnlyList<ISpanProcessor>? processors = null, IReadOnlyList<ISpanExporter>? exporters = null) =>
        new("traces", options ?? Fast, privacy, processors ?? [], exporters ?? [new RecordingExporter()], new HushMetrics(), new CollectingLoggerFactory(), TimeProvider.System);

    /// <summary>A stage that changes nothing and says so.</summary>
    private sealed class WireStage : IPrivacyStage
    {
        public bool MayPassWireForm => true;

        public void Scrub(TraceRequest request, IngestContext context)
        {
        }
    }

    private sealed class Owner : IDisposable
    {
        private int _disposals;

        public int Disposals => Volatile.Read(ref _disposals);

        public void Dispose() => Interlocked.Increment(ref _disposals);
    }
}
