using System.Buffers;

namespace Hush.Privacy.Detection.BuiltIn;

/// <summary>
/// Phone numbers: international <c>+</c> forms (E.164 <c>+14155552671</c>, or grouped <c>+44 20 7946 0958</c>,
/// <c>+1 (415) 555-2671</c>; 8–15 digits) and national forms with separators: North American
/// <c>(415) 555-2671</c>, <c>415-555-2671</c>, <c>415.555.2671</c>, <c>1-415-555-2671</c>, and trunk-prefixed
/// <c>020 7946 0958</c>. Bare digit runs, dates, times and versions are not phone numbers.
/// </summary>
internal sealed class PhoneDetector() : MaskReadingDetector("phone", "phone")
{
    /// <summary>E.164 allows at most 15 digits; 8 is the shortest international number worth flagging.</summary>
    private const int MaxDigits = 15;
    private const int MinInternational = 8;
    private const int MaxGroups = 8;

    /// <summary>"255.255.255.255".</summary>
    private const int MaxDottedQuad = 15;

    /// <summary>Where a phone number can start.</summary>
    private static readonly SearchValues<char> StartChars = SearchValues.Create("+(0123456789");

    public override Prefilter Prefilter { get; } =
        new(8, 7, CharFlags.None, CharFlags.Plus | CharFlags.Paren | CharFlags.Dash | CharFlags.Space | CharFlags.Dot) { MinPhoneRun = 7 };

    protected override void FindCore(string text, TextView? view, List<DetectorMatch> matches, ref LazyMasks masks)
    {
        // A value that is one IPv4 address (network.peer.address on every span) holds no phone number: dotted
        // numbers need a group of four digits, the other forms a space, dash, paren or '+'. The IPv4 detector reports it.
        if (text.Length <= MaxDottedQuad && Ipv4Detector.TryParse(text, 0) == text.Length)
        {
            return;
        }

        if (masks.TryOfShortAscii(text, out var shortMasks))
        {
            FindShort(text, shortMasks, view, matches);
        }
        else
        {
            FindByWalk(text, view, matches);
        }
    }

    /// <summary>The general search: from one possible start char to the next (tests compare it with <see cref="FindShort"/>).</summary>
    internal void FindByWalk(string text, TextView? view, List<DetectorMatch> matches)
    {
        Span<int> groups = stackalloc int[MaxGroups];
        int i = 0;
        while (i < text.Length)
        {
            i = NextStart(text, i);
            if (i < 0)
            {
                return;
            }

            if (IsStart(text, i))
            {
                int end = TryParse(text, i, groups);
                if (end > 0)
                {
                    Add(view, matches, i, end - i);
                    i = end;
                    continue;
                }
            }

            // No number starts inside a digit run: the char before each of its digits is a digit (a word char).
            i = Chars.IsDigit(text[i]) ? Chars.SkipDigits(text, i + 1) : i + 1;
        }
    }

    /// <summary>
    /// The search of <see cref="FindCore(string, TextView?, List{DetectorMatch}, ref LazyMasks)"/> for ASCII text of at most <see cref="CharMasks.MaxChars"/> chars: the places
    /// <see cref="IsStart"/> accepts, as bits (a digit, or <c>+</c> or <c>(</c> before a digit, not after a word char
    /// or one of <c>. - _ / + ,</c>), so an id that alternates digits and letters costs no branch per digit group.
    /// </summary>
    private void FindShort(string text, in CharMasks masks, TextView? view, List<DetectorMatch> matches)
    {
        Span<int> groups = stackalloc int[MaxGroups];
        ulong candidates = (masks.Digits | (masks.PhoneStarts & (masks.Digits >> 1))) & ~((masks.Alphanumerics | masks.PhoneBlockers) << 1);
        int next = 0;
        while (candidates != 0)
        {
            int i = System.Numerics.BitOperations.TrailingZeroCount(candidates);
            candidates &= candidates - 1;
            if (i < next)
            {
                continue;
            }

            int end = TryParse(text, i, groups);
            if (end > 0)
            {
                Add(view, matches, i, end - i);
                next = end;
            }
        }
    }

    /// <summary>The first char at or after <paramref name="i"/> a number can start with, or -1; short texts char by char, as <see cref="Chars.NextDigit"/>.</summary>
    internal static int NextStart(string s, int i)
    {
        if (s.Length > TextFeatures.ScalarScanChars)
        {
            int d = s.AsSpan(i).IndexOfAny(StartChars);
            return d < 0 ? -1 : i + d;
        }

        for (; i < s.Length; i++)
        {
            char c = s[i];
            if (Chars.IsDigit(c) || c is '+' or '(')
            {
                return i;
            }
        }

        return -1;
    }

    private static bool IsStart(string s, int i)
    {
        char p = Chars.Prev(s, i);
        if (Chars.IsWord(p) || p is '.' or '-' or '_' or '/' or '+' or ',')
        {
            return false;
        }

        char c = s[i];
        return c != '+' && c != '(' || (i + 1 < s.Length && Chars.IsDigit(s[i + 1]));
    }

    /// <summary>
    /// Returns the end of a phone number starting at <paramref name="i"/>, or -1. The digit groups are read as far as
    /// they go; when all of them together are not a number, a shorter run that ends where a space follows is tried,
    /// longest first: "020 7946 0958 123" and "+44 20 7946 0958 12345" hold a number followed by another one (an
    /// extension, a count), while a run joined by dashes or dots past the number ("415-555-2671-12") is an id.
    /// </summary>
    private static int TryParse(string s, int i, Span<int> groups)
    {
        Span<int> ends = stackalloc int[MaxGroups];
        int j = i;
        bool plus = s[j] == '+';
        if (plus)
        {
            j++;
        }

        int count = 0;
        int digits = 0;
        int parenGroup = -1;

        // Bit k: the separator before group k is a dot, or a space or dash.
        int dots = 0;
        int others = 0;
        while (true)
        {
            bool paren = j < s.Length && s[j] == '(';
            int gs = paren ? j + 1 : j;
            int ge = Chars.SkipDigits(s, gs);
            if (ge == gs || count == MaxGroups || (paren && (ge >= s.Length || s[ge] != ')' || parenGroup >= 0)))
            {
                // A separator not followed by a group ends the number before the separator.
                break;
            }

            if (paren)
            {
                parenGroup = count;
            }

            groups[count] = ge - gs;
            j = paren ? ge + 1 : ge;
            ends[count++] = j;
            digits += ge - gs;
            if (digits > MaxDigits || j >= s.Length)
            {
                break;
            }

            char sep = s[j];
            if (paren && (Chars.IsDigit(sep) || sep == '('))
            {
                continue;
            }

            if (sep is ' ' or '-' or '.' && j + 1 < s.Length && (Chars.IsDigit(s[j + 1]) || s[j + 1] == '('))
            {
                dots |= sep == '.' ? 1 << count : 0;
                others |= sep != '.' ? 1 << count : 0;
                j++;
                continue;
            }

            break;
        }

        for (int k = count; k > 0; k--)
        {
            if (k < count && s[ends[k - 1]] != ' ')
            {
                continue;
            }

            int end = ends[k - 1];
            int within = (1 << k) - 1;
            if (IsNumber(s, i, plus, groups[..k], parenGroup < k ? parenGroup : -1, (dots & within) != 0, (others & within) != 0) &&
                BoundedAfter(s, end))
            {
                return end;
            }
        }

        return -1;
    }

    /// <summary>True when the groups <paramref name="g"/> starting at <paramref name="i"/> form a phone number.</summary>
    private static bool IsNumber(string s, int i, bool plus, ReadOnlySpan<int> g, int parenGroup, bool dot, bool otherSep)
    {
        int digits = 0;
        foreach (int len in g)
        {
            digits += len;
        }

        if (digits > MaxDigits || (dot && otherSep))
        {
            return false;
        }

        char first = plus ? s[i + 1] : s[i] == '(' ? s[i + 1] : s[i];
        return plus
            ? digits >= MinInternational && first != '0' && !dot
            : parenGroup == 0
                ? digits is 10 or 11 && g[0] is >= 2 and <= 5 && g.Length >= 2
                : parenGroup < 0 && IsNational(s, i, g, digits, dot);
    }

    private static bool IsNational(string s, int i, ReadOnlySpan<int> g, int digits, bool dot)
    {
        // North American: 415-555-2671 or 1-415-555-2671; area code and exchange start with 2-9.
        if (g.Length == 3 && g[0] == 3 && g[1] == 3 && g[2] == 4)
        {
            return s[i] >= '2' && s[i + 4] >= '2';
        }

        if (g.Length == 4 && g[0] == 1 && g[1] == 3 && g[2] == 3 && g[3] == 4)
        {
            return s[i] == '1' && s[i + 2] >= '2' && s[i + 6] >= '2';
        }

        // Trunk-prefixed national numbers (UK, DE, FR, ...): 020 7946 0958, 030-1234-5678.
        if (dot || s[i] != '0' || digits is < 10 or > 11 || g.Length is < 3 or > 4)
        {
            return false;
        }

        foreach (int len in g)
        {
            if (len is < 2 or > 5)
            {
                return false;
            }
        }

        return true;
    }

    private static bool BoundedAfter(string s, int end)
    {
        char n = Chars.At(s, end);
        if (Chars.IsWord(n) || n == '_')
        {
            return false;
        }

        return !(n is '.' or '-' or ':' or '/' && end + 1 < s.Length && Chars.IsDigit(s[end + 1]));
    }
}
