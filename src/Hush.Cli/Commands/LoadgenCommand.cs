using System.CommandLine;

namespace Hush.Cli.Commands;

// PLACEHOLDER: replaced by the helper that owns 'hush loadgen'.
internal static class LoadgenCommand
{
    public static Command Create() => new("loadgen", "not built yet");
}
