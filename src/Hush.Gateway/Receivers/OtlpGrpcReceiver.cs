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

    private readonly GrpcProtocolConfig _config;
    private readonly IngestGate _gate;
    private readonly ReceiverMetrics _metrics;
    private readonly ILogger _logger;

    public OtlpGrpcReceiver(GrpcProtocolConfig config, IngestGate gate, HushMetrics metrics, ILogger logger)
    {
        _config = config;
        _gate = gate;
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

        var (identity, refusal) = await _gate.AuthenticateAsync(context, IngestTransport.Grpc);
        if (identity is null)
        {
            Refuse(response, refusal, 0);
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
            read = await GrpcFraming.ReadUnaryAsync(counting, _gate.MaxRequestBytes(identity, _config.MaxRecvMsgSizeBytes), gzip, context.RequestAborted);
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

        if (_gate.TakeRate(identity, read.Message!.Length) is { } throttled)
        {
            read.Message.Dispose();
            Refuse(response, throttled, 0);
            return;
        }

        TraceRequest traces;
        try
        {
            traces = _gate.Decode(read.Message!, json: false, identity);
        }
        catch (OtlpDecodeException ex)
        {
            _metrics.Refuse(RefusalReason.DecodeError);
            Log.DecodeFailed(_logger, "grpc", ex.Message);
            Finish(response, GrpcStatusCode.InvalidArgument, ex.Message);
            return;
        }

        var spans = traces.CountSpans();
        _metrics.SpansReceived.Add(spans);
        if (traces.IsWireForm)
        {
            _metrics.SpansUndecoded.Add(spans);
        }
        var result = await _gate.SubmitAsync(traces, identity, IngestTransport.Grpc, context.RequestAborted);
        if (result.Status != AdmissionStatus.Accepted)
        {
            Refuse(response, result, spans);
            return;
        }

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

        await response.Body.WriteAsync(GrpcFraming.Frame(OtlpProtobuf.EncodeExportResponse(export)), context.RequestAborted);
        Finish(response, GrpcStatusCode.Ok, null);
    }

    /// <summary>Answers a refused call with the status an OTLP/gRPC client acts on; retryable ones carry RetryInfo.</summary>
    private void Refuse(HttpResponse response, Admission admission, long spans)
    {
        var message = admission.Message ?? "refused";
        var (status, reason) = admission.Status switch
        {
            AdmissionStatus.Unauthenticated => (GrpcStatusCode.Unauthenticated, RefusalReason.Unauthenticated),
            AdmissionStatus.PermissionDenied => (GrpcStatusCode.PermissionDenied, RefusalReason.PermissionDenied),
            AdmissionStatus.TooLarge => (GrpcStatusCode.ResourceExhausted, RefusalReason.TooLarge),
            AdmissionStatus.Throttled => (GrpcStatusCode.Unavailable, RefusalReason.Throttled),
            _ => (GrpcStatusCode.Unavailable, RefusalReason.Unavailable),
        };
        _metrics.Refuse(reason, spans);
        if (status == GrpcStatusCode.Unavailable)
        {
            var seconds = OtlpHttpReceiver.RetrySeconds(admission.RetryAfter);
            if (admission.Status == AdmissionStatus.Throttled)
            {
                Log.Throttled(_logger, "grpc", (int)spans, seconds);
            }

            var delay = TimeSpan.FromSeconds(seconds);
            response.AppendTrailer("grpc-retry-pushback-ms", ((long)delay.TotalMilliseconds).ToString(System.Globalization.CultureInfo.InvariantCulture));
            response.AppendTrailer("grpc-status-details-bin", Convert.ToBase64String(
                GrpcFraming.EncodeStatusWithRetryInfo((int)GrpcStatusCode.Unavailable, message, delay)));
        }

        Finish(response, status, message);
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
