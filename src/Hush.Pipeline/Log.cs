using Microsoft.Extensions.Logging;

namespace Hush.Pipeline;

/// <summary>
/// Every log line of the pipeline and exporters, with stable event ids (5000-5099 pipeline, 5100-5199 exporters).
/// Arguments are names, counts, status codes and exception type names: never an attribute value, span name,
/// header value or response text.
/// </summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 5000, Level = LogLevel.Information, Message = "pipeline {Pipeline}: started with {Workers} workers and {Exporters} exporters")]
    internal static partial void Started(ILogger logger, string pipeline, int workers, int exporters);

    [LoggerMessage(EventId = 5001, Level = LogLevel.Information, Message = "pipeline {Pipeline}: stopped; {Spans} spans not exported")]
    internal static partial void Stopped(ILogger logger, string pipeline, int spans);

    [LoggerMessage(EventId = 5002, Level = LogLevel.Warning, Message = "pipeline {Pipeline}: shutdown timeout of {Seconds}s elapsed with {Spans} spans not yet exported; cancelling exports")]
    internal static partial void ShutdownTimedOut(ILogger logger, string pipeline, double seconds, int spans);

    [LoggerMessage(EventId = 5003, Level = LogLevel.Error, Message = "pipeline {Pipeline}: privacy stage failed ({ExceptionType}); refused {Spans} spans of tenant {Tenant}, nothing forwarded")]
    internal static partial void PrivacyStageFailed(ILogger logger, string pipeline, string exceptionType, int spans, string tenant);

    [LoggerMessage(EventId = 5004, Level = LogLevel.Error, Message = "pipeline {Pipeline}: processor {Processor} failed ({ExceptionType}); dropped a batch of {Spans} spans of tenant {Tenant}")]
    internal static partial void ProcessorFailed(ILogger logger, string pipeline, string processor, string exceptionType, int spans, string tenant);

    [LoggerMessage(EventId = 5005, Level = LogLevel.Error, Message = "pipeline {Pipeline}: exporter {Exporter} threw {ExceptionType}; {Spans} spans lost for it")]
    internal static partial void ExporterThrew(ILogger logger, string pipeline, string exporter, string exceptionType, int spans);

    [LoggerMessage(EventId = 5100, Level = LogLevel.Warning, Message = "exporter {Exporter}: backend unreachable at {Url} ({Reason}); retrying with backoff, {QueuedBatches} batches queued")]
    internal static partial void BackendDown(ILogger logger, string exporter, string url, string reason, int queuedBatches);

    [LoggerMessage(EventId = 5101, Level = LogLevel.Information, Message = "exporter {Exporter}: backend at {Url} reachable again after {Seconds}s")]
    internal static partial void BackendRecovered(ILogger logger, string exporter, string url, double seconds);

    [LoggerMessage(EventId = 5102, Level = LogLevel.Error, Message = "exporter {Exporter}: backend refused a batch of {Spans} spans permanently (HTTP {StatusCode}, error message of {MessageLength} characters); dropped")]
    internal static partial void PermanentFailure(ILogger logger, string exporter, int spans, int statusCode, int messageLength);

    [LoggerMessage(EventId = 5103, Level = LogLevel.Error, Message = "exporter {Exporter}: gave up on a batch of {Spans} spans after {Attempts} attempts in {Seconds}s ({Reason}); dropped")]
    internal static partial void RetriesExhausted(ILogger logger, string exporter, int spans, int attempts, double seconds, string reason);

    [LoggerMessage(EventId = 5104, Level = LogLevel.Warning, Message = "exporter {Exporter}: backend rejected {Rejected} of {Spans} spans (partial success, error message of {MessageLength} characters)")]
    internal static partial void PartialSuccess(ILogger logger, string exporter, long rejected, int spans, int messageLength);

    [LoggerMessage(EventId = 5105, Level = LogLevel.Error, Message = "exporter {Exporter}: could not encode a batch of {Spans} spans ({ExceptionType}); dropped")]
    internal static partial void EncodeFailed(ILogger logger, string exporter, int spans, string exceptionType);

    [LoggerMessage(EventId = 5106, Level = LogLevel.Warning, Message = "exporter {Exporter}: shutting down with {Batches} batches ({Spans} spans) not delivered")]
    internal static partial void ShutdownDropped(ILogger logger, string exporter, int batches, long spans);

    [LoggerMessage(EventId = 5107, Level = LogLevel.Information, Message = "exporter {Exporter}: tenant {Tenant}: {Spans} spans in {ResourceSpans} resources; by service: {Services}")]
    internal static partial void DebugBatch(ILogger logger, string exporter, string tenant, int spans, int resourceSpans, string services);
}
