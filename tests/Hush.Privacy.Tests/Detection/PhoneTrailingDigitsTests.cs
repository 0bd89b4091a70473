using FsCheck;
using FsCheck.Fluent;
using Hush.Privacy.Detection;

namespace Hush.Privacy.Tests.Detection;

/// <summary>A phone number followed by a space and more digits (an extension, a count, a date) is still found.</summary>
public sealed class PhoneTrailingDigitsTests
{
    private static readonly string[] Numbers =
    [
        "+1 415 555 2671", "+44 20 7946 0958", "+49 30 901820", "+1 (415) 555-2671", "(415) 555-2671", "415-555-2671",
        "415.555.2671", "415 555 2671", "1-415-555-2671", "020 7946 0958", "030-1234-5678", "+14155552671",
    ];

    [Fact]
    public void Find_PhoneThenSpaceAndDigits_NumberNeverSurvives()
    {
        Assert.True(BuiltInDetectors.TryCreate("phone", out IValueDetector? phone));
        var set = new DetectorSet([phone!]);
        var matches = new List<DetectorMatch>();
        var trailing = Gen.Choose(1, 3).SelectMany(n => Gen.ArrayOf(
            Gen.OneOf(Gen.Choose(0, 999999).Select(d => d.ToString(System.Globalization.CultureInfo.InvariantCulture)), Gen.Elements("2024-01-01", "12:30", "x", "ms")), n))
            .Select(parts => " " + string.Join(' ', parts));
        Prop.ForAll(Gen.Elements(Numbers).ToArbitrary(), trailing.ToArbitrary(), (number, tail) =>
        {
            string value = "call " + number + tail;
            set.Scan(value, matches);

            // The number's own chars are all inside matches.
            int start = "call ".Length;
            foreach (DetectorMatch m in matches)
            {
                if (m.Start <= start && m.Start + m.Length >= start + number.Length)
                {
                    return;
                }
            }

            Assert.Fail("a phone number followed by more digits was not found");
        }).Check(Config.QuickThrowOnFailure.WithMaxTest(3000));
    }
}
