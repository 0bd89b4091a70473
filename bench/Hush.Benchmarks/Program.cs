using BenchmarkDotNet.Running;

// One program for every benchmark: `dotnet run -c Release --project bench/Hush.Benchmarks -- --filter '*'`.
// Two harnesses time CPU instead, without BenchmarkDotNet: `-- scrub-warm [rounds] [pii ratio] [default|minimal|policy.yaml]` (ScrubWarmHarness)
// and `-- store-write [traffic|worst] [rounds]` (StoreWriteHarness). Both time a fixed yardstick after each round
// (FixedWork) and print it, so a run on a busy host shows as one.
switch (args.FirstOrDefault())
{
    case "scrub-warm":
        Hush.Benchmarks.ScrubWarmHarness.Run(args[1..]);
        return;
    case "store-write":
        Hush.Benchmarks.StoreWriteHarness.Run(args[1..]);
        return;
}

BenchmarkSwitcher.FromAssembly(typeof(Hush.Benchmarks.ScrubBenchmarks).Assembly).Run(args);
