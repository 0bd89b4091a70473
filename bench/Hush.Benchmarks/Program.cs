using BenchmarkDotNet.Running;

// One program for every benchmark: `dotnet run -c Release --project bench/Hush.Benchmarks -- --filter '*'`.
// `-- scrub-warm [rounds] [pii ratio]` runs the scrub harness instead (ScrubWarmHarness): CPU time, no BenchmarkDotNet.
if (args.Length > 0 && args[0] == "scrub-warm")
{
    Hush.Benchmarks.ScrubWarmHarness.Run(args[1..]);
    return;
}

BenchmarkSwitcher.FromAssembly(typeof(Hush.Benchmarks.ScrubBenchmarks).Assembly).Run(args);
