using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Hush.Privacy.Detection;

/// <summary>
/// Where a short text (at most <see cref="MaxChars"/> chars) has digits, letters and separators, one bit per char
/// (bit i is char i), built with vector compares. Ids and addresses alternate digits and letters every few chars,
/// so a walk from group to group mispredicts a branch at every group (a 32-char hex id cost ~170 ns); with the
/// masks, the groups a separator joins come from a few shifts and the runs from bit counts, without a branch per char.
/// </summary>
internal readonly struct CharMasks
{
    /// <summary>One bit per char in a <see cref="ulong"/>.</summary>
    public const int MaxChars = 64;

    private CharMasks(ulong digits, ulong alphanumerics, ulong spaces, ulong cardSeparators, ulong phoneSeparators, ulong phoneStarts, ulong phoneBlockers, ulong nonAscii)
    {
        Digits = digits;
        Alphanumerics = alphanumerics;
        Spaces = spaces;
        CardSeparators = cardSeparators;
        PhoneSeparators = phoneSeparators;
        PhoneStarts = phoneStarts;
        PhoneBlockers = phoneBlockers;
        NonAscii = nonAscii;
    }

    /// <summary><c>0-9</c>.</summary>
    public ulong Digits { get; }

    /// <summary>ASCII letters and digits.</summary>
    public ulong Alphanumerics { get; }

    /// <summary>The space char (U+0020) only.</summary>
    public ulong Spaces { get; }

    /// <summary>Space and <c>-</c>: how card numbers and SSNs group their digits.</summary>
    public ulong CardSeparators { get; }

    /// <summary>Space, <c>- . ( )</c>: how phone numbers group their digits.</summary>
    public ulong PhoneSeparators { get; }

    /// <summary><c>+</c> and <c>(</c>: where a phone number can start besides a digit.</summary>
    public ulong PhoneStarts { get; }

    /// <summary><c>. - _ / + ,</c>: the chars besides word chars a phone number cannot follow.</summary>
    public ulong PhoneBlockers { get; }

    /// <summary>Chars past U+007F, whose classes (a letter of another script is a word char) the masks do not hold.</summary>
    public ulong NonAscii { get; }

    /// <summary>ASCII letters.</summary>
    public ulong Letters => Alphanumerics & ~Digits;

    /// <summary>The masks of <paramref name="text"/>, which must be at most <see cref="MaxChars"/> chars.</summary>
    public static CharMasks Of(ReadOnlySpan<char> text)
    {
        if (text.Length > MaxChars)
        {
            throw new ArgumentOutOfRangeException(nameof(text), text.Length, $"at most {MaxChars} chars");
        }

        // Zero-filled past the text: U+0000 is in no class, so every block is read whole.
        Span<char> padded = stackalloc char[MaxChars];
        text.CopyTo(padded);
        ref ushort first = ref Unsafe.As<char, ushort>(ref padded[0]);
        ulong digits = 0, alphanumerics = 0, spaces = 0, cardSeparators = 0, phoneSeparators = 0, phoneStarts = 0, phoneBlockers = 0, nonAscii = 0;
        for (int block = 0; block < MaxChars; block += Vector128<ushort>.Count)
        {
            if (block >= text.Length)
            {
                break;
            }

            Vector128<ushort> c = Vector128.LoadUnsafe(ref first, (nuint)block);
            Vector128<ushort> digit = Vector128.LessThanOrEqual(c - Vector128.Create((ushort)'0'), Vector128.Create((ushort)9));
            Vector128<ushort> letter = Vector128.LessThanOrEqual((c | Vector128.Create((ushort)0x20)) - Vector128.Create((ushort)'a'), Vector128.Create((ushort)25));
            Vector128<ushort> space = Vector128.Equals(c, Vector128.Create((ushort)' '));
            Vector128<ushort> card = space | Vector128.Equals(c, Vector128.Create((ushort)'-'));
            Vector128<ushort> phone = card | Vector128.Equals(c, Vector128.Create((ushort)'.')) |
                Vector128.Equals(c, Vector128.Create((ushort)'(')) | Vector128.Equals(c, Vector128.Create((ushort)')'));
            Vector128<ushort> plus = Vector128.Equals(c, Vector128.Create((ushort)'+'));
            Vector128<ushort> starts = plus | Vector128.Equals(c, Vector128.Create((ushort)'('));
            Vector128<ushort> blockers = plus | Vector128.Equals(c, Vector128.Create((ushort)'.')) | Vector128.Equals(c, Vector128.Create((ushort)'-')) |
                Vector128.Equals(c, Vector128.Create((ushort)'_')) | Vector128.Equals(c, Vector128.Create((ushort)'/')) |
                Vector128.Equals(c, Vector128.Create((ushort)','));
            digits |= (ulong)digit.ExtractMostSignificantBits() << block;
            phoneStarts |= (ulong)starts.ExtractMostSignificantBits() << block;
            phoneBlockers |= (ulong)blockers.ExtractMostSignificantBits() << block;
            nonAscii |= (ulong)Vector128.GreaterThan(c, Vector128.Create((ushort)0x7F)).ExtractMostSignificantBits() << block;
            alphanumerics |= (ulong)(digit | letter).ExtractMostSignificantBits() << block;
            spaces |= (ulong)space.ExtractMostSignificantBits() << block;
            cardSeparators |= (ulong)card.ExtractMostSignificantBits() << block;
            phoneSeparators |= (ulong)phone.ExtractMostSignificantBits() << block;
        }

        return new CharMasks(digits, alphanumerics, spaces, cardSeparators, phoneSeparators, phoneStarts, phoneBlockers, nonAscii);
    }

    /// <summary>
    /// The masks of <paramref name="text"/> when it is ASCII of at most <see cref="MaxChars"/> chars, the texts whose
    /// word chars the masks know (a letter of any script is one); false for any other text.
    /// </summary>
    public static bool TryOfShortAscii(ReadOnlySpan<char> text, out CharMasks masks)
    {
        if (text.Length <= MaxChars)
        {
            masks = Of(text);
            if (masks.NonAscii == 0)
            {
                return true;
            }
        }

        masks = default;
        return false;
    }

    /// <summary>The most bits of <paramref name="counted"/> inside one run of consecutive set bits of <paramref name="runs"/>.</summary>
    public static int MostInOneRun(ulong runs, ulong counted)
    {
        int best = 0;
        while (runs != 0)
        {
            best = Math.Max(best, BitOperations.PopCount(counted & NextRun(ref runs)));
        }

        return best;
    }

    /// <summary>
    /// <see cref="MostInOneRun(ulong, ulong)"/> of two run masks over the same counted bits, walked side by side: the two chains of
    /// dependent bit operations overlap in the processor instead of running one after the other.
    /// </summary>
    public static (int First, int Second) MostInOneRun(ulong first, ulong second, ulong counted)
    {
        int a = 0, b = 0;
        while ((first | second) != 0)
        {
            a = Math.Max(a, BitOperations.PopCount(counted & NextRun(ref first)));
            b = Math.Max(b, BitOperations.PopCount(counted & NextRun(ref second)));
        }

        return (a, b);
    }

    /// <summary>The lowest run of consecutive set bits of <paramref name="runs"/> (0 when none), cleared from it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong NextRun(ref ulong runs)
    {
        // x + lowest set bit carries through the lowest run; the bits that changed are the run and the bit above it.
        ulong lowest = runs & (0 - runs);
        ulong above = runs + lowest;
        ulong run = runs & ~above;
        runs &= above;
        return run;
    }
}

/// <summary>
/// The <see cref="CharMasks"/> of the one text a scan is looking at, computed on first use: the run checks
/// (<see cref="TextFeatures.WithRuns"/>) and the detectors that read masks (phone, IBAN) share them instead of building
/// them up to three times per short value. Lives on the scan's stack; valid for that text only.
/// </summary>
internal struct LazyMasks
{
    private CharMasks _masks;
    private bool _known;

    /// <summary>The masks of <paramref name="text"/> (at most <see cref="CharMasks.MaxChars"/> chars), the text of this scan.</summary>
    public CharMasks Of(ReadOnlySpan<char> text)
    {
        if (!_known)
        {
            _masks = CharMasks.Of(text);
            _known = true;
        }

        return _masks;
    }

    /// <summary><see cref="CharMasks.TryOfShortAscii"/>, from the masks already built when there are.</summary>
    public bool TryOfShortAscii(ReadOnlySpan<char> text, out CharMasks masks)
    {
        if (text.Length <= CharMasks.MaxChars)
        {
            masks = Of(text);
            if (masks.NonAscii == 0)
            {
                return true;
            }
        }

        masks = default;
        return false;
    }
}
