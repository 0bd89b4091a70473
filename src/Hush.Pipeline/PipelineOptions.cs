using Hush.Otlp;

namespace Hush.Pipeline;

/// <summary>
/// Settings of one <see cref="TracePipeline"/> (<c>service.pipelines.NAME.*</c> in config). Defaults suit a
/// single gateway of a few cores: 131,072 queued spans at ~1 KiB each bound the queue near 128 MiB.
/// </summary>
public sealed record PipelineOptions
{
    /// <summary>Upper bound on spans accepted but not yet exported (queued, batching or in flight).</summary>
    public int QueueCapacitySpans { get; init; } = 131_072;

    /// <summary>A batch is sent once it holds this many spans of one tenant.</summary>
    public int SendBatchSize { get; init; } = 8_192;

    /// <summary>A batch smaller than <see cref="SendBatchSize"/> is sent this long after its first spans arrived.</summary>
    public TimeSpan BatchTimeout { get; init; } = TimeSpan.FromMilliseconds(200);

    /// <summary>Tasks running processors and exporters concurrently.</summary>
    public int Workers { get; init; } = 2;

    /// <summary>The delay a throttled or refused client is told to wait.</summary>
    public TimeSpan RetryAfter { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>How long <see cref="TracePipeline.StopAsync"/> waits for queued spans to be exported.</summary>
    public TimeSpan ShutdownTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Upper bound of <see cref="Workers"/>: more tasks than this only contend on 2-64 cores.</summary>
    internal const int MaxWorkers = 256;

    /// <summary>Returns every problem at once, each quoting its key under <paramref name="keyPath"/>; empty when valid.</summary>
    public IReadOnlyList<string> Validate(string keyPath)
    {
        var prefix = string.IsNullOrEmpty(keyPath) ? string.Empty : keyPath + ".";
        var errors = new List<string>();
        if (QueueCapacitySpans <= 0)
        {
            errors.Add($"'{prefix}queue_capacity_spans' must be greater than zero");
        }

        if (SendBatchSize <= 0)
        {
            errors.Add($"'{prefix}send_batch_size' must be greater than zero");
        }
        else if (QueueCapacitySpans > 0 && SendBatchSize > QueueCapacitySpans)
        {
            errors.Add($"'{prefix}send_batch_size' must not be greater than '{prefix}queue_capacity_spans' ({QueueCapacitySpans})");
        }

        if (BatchTimeout <= TimeSpan.Zero)
        {
            errors.Add($"'{prefix}batch_timeout' must be greater than zero");
        }

        if (Workers is <= 0 or > MaxWorkers)
        {
            errors.Add($"'{prefix}workers' must be between 1 and {MaxWorkers}");
        }

        if (RetryAfter <= TimeSpan.Zero)
        {
            errors.Add($"'{prefix}retry_after' must be greater than zero");
        }

        if (ShutdownTimeout < TimeSpan.Zero)
        {
            errors.Add($"'{prefix}shutdown_timeout' must not be negative");
        }

        return errors;
    }
}

/// <summary>The privacy stage that changes nothing: for tests and for pipelines fed by already scrubbed sources.</summary>
public sealed class PassThroughPrivacyStage : IPrivacyStage
{
    private PassThroughPrivacyStage()
    {
    }

    /// <summary>The single instance.</summary>
    public static PassThroughPrivacyStage Instance { get; } = new();

    /// <inheritdoc />
    public void Scrub(TraceRequest request, IngestContext context)
    {
    }
}
