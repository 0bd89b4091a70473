using System.CommandLine;

namespace Hush.Cli.Commands;

// PLACEHOLDER: replaced by the helper that owns 'hush serve'.
internal static class ServeCommand
{
    public static Command Create() => new("serve", "not built yet");
}
