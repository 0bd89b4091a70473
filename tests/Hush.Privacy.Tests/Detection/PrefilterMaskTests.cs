using FsCheck;
using FsCheck.Fluent;
using Hush.Privacy.Detection;
using Hush.Privacy.Detection.BuiltIn;

namespace Hush.Privacy.Tests.Detection;

/// <summary>
/// The scan's table shortcuts pick exactly the detectors the per-detector checks would: the prefilter bit tables, and
/// the features of a Latin-1 value's normalized form computed without normalizing it.
/// </summary>
public sealed class PrefilterMaskTests
{
    private static readonly DetectorSet All = new(BuiltInDetectors.CreateAll());

    private static readonly Prefilter[] BuiltInPrefilters =
        [.. BuiltInDetectors.CreateAll().Cast<BuiltInDetector>().Select(d => d.Prefilter), default, new(3, 1, CharFlags.Upper | CharFlags.Other, CharFlags.None)];

    /// <summary>Latin-1 text without '%': bytes that are not UTF-8, read one char per byte, plus planted secrets and folding chars.</summary>
    private static readonly Gen<string> Latin1 = Gen.Choose(0, 40)
        .SelectMany(n => Gen.ArrayOf(
            Gen.OneOf(
                Gen.Choose(0, 255).Where(c => c != '%').Select(c => ((char)c).ToString()),
                Gen.Elements("\u00B2", "\u00B3", "\u00B9", "\u00BC", "\u00BD", "\u00AA", "\u00BA", "\u00AD", "\u00A0", "\u00E9", "\u00B5"),
                Gen.Elements("4111 1111 1111 1111", "jane@example.com", "+44 20 7946 0958", "123-45-6789", "AKIAIOSFODNN7EXAMPLE", "10.1.2.3")),
            n))
        .Select(string.Concat);

    [Fact]
    public void Candidates_AnyFeatures_SameAsEachPrefiltersAllows()
    {
        var masks = new PrefilterMasks(BuiltInPrefilters);
        var features = Gen.Choose(0, 80).SelectMany(length => Gen.Choose(0, 40).SelectMany(digits => Gen.Choose(0, 0xFFFF)
            .Select(flags => new TextFeatures(length, digits, (CharFlags)flags))));
        Prop.ForAll(features.ToArbitrary(), f =>
        {
            ulong candidates = masks.Candidates(f);
            for (int i = 0; i < BuiltInPrefilters.Length; i++)
            {
                Assert.Equal(BuiltInPrefilters[i].Allows(f), (candidates & (1UL << i)) != 0);
            }
        }).Check(Config.QuickThrowOnFailure.WithMaxTest(20000));
    }

    [Fact]
    public void CharFlags_FitTheTwoTableBytes()
    {
        foreach (CharFlags flag in Enum.GetValues<CharFlags>())
        {
            Assert.InRange((int)flag, 0, 0xFFFF);
        }
    }

    [Fact]
    public void TryComputeLatin1Normalized_EveryLatin1Char_SameAsNormalizingIt()
    {
        for (int c = 0; c < 256; c++)
        {
            string text = "a" + (char)c + "1";
            bool known = TextFeatures.TryComputeLatin1Normalized(text, out TextFeatures f);

            Assert.Equal(c != '%', known);
            if (known)
            {
                Assert.Equal(TextFeatures.Compute(TextView.Create(text).Normalized), f);
            }
        }
    }

    [Fact]
    public void TryComputeLatin1Normalized_AnyLatin1Text_SameAsNormalizingIt()
    {
        Prop.ForAll(Latin1.ToArbitrary(), text =>
        {
            Assert.True(TextFeatures.TryComputeLatin1Normalized(text, out TextFeatures f));
            Assert.Equal(TextFeatures.Compute(TextView.Create(text).Normalized), f);
        }).Check(Config.QuickThrowOnFailure.WithMaxTest(3000));
    }

    [Theory]
    [InlineData("card 4111\u00A01111\u00A01111\u00A01111")]
    [InlineData("x\u00E9 4111 1111 1111 1111")]
    [InlineData("\u00FF\u00FE+44 20 7946 0958")]
    [InlineData("\u00C3\u00A9AKIAIOSFODNN7EXAMPLE")]
    [InlineData("n\u00BA 123-45-6789 \u00BC")]
    public void TryComputeLatin1Normalized_NonTextOrKnownText_UnknownOrExact(string value)
    {
        Assert.False(TextFeatures.TryComputeLatin1Normalized("\u0100" + value, out _));
        Assert.False(TextFeatures.TryComputeLatin1Normalized(value + "%41", out _));
        Assert.True(TextFeatures.TryComputeLatin1Normalized(value, out TextFeatures f));
        Assert.Equal(TextFeatures.Compute(TextView.Create(value).Normalized), f);
    }

    /// <summary>The whole set through both shortcuts finds what every detector finds on its own, for Latin-1 text.</summary>
    [Fact]
    public void Scan_AnyLatin1Text_SameMatchesAsEveryDetectorAlone()
    {
        var viaSet = new List<DetectorMatch>();
        var direct = new List<DetectorMatch>();
        Prop.ForAll(Latin1.ToArbitrary(), value =>
        {
            All.Scan(value, viaSet);
            direct.Clear();
            var view = TextView.Create(value);
            foreach (IValueDetector d in All.Detectors)
            {
                d.Find(view, direct);
            }

            if (direct.Count > 1)
            {
                DetectorSet.Merge(direct);
            }

            Assert.Equal(direct, viaSet);
        }).Check(Config.QuickThrowOnFailure.WithMaxTest(3000));
    }
}
