using System.CommandLine;
using Hush.Gateway.Query;
using Hush.Gateway.Query.Audit;

namespace Hush.Cli.Commands;

/// <summary>
/// <c>hush pseudonym --tenant T [--class C] VALUE</c>: prints the pseudonym the privacy stage gives VALUE in tenant T,
/// so a responder can search a user's traces by it. Audited (the value itself is not recorded).
/// </summary>
internal static class PseudonymCommand
{
    public static Command Create()
    {
        var config = CliConfig.ConfigOption();
        var tenant = new Option<string>("--tenant") { Description = "The tenant whose pseudonym key to use.", Required = true };
        var dataClass = new Option<string?>("--class") { Description = "The data class the policy gives the value (email, user_id, phone, ...); by default email when VALUE has an @, else user_id." };
        var value = new Argument<string>("value") { Description = "The raw identifier, e.g. an email address." };
        var command = new Command("pseudonym", "Print the pseudonym Hush stores for a raw identifier (audited), to search traces by it.");
        command.Options.Add(config);
        command.Options.Add(tenant);
        command.Options.Add(dataClass);
        command.Arguments.Add(value);
        command.SetAction(r => Run(r.GetValue(config)?.FullName, r.GetValue(tenant)!, r.GetValue(dataClass), r.GetValue(value)!, Console.Out, Console.Error));
        return command;
    }

    internal static int Run(string? configPath, string tenant, string? dataClass, string value, TextWriter output, TextWriter error, IReadOnlyDictionary<string, string?>? environment = null)
    {
        if (string.IsNullOrWhiteSpace(tenant) || string.IsNullOrEmpty(value))
        {
            error.WriteLine("hush pseudonym: --tenant and a VALUE are required, e.g. hush pseudonym --tenant acme jane@example.com");
            return 2;
        }

        if (CliConfig.Load(configPath, error, environment) is not { } config)
        {
            return 1;
        }

        var cls = string.IsNullOrWhiteSpace(dataClass) ? PseudonymLookup.GuessClass(value) : dataClass.Trim();
        string pseudonym;
        try
        {
            pseudonym = PseudonymLookup.Compute(config, tenant.Trim(), cls, value, name => environment is null ? Environment.GetEnvironmentVariable(name) : environment.GetValueOrDefault(name));
        }
        catch (InvalidOperationException e)
        {
            error.WriteLine("hush pseudonym: " + e.Message);
            return 1;
        }

        var entry = new AuditEntry
        {
            Identity = CliConfig.Identity,
            Tenant = tenant.Trim(),
            Action = "pseudonym",
            Endpoint = "hush pseudonym",
            Parameters = [new("class", cls)],
            Results = 1,
        };
        if (!CliConfig.Audit(config, entry, error))
        {
            return 1;
        }

        output.WriteLine(pseudonym);
        return 0;
    }
}
