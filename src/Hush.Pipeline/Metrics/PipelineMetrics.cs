namespace Hush.Pipeline;

/// <summary>The names and help texts of the pipeline's and exporters' metrics, registered in one place.</summary>
internal static class PipelineMetrics
{
    internal const string QueueSpansName = "hush_pipeline_queue_spans";
    internal const string ExporterQueueBatchesName = "hush_exporter_queue_batches";

    internal static CounterFamily SpansSubmitted(HushMetrics metrics) => metrics.Counter(
        "hush_pipeline_spans_submitted_total", "Spans accepted into a pipeline (after the privacy stage).", "pipeline");

    internal static CounterFamily SpansRefused(HushMetrics metrics) => metrics.Counter(
        "hush_pipeline_spans_refused_total",
        "Spans a pipeline refused: queue_full (retryable), not_running (retryable), journal_unavailable (retryable: the store cannot write), privacy_failure (permanent).",
        "pipeline",
        "reason");

    internal static CounterFamily ProcessorFailures(HushMetrics metrics) => metrics.Counter(
        "hush_processor_failures_total", "Batches dropped because a processor threw.", "processor");

    internal static CounterFamily ExporterSpansSent(HushMetrics metrics) => metrics.Counter(
        "hush_exporter_spans_sent_total", "Spans an exporter delivered (or, for nop and debug, consumed).", "exporter");

    internal static CounterFamily ExporterSpansFailed(HushMetrics metrics) => metrics.Counter(
        "hush_exporter_spans_failed_total",
        "Spans an exporter could not deliver: permanent, rejected, retries_exhausted, shutdown, encode_error, exception.",
        "exporter",
        "reason");

    internal static CounterFamily ExporterRequests(HushMetrics metrics) => metrics.Counter(
        "hush_exporter_requests_total",
        "Export requests sent to a backend, by outcome: success, partial_success, retryable, permanent, connection_error.",
        "exporter",
        "outcome");
}
