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
    /// use); -1 until <see cref="WithRuns"/>.
    /// </summary>
    public int CardRun { get; }

    /// <summary>Most digits in one run of digit groups joined by 1-2 of <c>space - . ( )</c> (phone grouping); -1 until computed.</summary>
    public int PhoneRun { get; }

    /// <summary>Most ASCII letters and digits in one run joined by single spaces (IBAN grouping); -1 until computed.</summary>
    public int AlnumRun { get; }

    /// <summary>True once the run lengths are known.</summary>
    public bool HasRuns => CardRun >= 0;

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
    /// These features plus the run lengths of <paramref name="text"/> (the same text they were computed on). One more
    /// pass, only made for values that already passed a detector's flag and count checks.
    /// </summary>
    public TextFeatures WithRuns(ReadOnlySpan<char> text)
    {
        int card = 0, phone = 0, alnum = 0;
        int cardCur = 0, phoneCur = 0, alnumCur = 0;
        int seps = 0;
        bool cardSep = false, alnumSep = false;
        foreach (char c in text)
        {
            if ((uint)(c - '0') <= 9)
            {
                cardCur = cardSep || cardCur > 0 ? cardCur + 1 : 1;
                phoneCur = seps <= 2 ? phoneCur + 1 : 1;
                alnumCur = alnumSep || alnumCur > 0 ? alnumCur + 1 : 1;
                card = Math.Max(card, cardCur);
                phone = Math.Max(phone, phoneCur);
                alnum = Math.Max(alnum, alnumCur);
                cardSep = false;
                alnumSep = false;
                seps = 0;
                continue;
            }

            bool letter = char.IsAsciiLetter(c);
            if (letter)
            {
                alnumCur = alnumSep || alnumCur > 0 ? alnumCur + 1 : 1;
                alnum = Math.Max(alnum, alnumCur);
                alnumSep = false;
            }
            else if (c == ' ' && alnumCur > 0 && !alnumSep)
            {
                alnumSep = true;
            }
            else
            {
                alnumCur = 0;
                alnumSep = false;
            }

            // Card/SSN runs: one space or dash between two digits continues the run; anything else ends it.
            if (c is ' ' or '-' && cardCur > 0 && !cardSep)
            {
                cardSep = true;
            }
            else
            {
                cardCur = 0;
                cardSep = false;
            }

            // Phone runs: up to two of "space - . ( )" between digits continue it ("(415) 555", "+1 (415)").
            if (c is ' ' or '-' or '.' or '(' or ')')
            {
                seps++;
            }
            else
            {
                phoneCur = 0;
                seps = 3;
            }
        }

        return new TextFeatures(Length, Digits, Flags, card, phone, alnum);
    }

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

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool Allows(in TextFeatures f) =>
        f.Length >= MinLength && f.Digits >= MinDigits && (f.Flags & AllOf) == AllOf &&
        (AnyOf == CharFlags.None || (f.Flags & AnyOf) != 0);

    /// <summary>The run checks; true when there are none or the runs are not computed (callers compute them first).</summary>
    public bool AllowsRuns(in TextFeatures f) =>
        !f.HasRuns || (f.CardRun >= MinCardRun && f.PhoneRun >= MinPhoneRun && f.AlnumRun >= MinAlnumRun);
}
