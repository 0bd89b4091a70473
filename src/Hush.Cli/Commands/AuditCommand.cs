using System.CommandLine;
using System.Text.Json;
using Hush.Gateway.Query.Audit;

namespace Hush.Cli.Commands;

/// <summary><c>hush audit verify|tail</c>: check the hash-chained audit log, and read its newest records.</summary>
internal static class AuditCommand
{
    public static Command Create()
    {
        var command = new Command("audit", "Verify and read the append-only, hash-chained audit log ({data_dir}/audit/audit.log).");
        command.Subcommands.Add(CreateVerify());
        command.Subcommands.Add(CreateTail());
        return command;
    }

    /// <summary>Exit 0 when the chain and its authenticated head are intact, 1 listing every problem otherwise.</summary>
    internal static int RunVerify(string? configPath, TextWriter output, TextWriter error, IReadOnlyDictionary<string, string?>? environment = null)
    {
        if (CliConfig.Load(configPath, error, environment) is not { } config)
        {
            return 1;
        }

        AuditVerifyResult result;
        try
        {
            result = AuditReader.Verify(config.DataDir);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidOperationException)
        {
            error.WriteLine($"hush audit verify: cannot read the audit log ({e.GetType().Name}): {e.Message}");
            return 1;
        }

        if (result.Intact)
        {
            output.WriteLine($"hush audit verify: intact: {result.Records} records, chain and authenticated head agree");
            return 0;
        }

        error.WriteLine($"hush audit verify: TAMPERED OR DAMAGED ({result.Problems.Count} problems in {result.Records} lines):");
        foreach (var problem in result.Problems)
        {
            error.WriteLine("  - " + problem);
        }

        return 1;
    }

    internal static int RunTail(string? configPath, int count, string? identity, string? action, TextWriter output, TextWriter error, IReadOnlyDictionary<string, string?>? environment = null)
    {
        if (count < 1)
        {
            error.WriteLine("hush audit tail: -n must be at least 1");
            return 2;
        }

        if (CliConfig.Load(configPath, error, environment) is not { } config)
        {
            return 1;
        }

        foreach (var record in AuditReader.Tail(config.DataDir, count, identity, action))
        {
            output.WriteLine(JsonSerializer.Serialize(record));
        }

        return 0;
    }

    private static Command CreateVerify()
    {
        var config = CliConfig.ConfigOption();
        var verify = new Command("verify", "Check that no record was edited, deleted, inserted or reordered (exit 1 if any was).");
        verify.Options.Add(config);
        verify.SetAction(r => RunVerify(r.GetValue(config)?.FullName, Console.Out, Console.Error));
        return verify;
    }

    private static Command CreateTail()
    {
        var config = CliConfig.ConfigOption();
        var count = new Option<int>("-n") { Description = "How many records (newest last).", DefaultValueFactory = _ => 20 };
        var identity = new Option<string?>("--identity") { Description = "Only records of this identity, e.g. apikey:k3x9a1b2c4." };
        var action = new Option<string?>("--action") { Description = "Only records of this action: trace, search, tags, tag_values, resolve, audit.read, pseudonym, apikey.create, ..." };
        var tail = new Command("tail", "Print the newest audit records as JSON lines.");
        tail.Options.Add(config);
        tail.Options.Add(count);
        tail.Options.Add(identity);
        tail.Options.Add(action);
        tail.SetAction(r => RunTail(r.GetValue(config)?.FullName, r.GetValue(count), r.GetValue(identity), r.GetValue(action), Console.Out, Console.Error));
        return tail;
    }
}
