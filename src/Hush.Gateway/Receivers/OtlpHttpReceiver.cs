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
    private const int ResourceExhausted = 8;
    private const int Unavailable = 14;

    private static readonly IngestContext Context = new(IngestContext.DevTenant, "anonymous", IngestTransport.Http);

    private readonly HttpProtocolConfig _config;
    private readonly TracePipeline _pipeline;
    private readonly ReceiverMetrics _metrics;
    private readonly ILogger _logger;

    public OtlpHttpReceiver(HttpProtocolConfig config, TracePipeline pipeline, HushMetrics metrics, ILogger logger)
    {
        _config = config;
        _pipeline = pipeline;
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

        if (!TryGetFormat(request.ContentType, out var json))
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

        var counting = new CountingStream(request.Body);
        BodyReadStatus status;
        PooledBuffer? body;
        try
        {
            (status, body) = await BoundedBodyReader.ReadAsync(counting, gzip, _config.MaxRequestBodySize, request.ContentLength, context.RequestAborted);
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
                $"request body is larger than the limit of {_config.MaxRequestBodySize} bytes (before or after decompression)");
            return;
        }

        if (status == BodyReadStatus.BadCompression)
        {
            Refuse(RefusalReason.DecodeError, "bad gzip");
            await StatusAsync(response, json, StatusCodes.Status400BadRequest, InvalidArgument, "request body is not valid gzip");
            return;
        }

        TraceRequest traces;
        using (body)
        {
            try
            {
                traces = json ? OtlpJson.DecodeTraceRequest(body!.Span) : OtlpProtobuf.DecodeTraceRequest(body!.Span);
            }
            catch (OtlpDecodeException ex)
            {
                _metrics.Refuse(RefusalReason.DecodeError);
                Log.DecodeFailed(_logger, "http", ex.Message);
                await StatusAsync(response, json, StatusCodes.Status400BadRequest, InvalidArgument, ex.Message);
                return;
            }
        }

        var spans = traces.CountSpans();
        _metrics.SpansReceived.Add(spans);
        var result = _pipeline.Submit(traces, Context);
        switch (result.Status)
        {
            case SubmitStatus.Accepted:
                await AcceptedAsync(response, json, result);
                return;
            case SubmitStatus.Throttled:
                _metrics.Refuse(RefusalReason.Throttled, spans);
                Log.Throttled(_logger, "http", spans, RetrySeconds(result.RetryAfter));
                response.Headers.RetryAfter = RetrySeconds(result.RetryAfter).ToString();
                await StatusAsync(response, json, StatusCodes.Status429TooManyRequests, ResourceExhausted, "the pipeline is full; retry later");
                return;
            default:
                _metrics.Refuse(RefusalReason.Unavailable, spans);
                response.Headers.RetryAfter = RetrySeconds(result.RetryAfter).ToString();
                await StatusAsync(response, json, StatusCodes.Status503ServiceUnavailable, Unavailable, "the pipeline is not running (starting or stopping); retry later");
                return;
        }
    }

    internal static int RetrySeconds(TimeSpan retryAfter) => (int)Math.Clamp(Math.Ceiling(retryAfter.TotalSeconds), 1, 3600);

    private void Refuse(RefusalReason reason, string detail)
    {
        _metrics.Refuse(reason);
        Log.Refused(_logger, "http", detail);
    }

    private async Task AcceptedAsync(HttpResponse response, bool json, SubmitResult result)
    {
        var export = new TraceExportResponse();
        if (result.RejectedSpans > 0)
        {
            _metrics.Partial.Add();
            _metrics.Rejected(result.RejectedSpans);
            export.PartialSuccess = new ExportPartialSuccess { RejectedSpans = result.RejectedSpans, ErrorMessage = result.ErrorMessage ?? string.Empty };
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
internal sealed class CountingStream(Stream inner) : Stream
{
    public long BytesRead { get; private set; }

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => BytesRead; set => throw new NotSupportedException(); }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var read = await inner.ReadAsync(buffer, cancellationToken);
        BytesRead += read;
        return read;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException("read asynchronously");

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
