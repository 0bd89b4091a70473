using Hush.Gateway.Authentication;
using Hush.Gateway.Configuration;
using Hush.Otlp;
using Hush.Pipeline;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;
using Microsoft.Net.Http.Headers;

namespace Hush.Gateway.Receivers;

/// <summary>
/// OTLP/HTTP: <c>POST /v1/traces</c> with protobuf or JSON, optionally gzip. Answers per the OTLP
/// spec: 200 (with partial success when spans were rejected), 400 with a <c>google.rpc.Status</c>
/// in the request's encoding for bad data, 413, 415, 405, and 429/503 with Retry-After.
/// </summary>
internal sealed class OtlpHttpReceiver
{
    public const string TracesPath = "/v1/traces";

    private const string Protobuf = "application/x-protobuf";
    private const string Json = "application/json";

    // google.rpc.Code values used in Status bodies.
    private const int InvalidArgument = 3;
    private const int PermissionDenied = 7;
    private const int ResourceExhausted = 8;
    private const int Unavailable = 14;
    private const int Unauthenticated = 16;

    private readonly HttpProtocolConfig _config;
    private readonly IngestGate _gate;
    private readonly ReceiverMetrics _metrics;
    private readonly ILogger _logger;

    public OtlpHttpReceiver(HttpProtocolConfig config, IngestGate gate, HushMetrics metrics, ILogger logger)
    {
        _config = config;
        _gate = gate;
        _metrics = new ReceiverMetrics(metrics, "http");
        _logger = logger;
    }

    public async Task HandleAsync(HttpContext context)
    {
        var request = context.Request;
        var response = context.Response;
        if (!string.Equals(request.Path.Value, TracesPath, StringComparison.Ordinal))
        {
            _metrics.Outcome("not_found");
            await PlainAsync(response, StatusCodes.Status404NotFound, "not found: OTLP/HTTP traces go to POST /v1/traces");
            return;
        }

        if (!HttpMethods.IsPost(request.Method))
        {
            _metrics.Outcome("method_not_allowed");
            response.Headers.Allow = "POST";
            await PlainAsync(response, StatusCodes.Status405MethodNotAllowed, "method not allowed: use POST");
            return;
        }

        var json = IsJsonish(request.ContentType);
        var (identity, refusal) = await _gate.AuthenticateAsync(context, IngestTransport.Http);
        if (identity is null)
        {
            await RefuseAsync(response, json, refusal, 0);
            return;
        }

        if (!TryGetFormat(request.ContentType, out json))
        {
            Refuse(RefusalReason.UnsupportedMediaType, "content type");
            await PlainAsync(response, StatusCodes.Status415UnsupportedMediaType, "unsupported content type: send application/x-protobuf or application/json");
            return;
        }

        bool gzip;
        var encoding = request.Headers.ContentEncoding.ToString().Trim();
        if (encoding.Length == 0 || encoding.Equals("identity", StringComparison.OrdinalIgnoreCase))
        {
            gzip = false;
        }
        else if (encoding.Equals("gzip", StringComparison.OrdinalIgnoreCase))
        {
            gzip = true;
        }
        else
        {
            Refuse(RefusalReason.UnsupportedMediaType, "content encoding");
            response.Headers.AcceptEncoding = "gzip, identity";
            await StatusAsync(response, json, StatusCodes.Status415UnsupportedMediaType, InvalidArgument, "unsupported Content-Encoding: send gzip or identity");
            return;
        }

        // Our cap replaces Kestrel's: it applies after decompression too.
        if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } sizeFeature)
        {
            sizeFeature.MaxRequestBodySize = null;
        }

        var maxBytes = _gate.MaxRequestBytes(identity, _config.MaxRequestBodySize);
        var counting = new CountingStream(request.Body);
        BodyReadStatus status;
        PooledBuffer? body;
        try
        {
            (status, body) = await BoundedBodyReader.ReadAsync(counting, gzip, maxBytes, request.ContentLength, context.RequestAborted);
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException)
        {
            // The client went away or was too slow (Kestrel's minimum data rate); nothing was accepted.
            _metrics.RequestBytes.Add(counting.BytesRead);
            _metrics.Outcome("aborted");
            var exceptionType = ex.GetType().Name;
            Log.ReadFailed(_logger, "http", exceptionType);
            if (!response.HasStarted)
            {
                response.StatusCode = ex is BadHttpRequestException bad ? bad.StatusCode : StatusCodes.Status400BadRequest;
            }

            return;
        }

        _metrics.RequestBytes.Add(counting.BytesRead);
        if (status == BodyReadStatus.TooLarge)
        {
            Refuse(RefusalReason.TooLarge, "body over the limit");
            if (HttpProtocol.IsHttp11(request.Protocol) || HttpProtocol.IsHttp10(request.Protocol))
            {
                // The rest of the body is not read: close rather than drain it (HTTP/2 resets the stream instead).
                response.Headers.Connection = "close";
            }

            await StatusAsync(response, json, StatusCodes.Status413PayloadTooLarge, ResourceExhausted,
                $"request body is larger than the limit of {maxBytes} bytes (before or after decompression)");
            return;
        }

        if (status == BodyReadStatus.BadCompression)
        {
            Refuse(RefusalReason.DecodeError, "bad gzip");
            await StatusAsync(response, json, StatusCodes.Status400BadRequest, InvalidArgument, "request body is not valid gzip");
            return;
        }

        if (_gate.TakeRate(identity, body!.Length) is { } throttled)
        {
            body.Dispose();
            await RefuseAsync(response, json, throttled, 0);
            return;
        }

        TraceRequest traces;
        try
        {
            traces = _gate.Decode(body!, json, identity);
        }
        catch (OtlpDecodeException ex)
        {
            _metrics.Refuse(RefusalReason.DecodeError);
            Log.DecodeFailed(_logger, "http", ex.Message);
            await StatusAsync(response, json, StatusCodes.Status400BadRequest, InvalidArgument, ex.Message);
            return;
        }

        var spans = traces.CountSpans();
        _metrics.SpansReceived.Add(spans);
        if (traces.IsWireForm)
        {
            _metrics.SpansUndecoded.Add(spans);
        }
        var admission = await _gate.SubmitAsync(traces, identity, IngestTransport.Http, context.RequestAborted);
        if (admission.Status == AdmissionStatus.Accepted)
        {
            await AcceptedAsync(response, json, admission);
        }
        else
        {
            await RefuseAsync(response, json, admission, spans);
        }
    }

    /// <summary>Answers a refused request: the status code and google.rpc.Status a client of the spec expects.</summary>
    private async Task RefuseAsync(HttpResponse response, bool json, Admission admission, long spans)
    {
        var (httpStatus, code, reason) = admission.Status switch
        {
            AdmissionStatus.Unauthenticated => (StatusCodes.Status401Unauthorized, Unauthenticated, RefusalReason.Unauthenticated),
            AdmissionStatus.PermissionDenied => (StatusCodes.Status403Forbidden, PermissionDenied, RefusalReason.PermissionDenied),
            AdmissionStatus.Throttled => (StatusCodes.Status429TooManyRequests, ResourceExhausted, RefusalReason.Throttled),
            AdmissionStatus.TooLarge => (StatusCodes.Status413PayloadTooLarge, ResourceExhausted, RefusalReason.TooLarge),
            _ => (StatusCodes.Status503ServiceUnavailable, Unavailable, RefusalReason.Unavailable),
        };
        _metrics.Refuse(reason, spans);
        if (admission.Status == AdmissionStatus.Unauthenticated)
        {
            response.Headers.WWWAuthenticate = "Bearer";
        }
        else if (admission.Status is AdmissionStatus.Throttled or AdmissionStatus.Unavailable)
        {
            var seconds = RetrySeconds(admission.RetryAfter);
            if (admission.Status == AdmissionStatus.Throttled)
            {
                Log.Throttled(_logger, "http", (int)spans, seconds);
            }

            response.Headers.RetryAfter = seconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        await StatusAsync(response, json, httpStatus, code, admission.Message ?? "refused");
    }

    internal static int RetrySeconds(TimeSpan retryAfter) => (int)Math.Clamp(Math.Ceiling(retryAfter.TotalSeconds), 1, 3600);

    private void Refuse(RefusalReason reason, string detail)
    {
        _metrics.Refuse(reason);
        Log.Refused(_logger, "http", detail);
    }

    private async Task AcceptedAsync(HttpResponse response, bool json, Admission result)
    {
        var export = new TraceExportResponse();
        if (result.RejectedSpans > 0)
        {
            _metrics.Partial.Add();
            _metrics.Rejected(result.RejectedSpans);
            export.PartialSuccess = new ExportPartialSuccess { RejectedSpans = result.RejectedSpans, ErrorMessage = result.Message ?? string.Empty };
        }
        else
        {
            _metrics.Success.Add();
        }

        var bytes = json ? OtlpJson.EncodeExportResponse(export) : OtlpProtobuf.EncodeExportResponse(export);
        await WriteAsync(response, StatusCodes.Status200OK, json ? Json : Protobuf, bytes);
    }

    private static Task StatusAsync(HttpResponse response, bool json, int httpStatus, int code, string message)
    {
        var bytes = json ? OtlpJson.EncodeRpcStatus(code, message) : OtlpProtobuf.EncodeRpcStatus(code, message);
        return WriteAsync(response, httpStatus, json ? Json : Protobuf, bytes);
    }

    private static Task PlainAsync(HttpResponse response, int httpStatus, string message) =>
        WriteAsync(response, httpStatus, "text/plain; charset=utf-8", System.Text.Encoding.UTF8.GetBytes(message + "\n"));

    private static async Task WriteAsync(HttpResponse response, int httpStatus, string contentType, byte[] body)
    {
        response.StatusCode = httpStatus;
        response.ContentType = contentType;
        response.ContentLength = body.Length;
        await response.Body.WriteAsync(body);
    }

    /// <summary>Whether a refusal before the content type is checked should answer in JSON.</summary>
    private static bool IsJsonish(string? contentType) => TryGetFormat(contentType, out var json) && json;

    /// <summary>Protobuf or JSON (UTF-8) by the media type; parameters other than charset are ignored.</summary>
    internal static bool TryGetFormat(string? contentType, out bool json)
    {
        json = false;
        if (contentType is null || !MediaTypeHeaderValue.TryParse(contentType, out var media))
        {
            return false;
        }

        if (media.MediaType.Equals(Protobuf, StringComparison.OrdinalIgnoreCase))
        {
            return true;
        }

        if (media.MediaType.Equals(Json, StringComparison.OrdinalIgnoreCase))
        {
            json = true;
            var charset = media.Charset;
            return !charset.HasValue || charset.Equals("utf-8", StringComparison.OrdinalIgnoreCase) || charset.Equals("utf8", StringComparison.OrdinalIgnoreCase);
        }

        return false;
    }
}

/// <summary>Counts bytes read through it, for <c>hush_receiver_request_bytes_total</c>.</summary>
internal sealed class CountingStream(Stream inner) : ForwardReadStream
{
    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var read = await inner.ReadAsync(buffer, cancellationToken);
        BytesRead += read;
        return read;
    }
}
