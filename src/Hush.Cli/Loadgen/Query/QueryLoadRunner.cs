using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Hush.Cli.StoreBench;

namespace Hush.Cli.Loadgen.Query;

/// <summary>What a <c>hush loadgen query</c> run measured.</summary>
internal sealed record QueryLoadReport
{
    public const int ExitOk = 0;

    /// <summary>Nothing succeeded, the credential was refused, or the server could not be reached.</summary>
    public const int ExitFailed = 1;

    public required QueryScenario Scenario { get; init; }

    public required int Concurrency { get; init; }

    public TimeSpan Elapsed { get; init; }

    public long Requests { get; init; }

    public long Ok { get; init; }

    /// <summary>4xx answers (404 for an id not stored, 400 for a query the API refuses, 401/403/429).</summary>
    public long ClientErrors { get; init; }

    /// <summary>5xx answers, timeouts and connection errors.</summary>
    public long Failures { get; init; }

    /// <summary>401 and 403: the key is wrong, revoked, or lacks the role.</summary>
    public long Refused { get; init; }

    public long BytesReceived { get; init; }

    public IReadOnlyDictionary<string, long> ByStatus { get; init; } = new Dictionary<string, long>();

    /// <summary>Percentiles of the 2xx answers.</summary>
    public LatencySummary? OkLatency { get; init; }

    /// <summary>Percentiles of every answer, errors included.</summary>
    public LatencySummary? AllLatency { get; init; }

    /// <summary>Why the run did not start (unreachable server, refused key, no ids), or null.</summary>
    public string? Problem { get; init; }

    public int ExitCode => Problem is not null || Ok == 0 || Refused > 0 ? ExitFailed : ExitOk;

    public void WriteSummary(TextWriter output)
    {
        if (Problem is not null)
        {
            output.WriteLine("hush loadgen query: " + Problem);
            return;
        }

        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{(Scenario == QueryScenario.TraceById ? "trace by id" : "search")}, {Concurrency} clients, {Elapsed.TotalSeconds:0.0} s"));
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  requests       {Requests} ({Requests / Math.Max(Elapsed.TotalSeconds, 1e-9):0.0}/s), ok {Ok}, 4xx {ClientErrors}, failed {Failures}"));
        output.WriteLine($"  by status      {LoadgenReport.Statuses(ByStatus)}");
        output.WriteLine($"  latency (2xx)  {(OkLatency is { Count: > 0 } ok ? ok.ToString() : "none")}");
        output.WriteLine($"  latency (all)  {AllLatency}");
        output.WriteLine($"  bytes received {LoadgenReport.Bytes(BytesReceived)}");
        if (Refused > 0)
        {
            output.WriteLine("  the API refused the credential (401/403): create a key with 'hush apikey create --tenant NAME --role engineer' and pass it with --api-key");
        }

        output.WriteLine($"  result         {(ExitCode == ExitOk ? "ok" : "FAILED")}");
    }
}

/// <summary>
/// <c>hush loadgen query</c>: concurrent clients against a running Hush's Tempo-compatible query API, each sending its
/// next request as soon as the last one was answered (closed loop), for a fixed time or request count. Trace by id
/// fetches random ids (from a file, or sampled with one search first) as Grafana does; search repeats one TraceQL query
/// over a window. A preflight request to <c>/api/status/buildinfo</c> turns an unreachable server or a refused key
/// into one clear error instead of a run of failures.
/// </summary>
[SuppressMessage("Security", "CA5394:Do not use insecure randomness", Justification = "Load-test id choice must be reproducible.")]
internal static class QueryLoadRunner
{
    private static readonly MediaTypeWithQualityHeaderValue ProtobufAccept = new("application/protobuf");

    public static async Task<QueryLoadReport> RunAsync(QueryLoadOptions options, TextWriter output, CancellationToken cancellationToken, HttpMessageHandler? handler = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        using var client = CreateClient(options, handler);
        var baseUri = new Uri(options.Url.TrimEnd('/') + "/");
        var empty = new QueryLoadReport { Scenario = options.Scenario, Concurrency = options.Concurrency };

        var (preflight, problem) = await SendAsync(client, new Uri(baseUri, "api/status/buildinfo"), protobuf: false, options.Timeout, cancellationToken);
        if (problem is not null)
        {
            return empty with { Problem = $"cannot reach {options.Url} ({problem}): is 'hush serve' running? Its query API is on the admin port (3200 by default)" };
        }

        if (preflight is 401 or 403)
        {
            return empty with
            {
                Problem = options.ApiKey is null
                    ? $"the query API answered {preflight}: it needs a key; pass --api-key (create one with 'hush apikey create --tenant NAME --role engineer')"
                    : $"the query API refused the key ({preflight}): it is unknown, revoked, or lacks a role; create one with 'hush apikey create --tenant NAME --role engineer'",
            };
        }

        if (preflight is not (>= 200 and < 300))
        {
            return empty with { Problem = $"{options.Url} answered {preflight} to /api/status/buildinfo: is it a Hush query API?" };
        }

        var (start, end) = options.Window(DateTimeOffset.UtcNow);
        var window = string.Create(CultureInfo.InvariantCulture, $"start={start}&end={end}");
        Func<Random, Uri> next;
        if (options.Scenario == QueryScenario.TraceById)
        {
            var ids = await TraceIdsAsync(client, baseUri, options, window, cancellationToken);
            if (ids.Problem is not null)
            {
                return empty with { Problem = ids.Problem };
            }

            output.WriteLine($"trace by id over {ids.Ids.Count} ids ({(options.TraceIdFile is null ? "sampled with a search" : "from " + options.TraceIdFile)})");
            var uris = ids.Ids.Select(id => new Uri(baseUri, "api/v2/traces/" + id)).ToArray();
            next = random => uris[random.Next(uris.Length)];
        }
        else
        {
            var uri = new Uri(baseUri, string.Create(CultureInfo.InvariantCulture, $"api/search?q={Uri.EscapeDataString(options.SearchQuery)}&{window}&limit={options.SearchLimit}"));
            output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"search over unix {start}..{end}, limit {options.SearchLimit}"));
            next = _ => uri;
        }

        return await LoadAsync(client, options, next, cancellationToken);
    }

    private static async Task<QueryLoadReport> LoadAsync(HttpClient client, QueryLoadOptions options, Func<Random, Uri> next, CancellationToken cancellationToken)
    {
        var ok = new LatencyHistogram();
        var all = new LatencyHistogram();
        var byStatus = new ConcurrentDictionary<string, long>(StringComparer.Ordinal);
        long issued = 0, done = 0, okCount = 0, clientErrors = 0, failures = 0, refused = 0, bytes = 0, maxOkTicks = 0, maxTicks = 0;
        var budget = options.Requests ?? long.MaxValue;
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        stop.CancelAfter(options.Duration);
        var watch = Stopwatch.StartNew();
        var workers = Enumerable.Range(0, options.Concurrency).Select(w => Task.Run(
            async () =>
            {
                var random = new Random(options.Seed + w);
                while (!stop.IsCancellationRequested && Interlocked.Increment(ref issued) <= budget)
                {
                    var started = Stopwatch.GetTimestamp();
                    var (status, problem, received) = await SendCountedAsync(client, next(random), options.Scenario == QueryScenario.TraceById, options.Timeout, stop.Token);
                    var latency = Stopwatch.GetElapsedTime(started);
                    if (problem == "cancelled")
                    {
                        // The run's own deadline cut this request off: it is not a server failure.
                        break;
                    }

                    Interlocked.Increment(ref done);
                    Interlocked.Add(ref bytes, received);
                    byStatus.AddOrUpdate(problem is null ? "http " + status.ToString(CultureInfo.InvariantCulture) : "error " + problem, 1, static (_, n) => n + 1);
                    all.Record(latency);
                    Max(ref maxTicks, latency.Ticks);
                    if (problem is null && status is >= 200 and < 300)
                    {
                        Interlocked.Increment(ref okCount);
                        ok.Record(latency);
                        Max(ref maxOkTicks, latency.Ticks);
                    }
                    else if (problem is null && status is >= 400 and < 500)
                    {
                        Interlocked.Increment(ref clientErrors);
                        if (status is 401 or 403)
                        {
                            Interlocked.Increment(ref refused);
                        }
                    }
                    else
                    {
                        Interlocked.Increment(ref failures);
                    }
                }
            },
            CancellationToken.None)).ToArray();
        await Task.WhenAll(workers);
        var elapsed = watch.Elapsed;
        return new QueryLoadReport
        {
            Scenario = options.Scenario,
            Concurrency = options.Concurrency,
            Elapsed = elapsed,
            Requests = done,
            Ok = okCount,
            ClientErrors = clientErrors,
            Failures = failures,
            Refused = refused,
            BytesReceived = bytes,
            ByStatus = new Dictionary<string, long>(byStatus, StringComparer.Ordinal),
            OkLatency = LatencySummary.Of(ok, elapsed, TimeSpan.FromTicks(maxOkTicks)),
            AllLatency = LatencySummary.Of(all, elapsed, TimeSpan.FromTicks(maxTicks)),
        };

        static void Max(ref long target, long value)
        {
            var current = Interlocked.Read(ref target);
            while (value > current && Interlocked.CompareExchange(ref target, value, current) is var seen && seen != current)
            {
                current = seen;
            }
        }
    }

    /// <summary>The ids to fetch: the file's, or those of one search over the window.</summary>
    private static async Task<(IReadOnlyList<string> Ids, string? Problem)> TraceIdsAsync(HttpClient client, Uri baseUri, QueryLoadOptions options, string window, CancellationToken cancellationToken)
    {
        if (options.TraceIdFile is { } path)
        {
            if (!File.Exists(path))
            {
                return ([], $"'--trace-ids' {path} does not exist");
            }

            var parsed = StoreReadBench.ReadIds(path, out var errors);
            if (errors.Count > 0 || parsed.Count == 0)
            {
                return ([], $"'--trace-ids' {path}: {(errors.Count > 0 ? errors[0] : "no trace id in the file")}");
            }

            return ([.. parsed.Take(QueryLoadOptions.MaxTraceIds).Select(id => id.ToString())], null);
        }

        var uri = new Uri(baseUri, string.Create(CultureInfo.InvariantCulture, $"api/search?q={Uri.EscapeDataString("{}")}&{window}&limit={options.SampleIds}"));
        using var request = Request(uri, protobuf: false);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(options.Timeout * 3);
        try
        {
            using var response = await client.SendAsync(request, timeout.Token);
            if (!response.IsSuccessStatusCode)
            {
                return ([], $"the sampling search answered {(int)response.StatusCode}; give ids with --trace-ids FILE (hush store fill --trace-ids writes one)");
            }

            using var json = JsonDocument.Parse(await response.Content.ReadAsByteArrayAsync(timeout.Token));
            var ids = new List<string>();
            if (json.RootElement.TryGetProperty("traces", out var traces) && traces.ValueKind == JsonValueKind.Array)
            {
                foreach (var trace in traces.EnumerateArray())
                {
                    if (trace.TryGetProperty("traceID", out var id) && id.GetString() is { Length: > 0 and <= 32 } text && text.All(char.IsAsciiHexDigit))
                    {
                        ids.Add(text);
                    }
                }
            }

            return ids.Count > 0 ? (ids, null) : ([], "the sampling search found no trace in the window; widen --since or give --trace-ids FILE");
        }
        catch (Exception e) when (e is HttpRequestException or JsonException or OperationCanceledException)
        {
            return ([], $"the sampling search failed ({e.GetType().Name}); give ids with --trace-ids FILE");
        }
    }

    /// <summary>One request: (status, null, 0) or (0, problem, 0) with a stable problem label.</summary>
    private static async Task<(int Status, string? Problem)> SendAsync(HttpClient client, Uri uri, bool protobuf, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var (status, problem, _) = await SendCountedAsync(client, uri, protobuf, timeout, cancellationToken);
        return (status, problem);
    }

    private static async Task<(int Status, string? Problem, long Bytes)> SendCountedAsync(HttpClient client, Uri uri, bool protobuf, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var request = Request(uri, protobuf);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        try
        {
            using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, deadline.Token);
            await using var body = await response.Content.ReadAsStreamAsync(deadline.Token);
            var buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(64 * 1024);
            long total = 0;
            try
            {
                int read;
                while ((read = await body.ReadAsync(buffer, deadline.Token)) > 0)
                {
                    total += read;
                    if (total > QueryLoadOptions.MaxResponseBytes)
                    {
                        return (0, "response_too_large", total);
                    }
                }
            }
            finally
            {
                // The buffer held trace content.
                System.Buffers.ArrayPool<byte>.Shared.Return(buffer, clearArray: true);
            }

            return ((int)response.StatusCode, null, total);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return (0, "cancelled", 0);
        }
        catch (OperationCanceledException)
        {
            return (0, "timeout", 0);
        }
        catch (HttpRequestException e)
        {
            return (0, e.HttpRequestError.ToString(), 0);
        }
        catch (IOException)
        {
            return (0, "io", 0);
        }
    }

    private static HttpRequestMessage Request(Uri uri, bool protobuf)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, uri);
        if (protobuf)
        {
            request.Headers.Accept.Add(ProtobufAccept);
        }

        return request;
    }

    private static HttpClient CreateClient(QueryLoadOptions options, HttpMessageHandler? handler)
    {
        var client = new HttpClient(handler ?? new SocketsHttpHandler
        {
            AutomaticDecompression = DecompressionMethods.None,
            MaxConnectionsPerServer = options.Concurrency + 1,
            PooledConnectionIdleTimeout = TimeSpan.FromSeconds(30),
            ConnectTimeout = options.Timeout,
            UseCookies = false,
            AllowAutoRedirect = false,
        }, disposeHandler: true)
        {
            Timeout = System.Threading.Timeout.InfiniteTimeSpan,
            MaxResponseContentBufferSize = QueryLoadOptions.MaxResponseBytes,
            DefaultRequestVersion = HttpVersion.Version11,
        };
        if (options.ApiKey is { } key)
        {
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        }

        if (options.Tenant is { } tenant)
        {
            client.DefaultRequestHeaders.TryAddWithoutValidation("X-Scope-OrgID", tenant);
        }

        return client;
    }
}
