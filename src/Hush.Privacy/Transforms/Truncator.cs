namespace Hush.Privacy.Transforms;

/// <summary>Shortens long values to a maximum length, marking the cut with "…".</summary>
public static class Truncator
{
    /// <summary>The mark appended to a truncated value (one char, U+2026).</summary>
    public const string Ellipsis = "…";

    /// <summary>
    /// Returns <paramref name="value"/> unchanged when it has at most <paramref name="maxChars"/> chars; otherwise its
    /// prefix plus "…", <paramref name="maxChars"/> chars in total, never splitting a surrogate pair.
    /// </summary>
    public static string Truncate(string value, int maxChars)
    {
        ArgumentNullException.ThrowIfNull(value);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxChars, 1);
        if (value.Length <= maxChars)
        {
            return value;
        }

        int keep = maxChars - Ellipsis.Length;
        if (keep > 0 && char.IsHighSurrogate(value[keep - 1]))
        {
            keep--;
        }

        return string.Concat(value.AsSpan(0, keep), Ellipsis);
    }
}
