using Microsoft.Extensions.Logging;

namespace Hush.Pipeline.Sampling;

/// <summary>The tail sampler's log lines (event ids 5200-5299): names, counts and exception type names only.</summary>
internal static partial class SamplingLog
{
    [LoggerMessage(EventId = 5200, Level = LogLevel.Error, Message = "tail sampler {Processor}: a decision tick failed ({ExceptionType})")]
    internal static partial void TickFailed(ILogger logger, string processor, string exceptionType);

    [LoggerMessage(EventId = 5201, Level = LogLevel.Error, Message = "tail sampler {Processor}: could not release {Spans} kept spans ({ExceptionType})")]
    internal static partial void ReleaseFailed(ILogger logger, string processor, string exceptionType, int spans);

    [LoggerMessage(EventId = 5202, Level = LogLevel.Warning, Message = "tail sampler {Processor}: ignored the decision file {Path} ({Problem}); starting with no remembered decisions")]
    internal static partial void DecisionFileIgnored(ILogger logger, string processor, string path, string problem);

    [LoggerMessage(EventId = 5203, Level = LogLevel.Warning, Message = "tail sampler {Processor}: could not write the decision file {Path} ({ExceptionType}); late spans after a restart will be decided anew")]
    internal static partial void DecisionFileWriteFailed(ILogger logger, string processor, string path, string exceptionType);

    [LoggerMessage(EventId = 5204, Level = LogLevel.Information, Message = "tail sampler {Processor}: loaded {Sampled} kept and {Dropped} dropped decisions from {Path}")]
    internal static partial void DecisionFileLoaded(ILogger logger, string processor, int sampled, int dropped, string path);
}
