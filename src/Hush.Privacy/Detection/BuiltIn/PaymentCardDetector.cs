namespace Hush.Privacy.Detection.BuiltIn;

/// <summary>
/// Payment card numbers: 13–19 digits, contiguous or in groups separated by single spaces or dashes, first digit 2–6
/// (the issuer ranges of Visa, Mastercard, Amex, Discover, JCB, Diners, UnionPay, Maestro) and a valid Luhn check
/// digit. A longer digit run is never matched in part, and SKUs whose digit groups fail Luhn are not matched.
/// </summary>
internal sealed class PaymentCardDetector() : BuiltInDetector("payment_card", "payment_card")
{
    private const int MinDigits = 13;
    private const int MaxDigits = 19;

    /// <summary>Groups remembered per digit run; a run of more single-digit groups is split (bounded stack use).</summary>
    private const int MaxGroups = 48;

    public override Prefilter Prefilter { get; } = new(MinDigits, MinDigits, CharFlags.None, CharFlags.None) { MinCardRun = MinDigits };

    protected override void FindCore(string text, TextView? view, List<DetectorMatch> matches)
    {
        Span<int> starts = stackalloc int[MaxGroups];
        Span<int> lengths = stackalloc int[MaxGroups];
        int i = 0;
        while (i < text.Length)
        {
            i = Chars.NextDigit(text, i);
            if (i < 0)
            {
                return;
            }

            bool boundedBefore = IsBoundaryBefore(text, i);
            int groups = 0;
            int j = i;
            while (groups < MaxGroups)
            {
                int gs = j;
                j = Chars.SkipDigits(text, j);
                starts[groups] = gs;
                lengths[groups] = j - gs;
                groups++;
                if (j + 1 < text.Length && text[j] is ' ' or '-' && Chars.IsDigit(text[j + 1]))
                {
                    j++;
                    continue;
                }

                break;
            }

            bool boundedAfter = j >= text.Length || !Chars.IsWord(text[j]);
            if (boundedBefore || groups > 1)
            {
                EvaluateRun(text, view, matches, starts[..groups], lengths[..groups], boundedBefore, boundedAfter);
            }

            i = j;
            while (i < text.Length && Chars.IsDigit(text[i]))
            {
                i++;
            }
        }
    }

    private static bool IsBoundaryBefore(string s, int i)
    {
        char p = Chars.Prev(s, i);
        if (Chars.IsWord(p))
        {
            return false;
        }

        // "3.4111111111111111" is a decimal number, not a card.
        return !(p is '.' or ',' && i >= 2 && Chars.IsDigit(s[i - 2]));
    }

    private void EvaluateRun(
        string text, TextView? view, List<DetectorMatch> matches,
        ReadOnlySpan<int> starts, ReadOnlySpan<int> lengths, bool boundedBefore, bool boundedAfter)
    {
        int groups = starts.Length;
        int a = 0;
        while (a < groups)
        {
            if (a == 0 && !boundedBefore)
            {
                a++;
                continue;
            }

            int best = -1;
            int sum = 0;
            for (int b = a; b < groups; b++)
            {
                sum += lengths[b];
                if (sum > MaxDigits)
                {
                    break;
                }

                if (sum >= MinDigits && (b < groups - 1 || boundedAfter) && IsCard(text, starts, lengths, a, b))
                {
                    best = b;
                }
            }

            if (best < 0)
            {
                a++;
                continue;
            }

            int end = starts[best] + lengths[best];
            Add(view, matches, starts[a], end - starts[a]);
            a = best + 1;
        }
    }

    private static bool IsCard(string text, ReadOnlySpan<int> starts, ReadOnlySpan<int> lengths, int a, int b)
    {
        char first = text[starts[a]];
        if (first is < '2' or > '6')
        {
            return false;
        }

        int sum = 0;
        bool dbl = false;
        for (int g = b; g >= a; g--)
        {
            for (int k = starts[g] + lengths[g] - 1; k >= starts[g]; k--)
            {
                int v = text[k] - '0';
                if (dbl)
                {
                    v *= 2;
                    if (v > 9)
                    {
                        v -= 9;
                    }
                }

                sum += v;
                dbl = !dbl;
            }
        }

        return sum % 10 == 0;
    }
}
