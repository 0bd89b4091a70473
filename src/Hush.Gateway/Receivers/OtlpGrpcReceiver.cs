using Hush.Gateway.Configuration;
using Hush.Otlp;
using Hush.Pipeline;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;

namespace Hush.Gateway.Receivers;

/// <summary>
/// OTLP/gRPC on plain Kestrel HTTP/2 (no gRPC framework): the unary
/// <c>TraceService/Export</c> call, length-prefixed messages, gzip, and statuses in trailers.
/// </summary>
internal sealed class OtlpGrpcReceiver
{
    public const string ExportPath = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

    private static readonly IngestContext Context = new(IngestContext.DevTenant, "anonymous", IngestTransport.Grpc);

    private readonly GrpcProtocolConfig _config;
    private readonly TracePipeline _pipeline;
    private readonly ReceiverMetrics _metrics;
    private readonly ILogger _logger;

    public OtlpGrpcReceiver(GrpcProtocolConfig config, TracePipeline pipeline, HushMetrics metrics, ILogger logger)
    {
        _config = config;
        _pipeline = pipeline;
        _metrics = new ReceiverMetrics(metrics, "grpc");
        _logger = logger;
    }

    public async Task HandleAsync(HttpContext context)
    {
        var request = context.Request;
        var response = context.Response;
        var contentType = request.ContentType;
        if (contentType is null || !(contentType.Equals("application/grpc", StringComparison.OrdinalIgnoreCase)
            || contentType.StartsWith("application/grpc+proto", StringComparison.OrdinalIgnoreCase)
            || contentType.StartsWith("application/grpc;", StringComparison.OrdinalIgnoreCase)))
        {
            // Not a gRPC protobuf call at all: the gRPC spec answers at the HTTP level.
            _metrics.Refuse(RefusalReason.UnsupportedMediaType);
            response.StatusCode = StatusCodes.Status415UnsupportedMediaType;
            response.Headers.Accept = "application/grpc";
            return;
        }

        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = "application/grpc";
        if (!HttpMethods.IsPost(request.Method) || !string.Equals(request.Path.Value, ExportPath, StringComparison.Ordinal))
        {
            _metrics.Outcome("unimplemented");
            Finish(response, GrpcStatusCode.Unimplemented, "unknown service or method: Hush serves opentelemetry.proto.collector.trace.v1.TraceService/Export");
            return;
        }

        var encoding = request.Headers["grpc-encoding"].ToString().Trim();
        var gzip = encoding.Equals("gzip", StringComparison.OrdinalIgnoreCase);
        if (!gzip && encoding.Length > 0 && !encoding.Equals("identity", StringComparison.OrdinalIgnoreCase))
        {
            _metrics.Refuse(RefusalReason.UnsupportedMediaType);
            response.Headers["grpc-accept-encoding"] = "gzip,identity";
            Finish(response, GrpcStatusCode.Unimplemented, "unsupported grpc-encoding: send gzip or identity");
            return;
        }

        if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } sizeFeature)
        {
            sizeFeature.MaxRequestBodySize = null;
        }

        var counting = new CountingStream(request.Body);
        GrpcReadResult read;
        try
        {
            read = await GrpcFraming.ReadUnaryAsync(counting, _config.MaxRecvMsgSizeBytes, gzip, context.RequestAborted);
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException)
        {
            // The client reset the stream or was too slow (Kestrel's minimum data rate); nothing was accepted.
            _metrics.RequestBytes.Add(counting.BytesRead);
            _metrics.Outcome("aborted");
            var exceptionType = ex.GetType().Name;
            Log.ReadFailed(_logger, "grpc", exceptionType);
            Finish(response, GrpcStatusCode.Internal, "the request could not be read completely");
            return;
        }

        _metrics.RequestBytes.Add(counting.BytesRead);
        if (read.Status != GrpcStatusCode.Ok)
        {
            _metrics.Refuse(read.Status switch
            {
                GrpcStatusCode.ResourceExhausted => RefusalReason.TooLarge,
                GrpcStatusCode.Unimplemented => RefusalReason.UnsupportedMediaType,
                _ => RefusalReason.DecodeError,
            });
            Log.Refused(_logger, "grpc", read.Error!);
            Finish(response, read.Status, read.Error!);
            return;
        }

        TraceRequest traces;
        using (read.Message)
        {
            try
            {
                traces = OtlpProtobuf.DecodeTraceRequest(read.Message!.Span);
            }
            catch (OtlpDecodeException ex)
            {
                _metrics.Refuse(RefusalReason.DecodeError);
                Log.DecodeFailed(_logger, "grpc", ex.Message);
                Finish(response, GrpcStatusCode.InvalidArgument, ex.Message);
                return;
            }
        }

        var spans = traces.CountSpans();
        _metrics.SpansReceived.Add(spans);
        var result = _pipeline.Submit(traces, Context);
        if (result.Status != SubmitStatus.Accepted)
        {
            var throttled = result.Status == SubmitStatus.Throttled;
            _metrics.Refuse(throttled ? RefusalReason.Throttled : RefusalReason.Unavailable, spans);
            var seconds = OtlpHttpReceiver.RetrySeconds(result.RetryAfter);
            if (throttled)
            {
                Log.Throttled(_logger, "grpc", spans, seconds);
            }

            var message = throttled ? "the pipeline is full; retry later" : "the pipeline is not running (starting or stopping); retry later";
            var delay = TimeSpan.FromSeconds(seconds);
            response.AppendTrailer("grpc-retry-pushback-ms", ((long)delay.TotalMilliseconds).ToString());
            response.AppendTrailer("grpc-status-details-bin", Convert.ToBase64String(
                GrpcFraming.EncodeStatusWithRetryInfo((int)GrpcStatusCode.Unavailable, message, delay)));
            Finish(response, GrpcStatusCode.Unavailable, message);
            return;
        }

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

        await response.Body.WriteAsync(GrpcFraming.Frame(OtlpProtobuf.EncodeExportResponse(export)), context.RequestAborted);
        Finish(response, GrpcStatusCode.Ok, null);
    }

    private static void Finish(HttpResponse response, GrpcStatusCode status, string? message)
    {
        response.AppendTrailer("grpc-status", ((int)status).ToString());
        if (message is not null)
        {
            response.AppendTrailer("grpc-message", GrpcFraming.EncodeMessage(message));
        }
    }
}
