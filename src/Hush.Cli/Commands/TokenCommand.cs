using System.CommandLine;
using Hush.Gateway;
using Hush.Gateway.Authentication;
using Hush.Gateway.Configuration;

namespace Hush.Cli.Commands;

/// <summary><c>hush token create|list|revoke</c>: static ingest tokens in the store the server reads.</summary>
internal static class TokenCommand
{
    public static Command Create()
    {
        var command = new Command("token", "Create, list and revoke static ingest tokens (stored as keyed hashes).");
        command.Subcommands.Add(CreateCreate());
        command.Subcommands.Add(CreateList());
        command.Subcommands.Add(CreateRevoke());
        return command;
    }

    /// <summary>Prints a new token once, with how to use it. Returns the exit code.</summary>
    internal static int RunCreate(string? configPath, string tenant, IReadOnlyList<string> services, string? name, TextWriter output, TextWriter error, IReadOnlyDictionary<string, string?>? environment = null)
    {
        if (string.IsNullOrWhiteSpace(tenant) || services.Count == 0 || services.Any(string.IsNullOrWhiteSpace))
        {
            error.WriteLine("hush token create: --tenant and at least one --services glob are required, e.g. --tenant acme --services 'checkout*'");
            return 2;
        }

        if (Open(configPath, error, environment) is not { } store)
        {
            return 1;
        }

        var (token, info) = store.Create(tenant.Trim(), [.. services.Select(s => s.Trim())], name);
        output.WriteLine($"Created token {info.Id} for tenant '{info.Tenant}', services {string.Join(", ", info.Services)}.");
        output.WriteLine("It is shown only now; Hush keeps only a keyed hash of it:");
        output.WriteLine();
        output.WriteLine("  " + token);
        output.WriteLine();
        output.WriteLine(UsageLine(token));
        return 0;
    }

    /// <summary>The one-line example of sending with a token.</summary>
    internal static string UsageLine(string token) =>
        $"Use it: OTEL_EXPORTER_OTLP_HEADERS=\"Authorization=Bearer {token}\" (or: hush loadgen --header \"authorization=Bearer {token}\")";

    internal static int RunList(string? configPath, TextWriter output, TextWriter error, IReadOnlyDictionary<string, string?>? environment = null)
    {
        if (Open(configPath, error, environment) is not { } store)
        {
            return 1;
        }

        var tokens = store.List();
        if (tokens.Count == 0)
        {
            output.WriteLine($"No tokens in {store.Path}. Create one with: hush token create --tenant NAME --services 'GLOB'");
            return 0;
        }

        output.WriteLine($"{"ID",-12} {"TENANT",-16} {"STATE",-8} {"CREATED",-20} {"NAME",-16} SERVICES");
        foreach (var t in tokens)
        {
            var state = t.Revoked is null ? "active" : "revoked";
            output.WriteLine($"{t.Id,-12} {t.Tenant,-16} {state,-8} {t.Created.UtcDateTime:yyyy-MM-dd HH:mm:ss}  {t.Name,-16} {string.Join(",", t.Services)}");
        }

        return 0;
    }

    internal static int RunRevoke(string? configPath, string id, TextWriter output, TextWriter error, IReadOnlyDictionary<string, string?>? environment = null)
    {
        if (Open(configPath, error, environment) is not { } store)
        {
            return 1;
        }

        // Accept a whole token too: people paste what they have. Only its public id is used.
        if (id.StartsWith(TokenStore.Prefix, StringComparison.Ordinal) && id.Split('_') is [_, var embedded, _])
        {
            id = embedded;
        }

        if (!store.Revoke(id))
        {
            error.WriteLine($"hush token revoke: no active token with id '{id}' in {store.Path} (see 'hush token list')");
            return 1;
        }

        output.WriteLine($"Revoked token {id}. A running Hush refuses it within {TokenStore.RecheckInterval.TotalSeconds:0} s.");
        return 0;
    }

    private static TokenStore? Open(string? configPath, TextWriter error, IReadOnlyDictionary<string, string?>? environment)
    {
        var loaded = configPath is null ? HushConfigLoader.LoadDefault(environment) : HushConfigLoader.LoadFile(configPath, environment);
        if (loaded.Config is null)
        {
            error.WriteLine($"hush: the config{(configPath is null ? string.Empty : " " + configPath)} is invalid ({loaded.Errors.Count} errors):");
            foreach (var problem in loaded.Errors)
            {
                error.WriteLine("  - " + problem);
            }

            return null;
        }

        try
        {
            return HushServer.OpenTokenStore(loaded.Config);
        }
        catch (InvalidOperationException ex)
        {
            error.WriteLine("hush: " + ex.Message);
            return null;
        }
    }

    private static Option<FileInfo?> ConfigOption() => new("--config", "-c")
    {
        HelpName = "FILE",
        Description = "The config whose token store to use (receivers.otlp.auth.token_file, default {service.data_dir}/tokens.json). Without it: the embedded default's, ./hush-data/tokens.json.",
    };

    private static Command CreateCreate()
    {
        var config = ConfigOption();
        var tenant = new Option<string>("--tenant") { Description = "The tenant the token sends into.", Required = true };
        var services = new Option<string[]>("--services")
        {
            Description = "The service.name globs the token may emit (repeatable or comma-separated), e.g. 'checkout*'.",
            Required = true,
            AllowMultipleArgumentsPerToken = true,
        };
        var name = new Option<string?>("--name") { Description = "A label for people (shown by list)." };
        var create = new Command("create", "Create a token and print it once.");
        create.Options.Add(config);
        create.Options.Add(tenant);
        create.Options.Add(services);
        create.Options.Add(name);
        create.SetAction(r => RunCreate(
            r.GetValue(config)?.FullName,
            r.GetValue(tenant)!,
            [.. r.GetValue(services)!.SelectMany(s => s.Split(',', StringSplitOptions.RemoveEmptyEntries))],
            r.GetValue(name),
            Console.Out,
            Console.Error));
        return create;
    }

    private static Command CreateList()
    {
        var config = ConfigOption();
        var list = new Command("list", "List tokens (ids, tenants, services, state; never the tokens).");
        list.Options.Add(config);
        list.SetAction(r => RunList(r.GetValue(config)?.FullName, Console.Out, Console.Error));
        return list;
    }

    private static Command CreateRevoke()
    {
        var config = ConfigOption();
        var id = new Argument<string>("id") { Description = "The token's id (from 'hush token list')." };
        var revoke = new Command("revoke", "Revoke a token; a running Hush refuses it within a second.");
        revoke.Options.Add(config);
        revoke.Arguments.Add(id);
        revoke.SetAction(r => RunRevoke(r.GetValue(config)?.FullName, r.GetValue(id)!, Console.Out, Console.Error));
        return revoke;
    }
}
