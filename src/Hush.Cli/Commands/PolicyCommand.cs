using System.CommandLine;

namespace Hush.Cli.Commands;

// PLACEHOLDER: replaced by the helper that owns 'hush policy'.
internal static class PolicyCommand
{
    public static Command Create() => new("policy", "not built yet");
}
