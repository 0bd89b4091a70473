using Microsoft.Extensions.Logging;

namespace Hush.Gateway;

/// <summary>
/// The gateway's log messages (event ids 4000-4099). None takes a payload value: receivers log
/// transports, reasons, counts and codec messages, which name fields and offsets only.
/// </summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 4000, Level = LogLevel.Information, Message = "hush: listening for {Listener} on {Endpoint}")]
    internal static partial void Listening(ILogger logger, string listener, Uri endpoint);

    [LoggerMessage(EventId = 4001, Level = LogLevel.Information, Message = "hush: ready; pipeline {Pipeline} with exporters {Exporters}")]
    internal static partial void Ready(ILogger logger, string pipeline, string exporters);

    [LoggerMessage(EventId = 4002, Level = LogLevel.Information, Message = "hush: stopping; draining the pipeline")]
    internal static partial void Stopping(ILogger logger);

    [LoggerMessage(EventId = 4003, Level = LogLevel.Information, Message = "hush: stopped")]
    internal static partial void Stopped(ILogger logger);

    [LoggerMessage(EventId = 4004, Level = LogLevel.Warning, Message = "hush: {Warning}")]
    internal static partial void ConfigWarning(ILogger logger, string warning);

    [LoggerMessage(EventId = 4010, Level = LogLevel.Debug, Message = "{Transport} receiver: refused a request: {Reason}")]
    internal static partial void Refused(ILogger logger, string transport, string reason);

    [LoggerMessage(EventId = 4011, Level = LogLevel.Information, Message = "{Transport} receiver: undecodable request: {Error}")]
    internal static partial void DecodeFailed(ILogger logger, string transport, string error);

    [LoggerMessage(EventId = 4012, Level = LogLevel.Warning, Message = "{Transport} receiver: pipeline full, throttled {Spans} spans; clients are told to retry after {Seconds}s")]
    internal static partial void Throttled(ILogger logger, string transport, int spans, int seconds);

    [LoggerMessage(EventId = 4014, Level = LogLevel.Debug, Message = "{Transport} receiver: the request body could not be read ({ExceptionType}); the client went away or was too slow")]
    internal static partial void ReadFailed(ILogger logger, string transport, string exceptionType);

    [LoggerMessage(EventId = 4020, Level = LogLevel.Information, Message = "privacy: enforcing {Policy} (fingerprint {Fingerprint}); pseudonym secret from {SecretSource}")]
    internal static partial void PrivacyReady(ILogger logger, string policy, string fingerprint, string secretSource);

    [LoggerMessage(EventId = 4021, Level = LogLevel.Information, Message = "privacy: the tokenize action writes to the durable vault {Path}")]
    internal static partial void VaultDurable(ILogger logger, string path);

    [LoggerMessage(EventId = 4022, Level = LogLevel.Warning, Message = "privacy: no store exporter, so the tokenize action's vault is in memory: tokens resolve within this run only (add exporters.store for a durable vault)")]
    internal static partial void VaultInMemory(ILogger logger);

    [LoggerMessage(EventId = 4030, Level = LogLevel.Warning, Message = "store: replayed {Requests} requests ({Spans} spans) the journal held from before the last stop")]
    internal static partial void JournalReplayed(ILogger logger, int requests, long spans);
}
