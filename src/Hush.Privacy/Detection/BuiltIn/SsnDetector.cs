namespace Hush.Privacy.Detection.BuiltIn;

/// <summary>
/// US Social Security numbers written <c>AAA-GG-SSSS</c> or <c>AAA GG SSSS</c> (same separator twice). Area 000, 666
/// and 900–999, group 00 and serial 0000 are never issued and are rejected, as is a pattern inside a longer digit run.
/// Nine bare digits are not matched: too many ids and amounts look like that.
/// </summary>
internal sealed class SsnDetector() : BuiltInDetector("us_ssn", "national_id")
{
    private const int SsnChars = 11;

    public override Prefilter Prefilter { get; } = new(SsnChars, 9, CharFlags.None, CharFlags.Dash | CharFlags.Space) { MinCardRun = 9 };

    protected override void FindCore(string text, TextView? view, List<DetectorMatch> matches)
    {
        int last = text.Length - SsnChars;
        for (int i = 0; i <= last; i++)
        {
            char sep = text[i + 3];
            if (sep is not ('-' or ' ') || text[i + 6] != sep || !Digits(text, i, 3) || !Digits(text, i + 4, 2) ||
                !Digits(text, i + 7, 4))
            {
                continue;
            }

            if (!BoundedBefore(text, i) || !BoundedAfter(text, i + SsnChars))
            {
                continue;
            }

            int area = ((text[i] - '0') * 100) + ((text[i + 1] - '0') * 10) + (text[i + 2] - '0');
            bool groupZero = text[i + 4] == '0' && text[i + 5] == '0';
            bool serialZero = text.AsSpan(i + 7, 4).SequenceEqual("0000");
            if (area == 0 || area == 666 || area >= 900 || groupZero || serialZero)
            {
                continue;
            }

            Add(view, matches, i, SsnChars);
            i += SsnChars - 1;
        }
    }

    private static bool Digits(string s, int i, int count)
    {
        for (int k = i; k < i + count; k++)
        {
            if (!Chars.IsDigit(s[k]))
            {
                return false;
            }
        }

        return true;
    }

    private static bool BoundedBefore(string s, int i)
    {
        char p = Chars.Prev(s, i);
        if (Chars.IsWord(p) || p is '+' or '_')
        {
            return false;
        }

        // "1-123-45-6789" or "12.123-45-6789": part of a longer number.
        return !(p is '-' or '.' or ' ' or '/' && i >= 2 && Chars.IsDigit(s[i - 2]));
    }

    private static bool BoundedAfter(string s, int end)
    {
        char n = Chars.At(s, end);
        if (Chars.IsWord(n) || n == '_')
        {
            return false;
        }

        return !(n is '-' or '.' or ' ' or '/' && end + 1 < s.Length && Chars.IsDigit(s[end + 1]));
    }
}
