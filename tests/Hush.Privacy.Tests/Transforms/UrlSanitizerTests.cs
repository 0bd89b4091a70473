using FsCheck;
using FsCheck.Fluent;
using Hush.Privacy.Transforms;

namespace Hush.Privacy.Tests.TransformTests;

public sealed class UrlSanitizerTests
{
    public static TheoryData<int, string, string> Golden() => TransformCorpus.Pairs("urls.txt");

    [Theory]
    [MemberData(nameof(Golden))]
    public void Sanitize_GoldenCase_MatchesExpected(int line, string url, string expected)
    {
        Assert.True(line > 0);
        Assert.Equal(expected, UrlSanitizer.Sanitize(url));
    }

    [Fact]
    public void Sanitize_Empty_Empty()
    {
        Assert.Equal(string.Empty, UrlSanitizer.Sanitize(string.Empty));
    }

    [Fact]
    public void Sanitize_ArbitraryText_NeverThrows()
    {
        var chars = Gen.Elements("ab1:/?#&=@%4.-_ ;\uD800１".ToCharArray());
        var gen = from n in Gen.Choose(0, 80) from cs in Gen.ArrayOf(chars, n) select new string(cs);
        Prop.ForAll(gen.ToArbitrary(), url => UrlSanitizer.Sanitize(url) is not null).Check(Config.QuickThrowOnFailure.WithMaxTest(300));
    }

    [Fact]
    public void Sanitize_PlantedUserinfoAndSecretParam_NeitherSurvives()
    {
        string result = UrlSanitizer.Sanitize("https://bob:PLANTED1@h.example/p?access_token=PLANTED2&q=1#PLANTED3");
        Assert.DoesNotContain("PLANTED1", result, StringComparison.Ordinal);
        Assert.DoesNotContain("PLANTED2", result, StringComparison.Ordinal);
        Assert.DoesNotContain("bob", result, StringComparison.Ordinal);
    }
}
