namespace Hush.Privacy.Tests.Tooling;

public sealed class PolicyToolTests
{
    private static string Data(params string[] parts) => Path.Combine([AppContext.BaseDirectory, "testdata", .. parts]);

    private static (int Code, string Output) Run(Func<TextWriter, int> command)
    {
        using var writer = new StringWriter();
        var code = command(writer);
        return (code, writer.ToString());
    }

    [Fact]
    public void Lint_GoodPolicy_ExitsZeroAndSummarizes()
    {
        var (code, output) = Run(w => PolicyTool.Lint(Data("policies", "good.yaml"), w));

        Assert.Equal(PolicyTool.ExitOk, code);
        Assert.Contains(": ok, 0 warning(s); version 1, mode detect, 1 rule(s)", output, StringComparison.Ordinal);
    }

    [Fact]
    public void Lint_BrokenPolicy_ExitsOneListingEveryError()
    {
        var (code, output) = Run(w => PolicyTool.Lint(Data("policies", "broken.yaml"), w));

        Assert.Equal(PolicyTool.ExitFailed, code);
        Assert.Contains("error: 'mode': unknown value 'strict'", output, StringComparison.Ordinal);
        Assert.Contains("error: 'rules[0].action': unknown action 'hide'", output, StringComparison.Ordinal);
        Assert.Contains("error: 'rules[1].keep_last'", output, StringComparison.Ordinal);
        Assert.Contains("3 error(s)", output, StringComparison.Ordinal);
    }

    [Fact]
    public void Lint_RiskyPolicy_ExitsZeroWithWarnings()
    {
        var (code, output) = Run(w => PolicyTool.Lint(Data("policies", "risky.yaml"), w));

        Assert.Equal(PolicyTool.ExitOk, code);
        Assert.Contains("warning: 'rules[0].keys[0]': '*' allowlists every key", output, StringComparison.Ordinal);
        Assert.Contains("warning: 'rules[0].detect': false disables the detectors", output, StringComparison.Ordinal);
        Assert.Contains("warning: 'rules[1]': action 'keep' on 'session.token', which looks sensitive", output, StringComparison.Ordinal);
    }

    [Fact]
    public void Lint_DefaultPolicy_HasNoWarnings()
    {
        var (code, output) = Run(w => PolicyTool.Lint(PolicyTool.DefaultPolicyArgument, w));

        Assert.Equal(PolicyTool.ExitOk, code);
        Assert.DoesNotContain("warning:", output, StringComparison.Ordinal);
    }

    [Fact]
    public void Lint_MissingFile_ExitsOne()
    {
        var (code, output) = Run(w => PolicyTool.Lint(Data("policies", "nope.yaml"), w));

        Assert.Equal(PolicyTool.ExitFailed, code);
        Assert.Contains("file not found", output, StringComparison.Ordinal);
    }

    [Fact]
    public void Test_MatchingFixtures_ExitZero()
    {
        var (code, output) = Run(w => PolicyTool.Test(PolicyTool.DefaultPolicyArgument, Data("cases", "default"), w));

        Assert.True(code == PolicyTool.ExitOk, output);
        Assert.Contains("checkout: ok", output, StringComparison.Ordinal);
        Assert.Contains("2 passed, 0 failed, 0 broken", output, StringComparison.Ordinal);
    }

    [Fact]
    public void Test_Difference_ExitOnePrintsPathExpectedActual()
    {
        var (code, output) = Run(w => PolicyTool.Test(PolicyTool.DefaultPolicyArgument, Data("cases", "failing"), w));

        Assert.Equal(PolicyTool.ExitFailed, code);
        Assert.Contains("checkout: FAILED (1 difference(s))", output, StringComparison.Ordinal);
        Assert.Contains("resourceSpans[0].scopeSpans[0].spans[0].attributes[\"user.id\"]: expected \"customer-8812\", actual \"usr_", output, StringComparison.Ordinal);
    }

    [Fact]
    public void Test_MissingExpectedAndGarbageInput_ReportedBroken()
    {
        var dir = Directory.CreateTempSubdirectory("hush-cases-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(dir, "lonely.input.json"), "{\"resourceSpans\":[]}");
            File.WriteAllText(Path.Combine(dir, "garbage.input.json"), "{{not json");
            File.WriteAllText(Path.Combine(dir, "garbage.expected.json"), "{}");

            var (code, output) = Run(w => PolicyTool.Test(PolicyTool.DefaultPolicyArgument, dir, w));

            Assert.Equal(PolicyTool.ExitFailed, code);
            Assert.Contains("lonely: BROKEN: lonely.expected.json is missing", output, StringComparison.Ordinal);
            Assert.Contains("garbage: BROKEN: cannot read the fixture", output, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public void Test_NoCasesDirectory_ExitsTwo()
    {
        var (code, _) = Run(w => PolicyTool.Test(PolicyTool.DefaultPolicyArgument, Data("cases", "nope"), w));

        Assert.Equal(PolicyTool.ExitUsage, code);
    }

    [Fact]
    public void Explain_RuleKey_NamesRuleActionAndOutput()
    {
        var (code, output) = Run(w => PolicyTool.Explain(PolicyTool.DefaultPolicyArgument, "user.id", "customer-8812", w));

        Assert.Equal(PolicyTool.ExitOk, code);
        Assert.Contains("key 'user.id': rule 'user-ids' (rules[3]) matches: class user_id, action pseudonymize", output, StringComparison.Ordinal);
        Assert.Contains("output: user.id = usr_", output, StringComparison.Ordinal);
    }

    [Fact]
    public void Explain_UnlistedKeyWithEmail_NamesDetectorAndOnDetect()
    {
        var (code, output) = Run(w => PolicyTool.Explain(PolicyTool.DefaultPolicyArgument, "note", "mail bob@example.com now", w));

        Assert.Equal(PolicyTool.ExitOk, code);
        Assert.Contains("no rule matches; detect mode", output, StringComparison.Ordinal);
        Assert.Contains("detector email finds class email at 5+15; on_detect: pseudonymize", output, StringComparison.Ordinal);
        Assert.DoesNotContain("bob@example.com now", output.Split("output:")[1], StringComparison.Ordinal);
    }

    [Fact]
    public void Explain_DroppedKey_SaysDropped()
    {
        var (_, output) = Run(w => PolicyTool.Explain(PolicyTool.DefaultPolicyArgument, "db.password", "hunter2", w));

        Assert.Contains("output: the attribute is dropped", output, StringComparison.Ordinal);
    }

    [Fact]
    public void Explain_BrokenPolicy_ExitsOne()
    {
        var (code, _) = Run(w => PolicyTool.Explain(Data("policies", "broken.yaml"), "k", "v", w));

        Assert.Equal(PolicyTool.ExitFailed, code);
    }
}
