using System.Text;

namespace Hush.Otlp.Implementation;

/// <summary>
/// Strict UTF-8 to string for the decoders. Telemetry text is almost all ASCII, so an ASCII check
/// (vectorized, stops at the first non-ASCII byte) followed by a plain widening copy is about a third
/// cheaper than the general validating transcoder; anything else goes through that transcoder.
/// </summary>
internal static class Utf8Text
{
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>Returns the string for <paramref name="utf8"/>, or null when it is not valid UTF-8.</summary>
    public static string? TryDecode(ReadOnlySpan<byte> utf8)
    {
        if (utf8.IsEmpty)
        {
            return string.Empty;
        }

        if (Ascii.IsValid(utf8))
        {
            // Latin-1 maps bytes 0-127 to the same code points, so this is an exact, non-validating widen.
            return Encoding.Latin1.GetString(utf8);
        }

        try
        {
            return StrictUtf8.GetString(utf8);
        }
        catch (DecoderFallbackException)
        {
            return null;
        }
    }
}
