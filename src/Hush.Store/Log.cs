using Microsoft.Extensions.Logging;

namespace Hush.Store;

/// <summary>
/// Every log line of the store and journal (event ids 6000-6099). Arguments are tenants, counts, sequence numbers,
/// file names and error kinds: never telemetry content or key material.
/// </summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 6000, Level = LogLevel.Error, Message = "journal: cannot write ({ExceptionType}, code {Code}); {Records} requests refused (answered 503)")]
    internal static partial void WriteFailed(ILogger logger, string exceptionType, int code, int records);

    [LoggerMessage(EventId = 6001, Level = LogLevel.Warning, Message = "journal: cannot delete {File} ({ExceptionType}); it will be replayed at the next start")]
    internal static partial void DeleteFailed(ILogger logger, string file, string exceptionType);

    [LoggerMessage(EventId = 6002, Level = LogLevel.Warning, Message = "journal: {File} ended in a torn or corrupt record; cut {Bytes} bytes after {Records} whole records")]
    internal static partial void TornTail(ILogger logger, string file, long bytes, int records);

    [LoggerMessage(EventId = 6010, Level = LogLevel.Information, Message = "store: tenant {Tenant}: retention removed {Blocks} blocks ({Spans} spans), {Files} segment files")]
    internal static partial void RetentionRemoved(ILogger logger, string tenant, int blocks, long spans, int files);

    [LoggerMessage(EventId = 6016, Level = LogLevel.Warning, Message = "store: tenant {Tenant}: deleted segment {Segment} that an earlier retention run removed but could not delete")]
    internal static partial void RetentionLeftoverDeleted(ILogger logger, string tenant, ulong segment);

    [LoggerMessage(EventId = 6011, Level = LogLevel.Warning, Message = "store: tenant {Tenant}: erased {Spans} spans carrying a subject from {Blocks} blocks")]
    internal static partial void Erased(ILogger logger, string tenant, int blocks, long spans);

    [LoggerMessage(EventId = 6012, Level = LogLevel.Warning, Message = "store: tenant {Tenant} erased: keys destroyed, {Blocks} blocks ({Spans} spans) deleted")]
    internal static partial void TenantErased(ILogger logger, string tenant, long blocks, long spans);

    [LoggerMessage(EventId = 6013, Level = LogLevel.Information, Message = "store: tenant {Tenant}: indexed {Blocks} blocks written before a crash")]
    internal static partial void BlocksRecovered(ILogger logger, string tenant, int blocks);

    [LoggerMessage(EventId = 6014, Level = LogLevel.Warning, Message = "store: tenant {Tenant}: segment {Segment} ended in a torn block; cut {Bytes} bytes")]
    internal static partial void SegmentTornTail(ILogger logger, string tenant, ulong segment, long bytes);

    [LoggerMessage(EventId = 6015, Level = LogLevel.Error, Message = "store: tenant {Tenant}: block {Sequence} unreadable ({Error}); run 'hush store verify'")]
    internal static partial void BlockUnreadable(ILogger logger, string tenant, ulong sequence, string error);
}
