using BenchmarkDotNet.Attributes;
using Hush.Otlp;
using Hush.Pipeline;
using Microsoft.Extensions.Logging.Abstractions;

namespace Hush.Benchmarks;

/// <summary>
/// Pipeline overhead without scrubbing or I/O: submit 64 requests of 128 spans (8,192 spans) through the
/// pass-through privacy stage, batch, and a nop exporter, then wait until the queue is empty.
/// spans/s = 8,192 / mean.
/// </summary>
[MemoryDiagnoser]
public class PipelineBenchmarks
{
    private const int Requests = 64;
    private const int SpansPerRequest = 128;

    private readonly IngestContext _context = new("bench", "bench", IngestTransport.Http);
    private ResourceSpans _template = null!;
    private TracePipeline _pipeline = null!;

    [GlobalSetup]
    public void Setup()
    {
        var scope = new ScopeSpans();
        for (var i = 0; i < SpansPerRequest; i++)
        {
            scope.Spans.Add(new Span { TraceId = new TraceId(1, (ulong)i + 1), SpanId = new SpanId((ulong)i + 1), Name = "GET /api/{id}" });
        }

        _template = new ResourceSpans { Resource = new Resource { Attributes = [new KeyValue("service.name", AnyValue.Of("bench"))] }, ScopeSpans = [scope] };
        var metrics = new HushMetrics();
        _pipeline = new TracePipeline(
            "bench",
            new PipelineOptions { SendBatchSize = 8_192, BatchTimeout = TimeSpan.FromMilliseconds(1) },
            PassThroughPrivacyStage.Instance,
            [],
            [new NopExporter("nop", metrics)],
            metrics,
            NullLoggerFactory.Instance,
            TimeProvider.System);
        _pipeline.StartAsync(CancellationToken.None).GetAwaiter().GetResult();
    }

    [GlobalCleanup]
    public void Cleanup() => _pipeline.DisposeAsync().AsTask().GetAwaiter().GetResult();

    [Benchmark(Baseline = true)]
    public async Task SubmitAndDrain()
    {
        for (var i = 0; i < Requests; i++)
        {
            // The pipeline owns (and may append to) the top-level list; the spans themselves are shared read-only.
            _pipeline.Submit(new TraceRequest { ResourceSpans = [_template] }, _context);
        }

        while (_pipeline.QueuedSpans > 0)
        {
            await Task.Yield();
        }
    }
}
