namespace Hush.Otlp.Implementation;

/// <summary>Limits shared by both codecs.</summary>
internal static class CodecLimits
{
    /// <summary>
    /// Deepest nesting of AnyValue arrays and maps accepted. Real attributes nest 2-3 levels; 32 leaves
    /// ample room while keeping recursion (and a hostile depth bomb) far from the stack limit.
    /// </summary>
    public const int MaxAnyValueDepth = 32;

    /// <summary>Deepest nesting of unknown protobuf groups skipped, for the same stack-safety reason.</summary>
    public const int MaxUnknownGroupDepth = 32;

    /// <summary>
    /// Maximum JSON nesting for Utf8JsonReader. The fixed OTLP envelope uses about 12 levels and each
    /// AnyValue level adds at most 4 (AnyValue, kvlistValue, values array, KeyValue), so 32 levels of
    /// maps fit with 20 to spare: 160.
    /// </summary>
    public const int MaxJsonDepth = 12 + (4 * MaxAnyValueDepth) + 20;
}
