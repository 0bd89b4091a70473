using Microsoft.Extensions.Logging;

namespace Hush.Gateway.Authentication.Jwt;

/// <summary>
/// The JWT validator's log messages (event ids 4100-4119). They name the configured issuer, key ids, key sources and
/// failure reasons; never a token, and never a claim value.
/// </summary>
internal static partial class JwtLog
{
    [LoggerMessage(EventId = 4100, Level = LogLevel.Debug, Message = "jwt: refused a token for issuer {Issuer} (kid {Kid}): {Reason}")]
    internal static partial void Refused(ILogger logger, string issuer, string kid, AuthFailure reason);

    [LoggerMessage(EventId = 4101, Level = LogLevel.Information, Message = "jwt: using {Count} signing keys (kid {Kids}) from {Source}")]
    internal static partial void KeysLoaded(ILogger logger, int count, string kids, string source);

    [LoggerMessage(EventId = 4102, Level = LogLevel.Warning, Message = "jwt: could not load signing keys from {Source} ({Reason}); {Consequence}")]
    internal static partial void KeysFailed(ILogger logger, string source, string reason, string consequence);

    [LoggerMessage(EventId = 4103, Level = LogLevel.Debug, Message = "jwt: kid {Kid} is not in the key set; refreshing it")]
    internal static partial void UnknownKid(ILogger logger, string kid);

    [LoggerMessage(EventId = 4104, Level = LogLevel.Warning, Message = "jwt: token validation failed unexpectedly ({ExceptionType}); refused as malformed")]
    internal static partial void Unexpected(ILogger logger, string exceptionType);

    /// <summary>Why a key source failed, without response bodies or token material.</summary>
    internal static string Reason(Exception e) => e switch
    {
        HttpRequestException { StatusCode: { } status } => $"HTTP {(int)status}",
        HttpRequestException http => http.HttpRequestError.ToString(),
        TaskCanceledException => "timed out",
        InvalidDataException or IOException or UnauthorizedAccessException => e.Message,
        _ => e.GetType().Name,
    };
}
