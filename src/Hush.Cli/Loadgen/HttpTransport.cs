using System.IO.Compression;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Security;
using Hush.Otlp;

namespace Hush.Cli.Loadgen;

/// <summary>OTLP/HTTP: <c>POST /v1/traces</c> with a protobuf or OTLP/JSON body, optionally gzip-compressed.</summary>
internal sealed class HttpTransport : ITraceTransport
{
    /// <summary>An export response is a few bytes; anything over 1 MiB is not an OTLP server.</summary>
    internal const int MaxResponseBytes = 1 << 20;

    /// <summary>Longest back-off a server may ask for; a longer Retry-After is clamped so a run stays bounded.</summary>
    internal static readonly TimeSpan MaxRetryAfter = TimeSpan.FromSeconds(30);

    private static readonly MediaTypeHeaderValue Protobuf = new("application/x-protobuf");
    private static readonly MediaTypeHeaderValue Json = new("application/json");

    private readonly HttpClient _client;
    private readonly Uri _target;
    private readonly bool _json;
    private readonly bool _gzip;
    private readonly IReadOnlyList<KeyValuePair<string, string>> _headers;
    private readonly TimeSpan _timeout;
    private readonly TimeProvider _time;

    public HttpTransport(LoadgenOptions options, TimeProvider timeProvider, HttpMessageHandler? handler = null)
    {
        _target = options.ResolveTarget();
        _json = options.Protocol == LoadgenProtocol.HttpJson;
        _gzip = options.Gzip;
        _headers = options.Headers;
        _timeout = options.Timeout;
        _time = timeProvider;
        _client = new HttpClient(handler ?? CreateHandler(options), disposeHandler: true)
        {
            Timeout = System.Threading.Timeout.InfiniteTimeSpan,
            MaxResponseContentBufferSize = MaxResponseBytes,
            DefaultRequestVersion = HttpVersion.Version11,
            DefaultVersionPolicy = HttpVersionPolicy.RequestVersionOrHigher,
        };
    }

    public byte[] Encode(TraceRequest request)
    {
        var body = _json ? OtlpJson.Encode(request) : OtlpProtobuf.Encode(request);
        return _gzip ? Gzip(body) : body;
    }

    public async Task<SendOutcome> SendAsync(byte[] body, CancellationToken cancellationToken)
    {
        using var content = new ByteArrayContent(body);
        content.Headers.ContentType = _json ? Json : Protobuf;
        if (_gzip)
        {
            content.Headers.ContentEncoding.Add("gzip");
        }

        using var message = new HttpRequestMessage(HttpMethod.Post, _target) { Content = content };
        foreach (var (name, value) in _headers)
        {
            message.Headers.TryAddWithoutValidation(name, value);
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_timeout);
        try
        {
            using var response = await _client.SendAsync(message, HttpCompletionOption.ResponseContentRead, timeout.Token);
            var status = (int)response.StatusCode;
            var label = "http " + status.ToString(System.Globalization.CultureInfo.InvariantCulture);
            if (response.IsSuccessStatusCode)
            {
                var bytes = await response.Content.ReadAsByteArrayAsync(timeout.Token);
                return new SendOutcome(SendDisposition.Ok, label, false, null, RejectedSpans(bytes, response.Content.Headers.ContentType?.MediaType));
            }

            return status switch
            {
                429 or 503 => new SendOutcome(SendDisposition.Retryable, label, true, RetryAfter(response.Headers.RetryAfter), 0),
                502 or 504 => new SendOutcome(SendDisposition.Retryable, label, false, RetryAfter(response.Headers.RetryAfter), 0),
                >= 400 and < 500 => new SendOutcome(SendDisposition.Permanent, label, false, null, 0),
                _ => new SendOutcome(SendDisposition.Failed, label, false, null, 0),
            };
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return new SendOutcome(SendDisposition.Failed, "error timeout", false, null, 0);
        }
        catch (HttpRequestException e)
        {
            // The error kind only: messages can quote the endpoint, never a header, but keep the label small and stable.
            return new SendOutcome(SendDisposition.Failed, "error " + e.HttpRequestError, false, null, 0);
        }
    }

    public void Dispose() => _client.Dispose();

    [System.Diagnostics.CodeAnalysis.SuppressMessage("Security", "CA5359", Justification = "Only with --insecure, for self-signed test gateways; off by default.")]
    internal static SocketsHttpHandler CreateHandler(LoadgenOptions options)
    {
        var handler = new SocketsHttpHandler
        {
            AutomaticDecompression = DecompressionMethods.None,
            EnableMultipleHttp2Connections = true,
            MaxConnectionsPerServer = options.Concurrency,
            PooledConnectionIdleTimeout = TimeSpan.FromSeconds(30),
            ConnectTimeout = options.Timeout,
            UseCookies = false,
            AllowAutoRedirect = false,
        };
        if (options.Insecure)
        {
            handler.SslOptions = new SslClientAuthenticationOptions { RemoteCertificateValidationCallback = static (_, _, _, _) => true };
        }

        return handler;
    }

    internal static byte[] Gzip(byte[] body)
    {
        using var output = new MemoryStream((body.Length / 4) + 64);
        using (var gzip = new GZipStream(output, CompressionLevel.Fastest, leaveOpen: true))
        {
            gzip.Write(body);
        }

        return output.ToArray();
    }

    internal static TimeSpan? Clamp(TimeSpan? delay) =>
        delay is not { } d ? null : d < TimeSpan.Zero ? TimeSpan.Zero : d > MaxRetryAfter ? MaxRetryAfter : d;

    private TimeSpan? RetryAfter(RetryConditionHeaderValue? header) => header switch
    {
        { Delta: { } delta } => Clamp(delta),
        { Date: { } date } => Clamp(date - _time.GetUtcNow()),
        _ => null,
    };

    private static long RejectedSpans(byte[] body, string? mediaType)
    {
        if (body.Length == 0)
        {
            return 0;
        }

        try
        {
            var response = mediaType is not null && mediaType.Contains("json", StringComparison.OrdinalIgnoreCase)
                ? OtlpJson.DecodeExportResponse(body)
                : OtlpProtobuf.DecodeExportResponse(body);
            return response.PartialSuccess?.RejectedSpans ?? 0;
        }
        catch (OtlpDecodeException)
        {
            // A 2xx with a body we cannot read still means "accepted".
            return 0;
        }
    }
}
