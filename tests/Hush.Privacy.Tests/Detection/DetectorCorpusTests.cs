using Hush.Privacy.Detection;

namespace Hush.Privacy.Tests.Detection;

public sealed class DetectorCorpusTests
{
    public static TheoryData<string> DetectorNames()
    {
        var data = new TheoryData<string>();
        foreach (string name in BuiltInDetectors.Names)
        {
            data.Add(name);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(DetectorNames))]
    public void Find_GoldenCorpus_MatchesExactlyTheExpectedText(string name)
    {
        Assert.True(BuiltInDetectors.TryCreate(name, out IValueDetector? detector));
        var set = new DetectorSet([detector!]);
        var cases = Corpus.DetectorCases().Where(c => c.Detector == name).ToList();
        Assert.True(cases.Count(c => c.ShouldMatch) >= 2, $"corpus needs must-match lines for {name}");
        Assert.True(cases.Count(c => !c.ShouldMatch) >= 2, $"corpus needs must-not-match lines for {name}");

        var failures = new List<string>();
        var matches = new List<DetectorMatch>();
        foreach (Corpus.Case c in cases)
        {
            set.Scan(c.Input, matches);
            if (c.ShouldMatch)
            {
                string found = string.Join(" || ", matches.Select(m => c.Input.Substring(m.Start, m.Length)));
                if (matches.Count == 0 || found != c.Expected)
                {
                    failures.Add($"line {c.Line}: expected [{c.Expected}] got {matches.Count} match(es) [{found}]");
                }
                else if (matches.Exists(m => m.Detector != name || m.DataClass != detector!.DataClass))
                {
                    failures.Add($"line {c.Line}: wrong detector/class {matches[0]}");
                }
            }
            else if (matches.Count != 0)
            {
                failures.Add($"line {c.Line}: expected no match, got [{string.Join(" | ", matches.Select(m => c.Input.Substring(m.Start, m.Length)))}]");
            }
        }

        Assert.True(failures.Count == 0, string.Join(Environment.NewLine, failures));
    }

    [Fact]
    public void Corpus_EverySectionNamesABuiltInDetector()
    {
        var unknown = Corpus.DetectorCases().Select(c => c.Detector).Distinct().Where(n => !BuiltInDetectors.Names.Contains(n)).ToList();
        Assert.Empty(unknown);
    }

    [Fact]
    public void Scan_CleanLookAlikes_NoBuiltInMatches()
    {
        var set = new DetectorSet(BuiltInDetectors.CreateAll());
        var matches = new List<DetectorMatch>();
        var failures = new List<string>();
        IReadOnlyList<string> values = Corpus.CleanValues();
        Assert.True(values.Count >= 40);
        foreach (string value in values)
        {
            set.Scan(value, matches);
            foreach (DetectorMatch m in matches)
            {
                failures.Add($"[{value}] -> {m.Detector} matched [{value.Substring(m.Start, m.Length)}]");
            }
        }

        Assert.True(failures.Count == 0, string.Join(Environment.NewLine, failures));
    }
}
