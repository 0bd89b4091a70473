using System.CommandLine;
using Hush.Privacy;

namespace Hush.Cli.Commands;

/// <summary><c>hush policy lint|test|explain</c>: a thin shell over <see cref="PolicyTool"/>.</summary>
internal static class PolicyCommand
{
    private const string FileDescription = "The policy YAML file (':default' for the shipped default policy).";

    public static Command Create()
    {
        var command = new Command("policy", "Check, test and explain privacy policy files.");
        command.Subcommands.Add(CreateLint());
        command.Subcommands.Add(CreateTest());
        command.Subcommands.Add(CreateExplain());
        return command;
    }

    private static Command CreateLint()
    {
        var file = new Argument<string>("file") { Description = FileDescription };
        var lint = new Command("lint", "Validate a policy: every error (exit 1) and risky rule (warning, exit 0).");
        lint.Arguments.Add(file);
        lint.SetAction(parseResult => PolicyTool.Lint(parseResult.GetValue(file)!, Console.Out));
        return lint;
    }

    private static Command CreateTest()
    {
        var file = new Argument<string>("file") { Description = FileDescription };
        var cases = new Option<string>("--cases") { Description = "Directory of NAME.input.json / NAME.expected.json OTLP/JSON fixtures.", Required = true };
        var test = new Command("test", "Run the policy over fixture spans and diff against the expected output (exit 1 on any difference).");
        test.Arguments.Add(file);
        test.Options.Add(cases);
        test.SetAction(parseResult => PolicyTool.Test(parseResult.GetValue(file)!, parseResult.GetValue(cases)!, Console.Out));
        return test;
    }

    private static Command CreateExplain()
    {
        var file = new Argument<string>("file") { Description = FileDescription };
        var key = new Argument<string>("key") { Description = "An attribute key." };
        var value = new Argument<string>("value") { Description = "A value for the key." };
        var explain = new Command("explain", "Show which rule and detectors apply to KEY=VALUE, the output, and why.");
        explain.Arguments.Add(file);
        explain.Arguments.Add(key);
        explain.Arguments.Add(value);
        explain.SetAction(parseResult => PolicyTool.Explain(parseResult.GetValue(file)!, parseResult.GetValue(key)!, parseResult.GetValue(value)!, Console.Out));
        return explain;
    }
}
