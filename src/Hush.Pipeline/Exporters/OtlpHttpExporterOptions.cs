namespace Hush.Pipeline;

/// <summary>The body encoding of OTLP/HTTP requests.</summary>
public enum OtlpEncoding
{
    /// <summary><c>application/x-protobuf</c>.</summary>
    Protobuf,

    /// <summary><c>application/json</c> (OTLP/JSON).</summary>
    Json,
}

/// <summary>
/// Settings of an <see cref="OtlpHttpExporter"/> (<c>exporters.otlphttp/NAME.*</c> in config). Header values
/// are treated as secrets: no log line, error message or <c>ToString</c> prints them.
/// </summary>
public sealed record OtlpHttpExporterOptions
{
    /// <summary>
    /// The backend's base URL, such as <c>http://tempo:4318</c>. <c>/v1/traces</c> is appended unless
    /// <see cref="TracesPath"/> is set or the URL already ends with it.
    /// </summary>
    public Uri? Endpoint { get; init; }

    /// <summary>Overrides the request path (replacing the endpoint's path), such as <c>/otlp/v1/traces</c>.</summary>
    public string? TracesPath { get; init; }

    /// <summary>The body encoding.</summary>
    public OtlpEncoding Encoding { get; init; } = OtlpEncoding.Protobuf;

    /// <summary>Compress request bodies with gzip (<c>Content-Encoding: gzip</c>).</summary>
    public bool Gzip { get; init; } = true;

    /// <summary>Extra request headers, such as an authorization header. Values are never logged.</summary>
    public IReadOnlyDictionary<string, string> Headers { get; init; } = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);

    /// <summary>
    /// Per-tenant headers added to each request (such as <c>X-Scope-OrgID</c>), replacing a static header of the
    /// same name. Called with the batch's tenant, which comes from the verified identity; values are never logged.
    /// </summary>
    public Func<string, IEnumerable<KeyValuePair<string, string>>>? TenantHeaders { get; init; }

    /// <summary>Timeout of one HTTP attempt (connect, send, and read the response).</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Retry 429, 502, 503, 504 and connection errors with exponential backoff and jitter.</summary>
    public bool RetryEnabled { get; init; } = true;

    /// <summary>The first backoff delay (before jitter); it grows by 1.5x per attempt up to <see cref="MaxInterval"/>.</summary>
    public TimeSpan InitialInterval { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>The longest delay between two attempts, including one a backend asks for with <c>Retry-After</c>.</summary>
    public TimeSpan MaxInterval { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>A batch is given up (counted and logged) once retrying it would exceed this much time.</summary>
    public TimeSpan MaxElapsedTime { get; init; } = TimeSpan.FromSeconds(300);

    /// <summary>Batches waiting to be sent; when full, <see cref="OtlpHttpExporter.ExportAsync"/> waits (back-pressure).</summary>
    public int QueueSize { get; init; } = 1_000;

    /// <summary>Concurrent senders draining the queue.</summary>
    public int Consumers { get; init; } = 2;

    /// <summary>How long disposing waits for queued batches to be delivered before dropping (and counting) them.</summary>
    public TimeSpan ShutdownTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Upper bound of <see cref="Consumers"/>: each holds a connection to one backend.</summary>
    internal const int MaxConsumers = 64;

    /// <summary>Upper bound of <see cref="QueueSize"/>: 100,000 batches of 8,192 spans is already far past any memory budget.</summary>
    internal const int MaxQueueSize = 100_000;

    /// <summary>Headers the exporter sets itself.</summary>
    private static readonly string[] ReservedHeaders = ["Content-Type", "Content-Encoding", "Content-Length", "Host", "Transfer-Encoding"];

    /// <summary>Returns every problem at once, each quoting its key under <paramref name="keyPath"/>; never a header value.</summary>
    public IReadOnlyList<string> Validate(string keyPath)
    {
        var p = string.IsNullOrEmpty(keyPath) ? string.Empty : keyPath + ".";
        var errors = new List<string>();
        if (Endpoint is null)
        {
            errors.Add($"'{p}endpoint' is required");
        }
        else if (!Endpoint.IsAbsoluteUri || (Endpoint.Scheme != Uri.UriSchemeHttp && Endpoint.Scheme != Uri.UriSchemeHttps))
        {
            errors.Add($"'{p}endpoint' must be an absolute http or https URL");
        }
        else if (!string.IsNullOrEmpty(Endpoint.UserInfo))
        {
            errors.Add($"'{p}endpoint' must not contain credentials; put them in '{p}headers'");
        }

        if (TracesPath is not null && (TracesPath.Length == 0 || TracesPath[0] != '/' || TracesPath.Contains('?', StringComparison.Ordinal)))
        {
            errors.Add($"'{p}traces_path' must start with '/' and contain no query");
        }

        if (!Enum.IsDefined(Encoding))
        {
            errors.Add($"'{p}encoding' must be proto or json");
        }

        if (Headers is null)
        {
            errors.Add($"'{p}headers' must not be null");
        }
        else
        {
            var index = 0;
            foreach (var (name, value) in Headers)
            {
                if (!IsToken(name))
                {
                    errors.Add($"'{p}headers' entry {index} has an invalid header name (letters, digits and !#$%&'*+-.^_`|~ only)");
                }
                else if (Array.Exists(ReservedHeaders, r => string.Equals(r, name, StringComparison.OrdinalIgnoreCase)))
                {
                    errors.Add($"'{p}headers.{name}' is set by the exporter and cannot be configured");
                }
                else if (value is null || value.AsSpan().IndexOfAny('\r', '\n', '\0') >= 0)
                {
                    errors.Add($"'{p}headers.{name}' must be a single-line value");
                }

                index++;
            }
        }

        if (Timeout <= TimeSpan.Zero)
        {
            errors.Add($"'{p}timeout' must be greater than zero");
        }

        if (InitialInterval <= TimeSpan.Zero)
        {
            errors.Add($"'{p}retry_on_failure.initial_interval' must be greater than zero");
        }

        if (MaxInterval <= TimeSpan.Zero)
        {
            errors.Add($"'{p}retry_on_failure.max_interval' must be greater than zero");
        }
        else if (InitialInterval > MaxInterval)
        {
            errors.Add($"'{p}retry_on_failure.initial_interval' must not be greater than '{p}retry_on_failure.max_interval'");
        }

        if (MaxElapsedTime <= TimeSpan.Zero)
        {
            errors.Add($"'{p}retry_on_failure.max_elapsed_time' must be greater than zero");
        }

        if (QueueSize is <= 0 or > MaxQueueSize)
        {
            errors.Add($"'{p}sending_queue.queue_size' must be between 1 and {MaxQueueSize}");
        }

        if (Consumers is <= 0 or > MaxConsumers)
        {
            errors.Add($"'{p}sending_queue.num_consumers' must be between 1 and {MaxConsumers}");
        }

        if (ShutdownTimeout < TimeSpan.Zero)
        {
            errors.Add($"'{p}shutdown_timeout' must not be negative");
        }

        return errors;
    }

    /// <summary>The URL requests go to (valid options only).</summary>
    internal Uri ResolveTracesUrl()
    {
        var endpoint = Endpoint!;
        var builder = new UriBuilder(endpoint);
        if (TracesPath is not null)
        {
            builder.Path = TracesPath;
        }
        else if (!endpoint.AbsolutePath.EndsWith("/v1/traces", StringComparison.Ordinal))
        {
            builder.Path = endpoint.AbsolutePath.TrimEnd('/') + "/v1/traces";
        }

        return builder.Uri;
    }

    private static bool IsToken(string? name)
    {
        if (string.IsNullOrEmpty(name))
        {
            return false;
        }

        foreach (var c in name)
        {
            var ok = c is (>= 'a' and <= 'z') or (>= 'A' and <= 'Z') or (>= '0' and <= '9')
                or '!' or '#' or '$' or '%' or '&' or '\'' or '*' or '+' or '-' or '.' or '^' or '_' or '`' or '|' or '~';
            if (!ok)
            {
                return false;
            }
        }

        return true;
    }
}
