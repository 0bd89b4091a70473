using BenchmarkDotNet.Attributes;
using Hush.Otlp;
using Hush.Pipeline;
using Hush.Pipeline.Sampling;
using Microsoft.Extensions.Logging.Abstractions;

namespace Hush.Benchmarks;

/// <summary>
/// Tail sampling throughput: 64 batches of 128 spans (8,192 spans, traces of 4 spans with 8 attributes each) go
/// through <see cref="TailSamplingProcessor.ProcessAsync"/>, then the clock passes decision_wait and every trace is
/// decided and the kept ones released to a no-op downstream. spans/s = 8,192 / mean (one thread: per core).
/// Setup also prints the buffer's memory against the encoded size of the spans it holds (target: at most 2x).
/// </summary>
[MemoryDiagnoser]
public class TailSamplingBenchmarks
{
    private const int Batches = 64;
    private const int SpansPerBatch = 128;
    private const int SpansPerTrace = 4;

    private static readonly SamplingPolicyOptions[] SeedPolicies =
    [
        new() { Name = "errors", Type = "status_code", StatusCode = new() { StatusCodes = ["ERROR"] } },
        new() { Name = "slow", Type = "latency", Latency = new() { ThresholdMs = 2000 } },
        new() { Name = "auth-routes", Type = "string_attribute", StringAttribute = new() { Key = "http.route", Values = [@"(^|/)(login|token|oauth)(/|\?|$)"], EnabledRegexMatching = true } },
        new() { Name = "auth-paths", Type = "string_attribute", StringAttribute = new() { Key = "url.path", Values = [@"(^|/)(login|token|oauth)(/|\?|$)"], EnabledRegexMatching = true } },
        new() { Name = "security-events", Type = "attribute_exists", AttributeExists = new() { Key = "security.event" } },
        new() { Name = "baseline", Type = "probabilistic", Probabilistic = new() { SamplingPercentage = 0.5, HashSalt = "bench" } },
    ];

    private readonly BenchClock _clock = new();
    private SpanBatch[] _batches = null!;
    private TailSamplingProcessor _seed = null!;
    private TailSamplingProcessor _keepAll = null!;
    private ulong _nextTrace = 1;

    [GlobalSetup]
    public void Setup()
    {
        _batches = MakeBatches(Batches);
        _seed = Create(SeedPolicies);
        _keepAll = Create([new() { Name = "all", Type = "always" }]);
        MeasureBufferMemory();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _seed.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _keepAll.DisposeAsync().AsTask().GetAwaiter().GetResult();
    }

    /// <summary>The seed's policy set: ~1% kept (the rare matches plus 0.5%).</summary>
    [Benchmark(Baseline = true)]
    public Task SeedPolicies_IngestAndDecide() => RunAsync(_seed);

    /// <summary>Worst case for release: every trace kept, so every span is decoded again and passed on.</summary>
    [Benchmark]
    public Task KeepAll_IngestAndDecide() => RunAsync(_keepAll);

    private async Task RunAsync(TailSamplingProcessor sampler)
    {
        RenewTraceIds();
        foreach (var batch in _batches)
        {
            await sampler.ProcessAsync(batch, CancellationToken.None);
        }

        _clock.Advance(TimeSpan.FromSeconds(11));
        await sampler.DecideDueAsync();
    }

    private TailSamplingProcessor Create(SamplingPolicyOptions[] policies)
    {
        var sampler = new TailSamplingProcessor(
            "tail_sampling",
            new TailSamplingOptions { Policies = policies, DecisionCache = new() { SampledCacheSize = 16_384, NonSampledCacheSize = 16_384 } },
            new HushMetrics(),
            NullLoggerFactory.Instance,
            _clock);
        sampler.Start(static (_, _) => ValueTask.FromResult(true));
        return sampler;
    }

    /// <summary>Fresh trace ids each run, so no span is a late span of a trace decided in an earlier run.</summary>
    private void RenewTraceIds()
    {
        foreach (var batch in _batches)
        {
            var spans = batch.Traces.ResourceSpans[0].ScopeSpans[0].Spans;
            for (var i = 0; i < spans.Count; i += SpansPerTrace)
            {
                var id = new TraceId(Mix(_nextTrace), Mix(~_nextTrace));
                _nextTrace++;
                for (var j = i; j < i + SpansPerTrace && j < spans.Count; j++)
                {
                    spans[j].TraceId = id;
                }
            }
        }
    }

    private SpanBatch[] MakeBatches(int count)
    {
        var batches = new SpanBatch[count];
        for (var b = 0; b < count; b++)
        {
            var scope = new ScopeSpans { Scope = new InstrumentationScope { Name = "io.opentelemetry.aspnetcore", Version = "1.9.0" } };
            for (var i = 0; i < SpansPerBatch; i++)
            {
                var n = (ulong)(b * SpansPerBatch + i);
                var root = i % SpansPerTrace == 0;
                scope.Spans.Add(new Span
                {
                    TraceId = new TraceId(Mix(n / SpansPerTrace), 1),
                    SpanId = new SpanId(n + 1),
                    ParentSpanId = root ? SpanId.Empty : new SpanId(n - (n % SpansPerTrace) + 1),
                    Name = root ? "GET /api/orders/{id}" : "SELECT orders",
                    Kind = root ? SpanKind.Server : SpanKind.Client,
                    StartTimeUnixNano = 1_700_000_000_000_000_000 + n * 1_000,
                    EndTimeUnixNano = 1_700_000_000_000_000_000 + n * 1_000 + 45_000_000,
                    Attributes =
                    [
                        new KeyValue("http.request.method", AnyValue.Of("GET")),
                        new KeyValue("http.route", AnyValue.Of("/api/orders/{id}")),
                        new KeyValue("url.path", AnyValue.Of("/api/orders/" + n)),
                        new KeyValue("http.response.status_code", AnyValue.Of(200L)),
                        new KeyValue("server.address", AnyValue.Of("orders.internal")),
                        new KeyValue("network.protocol.version", AnyValue.Of("1.1")),
                        new KeyValue("user_agent.original", AnyValue.Of("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36")),
                        new KeyValue("db.system", AnyValue.Of("postgresql")),
                    ],
                    Status = new SpanStatus { Code = n % 200 == 7 ? StatusCode.Error : StatusCode.Unset },
                });
            }

            var request = new TraceRequest
            {
                ResourceSpans =
                [
                    new ResourceSpans
                    {
                        Resource = new Resource
                        {
                            Attributes =
                            [
                                new KeyValue("service.name", AnyValue.Of("orders")),
                                new KeyValue("service.version", AnyValue.Of("2.4.1")),
                                new KeyValue("host.name", AnyValue.Of("orders-7d9f8")),
                                new KeyValue("telemetry.sdk.language", AnyValue.Of("dotnet")),
                            ],
                        },
                        ScopeSpans = [scope],
                    },
                ],
            };
            batches[b] = new SpanBatch("bench", request, SpansPerBatch);
        }

        return batches;
    }

    /// <summary>Buffers 65,536 spans (nothing decided) and compares heap growth with their encoded size.</summary>
    private void MeasureBufferMemory()
    {
        var batches = MakeBatches(512);
        long encoded = 0;
        foreach (var b in batches)
        {
            encoded += OtlpProtobuf.GetEncodedSize(b.Traces);
        }

        var clock = new BenchClock();
        var sampler = new TailSamplingProcessor(
            "measure",
            new TailSamplingOptions { Policies = SeedPolicies, MaxBufferBytes = 1L << 30, NumTraces = 1_000_000 },
            new HushMetrics(),
            NullLoggerFactory.Instance,
            clock);
        sampler.Start(static (_, _) => ValueTask.FromResult(true));
        var before = GC.GetTotalMemory(forceFullCollection: true);
        foreach (var b in batches)
        {
            sampler.ProcessAsync(b, CancellationToken.None).AsTask().GetAwaiter().GetResult();
        }

        var after = GC.GetTotalMemory(forceFullCollection: true);
        Console.WriteLine(
            $"// TailSampling buffer: {batches.Length * SpansPerBatch} spans, encoded {encoded:N0} B, accounted {sampler.BufferedBytes:N0} B " +
            $"({(double)sampler.BufferedBytes / encoded:F2}x), heap growth {after - before:N0} B ({(double)(after - before) / encoded:F2}x)");
        GC.KeepAlive(batches);
        sampler.DisposeAsync().AsTask().GetAwaiter().GetResult();
    }

    private static ulong Mix(ulong z)
    {
        z += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>A clock the benchmark moves; its timers never fire (the benchmark decides explicitly).</summary>
    private sealed class BenchClock : TimeProvider
    {
        private long _ticks = new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero).UtcTicks;

        public override DateTimeOffset GetUtcNow() => new(Interlocked.Read(ref _ticks), TimeSpan.Zero);

        public void Advance(TimeSpan by) => Interlocked.Add(ref _ticks, by.Ticks);

        public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period) => new NeverTimer();

        private sealed class NeverTimer : ITimer
        {
            public bool Change(TimeSpan dueTime, TimeSpan period) => true;

            public void Dispose()
            {
            }

            public ValueTask DisposeAsync() => ValueTask.CompletedTask;
        }
    }
}
