using BenchmarkDotNet.Attributes;
using Hush.Cli.Loadgen;
using Hush.Otlp;
using Hush.Privacy;

namespace Hush.Benchmarks;

/// <summary>
/// The scrub stage as the receivers run it: each 512-span request is scrubbed right after it is decoded (the pipeline
/// scrubs on the receiving thread, before queueing), so its objects are still in the caches. <see cref="ScrubBenchmarks"/>
/// decodes 32 copies first and then scrubs them, which reads ~37 MB from memory and measures that too.
/// <para>
/// One invocation per iteration: <see cref="IterationSetup"/> decodes the copy outside the measured time, and one
/// scrub (~1.5 ms) is far above the timer's resolution. Results are per span; spans/s per core = 1e9 / mean ns. Every
/// invocation scrubs one of 16 different requests of the load generator's mix, in turn.
/// </para>
/// </summary>
[MemoryDiagnoser]
[InvocationCount(1)]
[WarmupCount(20)]
[IterationCount(200)]
public class ScrubWarmBenchmarks
{
    private const int SpanCount = 512;
    private const int Requests = 16;

    private PolicyScrubber _scrubber = null!;
    private byte[][] _clean = null!;
    private byte[][] _mixed = null!;
    private TraceRequest _next = null!;
    private int _turn;

    [GlobalSetup]
    public void Setup()
    {
        _scrubber = ScrubBenchmarks.Scrubber(PolicyProvider.FromDefault());
        var clean = new SpanMixGenerator(seed: 42, services: 5, piiRatio: 0);
        var mixed = new SpanMixGenerator(seed: 42, services: 5, piiRatio: 0.05);
        _clean = [.. Enumerable.Range(0, Requests).Select(_ => OtlpProtobuf.Encode(clean.NextRequest(SpanCount)))];
        _mixed = [.. Enumerable.Range(0, Requests).Select(_ => OtlpProtobuf.Encode(mixed.NextRequest(SpanCount)))];
    }

    [IterationSetup(Target = nameof(CleanSpansJustDecoded))]
    public void DecodeClean() => _next = OtlpProtobuf.DecodeTraceRequest(_clean[_turn++ % Requests]);

    [IterationSetup(Target = nameof(FivePercentPiiJustDecoded))]
    public void DecodeMixed() => _next = OtlpProtobuf.DecodeTraceRequest(_mixed[_turn++ % Requests]);

    /// <summary>The loadgen mix with nothing planted, scrubbed right after decoding.</summary>
    [Benchmark(OperationsPerInvoke = SpanCount)]
    public ScrubReport CleanSpansJustDecoded() => _scrubber.Scrub(_next, "bench");

    /// <summary>The 5% mix, scrubbed right after decoding.</summary>
    [Benchmark(OperationsPerInvoke = SpanCount)]
    public ScrubReport FivePercentPiiJustDecoded() => _scrubber.Scrub(_next, "bench");
}
