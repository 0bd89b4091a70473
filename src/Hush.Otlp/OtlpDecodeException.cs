namespace Hush.Otlp;

/// <summary>
/// Thrown when an OTLP payload (protobuf or JSON) is malformed. The message says what is wrong and
/// where (message field, byte offset, or JSON line and position) and never quotes the payload:
/// no attribute key or value, span name, or other content ever reaches it.
/// </summary>
public sealed class OtlpDecodeException : Exception
{
    public OtlpDecodeException()
        : base("The OTLP payload is malformed.")
    {
    }

    public OtlpDecodeException(string message)
        : base(message)
    {
    }

    /// <summary>
    /// Deliberately not used by the codecs: inner exceptions from parsers may quote the payload.
    /// Exists for the standard exception shape only.
    /// </summary>
    public OtlpDecodeException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Absolute byte offset into the protobuf payload, or into the JSON text, where the problem was found; -1 if unknown.</summary>
    public long Offset { get; init; } = -1;
}
