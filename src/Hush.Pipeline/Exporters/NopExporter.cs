namespace Hush.Pipeline;

/// <summary>An exporter that discards batches and counts their spans (for benchmarks and dry runs).</summary>
public sealed class NopExporter : ISpanExporter
{
    private readonly Counter _sent;

    /// <summary>Creates the exporter; its spans are counted in <c>hush_exporter_spans_sent_total{exporter}</c>.</summary>
    public NopExporter(string name, HushMetrics metrics)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(metrics);
        Name = name;
        _sent = PipelineMetrics.ExporterSpansSent(metrics).WithLabels(name);
    }

    /// <inheritdoc />
    public string Name { get; }

    /// <inheritdoc />
    public ValueTask<ExportOutcome> ExportAsync(SpanBatch batch, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(batch);
        _sent.Add(batch.SpanCount);
        return ValueTask.FromResult(ExportOutcome.Success);
    }

    /// <inheritdoc />
    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
