using BenchmarkDotNet.Running;

// One program for every benchmark: `dotnet run -c Release --project bench/Hush.Benchmarks -- --filter '*'`.
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
