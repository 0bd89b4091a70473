using System.Globalization;
using Hush.Cli.Loadgen;
using Hush.Otlp;
using Hush.Privacy;

namespace Hush.Benchmarks;

/// <summary>
/// The scrub stage as the receivers run it, timed in CPU time of the scrubbing thread: 16 different 512-span requests
/// of the load generator's mix, each decoded and then scrubbed at once, 4 times per round; a full GC before each round
/// (outside the timing). Prints the best and the median round in us per span (spans/s per core = 1e6 / us), and the
/// same for the decode that precedes each scrub (timed apart: the receivers' other per-span stage).
/// <para>
/// For shared machines where BenchmarkDotNet's short jobs cannot resolve the scrub (their error bars were 2-5x the
/// means here): run base and change alternately, several times, and compare bests and medians. With
/// <c>DOTNET_GCgen0size=0x30000000</c> no collection falls inside a round, which isolates the scrub's own code
/// from the collections its allocations (and the decoder's) cause; without it, the rounds include them.
/// </para>
/// </summary>
internal static class ScrubWarmHarness
{
    private const int SpanCount = 512;
    private const int Requests = 16;
    private const int CopiesPerRequest = 4;
    private const int WarmupRounds = 5;

    private static PolicyProvider FromYaml(string yaml, string source) =>
        PolicyProvider.FromPolicy(PolicyLoader.LoadYaml(yaml, source).Policy
            ?? throw new ArgumentException($"The policy {source} does not load: `hush policy lint` says why."));

    public static void Run(string[] args)
    {
        var rounds = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 60;
        var pii = args.Length > 1 ? double.Parse(args[1], CultureInfo.InvariantCulture) : 0.05;
        var policyName = args.Length > 2 ? args[2] : "default";
        var scrubber = ScrubBenchmarks.Scrubber(policyName switch
        {
            "default" => PolicyProvider.FromDefault(),
            "minimal" => FromYaml(ScrubBenchmarks.MinimalPolicyYaml, "minimal"),
            _ => FromYaml(File.ReadAllText(policyName), policyName),
        });
        var generator = new SpanMixGenerator(seed: 42, services: 5, piiRatio: pii);
        var encoded = Enumerable.Range(0, Requests).Select(_ => OtlpProtobuf.Encode(generator.NextRequest(SpanCount))).ToArray();
        var perRound = new List<double>();
        var decodePerRound = new List<double>();
        long allocated = 0, decodeAllocated = 0;
        var yardstick = new FixedWork();
        for (var round = 0; round < rounds + WarmupRounds; round++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
            long cpu = 0, bytes = 0, decodeCpu = 0, decodeBytes = 0;
            for (var copy = 0; copy < CopiesPerRequest; copy++)
            {
                foreach (var request in encoded)
                {
                    var decodeBefore = GC.GetAllocatedBytesForCurrentThread();
                    var decodeStart = ThreadCpu.Nanoseconds();
                    var decoded = OtlpProtobuf.DecodeTraceRequest(request);
                    var before = GC.GetAllocatedBytesForCurrentThread();
                    var start = ThreadCpu.Nanoseconds();
                    decodeCpu += start - decodeStart;
                    decodeBytes += before - decodeBefore;
                    scrubber.Scrub(decoded, "bench");
                    cpu += ThreadCpu.Nanoseconds() - start;
                    bytes += GC.GetAllocatedBytesForCurrentThread() - before;
                }
            }

            if (round >= WarmupRounds)
            {
                perRound.Add((double)cpu / (Requests * CopiesPerRequest * SpanCount));
                decodePerRound.Add((double)decodeCpu / (Requests * CopiesPerRequest * SpanCount));
                allocated += bytes;
                decodeAllocated += decodeBytes;
                yardstick.Record();
            }
        }

        var machine = yardstick.Describe(perRound.Count);
        perRound.Sort();
        decodePerRound.Sort();
        var spans = (double)rounds * Requests * CopiesPerRequest * SpanCount;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"scrub, {policyName} policy, {pii:P0} PII, {rounds} rounds: best {perRound[0] / 1000:F3} us/span ({1e9 / perRound[0]:F0} spans/s), median {perRound[perRound.Count / 2] / 1000:F3} us/span ({1e9 / perRound[perRound.Count / 2]:F0} spans/s), {allocated / spans:F0} B/span"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"  the decode before it (OTLP protobuf): best {decodePerRound[0] / 1000:F3} us/span ({1e9 / decodePerRound[0]:F0} spans/s), median {decodePerRound[decodePerRound.Count / 2] / 1000:F3} us/span, {decodeAllocated / spans:F0} B/span"));
        Console.WriteLine("  " + machine);
    }
}
