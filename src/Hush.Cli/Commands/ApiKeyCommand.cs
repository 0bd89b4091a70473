using System.CommandLine;
using Hush.Gateway.Authentication;
using Hush.Gateway.Query;
using Hush.Gateway.Query.Audit;

namespace Hush.Cli.Commands;

/// <summary><c>hush apikey create|list|revoke</c>: query API keys (stored as keyed hashes), each with a tenant and roles.</summary>
internal static class ApiKeyCommand
{
    public static Command Create()
    {
        var command = new Command("apikey", "Create, list and revoke query API keys (for Grafana and scripts; stored as keyed hashes).");
        command.Subcommands.Add(CreateCreate());
        command.Subcommands.Add(CreateList());
        command.Subcommands.Add(CreateRevoke());
        return command;
    }

    /// <summary>Prints a new key once. Returns the exit code.</summary>
    internal static int RunCreate(string? configPath, string tenant, IReadOnlyList<string> roles, string? name, TextWriter output, TextWriter error, IReadOnlyDictionary<string, string?>? environment = null)
    {
        var names = roles.SelectMany(r => r.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)).Select(r => r.ToLowerInvariant()).Distinct(StringComparer.Ordinal).ToList();
        if (string.IsNullOrWhiteSpace(tenant) || names.Count == 0 || names.Any(r => QueryIdentity.ParseRole(r) == QueryRoles.None))
        {
            error.WriteLine("hush apikey create: --tenant and --role are required; roles are viewer, engineer, investigator and admin, e.g. --tenant acme --role engineer");
            return 2;
        }

        if (CliConfig.Load(configPath, error, environment) is not { } config || Open(config, error) is not { } store)
        {
            return 1;
        }

        var (key, info) = store.Create(tenant.Trim(), [], name, names);
        if (!CliConfig.Audit(config, new AuditEntry
        {
            Identity = CliConfig.Identity,
            Tenant = info.Tenant,
            Action = "apikey.create",
            Endpoint = "hush apikey create",
            Parameters = [new("id", info.Id), new("roles", string.Join(",", names)), new("name", info.Name)],
            Results = 1,
        }, error))
        {
            store.Revoke(info.Id);
            return 1;
        }

        output.WriteLine($"Created API key {info.Id} for tenant '{info.Tenant}', roles {string.Join(", ", names)}.");
        output.WriteLine("It is shown only now; Hush keeps only a keyed hash of it:");
        output.WriteLine();
        output.WriteLine("  " + key);
        output.WriteLine();
        output.WriteLine($"Use it: curl -H \"Authorization: Bearer {key}\" http://127.0.0.1:3200/api/search");
        output.WriteLine("In Grafana's Tempo data source: Authentication > Basic auth, any user, the key as password (or a custom header Authorization: Bearer ...).");
        return 0;
    }

    internal static int RunList(string? configPath, TextWriter output, TextWriter error, IReadOnlyDictionary<string, string?>? environment = null)
    {
        if (CliConfig.Load(configPath, error, environment) is not { } config || Open(config, error) is not { } store)
        {
            return 1;
        }

        var keys = store.List();
        if (keys.Count == 0)
        {
            output.WriteLine($"No API keys in {store.Path}. Create one with: hush apikey create --tenant NAME --role engineer");
            return 0;
        }

        output.WriteLine($"{"ID",-12} {"TENANT",-16} {"STATE",-8} {"CREATED",-20} {"NAME",-16} ROLES");
        foreach (var k in keys)
        {
            var state = k.Revoked is null ? "active" : "revoked";
            output.WriteLine($"{k.Id,-12} {k.Tenant,-16} {state,-8} {k.Created.UtcDateTime:yyyy-MM-dd HH:mm:ss}  {k.Name,-16} {string.Join(",", k.Roles)}");
        }

        return 0;
    }

    internal static int RunRevoke(string? configPath, string id, TextWriter output, TextWriter error, IReadOnlyDictionary<string, string?>? environment = null)
    {
        if (CliConfig.Load(configPath, error, environment) is not { } config || Open(config, error) is not { } store)
        {
            return 1;
        }

        // Accept a whole key too: only its public id is used.
        if (id.StartsWith(TokenStore.ApiKeyPrefix, StringComparison.Ordinal) && id.Split('_') is [_, var embedded, _])
        {
            id = embedded;
        }

        if (!store.Revoke(id))
        {
            error.WriteLine($"hush apikey revoke: no active API key with id '{id}' in {store.Path} (see 'hush apikey list')");
            return 1;
        }

        var tenant = store.List().FirstOrDefault(k => k.Id == id)?.Tenant ?? string.Empty;
        CliConfig.Audit(config, new AuditEntry { Identity = CliConfig.Identity, Tenant = tenant, Action = "apikey.revoke", Endpoint = "hush apikey revoke", Parameters = [new("id", id)], Results = 1 }, error);
        output.WriteLine($"Revoked API key {id}. A running Hush refuses it within {TokenStore.RecheckInterval.TotalSeconds:0} s.");
        return 0;
    }

    private static TokenStore? Open(Hush.Gateway.Configuration.HushConfig config, TextWriter error)
    {
        try
        {
            return QueryApi.OpenApiKeys(config);
        }
        catch (InvalidOperationException ex)
        {
            error.WriteLine("hush: " + ex.Message);
            return null;
        }
    }

    private static Command CreateCreate()
    {
        var config = CliConfig.ConfigOption();
        var tenant = new Option<string>("--tenant") { Description = "The tenant the key reads.", Required = true };
        var role = new Option<string[]>("--role")
        {
            Description = "viewer, engineer, investigator or admin (repeatable or comma-separated).",
            Required = true,
            AllowMultipleArgumentsPerToken = true,
        };
        var name = new Option<string?>("--name") { Description = "A label for people (shown by list)." };
        var create = new Command("create", "Create an API key and print it once.");
        create.Options.Add(config);
        create.Options.Add(tenant);
        create.Options.Add(role);
        create.Options.Add(name);
        create.SetAction(r => RunCreate(r.GetValue(config)?.FullName, r.GetValue(tenant)!, r.GetValue(role)!, r.GetValue(name), Console.Out, Console.Error));
        return create;
    }

    private static Command CreateList()
    {
        var config = CliConfig.ConfigOption();
        var list = new Command("list", "List API keys (ids, tenants, roles, state; never the keys).");
        list.Options.Add(config);
        list.SetAction(r => RunList(r.GetValue(config)?.FullName, Console.Out, Console.Error));
        return list;
    }

    private static Command CreateRevoke()
    {
        var config = CliConfig.ConfigOption();
        var id = new Argument<string>("id") { Description = "The key's id (from 'hush apikey list')." };
        var revoke = new Command("revoke", "Revoke an API key; a running Hush refuses it within a second.");
        revoke.Options.Add(config);
        revoke.Arguments.Add(id);
        revoke.SetAction(r => RunRevoke(r.GetValue(config)?.FullName, r.GetValue(id)!, Console.Out, Console.Error));
        return revoke;
    }
}
