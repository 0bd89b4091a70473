using Hush.Otlp;

namespace Hush.Cli.Loadgen;

/// <summary>What the load generator does after one send.</summary>
internal enum SendDisposition
{
    /// <summary>Accepted (HTTP 2xx, grpc-status 0).</summary>
    Ok,

    /// <summary>Throttled or briefly unavailable (429, 502, 503, 504, UNAVAILABLE, RESOURCE_EXHAUSTED): back off and send again.</summary>
    Retryable,

    /// <summary>Failed, not worth repeating, but not the client's fault (other 5xx, connection error, timeout).</summary>
    Failed,

    /// <summary>The server refused the request as bad (4xx other than 429; INVALID_ARGUMENT, UNAUTHENTICATED...): the run fails.</summary>
    Permanent,
}

/// <summary>The result of one request.</summary>
/// <param name="Disposition">What to do next.</param>
/// <param name="Status">A short label for the report: <c>http 200</c>, <c>grpc 14 UNAVAILABLE</c>, <c>error ConnectionError</c>.</param>
/// <param name="Throttled">True for 429, 503, UNAVAILABLE and RESOURCE_EXHAUSTED: the server asked the client to slow down.</param>
/// <param name="RetryAfter">The server's requested delay (Retry-After, grpc-retry-pushback-ms, RetryInfo), when it gave one.</param>
/// <param name="RejectedSpans">Spans the server reported as rejected in a partial success.</param>
internal readonly record struct SendOutcome(SendDisposition Disposition, string Status, bool Throttled, TimeSpan? RetryAfter, long RejectedSpans);

/// <summary>One way of delivering encoded requests (OTLP/HTTP or OTLP/gRPC). Thread-safe.</summary>
internal interface ITraceTransport : IDisposable
{
    /// <summary>The request body exactly as it goes on the wire (encoded, compressed, framed).</summary>
    byte[] Encode(TraceRequest request);

    /// <summary>Sends one body. Never throws for server or network failures, only for <paramref name="cancellationToken"/>.</summary>
    Task<SendOutcome> SendAsync(byte[] body, CancellationToken cancellationToken);
}
