using System.Net;

namespace Hush.Cli.Loadgen.Query;

/// <summary>What <c>hush loadgen query</c> asks of the query API.</summary>
internal enum QueryScenario
{
    /// <summary><c>GET /api/v2/traces/{id}</c> with <c>Accept: application/protobuf</c>, as Grafana's Tempo data source sends it.</summary>
    TraceById,

    /// <summary><c>GET /api/search?q=...&amp;start=&amp;end=&amp;limit=</c> with one TraceQL query.</summary>
    Search,
}

/// <summary>Options of <c>hush loadgen query</c>. Bounded: loopback only, at most <see cref="MaxDuration"/> and <see cref="MaxConcurrency"/>.</summary>
internal sealed record QueryLoadOptions
{
    public const string DefaultUrl = "http://127.0.0.1:3200";

    public const string DefaultSearch = "{ resource.service.name = \"checkout\" && duration > 100ms && status = error }";

    /// <summary>A load run against a shared machine ends within the hour.</summary>
    public static readonly TimeSpan MaxDuration = TimeSpan.FromHours(1);

    /// <summary>More clients than this measure the client, not the server, on a small machine.</summary>
    public const int MaxConcurrency = 256;

    /// <summary>The most ids kept from a file or a sample: 10^6 ids are 32 MB of memory.</summary>
    public const int MaxTraceIds = 1_000_000;

    /// <summary>One sampling search returns at most this many ids (the API's own <c>max_search_limit</c> is 500 by default).</summary>
    public const int MaxSampleIds = 10_000;

    /// <summary>Largest response body read; a trace of 10,000 spans is ~10 MB of protobuf.</summary>
    public const int MaxResponseBytes = 64 << 20;

    public string Url { get; init; } = DefaultUrl;

    /// <summary>The API key (<c>hushk_...</c>); sent as a bearer token, never printed. Null in dev mode.</summary>
    public string? ApiKey { get; init; }

    /// <summary>Sent as <c>X-Scope-OrgID</c> when the key holds several tenants.</summary>
    public string? Tenant { get; init; }

    public QueryScenario Scenario { get; init; } = QueryScenario.TraceById;

    public int Concurrency { get; init; } = 4;

    public TimeSpan Duration { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Stop after this many requests (all clients together), if sooner than <see cref="Duration"/>.</summary>
    public long? Requests { get; init; }

    /// <summary>A file of ids (one a line), or null to sample ids with a search over the window first.</summary>
    public string? TraceIdFile { get; init; }

    /// <summary>Ids to collect by sampling when there is no file.</summary>
    public int SampleIds { get; init; } = 500;

    public string SearchQuery { get; init; } = DefaultSearch;

    public int SearchLimit { get; init; } = 20;

    /// <summary>Search window: <c>start</c>/<c>end</c> in Unix seconds; the last <see cref="Since"/> when null.</summary>
    public long? Start { get; init; }

    public long? End { get; init; }

    public TimeSpan Since { get; init; } = TimeSpan.FromHours(24);

    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(10);

    public int Seed { get; init; } = 42;

    /// <summary>Every problem at once; names the option, never echoes the key.</summary>
    public IEnumerable<string> Validate()
    {
        if (!Uri.TryCreate(Url, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https") || uri.Host.Length == 0)
        {
            yield return "'--url' must be an absolute http:// or https:// URL such as " + DefaultUrl;
        }
        else if (!IsLoopback(uri))
        {
            yield return "'--url' must be a loopback address (127.0.0.1, ::1 or localhost): the query load generator only measures a local Hush";
        }

        if (ApiKey is { } key && (key.Length == 0 || key.Any(char.IsWhiteSpace)))
        {
            yield return "'--api-key' must be one token without spaces (create one with: hush apikey create --tenant NAME --role engineer)";
        }

        if (Concurrency < 1 || Concurrency > MaxConcurrency)
        {
            yield return $"'--concurrency' must be between 1 and {MaxConcurrency}";
        }

        if (Duration <= TimeSpan.Zero || Duration > MaxDuration)
        {
            yield return "'--duration' must be greater than zero and at most 1h";
        }

        if (Requests is < 1)
        {
            yield return "'--requests' must be at least 1";
        }

        if (Timeout <= TimeSpan.Zero || Timeout > TimeSpan.FromMinutes(5))
        {
            yield return "'--timeout' must be greater than zero and at most 5m";
        }

        if (SampleIds < 1 || SampleIds > MaxSampleIds)
        {
            yield return $"'--sample-ids' must be between 1 and {MaxSampleIds}";
        }

        if (SearchLimit < 1 || SearchLimit > 10_000)
        {
            yield return "'--limit' must be between 1 and 10000";
        }

        if (string.IsNullOrWhiteSpace(SearchQuery))
        {
            yield return "'--query' must not be empty";
        }

        if (Start is { } s && End is { } e && e <= s)
        {
            yield return "'--end' must be after '--start'";
        }

        if (Since <= TimeSpan.Zero)
        {
            yield return "'--since' must be greater than zero";
        }
    }

    /// <summary>The search window in Unix seconds.</summary>
    public (long Start, long End) Window(DateTimeOffset now)
    {
        var end = End ?? now.ToUnixTimeSeconds() + 1;
        return (Start ?? end - (long)Math.Ceiling(Since.TotalSeconds), end);
    }

    internal static bool IsLoopback(Uri uri) =>
        uri.IsLoopback || (IPAddress.TryParse(uri.Host.Trim('[', ']'), out var ip) && IPAddress.IsLoopback(ip));
}
