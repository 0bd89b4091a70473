using System.CommandLine;
using System.Runtime.InteropServices;
using Hush.Gateway;
using Hush.Gateway.Configuration;
using Hush.Pipeline;
using Hush.Privacy;
using Microsoft.Extensions.Logging;

namespace Hush.Cli.Commands;

/// <summary><c>hush serve [--config FILE]</c>: runs the gateway until Ctrl+C or SIGTERM.</summary>
internal static class ServeCommand
{
    public static Command Create()
    {
        var config = new Option<FileInfo?>("--config", "-c")
        {
            HelpName = "FILE",
            Description = "A Collector-style YAML config file. Without it Hush runs the embedded default (loopback only). "
                + "Environment overrides: " + HushConfigLoader.EnvironmentOverrideRule,
        };
        var command = new Command("serve", "Run the Hush gateway: OTLP/gRPC and OTLP/HTTP receivers, the pipeline and the admin port.");
        command.Options.Add(config);

        // A synchronous action: Hush handles SIGINT/SIGTERM itself so a stop can drain the pipeline
        // for as long as 'service.shutdown_timeout' allows, not the parser's short termination timeout.
        command.SetAction(result =>
        {
            using var stop = new CancellationTokenSource();
            using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
            using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
            HushServer? running = null;
            using var sighup = OperatingSystem.IsWindows() ? null : PosixSignalRegistration.Create(PosixSignal.SIGHUP, context =>
            {
                context.Cancel = true;
                if (Volatile.Read(ref running) is { } server)
                {
                    ReportReload(server.ReloadPolicy(), Console.Out, Console.Error);
                }
            });
            return RunAsync(result.GetValue(config)?.FullName, Console.Out, Console.Error, null, s => Volatile.Write(ref running, s), stop.Token).GetAwaiter().GetResult();

            void OnSignal(PosixSignalContext context)
            {
                context.Cancel = true;
                stop.Cancel();
            }
        });
        return command;
    }

    /// <summary>Prints the outcome of a SIGHUP reload; a broken file lists its errors and the old policy stays.</summary>
    internal static void ReportReload(PolicyReloadResult? result, TextWriter output, TextWriter error)
    {
        if (result is null)
        {
            return;
        }

        if (result.Success)
        {
            output.WriteLine(result.Changed
                ? $"hush: privacy policy reloaded (fingerprint {result.Current.Fingerprint})"
                : "hush: privacy policy unchanged");
            return;
        }

        error.WriteLine($"hush: the privacy policy file is invalid ({result.Errors.Count} errors); the policy in force stays (fingerprint {result.Current.Fingerprint}):");
        foreach (var problem in result.Errors)
        {
            error.WriteLine("  - " + problem);
        }
    }

    /// <summary>
    /// Loads the config, starts Hush, prints where it listens, and runs until <paramref name="stop"/>
    /// fires. Returns 1 (after printing every error) on an invalid config or a failed start.
    /// </summary>
    internal static async Task<int> RunAsync(
        string? configPath,
        TextWriter output,
        TextWriter error,
        IReadOnlyDictionary<string, string?>? environment,
        Action<HushServer>? onStarted,
        CancellationToken stop)
    {
        var loaded = configPath is null ? HushConfigLoader.LoadDefault(environment) : HushConfigLoader.LoadFile(configPath, environment);
        foreach (var warning in loaded.Warnings)
        {
            await error.WriteLineAsync(warning);
        }

        if (loaded.Config is null)
        {
            await error.WriteLineAsync($"hush: the config{(configPath is null ? string.Empty : " " + configPath)} is invalid ({loaded.Errors.Count} errors):");
            foreach (var problem in loaded.Errors)
            {
                await error.WriteLineAsync("  - " + problem);
            }

            return 1;
        }

        using var loggerFactory = LoggerFactory.Create(logging => logging
            .SetMinimumLevel(LogLevel.Information)
            .AddFilter("Microsoft", LogLevel.Warning)
            .AddSimpleConsole(console => console.SingleLine = true));
        var firstStart = !File.Exists(loaded.Config.Receiver.Auth.TokenFile);
        HushServer server;
        try
        {
            server = await HushServer.StartAsync(loaded.Config, new HushServerOptions { LoggerFactory = loggerFactory }, stop);
        }
        catch (PolicyLoadException ex)
        {
            await error.WriteLineAsync($"hush: could not start: the privacy policy is invalid ({ex.Errors.Count} errors):");
            foreach (var problem in ex.Errors)
            {
                await error.WriteLineAsync("  - " + problem);
            }

            return 1;
        }
        catch (Exception ex) when (ex is IOException or InvalidOperationException or UnauthorizedAccessException or System.Security.Cryptography.CryptographicException)
        {
            await error.WriteLineAsync($"hush: could not start: {ex.Message}");
            return 1;
        }

        await using (server)
        {
            if (server.GrpcEndpoint is { } grpc)
            {
                await output.WriteLineAsync($"hush: OTLP/gRPC listening on {grpc}");
            }

            if (server.HttpEndpoint is { } http)
            {
                await output.WriteLineAsync($"hush: OTLP/HTTP listening on {http}v1/traces");
            }

            await output.WriteLineAsync($"hush: admin listening on {server.AdminEndpoint} (/metrics, /healthz, /readyz)");
            await output.WriteLineAsync($"hush: query API for Grafana's Tempo data source on {server.AdminEndpoint}"
                + (loaded.Config.Query.Auth.Mode == QueryAuthMode.Dev ? " (dev mode: loopback requests without credentials read tenant 'dev' as engineer)" : string.Empty)
                + "; create a key with 'hush apikey create --tenant NAME --role engineer'");
            await output.WriteLineAsync($"hush: exporting to {string.Join(", ", loaded.Config.Pipeline.Exporters.Select(e => e.Id))}");
            await output.WriteLineAsync(loaded.Config.Privacy.PolicyPath is { } policy
                ? $"hush: privacy policy {policy} (reloaded on {(loaded.Config.Privacy.WatchPolicy ? "change and on " : string.Empty)}SIGHUP)"
                : "hush: privacy policy: the shipped default (see 'hush policy lint :default')");
            if (loaded.Config.Receiver.Auth.Mode == IngestAuthMode.Dev)
            {
                await output.WriteLineAsync("hush: !!! DEV MODE: requests without credentials from this machine (loopback) are accepted into tenant 'dev'. "
                    + "Credentials that are sent are still checked. Binding a non-loopback address requires authentication. !!!");
            }
            else
            {
                await output.WriteLineAsync($"hush: authentication required: tokens ({server.Tokens.ActiveCount} active)"
                    + (loaded.Config.Receiver.Auth.Jwt is not null ? ", JWT" : string.Empty)
                    + (loaded.Config.Receiver.Auth.Mtls is not null ? ", client certificates" : string.Empty));
            }

            if (configPath is null && firstStart)
            {
                var (token, info) = server.Tokens.Create(IngestContext.DevTenant, ["*"], "first-start");
                await output.WriteLineAsync($"hush: first start: created ingest token {info.Id} for tenant 'dev' (any service). It is shown only now:");
                await output.WriteLineAsync("hush:   " + token);
                await output.WriteLineAsync("hush: " + TokenCommand.UsageLine(token));
            }
            await output.WriteLineAsync("hush: press Ctrl+C to stop");
            await output.FlushAsync(CancellationToken.None);
            onStarted?.Invoke(server);
            try
            {
                await Task.Delay(Timeout.Infinite, stop);
            }
            catch (OperationCanceledException)
            {
            }

            await output.WriteLineAsync("hush: stopping (draining the pipeline)");
            await server.StopAsync(CancellationToken.None);
            await output.WriteLineAsync("hush: stopped");
        }

        return 0;
    }
}
