using System.Buffers;
using System.Runtime.CompilerServices;

namespace Hush.Privacy.Detection;

/// <summary>Character classes present in a value, used as cheap prefilters before any detector scans it.</summary>
[Flags]
internal enum CharFlags
{
    None = 0,
    At = 1 << 0,
    Dot = 1 << 1,
    Colon = 1 << 2,
    Dash = 1 << 3,
    Plus = 1 << 4,
    Paren = 1 << 5,
    EqualsSign = 1 << 6,
    Underscore = 1 << 7,
    Space = 1 << 8,
    Slash = 1 << 9,
    Upper = 1 << 10,
    Lower = 1 << 11,
    Digit = 1 << 12,
    Percent = 1 << 13,
    NonAscii = 1 << 14,
    Other = 1 << 15,
}

/// <summary>
/// One pass over a value (about 1 ns per char) records which char classes occur and how many digits there are, so a
/// <see cref="DetectorSet"/> can skip every detector whose trigger chars are absent.
/// </summary>
internal readonly struct TextFeatures
{
    private static readonly CharFlags[] AsciiTable = BuildTable();

    /// <summary>SearchValues rather than IndexOfAnyInRange: its unoptimized generic code allocates until tier-up.</summary>
    private static readonly SearchValues<char> AsciiDigits = SearchValues.Create("0123456789");

    /// <summary>
    /// Texts up to this long are walked char by char: ids and addresses (UUIDs, hex, IPs) alternate digits and letters
    /// every few chars, and one vectorized search per short group cost more than the chars it skipped (a UUID's digit
    /// runs took ~100 ns). Longer texts (SQL, stack traces) keep the vectorized search.
    /// </summary>
    internal const int ScalarScanChars = 64;

    private static readonly SearchValues<char> AsciiAlphanumerics =
        SearchValues.Create("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz");

    public TextFeatures(int length, int digits, CharFlags flags)
        : this(length, digits, flags, -1, -1, -1)
    {
    }

    private TextFeatures(int length, int digits, CharFlags flags, int cardRun, int phoneRun, int alnumRun)
    {
        Length = length;
        Digits = digits;
        Flags = flags;
        CardRun = cardRun;
        PhoneRun = phoneRun;
        AlnumRun = alnumRun;
    }

    /// <summary>
    /// Most digits in one run of digit groups joined by exactly one space or dash (the grouping payment cards and SSNs
    /// use); -1 until <see cref="WithRuns"/> computed it.
    /// </summary>
    public int CardRun { get; }

    /// <summary>Most digits in one run of digit groups joined by 1-2 of <c>space - . ( )</c> (phone grouping); -1 until computed.</summary>
    public int PhoneRun { get; }

    /// <summary>Most ASCII letters and digits in one run joined by single spaces (IBAN grouping); -1 until computed.</summary>
    public int AlnumRun { get; }


    public int Length { get; }

    public int Digits { get; }

    public CharFlags Flags { get; }

    public bool Has(CharFlags flag) => (Flags & flag) != 0;

    public bool HasAll(CharFlags flags) => (Flags & flags) == flags;

    public static TextFeatures Compute(ReadOnlySpan<char> text)
    {
        CharFlags[] table = AsciiTable;
        CharFlags flags = CharFlags.None;
        int digits = 0;
        foreach (char c in text)
        {
            if (c < 128)
            {
                CharFlags f = table[c];
                flags |= f;
                digits += (int)(f & CharFlags.Digit) >> 12;
            }
            else
            {
                flags |= CharFlags.NonAscii;
            }
        }

        return new TextFeatures(text.Length, digits, flags);
    }

    /// <summary>
    /// The features of <c>TextView.Create(text).Normalized</c> without building it, for text whose chars are all Latin-1
    /// (U+0000-U+00FF) and that has no <c>%</c>: bytes values that are not UTF-8 are scanned as Latin-1, and building
    /// the view of eight random bytes cost more than the rest of their scan. Without <c>%</c> the normalization is per
    /// char and context-free (ASCII stays, each other char becomes the same text wherever it stands), so the
    /// normalized text is the concatenation of each char's own normalized form, whose features are tabled once by
    /// normalizing that char alone. False (features unknown) for any other text.
    /// </summary>
    public static bool TryComputeLatin1Normalized(ReadOnlySpan<char> text, out TextFeatures normalized)
    {
        CharFlags[] table = AsciiTable;
        Latin1Fold[] folds = Latin1Folds.Value;
        CharFlags flags = CharFlags.None;
        int digits = 0, length = 0;
        foreach (char c in text)
        {
            if (c < 128)
            {
                CharFlags f = table[c];
                flags |= f;
                digits += (int)(f & CharFlags.Digit) >> 12;
                length++;
                continue;
            }

            if (c > 0xFF)
            {
                normalized = default;
                return false;
            }

            Latin1Fold fold = folds[c - 128];
            flags |= fold.Flags;
            digits += fold.Digits;
            length += fold.Length;
        }

        if ((flags & CharFlags.Percent) != 0)
        {
            normalized = default;
            return false;
        }

        normalized = new TextFeatures(length, digits, flags);
        return true;
    }

    /// <summary>
    /// These features plus the run lengths a prefilter asks for (card and phone runs together, the alphanumeric run
    /// apart), computed on <paramref name="text"/> (the same text the features were computed on) only when not yet
    /// known, short texts from the scan's <paramref name="masks"/> (built here or by a detector before). Only values
    /// that already passed a detector's flag and count checks get here.
    /// </summary>
    public TextFeatures WithRuns(ReadOnlySpan<char> text, in Prefilter needs, ref LazyMasks masks)
    {
        int card = CardRun, phone = PhoneRun, alnum = AlnumRun;
        bool digitRuns = (needs.MinCardRun | needs.MinPhoneRun) != 0 && card < 0;
        bool alnumRun = needs.MinAlnumRun != 0 && alnum < 0;
        if (text.Length <= CharMasks.MaxChars && (digitRuns || alnumRun))
        {
            // One set of masks serves both runs (a hex id needs the card and the IBAN run).
            var shared = masks.Of(text);
            if (digitRuns)
            {
                (card, phone) = DigitRuns(shared);
            }

            if (alnumRun)
            {
                alnum = AlphanumericRun(shared);
            }
        }
        else
        {
            if (digitRuns)
            {
                (card, phone) = DigitRuns(text);
            }

            if (alnumRun)
            {
                alnum = AlphanumericRun(text);
            }
        }

        return new TextFeatures(Length, Digits, Flags, card, phone, alnum);
    }

    /// <summary>
    /// Longest card/SSN run (digit groups joined by exactly one space or dash) and phone run (joined by one or two of
    /// <c>space - . ( )</c>), in digits. Texts up to <see cref="CharMasks.MaxChars"/> chars are read as bit masks
    /// (<see cref="DigitRuns(in CharMasks)"/>); longer ones by walking digit groups with a vectorized search, so text
    /// between numbers costs a fraction of a nanosecond per char.
    /// </summary>
    internal static (int Card, int Phone) DigitRuns(ReadOnlySpan<char> text)
    {
        if (text.Length <= CharMasks.MaxChars)
        {
            return DigitRuns(CharMasks.Of(text));
        }

        int card = 0, phone = 0, cardCur = 0, phoneCur = 0;
        int prevEnd = -1;
        int i = 0;
        while (i < text.Length)
        {
            int d = text[i..].IndexOfAny(AsciiDigits);
            if (d < 0)
            {
                break;
            }

            int start = i + d;
            int end = start + 1;
            while (end < text.Length && (uint)(text[end] - '0') <= 9)
            {
                end++;
            }

            int length = end - start;
            int gap = start - prevEnd;
            bool joined = prevEnd >= 0;
            cardCur = joined && gap == 1 && text[prevEnd] is ' ' or '-' ? cardCur + length : length;
            phoneCur = joined && gap <= 2 && IsPhoneSeparator(text[prevEnd]) && (gap == 1 || IsPhoneSeparator(text[prevEnd + 1]))
                ? phoneCur + length
                : length;
            card = Math.Max(card, cardCur);
            phone = Math.Max(phone, phoneCur);
            prevEnd = end;
            i = end;
        }

        return (card, phone);
    }

    /// <summary>
    /// The card and phone runs of a short text from its masks: a separator joins two digit groups when digits stand
    /// right on both sides of it, and two phone separators do when digits stand right before and after the pair (the
    /// joins the group walk makes, as shifts); then each run's digits are counted at once.
    /// </summary>
    internal static (int Card, int Phone) DigitRuns(in CharMasks masks)
    {
        ulong d = masks.Digits;
        ulong cardJoins = masks.CardSeparators & (d << 1) & (d >> 1);
        ulong phoneJoins = masks.PhoneSeparators & (d << 1) & (d >> 1);
        ulong pairs = masks.PhoneSeparators & (masks.PhoneSeparators >> 1) & (d << 1) & (d >> 2);
        return CharMasks.MostInOneRun(d | cardJoins, d | phoneJoins | pairs | (pairs << 1), d);
    }

    /// <summary>The alphanumeric run of a short text from its masks: words joined by one space between them.</summary>
    internal static int AlphanumericRun(in CharMasks masks)
    {
        ulong a = masks.Alphanumerics;
        return CharMasks.MostInOneRun(a | (masks.Spaces & (a << 1) & (a >> 1)), a);
    }

    /// <summary>Most ASCII letters and digits in one run of alphanumeric words joined by single spaces (IBAN grouping).</summary>
    internal static int AlphanumericRun(ReadOnlySpan<char> text)
    {
        if (text.Length <= CharMasks.MaxChars)
        {
            return AlphanumericRun(CharMasks.Of(text));
        }

        int best = 0, current = 0;
        int prevEnd = -1;
        int i = 0;
        while (i < text.Length)
        {
            int d = text[i..].IndexOfAny(AsciiAlphanumerics);
            if (d < 0)
            {
                break;
            }

            int start = i + d;
            int length = text[start..].IndexOfAnyExcept(AsciiAlphanumerics);
            if (length < 0)
            {
                length = text.Length - start;
            }

            current = prevEnd >= 0 && start - prevEnd == 1 && text[prevEnd] == ' ' ? current + length : length;
            best = Math.Max(best, current);
            prevEnd = start + length;
            i = prevEnd;
        }

        return best;
    }

    /// <summary>The normalized form of U+0080-U+00FF, each char alone, from <see cref="TextView"/> itself.</summary>
    private static readonly Lazy<Latin1Fold[]> Latin1Folds = new(static () =>
    {
        var folds = new Latin1Fold[128];
        for (int c = 128; c < 256; c++)
        {
            string normalized = TextView.Create(((char)c).ToString()).Normalized;
            TextFeatures f = Compute(normalized);
            folds[c - 128] = new Latin1Fold(f.Length, f.Digits, f.Flags);
        }

        return folds;
    });

    private static bool IsPhoneSeparator(char c) => c is ' ' or '-' or '.' or '(' or ')';

    private static CharFlags[] BuildTable()
    {
        var t = new CharFlags[128];
        for (int c = 0; c < 128; c++)
        {
            t[c] = c switch
            {
                '@' => CharFlags.At,
                '.' => CharFlags.Dot,
                ':' => CharFlags.Colon,
                '-' => CharFlags.Dash,
                '+' => CharFlags.Plus,
                '(' or ')' => CharFlags.Paren,
                '=' => CharFlags.EqualsSign,
                '_' => CharFlags.Underscore,
                ' ' or '\t' or '\r' or '\n' => CharFlags.Space,
                '/' => CharFlags.Slash,
                '%' => CharFlags.Percent,
                >= 'A' and <= 'Z' => CharFlags.Upper,
                >= 'a' and <= 'z' => CharFlags.Lower,
                >= '0' and <= '9' => CharFlags.Digit,
                _ => CharFlags.Other,
            };
        }

        return t;
    }
}

/// <summary>The features one Latin-1 char contributes to a normalized text.</summary>
internal readonly record struct Latin1Fold(int Length, int Digits, CharFlags Flags);

/// <summary>
/// What a value must have for a detector to possibly match: a minimum length and digit count, every flag of
/// <see cref="AllOf"/> and (when set) one flag of <see cref="AnyOf"/>. Checked inline by <see cref="DetectorSet"/>
/// without a virtual call, so skipping a detector costs about a nanosecond.
/// </summary>
internal readonly record struct Prefilter(int MinLength, int MinDigits, CharFlags AllOf, CharFlags AnyOf)
{
    /// <summary>Least <see cref="TextFeatures.CardRun"/> a match needs (0: no requirement).</summary>
    public int MinCardRun { get; init; }

    /// <summary>Least <see cref="TextFeatures.PhoneRun"/> a match needs (0: no requirement).</summary>
    public int MinPhoneRun { get; init; }

    /// <summary>Least <see cref="TextFeatures.AlnumRun"/> a match needs (0: no requirement).</summary>
    public int MinAlnumRun { get; init; }

    /// <summary>True when <see cref="AllowsRuns"/> needs <see cref="TextFeatures.WithRuns"/>.</summary>
    public bool NeedsRuns => (MinCardRun | MinPhoneRun | MinAlnumRun) != 0;

    /// <summary>True when a run this prefilter checks is not computed yet.</summary>
    public bool LacksRuns(in TextFeatures f) =>
        ((MinCardRun | MinPhoneRun) != 0 && f.CardRun < 0) || (MinAlnumRun != 0 && f.AlnumRun < 0);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool Allows(in TextFeatures f) =>
        f.Length >= MinLength && f.Digits >= MinDigits && (f.Flags & AllOf) == AllOf &&
        (AnyOf == CharFlags.None || (f.Flags & AnyOf) != 0);

    /// <summary>The run checks; a run not computed yet passes (callers compute the ones they check first).</summary>
    public bool AllowsRuns(in TextFeatures f) =>
        (MinCardRun == 0 || f.CardRun < 0 || f.CardRun >= MinCardRun) &&
        (MinPhoneRun == 0 || f.PhoneRun < 0 || f.PhoneRun >= MinPhoneRun) &&
        (MinAlnumRun == 0 || f.AlnumRun < 0 || f.AlnumRun >= MinAlnumRun);
}

/// <summary>
/// The flag and count checks of up to 64 prefilters as bit tables: bit i of <see cref="Candidates"/> is set exactly when
/// prefilter i's <see cref="Prefilter.Allows"/> is true. Lengths and digit counts index a table each (clamped to the
/// largest minimum, past which every count passes); the 16 flag bits split into two bytes, each indexing an "all of"
/// and an "any of" table, because "all of" holds when it holds on both halves and "any of" when it holds on either.
/// </summary>
internal sealed class PrefilterMasks
{
    public const int MaxDetectors = 64;

    private readonly ulong[] _byLength;
    private readonly ulong[] _byDigits;
    private readonly ulong[] _allLow = new ulong[256];
    private readonly ulong[] _allHigh = new ulong[256];
    private readonly ulong[] _anyLow = new ulong[256];
    private readonly ulong[] _anyHigh = new ulong[256];

    public PrefilterMasks(ReadOnlySpan<Prefilter> prefilters)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(prefilters.Length, MaxDetectors);
        int maxLength = 0, maxDigits = 0;
        foreach (Prefilter p in prefilters)
        {
            maxLength = Math.Max(maxLength, p.MinLength);
            maxDigits = Math.Max(maxDigits, p.MinDigits);
        }

        _byLength = new ulong[maxLength + 1];
        _byDigits = new ulong[maxDigits + 1];
        for (int i = 0; i < prefilters.Length; i++)
        {
            Prefilter p = prefilters[i];
            ulong bit = 1UL << i;
            for (int n = 0; n <= maxLength; n++)
            {
                _byLength[n] |= n >= p.MinLength ? bit : 0;
            }

            for (int n = 0; n <= maxDigits; n++)
            {
                _byDigits[n] |= n >= p.MinDigits ? bit : 0;
            }

            int all = (int)p.AllOf, any = (int)p.AnyOf;
            for (int b = 0; b < 256; b++)
            {
                _allLow[b] |= (b & all & 0xFF) == (all & 0xFF) ? bit : 0;
                _allHigh[b] |= (b & (all >> 8)) == (all >> 8) ? bit : 0;
                _anyLow[b] |= any == 0 || (b & any & 0xFF) != 0 ? bit : 0;
                _anyHigh[b] |= any == 0 || (b & (any >> 8)) != 0 ? bit : 0;
            }
        }
    }

    /// <summary>The prefilters (by bit) whose flag and count checks <paramref name="f"/> passes.</summary>
    public ulong Candidates(in TextFeatures f)
    {
        int flags = (int)f.Flags;
        int low = flags & 0xFF, high = (flags >> 8) & 0xFF;
        return _byLength[Math.Min(f.Length, _byLength.Length - 1)] & _byDigits[Math.Min(f.Digits, _byDigits.Length - 1)] &
            _allLow[low] & _allHigh[high] & (_anyLow[low] | _anyHigh[high]);
    }
}
