using System.Text;
using Hush.Otlp;
using Microsoft.Extensions.Logging;

namespace Hush.Pipeline;

/// <summary>
/// An exporter that logs one line per batch: the tenant, the span count, and span counts by
/// <c>service.name</c>. It never logs attribute values or span names; <c>service.name</c> is part of the kept
/// signal and has passed the privacy stage by the time a batch exists.
/// </summary>
public sealed class DebugExporter : ISpanExporter
{
    /// <summary>Services listed per line; more are summarised as a count so one batch cannot flood the log.</summary>
    private const int MaxServicesPerLine = 20;

    /// <summary>Longest service name printed; longer ones are cut (a service name is an identifier, not prose).</summary>
    private const int MaxServiceNameLength = 64;

    private readonly ILogger _logger;
    private readonly Counter _sent;

    /// <summary>Creates the exporter; its spans are counted in <c>hush_exporter_spans_sent_total{exporter}</c>.</summary>
    public DebugExporter(string name, ILogger logger, HushMetrics metrics)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(logger);
        ArgumentNullException.ThrowIfNull(metrics);
        Name = name;
        _logger = logger;
        _sent = PipelineMetrics.ExporterSpansSent(metrics).WithLabels(name);
    }

    /// <inheritdoc />
    public string Name { get; }

    /// <inheritdoc />
    public ValueTask<ExportOutcome> ExportAsync(SpanBatch batch, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(batch);
        if (_logger.IsEnabled(LogLevel.Information))
        {
            var services = DescribeServices(batch.Traces);
            Log.DebugBatch(_logger, Name, batch.Tenant, batch.SpanCount, batch.Traces.ResourceSpans.Count, services);
        }

        _sent.Add(batch.SpanCount);
        return ValueTask.FromResult(ExportOutcome.Success);
    }

    /// <inheritdoc />
    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    internal static string DescribeServices(TraceRequest traces)
    {
        var counts = new SortedDictionary<string, int>(StringComparer.Ordinal);
        foreach (var rs in traces.ResourceSpans)
        {
            var service = "(unknown)";
            foreach (var attribute in rs.Resource.Attributes)
            {
                if (attribute.Key == "service.name" && attribute.Value.StringValue is { } s)
                {
                    service = s;
                    break;
                }
            }

            var spans = 0;
            foreach (var ss in rs.ScopeSpans)
            {
                spans += ss.Spans.Count;
            }

            counts[service] = counts.GetValueOrDefault(service) + spans;
        }

        var sb = new StringBuilder();
        var listed = 0;
        foreach (var (service, spans) in counts)
        {
            if (listed == MaxServicesPerLine)
            {
                sb.Append(", and ").Append(counts.Count - listed).Append(" more services");
                break;
            }

            if (listed > 0)
            {
                sb.Append(", ");
            }

            sb.Append(service.Length > MaxServiceNameLength ? service[..MaxServiceNameLength] + "…" : service).Append('=').Append(spans);
            listed++;
        }

        return sb.ToString();
    }
}
