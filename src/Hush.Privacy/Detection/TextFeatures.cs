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
    {
        Length = length;
        Digits = digits;
        Flags = flags;
    }

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
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool Allows(in TextFeatures f) =>
        f.Length >= MinLength && f.Digits >= MinDigits && (f.Flags & AllOf) == AllOf &&
        (AnyOf == CharFlags.None || (f.Flags & AnyOf) != 0);
}
