using System.Diagnostics;
using Hush.Privacy.Detection;

namespace Hush.Privacy.Tests.Detection;

public sealed class RegexDetectorTests
{
    [Fact]
    public void Find_Pattern_MatchesMappedToOriginal()
    {
        var detector = new RegexDetector("employee_id", "employee_id", @"EMP-\d{6}");
        var matches = new List<DetectorMatch>();
        string value = "ok EMP-１２３４５６ done";
        detector.Find(TextView.Create(value), matches);
        DetectorMatch m = Assert.Single(matches);
        Assert.Equal("EMP-１２３４５６", value.Substring(m.Start, m.Length));
        Assert.Equal("employee_id", m.DataClass);
        Assert.Equal("employee_id", m.Detector);
    }

    [Fact]
    public void Find_IgnoreCase_MatchesOtherCase()
    {
        var matches = new List<DetectorMatch>();
        new RegexDetector("c", "c", "secret", ignoreCase: true).Find(TextView.Create("a SeCrEt b"), matches);
        Assert.Single(matches);
        matches.Clear();
        new RegexDetector("c", "c", "secret").Find(TextView.Create("a SeCrEt b"), matches);
        Assert.Empty(matches);
    }

    [Fact]
    public void Find_EmptyMatches_Skipped()
    {
        var matches = new List<DetectorMatch>();
        new RegexDetector("c", "c", "x*").Find(TextView.Create("abc"), matches);
        Assert.Empty(matches);
    }

    [Theory]
    [InlineData(@"(a)\1")]
    [InlineData(@"foo(?=bar)")]
    [InlineData(@"(?<!x)y")]
    [InlineData(@"(?>a+)b")]
    [InlineData(@"(?(a)b|c)")]
    public void Ctor_NonLinearConstruct_ThrowsArgumentExceptionNamingDetector(string pattern)
    {
        var ex = Assert.Throws<ArgumentException>(() => new RegexDetector("my_rule", "x", pattern));
        Assert.Contains("my_rule", ex.Message, StringComparison.Ordinal);
        Assert.Contains("linear-time", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("(unclosed")]
    [InlineData("")]
    [InlineData("[z-a]")]
    public void Ctor_InvalidPattern_ThrowsArgumentException(string pattern)
    {
        var ex = Assert.Throws<ArgumentException>(() => new RegexDetector("my_rule", "x", pattern));
        Assert.Contains("my_rule", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Ctor_EmptyName_Throws()
    {
        Assert.Throws<ArgumentException>(() => new RegexDetector(" ", "x", "a"));
        Assert.Throws<ArgumentException>(() => new RegexDetector("n", "", "a"));
    }

    [Fact]
    public void Find_CatastrophicPatternOn100KB_CompletesQuickly()
    {
        var detector = new RegexDetector("evil", "x", "(a+)+$");
        string value = new string('a', 100_000) + "!";
        var matches = new List<DetectorMatch>();
        var sw = Stopwatch.StartNew();
        detector.Find(TextView.Create(value), matches);
        sw.Stop();
        Assert.Empty(matches);
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(2), sw.Elapsed.ToString());
    }

    [Fact]
    public void Find_NestedQuantifiersOnMatchingInput_MatchesWholeRun()
    {
        var detector = new RegexDetector("evil", "x", "(a|aa)+b");
        string value = new string('a', 50_000) + "b";
        var matches = new List<DetectorMatch>();
        detector.Find(TextView.Create(value), matches);
        Assert.Equal(value.Length, Assert.Single(matches).Length);
    }

    [Fact]
    public void Ctor_HugeCountedRepetition_RejectedOrBounded()
    {
        // NonBacktracking unrolls counted loops; an enormous one must fail as a clear ArgumentException, not hang.
        var sw = Stopwatch.StartNew();
        try
        {
            var detector = new RegexDetector("big", "x", "(a{1000}){1000}");
            var matches = new List<DetectorMatch>();
            detector.Find(TextView.Create(new string('a', 2000)), matches);
            Assert.Empty(matches);
        }
        catch (ArgumentException ex)
        {
            Assert.Contains("big", ex.Message, StringComparison.Ordinal);
        }

        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(10), sw.Elapsed.ToString());
    }
}
