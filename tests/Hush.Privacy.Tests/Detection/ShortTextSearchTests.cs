using Hush.Privacy.Detection;
using Hush.Privacy.Detection.BuiltIn;

namespace Hush.Privacy.Tests.Detection;

/// <summary>
/// ASCII texts of up to 64 chars find their phone and IBAN candidates from bit masks (<see cref="CharMasks"/>); every
/// other text walks from one candidate to the next. Both must find the same matches in any short text.
/// </summary>
public sealed class ShortTextSearchTests
{
    private static readonly string[] Pieces =
    [
        "+14155552671", "(415) 555-2671", "415-555-2671", "415.555.2671", "1-415-555-2671", "020 7946 0958",
        "+44 20 7946 0958", "+1 (415) 555-2671", "DE89370400440532013000", "GB82 WEST 1234 5698 7654 32", "de89370400440532013000",
        "NL91ABNA0417164300", "3f2a1b4c", "0123456789", "42", "7", "ab", "Z9", "x", "-", "--", ".", "_", "/", "+", ",", " ", "  ", "(", ")", ":",
    ];

    [Fact]
    public void PhoneAndIban_ShortTexts_SameMatchesAsTheWalk()
    {
        var random = new Random(23);
        var phone = new PhoneDetector();
        var iban = new IbanDetector();
        var found = 0;
        for (var n = 0; n < 20_000; n++)
        {
            var text = ShortText(random);
            found += AssertSame(text, phone.FindIn, phone.FindByWalk);
            found += AssertSame(text, iban.FindIn, iban.FindByWalk);
        }

        // Not vacuous: most texts carry a planted number or account.
        Assert.True(found > 5_000, $"only {found} matches");
    }

    [Theory]
    [InlineData("+14155552671")]
    [InlineData("call (415) 555-2671 now")]
    [InlineData("DE89370400440532013000")]
    [InlineData("iban GB82 WEST 1234 5698 7654 32.")]
    public void PhoneAndIban_KnownValues_FoundByBoth(string text)
    {
        var all = new List<DetectorMatch>();
        new PhoneDetector().FindIn(text, null, all);
        new IbanDetector().FindIn(text, null, all);

        Assert.Single(all);
        Assert.Equal(0, AssertSame(text, new PhoneDetector().FindIn, new PhoneDetector().FindByWalk) +
            AssertSame(text, new IbanDetector().FindIn, new IbanDetector().FindByWalk) - 1);
    }

    private static string ShortText(Random random)
    {
        var sb = new System.Text.StringBuilder();
        var target = random.Next(1, CharMasks.MaxChars + 1);
        while (sb.Length < target)
        {
            sb.Append(Pieces[random.Next(Pieces.Length)]);
        }

        return sb.ToString(0, Math.Min(sb.Length, random.Next(4) == 0 ? CharMasks.MaxChars : target + random.Next(0, 8)));
    }

    private static int AssertSame(string text, Action<string, TextView?, List<DetectorMatch>> find, Action<string, TextView?, List<DetectorMatch>> walk)
    {
        var fast = new List<DetectorMatch>();
        var slow = new List<DetectorMatch>();
        find(text, null, fast);
        walk(text, null, slow);
        Assert.True(slow.SequenceEqual(fast), $"text of {text.Length} chars: {fast.Count} matches against {slow.Count}");
        return slow.Count;
    }
}
