using System.CommandLine;
using Hush.Cli.Loadgen.Query;

namespace Hush.Cli.Commands;

/// <summary><c>hush loadgen query</c>: concurrent clients against a local query API; p50/p95/p99 and throughput.</summary>
internal static class QueryLoadCommand
{
    public const int ExitUsage = 2;

    public static Command Create()
    {
        var url = new Option<string>("--url") { Description = $"The query API (the admin port). Loopback only. Default {QueryLoadOptions.DefaultUrl}.", DefaultValueFactory = _ => QueryLoadOptions.DefaultUrl };
        var apiKey = new Option<string?>("--api-key") { Description = "A query API key (hush apikey create); sent as a bearer token, never printed. Omit in dev mode." };
        var tenant = new Option<string?>("--tenant") { Description = "X-Scope-OrgID to send, for a key holding several tenants." };
        var scenario = new Option<string>("--scenario") { Description = "trace (GET /api/v2/traces/{id}, protobuf as Grafana asks) or search (GET /api/search?q=...).", DefaultValueFactory = _ => "trace" };
        var concurrency = new Option<int>("--concurrency") { Description = $"Clients, each with one request in flight (1..{QueryLoadOptions.MaxConcurrency}).", DefaultValueFactory = _ => 4 };
        var duration = new Option<string>("--duration") { Description = "How long to run, e.g. 30s (at most 1h).", DefaultValueFactory = _ => "30s" };
        var requests = new Option<long?>("--requests") { Description = "Stop after this many requests, if sooner." };
        var traceIds = new Option<string>("--trace-ids") { Description = "FILE of trace ids (one a line; hush store fill --trace-ids writes one), or 'sample' to take them from one search first.", DefaultValueFactory = _ => "sample" };
        var sampleIds = new Option<int>("--sample-ids") { Description = "With --trace-ids sample: how many ids the sampling search asks for.", DefaultValueFactory = _ => 500 };
        var query = new Option<string>("--query") { Description = "The TraceQL query of --scenario search.", DefaultValueFactory = _ => QueryLoadOptions.DefaultSearch };
        var limit = new Option<int>("--limit") { Description = "Search limit (traces per answer).", DefaultValueFactory = _ => 20 };
        var start = new Option<long?>("--start") { Description = "Search window start, Unix seconds (default: --since before --end)." };
        var end = new Option<long?>("--end") { Description = "Search window end, Unix seconds (default: now)." };
        var since = new Option<string>("--since") { Description = "Search window length when --start is not given, e.g. 24h.", DefaultValueFactory = _ => "24h" };
        var timeout = new Option<string>("--timeout") { Description = "Per-request timeout.", DefaultValueFactory = _ => "10s" };
        var seed = new Option<int>("--seed") { Description = "Seed for the id choice.", DefaultValueFactory = _ => 42 };

        var command = new Command("query", "Load the query API (trace by id or search) with concurrent clients over loopback and report p50/p95/p99 and requests/s.");
        foreach (var option in new Option[] { url, apiKey, tenant, scenario, concurrency, duration, requests, traceIds, sampleIds, query, limit, start, end, since, timeout, seed })
        {
            command.Options.Add(option);
        }

        command.SetAction(async (r, cancellationToken) =>
        {
            var output = r.InvocationConfiguration.Output;
            var error = r.InvocationConfiguration.Error;
            if (Parse(r.GetValue(url)!, r.GetValue(apiKey), r.GetValue(tenant), r.GetValue(scenario)!, r.GetValue(concurrency), r.GetValue(duration)!, r.GetValue(requests), r.GetValue(traceIds)!, r.GetValue(sampleIds), r.GetValue(query)!, r.GetValue(limit), r.GetValue(start), r.GetValue(end), r.GetValue(since)!, r.GetValue(timeout)!, r.GetValue(seed), out var errors) is not { } options)
            {
                foreach (var e in errors)
                {
                    await error.WriteLineAsync("hush loadgen query: " + e);
                }

                return ExitUsage;
            }

            var report = await QueryLoadRunner.RunAsync(options, output, cancellationToken);
            report.WriteSummary(report.Problem is null ? output : error);
            return report.ExitCode;
        });
        return command;
    }

    /// <summary>Builds the options, or null with every error (none quotes the key).</summary>
    internal static QueryLoadOptions? Parse(
        string url, string? apiKey, string? tenant, string scenario, int concurrency, string duration, long? requests, string traceIds, int sampleIds,
        string query, int limit, long? start, long? end, string since, string timeout, int seed, out List<string> errors)
    {
        errors = [];
        QueryScenario? kind = scenario.Trim().ToLowerInvariant() switch
        {
            "trace" or "trace-by-id" => QueryScenario.TraceById,
            "search" => QueryScenario.Search,
            _ => null,
        };
        if (kind is null)
        {
            errors.Add("'--scenario' must be trace or search");
        }

        var runFor = Duration(duration, "--duration", errors);
        var window = Duration(since, "--since", errors);
        var perRequest = Duration(timeout, "--timeout", errors);
        var options = new QueryLoadOptions
        {
            Url = url,
            ApiKey = apiKey,
            Tenant = string.IsNullOrWhiteSpace(tenant) ? null : tenant.Trim(),
            Scenario = kind ?? QueryScenario.TraceById,
            Concurrency = concurrency,
            Duration = runFor,
            Requests = requests,
            TraceIdFile = string.Equals(traceIds.Trim(), "sample", StringComparison.OrdinalIgnoreCase) ? null : Path.GetFullPath(traceIds),
            SampleIds = sampleIds,
            SearchQuery = query,
            SearchLimit = limit,
            Start = start,
            End = end,
            Since = window,
            Timeout = perRequest,
            Seed = seed,
        };
        errors.AddRange(options.Validate());
        return errors.Count == 0 ? options : null;
    }

    /// <summary>A parsed duration; an unparsable one is reported here and stands in as 1 s so it is not reported twice.</summary>
    private static TimeSpan Duration(string text, string option, List<string> errors)
    {
        if (LoadgenCommand.TryParseDuration(text, out var value))
        {
            return value;
        }

        errors.Add($"'{option}' must be a duration such as 30s, 500ms or 2m");
        return TimeSpan.FromSeconds(1);
    }
}
