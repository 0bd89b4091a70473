namespace Hush.Pipeline.Sampling;

/// <summary>The tail sampler's metric names, labels and help texts, registered in one place.</summary>
internal static class SamplingMetrics
{
    internal const string BufferBytesName = "hush_tail_sampling_buffer_bytes";
    internal const string BufferTracesName = "hush_tail_sampling_buffer_traces";

    /// <summary>The <c>policy_set</c> label of the default policies (tenant sets are labelled with their configured tenant name).</summary>
    internal const string DefaultPolicySet = "default";

    internal const string Sampled = "sampled";
    internal const string Dropped = "dropped";

    internal const string ReasonRootQuiet = "root_quiet";
    internal const string ReasonMemoryLimit = "memory_limit";
    internal const string ReasonTraceLimit = "trace_limit";
    internal const string ReasonTraceTooLarge = "trace_too_large";
    internal const string ReasonShutdown = "shutdown";

    internal static CounterFamily Traces(HushMetrics metrics) => metrics.Counter(
        "hush_tail_sampling_traces_total",
        "Traces a tail sampler decided, by the policy that decided (no_match: none kept it) and the decision.",
        "processor",
        "policy_set",
        "policy",
        "decision");

    internal static CounterFamily Spans(HushMetrics metrics) => metrics.Counter(
        "hush_tail_sampling_spans_total",
        "Spans of the traces a tail sampler decided, by the policy that decided and the decision.",
        "processor",
        "policy_set",
        "policy",
        "decision");

    internal static CounterFamily EarlyDecisions(HushMetrics metrics) => metrics.Counter(
        "hush_tail_sampling_early_decisions_total",
        "Traces decided before decision_wait: root_quiet, memory_limit, trace_limit, trace_too_large, shutdown.",
        "processor",
        "reason");

    internal static CounterFamily LateSpans(HushMetrics metrics) => metrics.Counter(
        "hush_tail_sampling_late_spans_total",
        "Spans that arrived after their trace was decided and followed the decision (sampled or dropped).",
        "processor",
        "decision");

    internal static CounterFamily ReleaseFailures(HushMetrics metrics) => metrics.Counter(
        "hush_tail_sampling_release_failures_total",
        "Kept spans a tail sampler could not pass on (a downstream or tick failure; see the log).",
        "processor");
}
