using System.Diagnostics;
using System.Globalization;
using Hush.Cli.Loadgen;
using Hush.Otlp;
using Hush.Store;

namespace Hush.Benchmarks;

/// <summary>
/// The store's whole write path (pack, index stats and Bloom filter, encode, Brotli, AES-GCM, append, fsync, chain,
/// SQLite) as the pipeline drives it: batches of 8,192 spans, each decoded from OTLP bytes just before its append, so
/// the objects are as fresh (and as far from the caches) as the exporter's. Timed in CPU time of the appending thread
/// and in wall time; each round appends 4 batches after a full collection (outside the timing). Prints the best and
/// the median round in us per span (spans/s per core = 1e6 / us) and the stored bytes per span.
/// <para>
/// <c>-- store-write [traffic|worst] [rounds]</c>: <c>traffic</c> is <c>hush loadgen</c>'s mix already scrubbed
/// (traces of 3 to 10 spans over 5 services); <c>worst</c> is the codec benchmark's request, every span a trace of its
/// own with eight high-cardinality values. For a shared machine: alternate base and change, compare bests and medians.
/// </para>
/// </summary>
internal static class StoreWriteHarness
{
    private const int BatchSpans = 8192;
    private const int BatchesPerRound = 4;
    private const int WarmupRounds = 3;

    public static void Run(string[] args)
    {
        var mix = args.Length > 0 ? args[0] : "traffic";
        var rounds = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 20;
        byte[][] encoded = mix switch
        {
            "traffic" => Traffic(),
            "worst" => [OtlpProtobuf.Encode(OtlpCodecBenchmarks.BuildRequest(BatchSpans))],
            _ => throw new ArgumentException($"Unknown mix '{mix}': traffic or worst."),
        };

        if (args.Length > 2 && args[2] == "phases")
        {
            Phases(mix, encoded, rounds);
            return;
        }

        var directory = Path.Combine(Path.GetTempPath(), "hush-bench-store-" + Guid.NewGuid().ToString("N"));
        var cpu = new List<double>();
        var wall = new List<double>();
        long allocated = 0, collections = 0;
        var yardstick = new FixedWork();
        try
        {
            using var kek = KeyMaterial.Copy(new byte[KeyMaterial.KeyBytes]);
            using var store = Hush.Store.Storage.TraceStore.Open(directory, kek);
            var next = 0;
            for (var round = 0; round < rounds + WarmupRounds; round++)
            {
                var batches = new TraceRequest[BatchesPerRound];
                for (var i = 0; i < batches.Length; i++)
                {
                    batches[i] = OtlpProtobuf.DecodeTraceRequest(encoded[next++ % encoded.Length]);
                }

                GC.Collect();
                GC.WaitForPendingFinalizers();
                var allocatedBefore = GC.GetAllocatedBytesForCurrentThread();
                var collectionsBefore = GC.CollectionCount(0);
                var started = Stopwatch.GetTimestamp();
                var cpuStarted = ThreadCpu.Nanoseconds();
                foreach (var batch in batches)
                {
                    store.Append("bench", batch);
                }

                if (round >= WarmupRounds)
                {
                    cpu.Add((double)(ThreadCpu.Nanoseconds() - cpuStarted) / (BatchesPerRound * BatchSpans));
                    wall.Add(Stopwatch.GetElapsedTime(started).TotalNanoseconds / (BatchesPerRound * BatchSpans));
                    allocated += GC.GetAllocatedBytesForCurrentThread() - allocatedBefore;
                    collections += GC.CollectionCount(0) - collectionsBefore;
                    yardstick.Record();
                }
            }

            var raw = encoded.Average(e => (double)e.Length) / BatchSpans;
            var stored = (double)store.BytesWritten / store.SpansWritten;
            var machine = yardstick.Describe(cpu.Count);
            cpu.Sort();
            wall.Sort();
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"store write, {mix}, {rounds} rounds of {BatchesPerRound} x {BatchSpans} spans: CPU best {cpu[0] / 1000:F3} us/span ({1e9 / cpu[0]:F0} spans/s), median {cpu[cpu.Count / 2] / 1000:F3} ({1e9 / cpu[cpu.Count / 2]:F0}); wall best {wall[0] / 1000:F3} ({1e9 / wall[0]:F0}), median {wall[wall.Count / 2] / 1000:F3} ({1e9 / wall[wall.Count / 2]:F0}); allocated {(double)allocated / (rounds * BatchesPerRound * BatchSpans):F0} B/span, {(double)collections / rounds:F1} collections per round; stored {stored:F1} B/span vs {raw:F1} B of OTLP"));
            Console.WriteLine("  " + machine);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    /// <summary>
    /// <c>-- store-write MIX ROUNDS phases</c>: each part of the write path on one batch, again and again (so with warm
    /// caches, unlike the appends above), in us per span: pack into blocks, trace tokens and times, Bloom filters, OTLP
    /// encode, encode + Brotli, the whole block (+ AES-GCM). Best of the rounds.
    /// </summary>
    private static void Phases(string mix, byte[][] encoded, int rounds)
    {
        using var kek = KeyMaterial.Copy(new byte[KeyMaterial.KeyBytes]);
        var index = new Hush.Store.Storage.IndexKey(kek, "bench");
        var batch = OtlpProtobuf.DecodeTraceRequest(encoded[0]);
        var blocks = Hush.Store.Storage.TraceStore.Pack(batch, 256);
        var keys = Path.Combine(Path.GetTempPath(), "hush-bench-keys-" + Guid.NewGuid().ToString("N"));
        var ring = KeyRing.Open(keys, kek);
        try
        {
            var key = ring.GetActiveKey("bench");
            var parts = new (string Name, Action Run)[]
            {
                ("pack", () => Hush.Store.Storage.TraceStore.Pack(batch, 256)),
                ("bloom", () => blocks.ForEach(b => Hush.Store.Storage.TermFilter.Build(b, index))),
                ("otlp encode", () => blocks.ForEach(b => OtlpProtobuf.Encode(b))),
                ("encode+brotli", () => blocks.ForEach(b => BlockCodec.Prepare(b).Dispose())),
                ("block", () => blocks.ForEach(b => BlockCodec.Encode(b, key, new BlockPosition("bench", 1, 1)))),
            };
            var best = new double[parts.Length];
            Array.Fill(best, double.MaxValue);
            for (var round = 0; round < rounds + WarmupRounds; round++)
            {
                for (var i = 0; i < parts.Length; i++)
                {
                    var start = ThreadCpu.Nanoseconds();
                    parts[i].Run();
                    best[i] = Math.Min(best[i], (double)(ThreadCpu.Nanoseconds() - start) / BatchSpans);
                }
            }

            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"store write phases, {mix}, {BatchSpans} spans in {blocks.Count} blocks, best of {rounds}, us/span: ")
                + string.Join(", ", parts.Select((p, i) => string.Create(CultureInfo.InvariantCulture, $"{p.Name} {best[i] / 1000:F3}"))));
        }
        finally
        {
            ring.Dispose();
            Directory.Delete(keys, recursive: true);
        }
    }

    private static byte[][] Traffic()
    {
        var generator = new SpanMixGenerator(seed: 42, services: 5, piiRatio: 0);
        return [.. Enumerable.Range(0, 8).Select(_ => OtlpProtobuf.Encode(generator.NextRequest(BatchSpans)))];
    }
}
