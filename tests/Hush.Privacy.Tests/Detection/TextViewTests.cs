using Hush.Privacy.Detection;

namespace Hush.Privacy.Tests.Detection;

public sealed class TextViewTests
{
    [Fact]
    public void Create_PureAscii_NoCopyAndIdentityMap()
    {
        string value = "GET /api/v1/users";
        var view = TextView.Create(value);
        Assert.Same(value, view.Normalized);
        Assert.False(view.IsNormalized);
        Assert.Equal((4, 3), view.MapToOriginal(4, 3));
    }

    [Fact]
    public void Create_PercentWithoutHex_NoCopy()
    {
        var view = TextView.Create("100% done %zz");
        Assert.False(view.IsNormalized);
    }

    [Fact]
    public void Create_FullwidthAt_NormalizedToAsciiAndMapped()
    {
        var view = TextView.Create("a＠b.io");
        Assert.Equal("a@b.io", view.Normalized);
        Assert.Equal((1, 1), view.MapToOriginal(1, 1));
    }

    [Fact]
    public void Create_OtherScriptDigits_MappedToAscii()
    {
        // Arabic-Indic, Devanagari and fullwidth digits.
        var view = TextView.Create("٤١١ १२३ ４５");
        Assert.Equal("411 123 45", view.Normalized);
    }

    [Fact]
    public void Create_SupplementaryPlaneDigits_MappedToAscii()
    {
        // U+1D7CF MATHEMATICAL BOLD DIGIT ONE is a surrogate pair; NFKC and the digit map give "1".
        var view = TextView.Create("x\U0001D7CFy");
        Assert.Equal("x1y", view.Normalized);
        Assert.Equal((1, 2), view.MapToOriginal(1, 1));
    }

    [Fact]
    public void Create_PercentEncoded_DecodedWithRangeMap()
    {
        string value = "u=john%40example.com";
        var view = TextView.Create(value);
        Assert.Equal("u=john@example.com", view.Normalized);
        (int start, int length) = view.MapToOriginal(2, "john@example.com".Length);
        Assert.Equal("john%40example.com", value.Substring(start, length));
    }

    [Fact]
    public void Create_PercentEncodedUtf8_DecodedAsOneChar()
    {
        // %EF%BC%A0 is the UTF-8 of fullwidth '@' (U+FF20): decoded, then NFKC-normalized.
        string value = "a%EF%BC%A0b.io";
        var view = TextView.Create(value);
        Assert.Equal("a@b.io", view.Normalized);
        Assert.Equal((1, 9), view.MapToOriginal(1, 1));
    }

    [Fact]
    public void Create_InvalidPercentUtf8_KeptAsText()
    {
        var view = TextView.Create("x%C3y%FF");
        Assert.Equal("x%C3y%FF", view.Normalized);
    }

    [Fact]
    public void Create_ZeroWidthChars_DroppedAndSpanned()
    {
        string value = "jo\u200Bhn\u00AD@x.io";
        var view = TextView.Create(value);
        Assert.Equal("john@x.io", view.Normalized);
        Assert.Equal((0, value.Length), view.MapToOriginal(0, view.Normalized.Length));
    }

    [Fact]
    public void Create_LoneSurrogates_ReplacedWithoutThrowing()
    {
        string value = "a\uD800b\uDC00c";
        var view = TextView.Create(value);
        Assert.Equal("a\uFFFDb\uFFFDc", view.Normalized);
        Assert.Equal((1, 1), view.MapToOriginal(1, 1));
    }

    [Fact]
    public void Create_Ligature_ExpandsAndMapsBothCharsToOne()
    {
        // U+FB01 LATIN SMALL LIGATURE FI → "fi" under NFKC.
        var view = TextView.Create("\uFB01x");
        Assert.Equal("fix", view.Normalized);
        Assert.Equal((0, 1), view.MapToOriginal(0, 1));
        Assert.Equal((0, 1), view.MapToOriginal(1, 1));
        Assert.Equal((0, 2), view.MapToOriginal(0, 3));
    }

    [Fact]
    public void MapToOriginal_OutOfRange_Throws()
    {
        var view = TextView.Create("ａｂ");
        Assert.Throws<ArgumentOutOfRangeException>(() => view.MapToOriginal(1, 5));
        Assert.Throws<ArgumentOutOfRangeException>(() => view.MapToOriginal(-1, 1));
    }

    [Fact]
    public void MapToOriginal_EmptyRangeAtEnd_MapsToOriginalEnd()
    {
        var view = TextView.Create("ａｂ");
        Assert.Equal((2, 0), view.MapToOriginal(2, 0));
    }

    [Theory]
    [InlineData("a\uFE6Bb.io", "a@b.io")]
    [InlineData("\U0001D423\U0001D428@x.io", "jo@x.io")]
    [InlineData("\u24D9\u24DE@x.io", "jo@x.io")]
    [InlineData("\u00B9\u00B2\u00B3\u2074\u2089", "12349")]
    [InlineData("a\u2003b\u3000c\u00A0d", "a b c d")]
    [InlineData("\uFF4A\uFF4F\uFF48\uFF4E", "john")]
    [InlineData("\u249C\u247D", "(a)(10)")]                  // parenthesized letter and number
    [InlineData("\u2460\u2473\u24EA\u2488", "12001.")]   // circled 1, 20, 0; digit full stop
    [InlineData("\U0001D7CF\U0001D41A\U0001D6A3", "1az")]     // mathematical bold digit, bold a, monospace z
    [InlineData("\u00B2\u2082\u212F\u210E", "22eh")]          // superscript, subscript, script e, planck h
    [InlineData("\u0663\u0969\u0E53\uFF13", "3333")]          // Arabic-Indic, Devanagari, Thai, fullwidth
    [InlineData("\u2778\u2782\u24F7", "333")]                 // dingbats and double-circled: digits NFKC leaves alone
    [InlineData("\uFF20\uFE6B", "@@")]
    [InlineData("\u2024\uFF0E\uFE52\u3002\uFF61", ".....")]
    [InlineData("\u2010\u2011\u2012\u2013\u2014\uFE63\uFF0D\u2212", "--------")]
    [InlineData("\u2236\uFF1A\uFE55", ":::")]
    [InlineData("\u2044\u2215\uFF0F", "///")]
    public void Create_CompatibilityAndLookAlikeChars_FoldToAscii(string value, string expected)
    {
        Assert.Equal(expected, TextView.Create(value).Normalized);
    }

    [Fact]
    public void Create_DoubleEncoded_DecodedTwiceAndMapped()
    {
        string value = "next=%2Fu%3Fe%3Djane%2540example.com";
        var view = TextView.Create(value);
        Assert.Equal("next=/u?e=jane@example.com", view.Normalized);
        int at = view.Normalized.IndexOf('@', StringComparison.Ordinal);
        Assert.Equal("%2540", value.Substring(view.MapToOriginal(at, 1).Start, view.MapToOriginal(at, 1).Length));
    }
}
