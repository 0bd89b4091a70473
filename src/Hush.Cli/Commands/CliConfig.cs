using System.CommandLine;
using Hush.Gateway.Configuration;
using Hush.Gateway.Query.Audit;

namespace Hush.Cli.Commands;

/// <summary>What the data-dir commands (apikey, audit, pseudonym) share: the config to read, and auditing themselves.</summary>
internal static class CliConfig
{
    /// <summary>Loads the config (the embedded default without a path); prints every error and returns null when invalid.</summary>
    public static HushConfig? Load(string? configPath, TextWriter error, IReadOnlyDictionary<string, string?>? environment)
    {
        var loaded = configPath is null ? HushConfigLoader.LoadDefault(environment) : HushConfigLoader.LoadFile(configPath, environment);
        if (loaded.Config is not null)
        {
            return loaded.Config;
        }

        error.WriteLine($"hush: the config{(configPath is null ? string.Empty : " " + configPath)} is invalid ({loaded.Errors.Count} errors):");
        foreach (var problem in loaded.Errors)
        {
            error.WriteLine("  - " + problem);
        }

        return null;
    }

    /// <summary>Who runs the CLI, as the audit log names it.</summary>
    public static string Identity => "cli:" + Environment.UserName;

    /// <summary>Appends an audit record for a CLI action; false (after printing why) when the log cannot be written.</summary>
    public static bool Audit(HushConfig config, AuditEntry entry, TextWriter error)
    {
        try
        {
            AuditLog.Open(config.DataDir, rotateBytes: config.Query.Audit.RotateBytes).Append(entry);
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidOperationException)
        {
            error.WriteLine($"hush: the audit log in {AuditLog.DirectoryFor(config.DataDir)} cannot be written ({e.GetType().Name}); nothing was done unaudited");
            return false;
        }
    }

    public static Option<FileInfo?> ConfigOption() => new("--config", "-c")
    {
        HelpName = "FILE",
        Description = "The config whose data directory to use. Without it: the embedded default's, ./hush-data.",
    };
}
