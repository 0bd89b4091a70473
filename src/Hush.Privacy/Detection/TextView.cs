using System.Buffers;
using System.Globalization;
using System.Text;

namespace Hush.Privacy.Detection;

/// <summary>
/// A normalized view of a value: the original string and, when needed, a copy in which every code point is
/// NFKC-normalized (fullwidth <c>＠</c> becomes <c>@</c>), decimal digits of any script become ASCII digits, invisible
/// format characters (zero-width space, soft hyphen) are dropped, and — when the value is URL-shaped, i.e. contains a
/// <c>%XX</c> escape — percent escapes are decoded (up to three rounds, for double-encoded redirect parameters).
/// An index map takes normalized positions back to the original.
/// Pure ASCII without <c>%</c> needs no copy: <see cref="Normalized"/> is then the original string itself.
/// </summary>
public sealed class TextView
{
    // normalized index -> first original index it came from, and one past the last one.
    private readonly int[]? _starts;
    private readonly int[]? _ends;

    private TextView(string original, string normalized, int[]? starts, int[]? ends)
    {
        Original = original;
        Normalized = normalized;
        _starts = starts;
        _ends = ends;
    }

    /// <summary>The value as received.</summary>
    public string Original { get; }

    /// <summary>The normalized text detectors match on; the same instance as <see cref="Original"/> on the fast path.</summary>
    public string Normalized { get; }

    /// <summary>True when <see cref="Normalized"/> differs from <see cref="Original"/> and positions need mapping.</summary>
    public bool IsNormalized => _starts is not null;

    /// <summary>Creates the view of <paramref name="original"/>.</summary>
    public static TextView Create(string original)
    {
        ArgumentNullException.ThrowIfNull(original);
        if (!NeedsNormalization(original))
        {
            return new TextView(original, original, null, null);
        }

        TextView view = Normalize(original);

        // Double-encoded values ("%2540" → "%40" → "@", common in redirect parameters) get up to two more rounds.
        for (int round = 0; round < MaxExtraDecodeRounds && HasPercentEscape(view.Normalized); round++)
        {
            TextView inner = Normalize(view.Normalized);
            view = Compose(original, view, inner);
        }

        return view;
    }

    /// <summary>Decoding rounds after the first: triple encoding is already rare; each round is linear.</summary>
    private const int MaxExtraDecodeRounds = 2;

    private static TextView Compose(string original, TextView outer, TextView inner)
    {
        int n = inner.Normalized.Length;
        var starts = new int[n];
        var ends = new int[n];
        for (int i = 0; i < n; i++)
        {
            starts[i] = outer._starts![inner._starts![i]];
            ends[i] = outer._ends![inner._ends![i] - 1];
        }

        return new TextView(original, inner.Normalized, starts, ends);
    }

    /// <summary>Maps a range of <see cref="Normalized"/> to the range of <see cref="Original"/> that produced it.</summary>
    public (int Start, int Length) MapToOriginal(int start, int length)
    {
        int n = Normalized.Length;
        ArgumentOutOfRangeException.ThrowIfNegative(start);
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(start, n - length);
        if (_starts is null || _ends is null)
        {
            return (start, length);
        }

        if (length == 0)
        {
            int at = start < n ? _starts[start] : Original.Length;
            return (at, 0);
        }

        int s = _starts[start];
        int e = _ends[start + length - 1];
        return (s, e - s);
    }

    /// <summary>True when the value has a non-ASCII char or a <c>%XX</c> escape, so a normalized copy is needed.</summary>
    internal static bool NeedsNormalization(ReadOnlySpan<char> value) =>
        value.ContainsAnyExceptInRange('\0', '\x7F') || HasPercentEscape(value);

    private static bool IsPercentEscape(ReadOnlySpan<char> s, int i) =>
        i + 2 < s.Length && s[i] == '%' && char.IsAsciiHexDigit(s[i + 1]) && char.IsAsciiHexDigit(s[i + 2]);

    private static TextView Normalize(string original)
    {
        bool urlShaped = HasPercentEscape(original);
        var b = new Builder(original.Length);
        Span<byte> utf8 = stackalloc byte[4];
        int i = 0;
        while (i < original.Length)
        {
            char c = original[i];
            if (c == '%' && urlShaped && IsPercentEscape(original, i))
            {
                i = DecodePercent(original, i, ref b, utf8);
            }
            else if (c < 0x80)
            {
                b.Add(c, i, i + 1);
                i++;
            }
            else if (char.IsHighSurrogate(c) && i + 1 < original.Length && char.IsLowSurrogate(original[i + 1]))
            {
                AddRune(new Rune(c, original[i + 1]), i, i + 2, ref b);
                i += 2;
            }
            else if (char.IsSurrogate(c))
            {
                // A lone surrogate is invalid UTF-16; keep a replacement char so positions stay aligned.
                b.Add('\uFFFD', i, i + 1);
                i++;
            }
            else
            {
                AddRune(new Rune(c), i, i + 1, ref b);
                i++;
            }
        }

        return new TextView(original, b.ToText(), b.Starts, b.Ends);
    }

    private static bool HasPercentEscape(ReadOnlySpan<char> s)
    {
        int i = s.IndexOf('%');
        while (i >= 0)
        {
            if (IsPercentEscape(s, i))
            {
                return true;
            }

            int next = s[(i + 1)..].IndexOf('%');
            i = next < 0 ? -1 : i + 1 + next;
        }

        return false;
    }

    private static int DecodePercent(string s, int i, ref Builder b, Span<byte> utf8)
    {
        byte lead = HexByte(s, i);
        if (lead < 0x80)
        {
            b.Add((char)lead, i, i + 3);
            return i + 3;
        }

        int need = lead switch
        {
            >= 0xC2 and <= 0xDF => 2,
            >= 0xE0 and <= 0xEF => 3,
            >= 0xF0 and <= 0xF4 => 4,
            _ => 0,
        };
        int count = 0;
        if (need > 0)
        {
            utf8[0] = lead;
            count = 1;
            while (count < need && IsPercentEscape(s, i + (3 * count)))
            {
                utf8[count] = HexByte(s, i + (3 * count));
                count++;
            }
        }

        if (need > 0 && count == need &&
            Rune.DecodeFromUtf8(utf8[..need], out Rune rune, out int consumed) == OperationStatus.Done && consumed == need)
        {
            AddRune(rune, i, i + (3 * need), ref b);
            return i + (3 * need);
        }

        // Not valid UTF-8: keep the escape as text.
        b.Add('%', i, i + 1);
        return i + 1;
    }

    private static byte HexByte(string s, int i) =>
        (byte)((HexValue(s[i + 1]) << 4) | HexValue(s[i + 2]));

    private static int HexValue(char c) => c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;

    private static void AddRune(Rune rune, int start, int end, ref Builder b)
    {
        int value = rune.Value;
        if (value < 0x80)
        {
            b.Add((char)value, start, end);
            return;
        }

        UnicodeCategory category = Rune.GetUnicodeCategory(rune);
        if (category == UnicodeCategory.DecimalDigitNumber)
        {
            b.Add((char)('0' + (int)Rune.GetNumericValue(rune)), start, end);
            return;
        }

        if (category == UnicodeCategory.Format)
        {
            // Zero-width space, soft hyphen, joiners, BOM: invisible, often used to split a secret; dropped.
            return;
        }

        if (CompatibilityMap(value, b.Scratch) is int mapped and > 0)
        {
            for (int k = 0; k < mapped; k++)
            {
                b.Add(b.Scratch[k], start, end);
            }

            return;
        }

        string text = rune.ToString();
        string normalized;
        try
        {
            normalized = text.Normalize(NormalizationForm.FormKC);
        }
        catch (ArgumentException)
        {
            normalized = text;
        }
        catch (PlatformNotSupportedException)
        {
            normalized = text;
        }

        foreach (char c in normalized)
        {
            if (c >= 0x80 && !char.IsSurrogate(c) && CharUnicodeInfo.GetUnicodeCategory(c) == UnicodeCategory.DecimalDigitNumber)
            {
                b.Add((char)('0' + CharUnicodeInfo.GetDecimalDigitValue(c)), start, end);
            }
            else
            {
                b.Add(c, start, end);
            }
        }
    }

    /// <summary>
    /// The NFKC mappings that matter for detection, done by table because globalization-invariant mode (which Hush runs
    /// in) leaves <see cref="string.Normalize(NormalizationForm)"/> without compatibility data: fullwidth ASCII, small
    /// form punctuation (U+FE6B small '@'), mathematical alphanumerics (bold/italic letters), circled letters,
    /// super- and subscript digits, Latin ligatures and the typographic spaces. Returns chars written, or 0.
    /// </summary>
    private static int CompatibilityMap(int cp, Span<char> dest)
    {
        switch (cp)
        {
            case >= 0xFF01 and <= 0xFF5E:
                dest[0] = (char)(cp - 0xFEE0);
                return 1;
            case 0x00A0 or 0x3000 or (>= 0x2000 and <= 0x200A) or 0x202F or 0x205F:
                dest[0] = ' ';
                return 1;
            case >= 0xFE50 and <= 0xFE6B:
                char small = SmallForms[cp - 0xFE50];
                dest[0] = small;
                return small == '\0' ? 0 : 1;
            case >= 0x1D400 and <= 0x1D6A3:
                int idx = (cp - 0x1D400) % 52;
                dest[0] = (char)(idx < 26 ? 'A' + idx : 'a' + idx - 26);
                return 1;
            case >= 0x24B6 and <= 0x24CF:
                dest[0] = (char)('A' + cp - 0x24B6);
                return 1;
            case >= 0x24D0 and <= 0x24E9:
                dest[0] = (char)('a' + cp - 0x24D0);
                return 1;
            case 0x00B9:
                dest[0] = '1';
                return 1;
            case 0x00B2 or 0x00B3:
                dest[0] = (char)('0' + cp - 0x00B0);
                return 1;
            case 0x2070 or (>= 0x2074 and <= 0x2079):
                dest[0] = (char)('0' + cp - 0x2070);
                return 1;
            case >= 0x2080 and <= 0x2089:
                dest[0] = (char)('0' + cp - 0x2080);
                return 1;
            case >= 0x2460 and <= 0x2468:
                dest[0] = (char)('1' + cp - 0x2460);
                return 1;
            case >= 0xFB00 and <= 0xFB06:
                string lig = Ligatures[cp - 0xFB00];
                lig.CopyTo(dest);
                return lig.Length;
            case 0x2024:
                dest[0] = '.';
                return 1;
            default:
                return 0;
        }
    }

    /// <summary>NFKC of U+FE50..U+FE6B (small form variants); '\0' where the target is not ASCII.</summary>
    private const string SmallForms = ",\0.\0;:?!\0(){}\0\0#&*+-<>=\0\\$%@";

    private static readonly string[] Ligatures = ["ff", "fi", "fl", "ffi", "ffl", "st", "st"];

    private struct Builder
    {
        private char[] _chars;
        private int _count;

        public Builder(int capacity)
        {
            int cap = Math.Max(capacity, 4);
            _chars = new char[cap];
            Starts = new int[cap];
            Ends = new int[cap];
            _count = 0;
        }

        public char[] Scratch { get; } = new char[4];

        public int[] Starts { get; private set; }

        public int[] Ends { get; private set; }

        public void Add(char c, int start, int end)
        {
            if (_count == _chars.Length)
            {
                int cap = _chars.Length * 2;
                Array.Resize(ref _chars, cap);
                int[] s = Starts;
                int[] e = Ends;
                Array.Resize(ref s, cap);
                Array.Resize(ref e, cap);
                Starts = s;
                Ends = e;
            }

            _chars[_count] = c;
            Starts[_count] = start;
            Ends[_count] = end;
            _count++;
        }

        public readonly string ToText() => new(_chars, 0, _count);
    }
}
