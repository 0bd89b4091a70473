using System.Buffers;
using System.Globalization;
using System.Text;

namespace Hush.Privacy.Detection;

/// <summary>
/// A normalized view of a value: the original string and, when needed, a copy in which every code point whose NFKC form
/// is ASCII gets that form by table (fullwidth <c>＠</c> becomes <c>@</c>, <c>𝐚</c> <c>a</c>, <c>⑽</c> <c>(10)</c>; the
/// same with or without ICU), the look-alikes of <c>-</c> <c>:</c> <c>/</c> <c>.</c> (en dash, ratio, division slash,
/// ideographic full stop) become those, digits of any script become ASCII digits, invisible
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

        if (Fold(value, out char first, out string? text))
        {
            if (text is null)
            {
                b.Add(first, start, end);
                return;
            }

            foreach (char c in text)
            {
                b.Add(c, start, end);
            }

            return;
        }

        double digit = Rune.GetNumericValue(rune);
        if (category == UnicodeCategory.OtherNumber && digit is >= 0d and <= 9d && digit == Math.Floor(digit))
        {
            // A digit without a compatibility form (dingbat ❶, double-circled ⓵): still the digit to a card detector.
            b.Add((char)('0' + (int)digit), start, end);
            return;
        }

        // Outside the table NFKC cannot make ASCII, which is all the detectors match; with ICU present this still folds
        // the rest (halfwidth katakana) for regex detectors, under globalization-invariant mode it returns the text as is.
        string original = rune.ToString();
        string normalized;
        try
        {
            normalized = original.Normalize(NormalizationForm.FormKC);
        }
        catch (ArgumentException)
        {
            normalized = original;
        }
        catch (PlatformNotSupportedException)
        {
            normalized = original;
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
    /// The ASCII form of <paramref name="cp"/> from <see cref="CompatibilityTable"/> (NFKC by table, because
    /// globalization-invariant mode, which Hush runs in, leaves <see cref="string.Normalize(NormalizationForm)"/> a
    /// no-op): one char in <paramref name="single"/>, or several in <paramref name="text"/> (<c>⑽</c> is <c>(10)</c>).
    /// </summary>
    private static bool Fold(int cp, out char single, out string? text)
    {
        ReadOnlySpan<int> firsts = CompatibilityTable.Firsts;
        int i = firsts.BinarySearch(cp);
        if (i < 0)
        {
            i = ~i - 1;
        }

        single = '\0';
        text = null;
        if (i < 0 || cp > CompatibilityTable.Lasts[i])
        {
            return false;
        }

        string target = CompatibilityTable.Targets[i];
        if (target.Length == 1)
        {
            single = (char)(target[0] + (cp - firsts[i]));
        }
        else
        {
            text = target;
        }

        return true;
    }

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
