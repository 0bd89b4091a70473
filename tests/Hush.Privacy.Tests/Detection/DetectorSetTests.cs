using System.Diagnostics;
using Hush.Privacy.Detection;

namespace Hush.Privacy.Tests.Detection;

public sealed class DetectorSetTests
{
    private static readonly DetectorSet All = new(BuiltInDetectors.CreateAll());

    private static List<DetectorMatch> ScanAll(string value, out bool whole)
    {
        var matches = new List<DetectorMatch>();
        whole = All.Scan(value, matches);
        return matches;
    }

    [Fact]
    public void Scan_MixedValue_SortedMatchesWithClasses()
    {
        string value = "user jane@example.com paid with 4111 1111 1111 1111 from 203.0.113.9";
        List<DetectorMatch> matches = ScanAll(value, out bool whole);
        Assert.True(whole);
        Assert.Equal(["email", "payment_card", "ip"], matches.Select(m => m.DataClass));
        Assert.Equal("jane@example.com", value.Substring(matches[0].Start, matches[0].Length));
        Assert.True(matches[0].Start < matches[1].Start && matches[1].Start < matches[2].Start);
    }

    [Fact]
    public void Scan_ClearsPreviousMatches()
    {
        var matches = new List<DetectorMatch> { new(0, 1, "x", "y") };
        All.Scan("nothing here", matches);
        Assert.Empty(matches);
    }

    [Fact]
    public void Scan_EmptyValue_WholeAndNoMatches()
    {
        List<DetectorMatch> matches = ScanAll(string.Empty, out bool whole);
        Assert.True(whole);
        Assert.Empty(matches);
    }

    [Fact]
    public void Scan_OverlappingMatches_MergedIntoUnionWithLongestClass()
    {
        // "Bearer <jwt>": auth_header and jwt both match the token; one merged match remains.
        string jwt = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkphbmUifQ.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U";
        List<DetectorMatch> matches = ScanAll("Authorization: Bearer " + jwt, out _);
        DetectorMatch m = Assert.Single(matches);
        Assert.Equal("credential", m.DataClass);
        Assert.Equal(jwt.Length, m.Length);
    }

    [Fact]
    public void Merge_PartialOverlap_CoversUnion()
    {
        var matches = new List<DetectorMatch> { new(5, 10, "b", "b"), new(0, 8, "a", "a"), new(20, 2, "c", "c") };
        DetectorSet.Merge(matches);
        Assert.Equal([new DetectorMatch(0, 15, "b", "b"), new DetectorMatch(20, 2, "c", "c")], matches);
    }

    [Fact]
    public void Scan_OversizedValue_ScansPrefixAndReportsPartial()
    {
        string value = "jane@example.com " + new string('x', DetectorSet.MaxScanChars) + " tail@example.com";
        List<DetectorMatch> matches = ScanAll(value, out bool whole);
        Assert.False(whole);
        DetectorMatch m = Assert.Single(matches);
        Assert.Equal(0, m.Start);
    }

    [Fact]
    public void Scan_OversizedValueCutInSurrogatePair_DoesNotThrow()
    {
        string value = new string('a', DetectorSet.MaxScanChars - 1) + "\U0001F600" + "b";
        List<DetectorMatch> matches = ScanAll(value, out bool whole);
        Assert.False(whole);
        Assert.Empty(matches);
    }

    [Fact]
    public void Scan_ThrowingCustomDetector_FailsClosedOnWholeValue()
    {
        var set = new DetectorSet([new ThrowingDetector()]);
        var matches = new List<DetectorMatch>();
        set.Scan("abc secret", matches);
        Assert.Equal([new DetectorMatch(0, 10, "boom", "boom")], matches);
    }

    [Fact]
    public void Scan_CustomDetectorOutOfRange_Dropped()
    {
        var set = new DetectorSet([new BadRangeDetector()]);
        var matches = new List<DetectorMatch>();
        set.Scan("abc", matches);
        Assert.Empty(matches);
    }

    [Fact]
    public void Ctor_NullDetector_Throws()
    {
        Assert.Throws<ArgumentException>(() => new DetectorSet([null!]));
    }

    [Fact]
    public void Scan_CustomRegex_RunsAlongsideBuiltIns()
    {
        var set = new DetectorSet([.. BuiltInDetectors.CreateAll(), new RegexDetector("employee_id", "employee_id", @"EMP-\d{6}")]);
        var matches = new List<DetectorMatch>();
        set.Scan("by EMP-123456 for ops@example.com", matches);
        Assert.Equal(["employee_id", "email"], matches.Select(m => m.DataClass));
    }

    public static TheoryData<string, string> Pathological() => new()
    {
        { "digits", new string('7', 100_000) },
        { "grouped digits", string.Concat(Enumerable.Repeat("4111 ", 20_000)) },
        { "dots", string.Concat(Enumerable.Repeat("1.", 50_000)) },
        { "ats", new string('@', 100_000) },
        { "local parts", string.Concat(Enumerable.Repeat("a@", 50_000)) },
        { "domains", "a@" + string.Concat(Enumerable.Repeat("b.", 50_000)) },
        { "colons", string.Concat(Enumerable.Repeat("1:", 50_000)) },
        { "jwt heads", string.Concat(Enumerable.Repeat("eyJ.", 25_000)) },
        { "percents", string.Concat(Enumerable.Repeat("%4", 50_000)) },
        { "percent escapes", string.Concat(Enumerable.Repeat("%40", 33_000)) },
        { "lone surrogates", new string('\uD800', 100_000) },
        { "equals", string.Concat(Enumerable.Repeat("token=", 16_000)) },
        { "bearer", string.Concat(Enumerable.Repeat("bearer ", 14_000)) },
        { "pem begins", string.Concat(Enumerable.Repeat("-----BEGIN ", 9_000)) },
        { "schemes", string.Concat(Enumerable.Repeat("://a:b", 16_000)) },
        { "password keys", string.Concat(Enumerable.Repeat("password", 12_000)) },
        { "fullwidth", new string('１', 100_000) },
        { "plus digits", string.Concat(Enumerable.Repeat("+1 ", 33_000)) },
    };

    [Theory]
    [MemberData(nameof(Pathological))]
    public void Scan_Pathological100KB_CompletesQuicklyWithValidRanges(string name, string value)
    {
        var sw = Stopwatch.StartNew();
        List<DetectorMatch> matches = ScanAll(value, out _);
        sw.Stop();

        // Linear scanners take a few ms here; 2 s would mean super-linear behaviour (or a very slow CI core).
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(2), $"{name}: {sw.Elapsed}");
        int end = 0;
        foreach (DetectorMatch m in matches)
        {
            Assert.True(m.Start >= end && m.Length > 0 && m.End <= value.Length, name);
            end = m.End;
        }
    }

    private sealed class ThrowingDetector : IValueDetector
    {
        public string Name => "boom";

        public string DataClass => "boom";

        public void Find(TextView view, List<DetectorMatch> matches)
        {
            matches.Add(new DetectorMatch(0, 1, "boom", "boom"));
            throw new InvalidOperationException("detector failed");
        }
    }

    private sealed class BadRangeDetector : IValueDetector
    {
        public string Name => "bad";

        public string DataClass => "bad";

        public void Find(TextView view, List<DetectorMatch> matches)
        {
            matches.Add(new DetectorMatch(2, 5, "bad", "bad"));
            matches.Add(new DetectorMatch(-1, 1, "bad", "bad"));
        }
    }
}
