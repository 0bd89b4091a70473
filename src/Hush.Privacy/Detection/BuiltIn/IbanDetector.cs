using System.Collections.Frozen;

namespace Hush.Privacy.Detection.BuiltIn;

/// <summary>
/// International bank account numbers: a known country code, two check digits and the country's exact BBAN length,
/// compact or in space-separated groups of four, with a valid ISO 7064 mod-97 checksum.
/// </summary>
internal sealed class IbanDetector() : MaskReadingDetector("iban", "iban")
{
    private const int MinIban = 15;
    private const int MaxIban = 34;

    /// <summary>Total IBAN length per country (SWIFT IBAN registry).</summary>
    private static readonly FrozenDictionary<int, int> Lengths = BuildLengths();

    public override Prefilter Prefilter { get; } = new(MinIban, 2, CharFlags.None, CharFlags.Upper | CharFlags.Lower) { MinAlnumRun = MinIban };

    protected override void FindCore(string text, TextView? view, List<DetectorMatch> matches, ref LazyMasks masks)
    {
        if (masks.TryOfShortAscii(text, out var shortMasks))
        {
            FindShort(text, shortMasks, view, matches);
        }
        else
        {
            FindByWalk(text, view, matches);
        }
    }

    /// <summary>The general search: from one digit pair to the next (tests compare it with <see cref="FindShort"/>).</summary>
    internal void FindByWalk(string text, TextView? view, List<DetectorMatch> matches)
    {
        Span<char> buf = stackalloc char[MaxIban];
        int last = text.Length - MinIban;
        int i = 0;
        while (i <= last)
        {
            // Jump to the next digit pair: the check digits at i + 2 (a vectorized search, not a per-char loop).
            int d = Chars.NextDigit(text, i + 2);
            if (d < 0)
            {
                return;
            }

            i = d - 2;
            if (i > last)
            {
                return;
            }

            if (!(char.IsAsciiLetter(text[i]) && char.IsAsciiLetter(text[i + 1]) && Chars.IsDigit(text[i + 2]) &&
                  Chars.IsDigit(text[i + 3]) && !Chars.IsWord(Chars.Prev(text, i))))
            {
                // The next candidate's check digits follow two letters, so they start after this digit run ends
                // (at q, a non-digit): i + 2 >= q + 1.
                i = Math.Max(i + 1, Chars.SkipDigits(text, i + 2) - 1);
                continue;
            }

            int end = MatchAt(text, i, buf);
            if (end > 0)
            {
                Add(view, matches, i, end - i);
                i = end;
                continue;
            }

            i++;
        }
    }

    /// <summary>
    /// The search of <see cref="FindCore(string, TextView?, List{DetectorMatch}, ref LazyMasks)"/> for ASCII text of at most <see cref="CharMasks.MaxChars"/> chars: the places where two
    /// letters and two digits stand after no word char, as bits, so a hex id costs no branch per digit group.
    /// </summary>
    private void FindShort(string text, in CharMasks masks, TextView? view, List<DetectorMatch> matches)
    {
        Span<char> buf = stackalloc char[MaxIban];
        int last = text.Length - MinIban;
        ulong letters = masks.Letters;
        ulong candidates = letters & (letters >> 1) & (masks.Digits >> 2) & (masks.Digits >> 3) & ~(masks.Alphanumerics << 1);
        int next = 0;
        while (candidates != 0)
        {
            int i = System.Numerics.BitOperations.TrailingZeroCount(candidates);
            candidates &= candidates - 1;
            if (i > last)
            {
                return;
            }

            if (i < next)
            {
                continue;
            }

            int end = MatchAt(text, i, buf);
            if (end > 0)
            {
                Add(view, matches, i, end - i);
                next = end;
            }
        }
    }

    /// <summary>The end of the IBAN whose country code is at <paramref name="i"/> (two letters, two digits, no word char before), or -1.</summary>
    private static int MatchAt(string text, int i, Span<char> buf)
    {
        int key = (char.ToUpperInvariant(text[i]) << 8) | char.ToUpperInvariant(text[i + 1]);
        if (!Lengths.TryGetValue(key, out int length))
        {
            return -1;
        }

        int j = i;
        int count = 0;
        while (count < length && j < text.Length)
        {
            char c = text[j];
            if (char.IsAsciiLetterOrDigit(c))
            {
                buf[count++] = c;
                j++;
            }
            else if (c == ' ' && count % 4 == 0 && j + 1 < text.Length && char.IsAsciiLetterOrDigit(text[j + 1]))
            {
                j++;
            }
            else
            {
                break;
            }
        }

        return count == length && !Chars.IsWord(Chars.At(text, j)) && Mod97(buf[..length]) == 1 ? j : -1;
    }

    private static int Mod97(ReadOnlySpan<char> iban)
    {
        int r = 0;
        for (int k = 0; k < iban.Length; k++)
        {
            char c = iban[(k + 4) % iban.Length];
            if (Chars.IsDigit(c))
            {
                r = ((r * 10) + (c - '0')) % 97;
            }
            else
            {
                r = ((r * 100) + (char.ToUpperInvariant(c) - 'A' + 10)) % 97;
            }
        }

        return r;
    }

    private static FrozenDictionary<int, int> BuildLengths()
    {
        const string table =
            "AD24 AE23 AL28 AT20 AZ28 BA20 BE16 BG22 BH22 BR29 BY28 CH21 CR22 CY28 CZ24 DE22 DK18 DO28 EE20 EG29 " +
            "ES24 FI18 FO18 FR27 GB22 GE22 GI23 GL18 GR27 GT28 HR21 HU28 IE22 IL23 IQ23 IS26 IT27 JO30 KW30 KZ20 " +
            "LB28 LC32 LI21 LT20 LU20 LV21 MC27 MD24 ME22 MK19 MR27 MT31 MU30 NL18 NO15 PK24 PL28 PS29 PT25 QA29 " +
            "RO24 RS22 SA24 SC31 SE24 SI19 SK24 SM27 ST25 SV28 TL23 TN24 TR26 UA29 VA22 VG24 XK20";
        var d = new Dictionary<int, int>();
        foreach (string entry in table.Split(' '))
        {
            d[(entry[0] << 8) | entry[1]] = int.Parse(entry.AsSpan(2), System.Globalization.CultureInfo.InvariantCulture);
        }

        return d.ToFrozenDictionary();
    }
}
