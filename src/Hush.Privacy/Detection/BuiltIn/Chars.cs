namespace Hush.Privacy.Detection.BuiltIn;

/// <summary>Char-class helpers shared by the scanners (all on normalized text, where digits are ASCII).</summary>
internal static class Chars
{
    public static bool IsDigit(char c) => (uint)(c - '0') <= 9;

    public static bool IsAlnum(char c) => char.IsAsciiLetterOrDigit(c);

    /// <summary>Letter or digit of any script: a match next to one is part of a longer word.</summary>
    public static bool IsWord(char c) => char.IsLetterOrDigit(c);

    public static bool IsBase64Url(char c) => char.IsAsciiLetterOrDigit(c) || c == '-' || c == '_';

    public static char Prev(string s, int i) => i > 0 ? s[i - 1] : '\0';

    public static char At(string s, int i) => i < s.Length ? s[i] : '\0';

    /// <summary>
    /// The first ASCII digit at or after <paramref name="i"/>, or -1. Texts up to <see cref="TextFeatures.ScalarScanChars"/>
    /// are walked char by char: ids and addresses have a digit group every few chars, and one vectorized search per group
    /// cost more than the chars it skipped (a UUID's scan for cards, phones and IBANs took ~300 ns).
    /// </summary>
    public static int NextDigit(string s, int i)
    {
        if (s.Length > TextFeatures.ScalarScanChars)
        {
            int d = s.AsSpan(i).IndexOfAnyInRange('0', '9');
            return d < 0 ? -1 : i + d;
        }

        for (; i < s.Length; i++)
        {
            if (IsDigit(s[i]))
            {
                return i;
            }
        }

        return -1;
    }

    public static int SkipDigits(string s, int i)
    {
        while (i < s.Length && IsDigit(s[i]))
        {
            i++;
        }

        return i;
    }

    public static bool MatchesIgnoreCase(string s, int i, string literal) =>
        i >= 0 && i <= s.Length - literal.Length && s.AsSpan(i, literal.Length).Equals(literal, StringComparison.OrdinalIgnoreCase);
}
