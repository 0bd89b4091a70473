namespace Hush.Privacy;

/// <summary>What one <see cref="PolicyScrubber.Scrub"/> call did. Counts only, never values.</summary>
/// <param name="ValuesChanged">Values (and keys) rewritten: redacted, pseudonymized, sanitized, truncated...</param>
/// <param name="ValuesDropped">Attributes, array elements or tracestate members removed.</param>
/// <param name="OversizedValues">Values longer than the detectors scan, handled by <c>limits.oversized_value</c>.</param>
/// <param name="DepthLimited">Nested values dropped because they were deeper than <c>limits.max_depth</c>.</param>
/// <param name="SpansDropped">Spans removed because scrubbing them failed unexpectedly (fail closed); normally 0.</param>
public readonly record struct ScrubReport(int ValuesChanged, int ValuesDropped, int OversizedValues = 0, int DepthLimited = 0, int SpansDropped = 0);
