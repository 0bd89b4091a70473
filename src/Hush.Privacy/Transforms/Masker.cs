using System.Text;

namespace Hush.Privacy.Transforms;

/// <summary>Masks a value except for its last few characters: <c>4111111111111111</c> → <c>************1111</c>.</summary>
public static class Masker
{
    /// <summary>
    /// Replaces every character but the last <paramref name="keepLast"/> with <paramref name="maskChar"/>. Counts and
    /// masks by code point (a surrogate pair is one char, never split). At most half of the value is ever left visible,
    /// so a short value cannot be revealed whole: <c>Mask("1234", 4)</c> is <c>"**34"</c>.
    /// </summary>
    public static string Mask(string value, int keepLast, char maskChar = '*')
    {
        ArgumentNullException.ThrowIfNull(value);
        ArgumentOutOfRangeException.ThrowIfNegative(keepLast);
        if (value.Length == 0)
        {
            return value;
        }

        int codePoints = 0;
        for (int i = 0; i < value.Length; i++)
        {
            if (char.IsHighSurrogate(value[i]) && i + 1 < value.Length && char.IsLowSurrogate(value[i + 1]))
            {
                i++;
            }

            codePoints++;
        }

        int visible = Math.Min(keepLast, codePoints / 2);
        int masked = codePoints - visible;

        // Find where the visible tail starts (walking code points from the front).
        int tail = 0;
        for (int k = 0; k < masked; k++)
        {
            tail += char.IsHighSurrogate(value[tail]) && tail + 1 < value.Length && char.IsLowSurrogate(value[tail + 1]) ? 2 : 1;
        }

        var sb = new StringBuilder(masked + (value.Length - tail));
        sb.Append(maskChar, masked);
        sb.Append(value, tail, value.Length - tail);
        return sb.ToString();
    }
}
