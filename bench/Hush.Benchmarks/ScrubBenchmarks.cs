using BenchmarkDotNet.Attributes;
using Hush.Cli.Loadgen;
using Hush.Otlp;
using Hush.Privacy;
using Hush.Privacy.Transforms;

namespace Hush.Benchmarks;

/// <summary>
/// The scrub stage alone under the shipped default policy, on the load generator's span mix: 512-span requests
/// of whole traces (HTTP server/client, DB, cache, internal, RPC and messaging spans, ~20 semantic-convention
/// attributes each, 18 resource attributes per service, exception events on 5% of traces), once with no planted
/// values and once with 5% of spans carrying one planted email, card, phone, bearer token, AWS key or JWT.
/// <para>
/// Every invocation scrubs a fresh copy: the request is encoded to OTLP protobuf once, and
/// <see cref="IterationSetup"/> decodes one copy per invocation of the coming iteration, outside the measured
/// time (scrubbing is in place, so re-scrubbing one object would measure already-scrubbed values).
/// Results are per span (OperationsPerInvoke); spans/s per core = 1e9 / mean ns.
/// </para>
/// The mix is <c>hush loadgen</c>'s own (<see cref="SpanMixGenerator"/>), so this measures what the load generator sends.
/// <see cref="MinimalPolicy"/> scrubs the 5% mix under the end-to-end runs' minimal policy (no detectors, no rules).
/// </summary>
[MemoryDiagnoser]
[InvocationCount(InvocationsPerIteration)]
public class ScrubBenchmarks
{
    private const int SpanCount = 512;

    /// <summary>Copies decoded per iteration: 32 × 512 spans × ~2.5 us ≈ 40 ms measured per iteration.</summary>
    private const int InvocationsPerIteration = 32;

    private readonly TraceRequest[] _copies = new TraceRequest[InvocationsPerIteration];
    internal const string MinimalPolicyYaml = "version: 1\nmode: detect\ndetectors:\n  builtin: none\nspan_names: detect\nrules: []\n";

    private PolicyScrubber _scrubber = null!;
    private PolicyScrubber _minimal = null!;
    private byte[] _clean = null!;
    private byte[] _mixed = null!;
    private int _next;

    [GlobalSetup]
    public void Setup()
    {
        _scrubber = Scrubber(PolicyProvider.FromDefault());
        _minimal = Scrubber(PolicyProvider.FromPolicy(PolicyLoader.LoadYaml(MinimalPolicyYaml, "minimal").Policy!));
        _clean = OtlpProtobuf.Encode(new SpanMixGenerator(seed: 42, services: 5, piiRatio: 0).NextRequest(SpanCount));
        _mixed = OtlpProtobuf.Encode(new SpanMixGenerator(seed: 42, services: 5, piiRatio: 0.05).NextRequest(SpanCount));
    }

    [IterationSetup(Target = nameof(CleanSpans))]
    public void DecodeClean() => Decode(_clean);

    [IterationSetup(Targets = [nameof(FivePercentPii), nameof(MinimalPolicy)])]
    public void DecodeMixed() => Decode(_mixed);

    /// <summary>The loadgen mix with nothing planted (it still carries user ids, client IPs, SQL and URLs the policy transforms).</summary>
    [Benchmark(Baseline = true, OperationsPerInvoke = SpanCount)]
    public ScrubReport CleanSpans() => _scrubber.Scrub(_copies[_next++], "bench");

    /// <summary>The same mix with 5% of spans carrying a planted secret or PII value.</summary>
    [Benchmark(OperationsPerInvoke = SpanCount)]
    public ScrubReport FivePercentPii() => _scrubber.Scrub(_copies[_next++], "bench");

    /// <summary>The 5% mix under the minimal policy: only schema URLs and the depth limit can change anything.</summary>
    [Benchmark(OperationsPerInvoke = SpanCount)]
    public ScrubReport MinimalPolicy() => _minimal.Scrub(_copies[_next++], "bench");

    /// <summary>A scrubber for the benchmarks: a fixed pseudonym secret, an in-memory vault, its own counters.</summary>
    internal static PolicyScrubber Scrubber(PolicyProvider policies)
    {
        var secret = new byte[32];
        new Random(7).NextBytes(secret);
        return new PolicyScrubber(policies, new DerivedPseudonymKeyProvider(secret), new InMemoryTokenVault(), new PrivacyCounters());
    }

    private void Decode(byte[] encoded)
    {
        for (var i = 0; i < _copies.Length; i++)
        {
            _copies[i] = OtlpProtobuf.DecodeTraceRequest(encoded);
        }

        _next = 0;
    }
}
