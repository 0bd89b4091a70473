namespace Hush.Privacy.Detection.BuiltIn;

/// <summary>
/// Email addresses: a local part of letters, digits and <c>._+-'</c> and a domain of at least two labels whose last
/// label is alphabetic (2+ letters). URL-encoded <c>%40</c> and fullwidth <c>＠</c> are found through normalization.
/// </summary>
internal sealed class EmailDetector() : BuiltInDetector("email", "email")
{
    /// <summary>RFC 5321 limits: 64 chars of local part, 253 of domain; also bounds the work per '@'.</summary>
    private const int MaxLocal = 64;
    private const int MaxDomain = 253;

    public override Prefilter Prefilter { get; } = new(6, 0, CharFlags.At | CharFlags.Dot, CharFlags.None);

    protected override void FindCore(string text, TextView? view, List<DetectorMatch> matches)
    {
        int lastEnd = 0;
        int at = text.IndexOf('@');
        while (at >= 0)
        {
            int next = at + 1;
            int start = at;
            int limit = Math.Max(lastEnd, at - MaxLocal);
            while (start > limit && IsLocal(text[start - 1]))
            {
                start--;
            }

            while (start < at && text[start] is '.' or '-' or '\'')
            {
                start++;
            }

            if (start < at && text[at - 1] != '.')
            {
                int end = ParseDomain(text, at + 1);
                if (end > 0)
                {
                    Add(view, matches, start, end - start);
                    lastEnd = end;
                    next = end;
                }
            }

            at = next < text.Length ? text.IndexOf('@', next) : -1;
        }
    }

    private static bool IsLocal(char c) => char.IsLetterOrDigit(c) || c is '.' or '_' or '+' or '-' or '\'';

    private static bool IsLabel(char c) => char.IsLetterOrDigit(c) || c == '-';

    /// <summary>Returns the end of a valid domain starting at <paramref name="i"/>, or -1.</summary>
    private static int ParseDomain(string s, int i)
    {
        int start = i;
        int labels = 0;
        int end = -1;
        int limit = Math.Min(s.Length, i + MaxDomain);
        while (i < limit)
        {
            int ls = i;
            while (i < limit && IsLabel(s[i]))
            {
                i++;
            }

            int le = i;
            while (le > ls && s[le - 1] == '-')
            {
                le--;
            }

            if (le == ls || s[ls] == '-' || le - ls > 63)
            {
                break;
            }

            labels++;
            if (labels >= 2 && IsTld(s, ls, le))
            {
                end = le;
            }

            if (le != i || i + 1 >= limit || s[i] != '.' || !IsLabel(s[i + 1]))
            {
                break;
            }

            i++;
        }

        return end > start ? end : -1;
    }

    private static bool IsTld(string s, int start, int end)
    {
        if (end - start < 2)
        {
            return false;
        }

        for (int i = start; i < end; i++)
        {
            if (!char.IsLetter(s[i]))
            {
                return false;
            }
        }

        return true;
    }
}
