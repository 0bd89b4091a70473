using System.CommandLine;
using System.Globalization;
using Hush.Cli.StoreBench;

namespace Hush.Cli.Commands;

/// <summary>
/// <c>hush store fill</c> and <c>hush store bench-read</c>: developer tools (hidden from help) that build a large store
/// for read benchmarks and time trace-by-id against it. They write synthetic spans only, never scrubbed user data.
/// </summary>
internal static class StoreBenchCommands
{
    public static Command CreateFill(Option<FileInfo?> config)
    {
        var tenant = new Option<string>("--tenant") { Description = "The tenant to fill.", DefaultValueFactory = _ => "dev" };
        var spans = new Option<long>("--spans") { Description = "Spans to write.", DefaultValueFactory = _ => 1_000_000 };
        var batch = new Option<int>("--batch") { Description = "Spans per append (one fsync each).", DefaultValueFactory = _ => 8192 };
        var services = new Option<int>("--services") { Description = "Distinct service.name values in the mix.", DefaultValueFactory = _ => 5 };
        var seed = new Option<int>("--seed") { Description = "Seed for the span mix.", DefaultValueFactory = _ => 42 };
        var threads = new Option<int>("--threads") { Description = "Writer threads.", DefaultValueFactory = _ => 1 };
        var window = new Option<string>("--window") { Description = "Span start times are spread over this window ending now, e.g. 24h.", DefaultValueFactory = _ => "24h" };
        var ids = new Option<FileInfo?>("--trace-ids") { HelpName = "FILE", Description = "Write a uniform sample of the written trace ids here, one a line." };
        var sample = new Option<int>("--sample-ids") { Description = "How many trace ids to sample into --trace-ids.", DefaultValueFactory = _ => 100_000 };
        var command = new Command("fill", "Developer tool: fill the store with the load generator's span mix (no PII), straight through the store's write path.") { Hidden = true };
        foreach (var option in new Option[] { config, tenant, spans, batch, services, seed, threads, window, ids, sample })
        {
            command.Options.Add(option);
        }

        command.SetAction((r, cancellationToken) =>
        {
            var output = r.InvocationConfiguration.Output;
            var error = r.InvocationConfiguration.Error;
            var errors = new List<string>();
            var windowParsed = LoadgenCommand.TryParseDuration(r.GetValue(window)!, out var span);
            if (!windowParsed)
            {
                errors.Add("'--window' must be a duration such as 24h or 90m");
            }

            var options = new StoreFillOptions
            {
                Tenant = r.GetValue(tenant)!,
                Spans = r.GetValue(spans),
                Batch = r.GetValue(batch),
                Services = r.GetValue(services),
                Seed = r.GetValue(seed),
                Threads = r.GetValue(threads),
                Window = windowParsed ? span : TimeSpan.MaxValue, // reported above, not twice
                SampleIds = r.GetValue(sample),
            };
            errors.AddRange(options.Validate());
            if (Usage(errors, "hush store fill", error))
            {
                return Task.FromResult(2);
            }

            var idFile = r.GetValue(ids)?.FullName;
            return Task.FromResult(StoreCommands.WithStore(r.GetValue(config)?.FullName, error, null, (store, _) =>
            {
                output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"filling tenant {options.Tenant} of {store.DataDirectory} with {options.Spans:N0} spans ({options.Threads} threads, batch {options.Batch})"));
                var report = StoreFiller.Fill(store, options, output, cancellationToken);
                if (idFile is not null)
                {
                    StoreFiller.WriteIds(idFile, report.SampledIds);
                }

                var (blocks, total) = store.Totals(options.Tenant);
                output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"wrote {report.Spans:N0} spans in {report.Traces:N0} traces in {report.Elapsed.TotalSeconds:0.0} s ({report.SpansPerSecond:N0} spans/s)"));
                output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  span times {report.From.UtcDateTime:yyyy-MM-ddTHH:mm:ssZ} .. {report.To.UtcDateTime:yyyy-MM-ddTHH:mm:ssZ} (unix {report.From.ToUnixTimeSeconds()} .. {report.To.ToUnixTimeSeconds()})"));
                output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  tenant now holds {total:N0} spans in {blocks:N0} blocks"));
                if (idFile is not null)
                {
                    output.WriteLine($"  {report.SampledIds.Count} sampled trace ids in {idFile}");
                }

                return 0;
            }));
        });
        return command;
    }

    public static Command CreateBenchRead(Option<FileInfo?> config)
    {
        var tenant = new Option<string>("--tenant") { Description = "The tenant to read.", DefaultValueFactory = _ => "dev" };
        var ids = new Option<FileInfo>("--trace-ids") { HelpName = "FILE", Description = "Ids known to be stored (hush store fill --trace-ids).", Required = true };
        var calls = new Option<int>("--calls") { Description = "Timed lookups of known ids, and as many of unknown ids.", DefaultValueFactory = _ => 10_000 };
        var warmup = new Option<int>("--warmup") { Description = "Untimed lookups first.", DefaultValueFactory = _ => 1_000 };
        var seed = new Option<int>("--seed") { Description = "Seed for the id choice.", DefaultValueFactory = _ => 7 };
        var command = new Command("bench-read", "Developer tool: time trace-by-id in the store, one lookup at a time, and print p50/p95/p99.") { Hidden = true };
        foreach (var option in new Option[] { config, tenant, ids, calls, warmup, seed })
        {
            command.Options.Add(option);
        }

        command.SetAction(async (r, cancellationToken) =>
        {
            var output = r.InvocationConfiguration.Output;
            var error = r.InvocationConfiguration.Error;
            var path = r.GetValue(ids)!.FullName;
            var errors = new List<string>();
            var known = File.Exists(path) ? StoreReadBench.ReadIds(path, out errors) : [];
            if (!File.Exists(path) || known.Count == 0)
            {
                errors.Add($"'--trace-ids' {path} holds no trace id");
            }

            if (r.GetValue(calls) < 1 || r.GetValue(warmup) < 0)
            {
                errors.Add("'--calls' must be at least 1 and '--warmup' at least 0");
            }

            if (Usage(errors, "hush store bench-read", error))
            {
                return 2;
            }

            var tenantName = r.GetValue(tenant)!;
            StoreReadReport? report = null;
            var code = StoreCommands.WithStore(r.GetValue(config)?.FullName, error, null, (store, _) =>
            {
                var (blocks, spans) = store.Totals(tenantName);
                output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"tenant {tenantName}: {spans:N0} spans in {blocks:N0} blocks; {known.Count} known ids"));

                // The store is synchronous underneath: waiting here keeps the timing free of thread-pool hops.
                report = StoreReadBench.RunAsync(store, tenantName, known, r.GetValue(calls), r.GetValue(warmup), r.GetValue(seed), cancellationToken).GetAwaiter().GetResult();
                return 0;
            });
            report?.WriteSummary(output);
            await output.FlushAsync(cancellationToken);
            return code;
        });
        return command;
    }

    private static bool Usage(List<string> errors, string command, TextWriter error)
    {
        foreach (var e in errors)
        {
            error.WriteLine(command + ": " + e);
        }

        return errors.Count > 0;
    }
}
