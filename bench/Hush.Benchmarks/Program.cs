using BenchmarkDotNet.Running;

// One program for every benchmark: `dotnet run -c Release --project bench/Hush.Benchmarks -- --filter '*'`.
BenchmarkSwitcher.FromAssembly(typeof(Hush.Benchmarks.ScrubBenchmarks).Assembly).Run(args);
