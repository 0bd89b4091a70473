using Microsoft.Extensions.Logging;

namespace Hush.Pipeline.Sampling;

/// <summary>The tail sampler's log lines (event ids 5200-5299): names, counts and exception type names only.</summary>
internal static partial class SamplingLog
{
    [LoggerMessage(EventId = 5200, Level = LogLevel.Error, Message = "tail sampler {Processor}: a decision tick failed ({ExceptionType})")]
    internal static partial void TickFailed(ILogger logger, string processor, string exceptionType);

    [LoggerMessage(EventId = 5201, Level = LogLevel.Error, Message = "tail sampler {Processor}: could not release {Spans} kept spans ({ExceptionType})")]
    internal static partial void ReleaseFailed(ILogger logger, string processor, string exceptionType, int spans);
}
