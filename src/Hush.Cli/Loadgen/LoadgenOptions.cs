namespace Hush.Cli.Loadgen;

/// <summary>How <c>hush loadgen</c> puts spans on the wire.</summary>
internal enum LoadgenProtocol
{
    /// <summary>OTLP/HTTP with a protobuf body (<c>http/protobuf</c>).</summary>
    HttpProtobuf,

    /// <summary>OTLP/HTTP with an OTLP/JSON body (<c>http/json</c>).</summary>
    HttpJson,

    /// <summary>OTLP/gRPC over HTTP/2: h2c for <c>http://</c>, TLS for <c>https://</c> (<c>grpc</c>).</summary>
    Grpc,
}

/// <summary>
/// Everything <c>hush loadgen</c> needs, with the command line's defaults. Keys in validation
/// errors are the command-line option names.
/// </summary>
internal sealed record LoadgenOptions
{
    /// <summary>Most spans in one request: 64k spans of ~2 KB each is already a 128 MB body.</summary>
    public const int MaxBatch = 65_536;

    /// <summary>More in-flight requests than this only measures the client's own scheduling.</summary>
    public const int MaxConcurrency = 1_024;

    /// <summary>A day: anything longer is a soak test that wants a real tool.</summary>
    public static readonly TimeSpan MaxDuration = TimeSpan.FromDays(1);

    /// <summary>Default run length when neither <c>--duration</c> nor <c>--spans</c> is given.</summary>
    public static readonly TimeSpan DefaultDuration = TimeSpan.FromSeconds(10);

    /// <summary>OTLP/HTTP collector endpoint, or the gRPC server's base address.</summary>
    public string Endpoint { get; init; } = "http://127.0.0.1:4318";

    public LoadgenProtocol Protocol { get; init; } = LoadgenProtocol.HttpProtobuf;

    /// <summary>Compress bodies (HTTP <c>Content-Encoding: gzip</c>; gRPC <c>grpc-encoding: gzip</c>).</summary>
    public bool Gzip { get; init; }

    /// <summary>Target spans per second; 0 sends flat out.</summary>
    public int Rate { get; init; }

    /// <summary>How long to send. Null with <see cref="Spans"/> set means "until the spans are sent".</summary>
    public TimeSpan? Duration { get; init; }

    /// <summary>Exact number of spans to send; null means "until the duration ends".</summary>
    public long? Spans { get; init; }

    public int Batch { get; init; } = 512;

    public int Concurrency { get; init; } = 4;

    /// <summary>Extra request headers (e.g. authorization). Values are secrets: never printed.</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Headers { get; init; } = [];

    public int Services { get; init; } = 5;

    public int Seed { get; init; } = 42;

    /// <summary>Fraction of spans that carry one planted PII value or secret.</summary>
    public double PiiRatio { get; init; } = 0.05;

    /// <summary>Per-request timeout.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Accept any TLS server certificate (self-signed test gateways).</summary>
    public bool Insecure { get; init; }

    /// <summary>How often a progress line is printed.</summary>
    public TimeSpan ReportInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Attempts per request when the server answers 429/503/UNAVAILABLE (the first send included).</summary>
    public int MaxAttempts { get; init; } = 5;

    /// <summary>The run length that applies: <see cref="Duration"/>, else 10 s unless <see cref="Spans"/> bounds the run.</summary>
    public TimeSpan? EffectiveDuration => Duration ?? (Spans is null ? DefaultDuration : null);

    /// <summary>Checks every option and returns every problem at once; empty when valid.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (!Uri.TryCreate(Endpoint, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
        {
            errors.Add("'--endpoint' must be an absolute http or https URL, e.g. http://127.0.0.1:4318");
        }
        else if (!string.IsNullOrEmpty(uri.Query) || !string.IsNullOrEmpty(uri.UserInfo))
        {
            errors.Add("'--endpoint' must not carry a query or user info; pass credentials with '--header'");
        }

        if (!Enum.IsDefined(Protocol))
        {
            errors.Add("'--protocol' must be one of http/protobuf, http/json, grpc");
        }

        if (Rate < 0)
        {
            errors.Add("'--rate' must be zero (flat out) or a positive number of spans per second");
        }

        if (Duration is { } d && (d <= TimeSpan.Zero || d > MaxDuration))
        {
            errors.Add("'--duration' must be greater than zero and at most 24h");
        }

        if (Spans is { } s && s <= 0)
        {
            errors.Add("'--spans' must be a positive number of spans");
        }

        if (Batch is < 1 or > MaxBatch)
        {
            errors.Add($"'--batch' must be between 1 and {MaxBatch} spans");
        }

        if (Concurrency is < 1 or > MaxConcurrency)
        {
            errors.Add($"'--concurrency' must be between 1 and {MaxConcurrency}");
        }

        if (Services is < 1 or > SpanMixGenerator.MaxServices)
        {
            errors.Add($"'--services' must be between 1 and {SpanMixGenerator.MaxServices}");
        }

        if (double.IsNaN(PiiRatio) || PiiRatio < 0 || PiiRatio > 1)
        {
            errors.Add("'--pii-ratio' must be between 0 and 1");
        }

        if (Timeout <= TimeSpan.Zero || Timeout > TimeSpan.FromMinutes(10))
        {
            errors.Add("'--timeout' must be greater than zero and at most 10m");
        }

        if (ReportInterval <= TimeSpan.Zero)
        {
            errors.Add("'--report-interval' must be greater than zero");
        }

        if (MaxAttempts is < 1 or > 100)
        {
            errors.Add("'--max-attempts' must be between 1 and 100");
        }

        for (var i = 0; i < Headers.Count; i++)
        {
            var name = Headers[i].Key;
            if (string.IsNullOrWhiteSpace(name) || !IsToken(name))
            {
                // The position, not the header: a mistyped 'k=v' may have put a secret on the left.
                errors.Add($"'--header' #{i + 1} must be name=value with a valid HTTP header name");
            }
            else if (Headers[i].Value.AsSpan().IndexOfAny('\r', '\n', '\0') >= 0)
            {
                errors.Add($"'--header' #{i + 1} ('{name}') has a value with a line break or NUL");
            }
        }

        return errors;
    }

    /// <summary>Parses one <c>--header name=value</c> (also <c>name: value</c>); false when there is no separator.</summary>
    public static bool TryParseHeader(string text, out KeyValuePair<string, string> header)
    {
        var eq = text.IndexOf('=', StringComparison.Ordinal);
        var colon = text.IndexOf(':', StringComparison.Ordinal);
        var at = eq < 0 ? colon : colon < 0 ? eq : Math.Min(eq, colon);
        if (at <= 0)
        {
            header = default;
            return false;
        }

        header = new(text[..at].Trim(), text[(at + 1)..].Trim());
        return true;
    }

    /// <summary>Parses <c>http/protobuf</c>, <c>http/json</c> or <c>grpc</c> (the OTEL_EXPORTER_OTLP_PROTOCOL names).</summary>
    public static bool TryParseProtocol(string? text, out LoadgenProtocol protocol)
    {
        switch (text?.Trim().ToLowerInvariant())
        {
            case "http/protobuf" or "http" or "protobuf":
                protocol = LoadgenProtocol.HttpProtobuf;
                return true;
            case "http/json" or "json":
                protocol = LoadgenProtocol.HttpJson;
                return true;
            case "grpc":
                protocol = LoadgenProtocol.Grpc;
                return true;
            default:
                protocol = default;
                return false;
        }
    }

    /// <summary>The URL requests go to: OTLP/HTTP appends <c>/v1/traces</c> to a bare base address; gRPC appends the Export method path.</summary>
    public Uri ResolveTarget()
    {
        var uri = new Uri(Endpoint, UriKind.Absolute);
        var path = uri.AbsolutePath;
        if (Protocol == LoadgenProtocol.Grpc)
        {
            var basePath = path.TrimEnd('/');
            return new Uri(uri, basePath + GrpcTransport.ExportPath);
        }

        return path is "" or "/" ? new Uri(uri, "/v1/traces") : uri;
    }

    private static bool IsToken(string name)
    {
        foreach (var c in name)
        {
            // RFC 9110 tchar.
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
