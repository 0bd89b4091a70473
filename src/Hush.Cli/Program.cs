using System.CommandLine;
using Hush.Cli.Commands;

var root = new RootCommand("Hush: a privacy-first OpenTelemetry trace gateway and store.");
root.Subcommands.Add(ServeCommand.Create());
root.Subcommands.Add(LoadgenCommand.Create());
root.Subcommands.Add(PolicyCommand.Create());
root.Subcommands.Add(TokenCommand.Create());
root.Subcommands.Add(StoreCommands.CreateStore());
root.Subcommands.Add(StoreCommands.CreateErase());
root.Subcommands.Add(StoreCommands.CreateKeys());
root.Subcommands.Add(ApiKeyCommand.Create());
root.Subcommands.Add(AuditCommand.Create());
root.Subcommands.Add(PseudonymCommand.Create());

return await root.Parse(args).InvokeAsync();
