using System.CommandLine;
using Hush.Cli.Commands;

namespace Hush.Gateway.Tests.Cli;

public sealed class ServeCommandTests
{
    private static string TestData(string name) => Path.Combine(AppContext.BaseDirectory, "testdata", name);

    [Fact]
    public async Task RunAsync_InvalidConfig_Exits1ListingEveryErrorWithoutSecrets()
    {
        var output = new StringWriter();
        var error = new StringWriter();

        var code = await ServeCommand.RunAsync(TestData("many-mistakes.yaml"), output, error, new Dictionary<string, string?>(), null, default);

        Assert.Equal(1, code);
        var text = error.ToString();
        Assert.Contains("is invalid (15 errors)", text, StringComparison.Ordinal);
        Assert.Contains("  - 'exporters.otlphttp/tempo.endpoint' is required", text, StringComparison.Ordinal);
        Assert.Contains("  - 'service.pipelines.traces.exporters' names 'foo', which is not defined under 'exporters'", text, StringComparison.Ordinal);
        Assert.DoesNotContain("PLANTED_SECRET", text, StringComparison.Ordinal);
        Assert.Empty(output.ToString());
    }

    [Fact]
    public async Task Invoke_ServeWithBadConfigThroughParser_Exits1()
    {
        var root = new RootCommand { ServeCommand.Create() };

        var code = await root.Parse(["serve", "--config", TestData("many-mistakes.yaml")]).InvokeAsync();

        Assert.Equal(1, code);
    }

    [Fact]
    public async Task RunAsync_MissingFile_Exits1()
    {
        var error = new StringWriter();

        var code = await ServeCommand.RunAsync(TestData("nope.yaml"), TextWriter.Null, error, new Dictionary<string, string?>(), null, default);

        Assert.Equal(1, code);
        Assert.Contains("cannot read the config file", error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task RunAsync_DefaultConfigOnEphemeralPorts_PrintsEndpointsAndAuthWarningThenStops()
    {
        var dataDir = Directory.CreateTempSubdirectory("hush-serve-").FullName;
        try
        {
            await RunDefaultConfigOnEphemeralPorts(dataDir);
        }
        finally
        {
            Directory.Delete(dataDir, recursive: true);
        }
    }

    private static async Task RunDefaultConfigOnEphemeralPorts(string dataDir)
    {
        var env = new Dictionary<string, string?>
        {
            ["HUSH_RECEIVERS__OTLP__PROTOCOLS__GRPC__ENDPOINT"] = "127.0.0.1:0",
            ["HUSH_RECEIVERS__OTLP__PROTOCOLS__HTTP__ENDPOINT"] = "127.0.0.1:0",
            ["HUSH_SERVICE__ADMIN__ENDPOINT"] = "127.0.0.1:0",
            ["HUSH_SERVICE__DATA_DIR"] = dataDir,
        };
        var output = new StringWriter();
        using var stop = new CancellationTokenSource();
        HushServer? started = null;

        var code = await ServeCommand.RunAsync(null, output, TextWriter.Null, env, server =>
        {
            started = server;
            stop.Cancel();
        }, stop.Token);

        Assert.Equal(0, code);
        var text = output.ToString();
        Assert.NotNull(started);
        Assert.Contains($"OTLP/gRPC listening on {started.GrpcEndpoint}", text, StringComparison.Ordinal);
        Assert.Contains($"OTLP/HTTP listening on {started.HttpEndpoint}v1/traces", text, StringComparison.Ordinal);
        Assert.Contains("DEV MODE", text, StringComparison.Ordinal);
        var tokenLine = text.Split('\n').Single(l => l.StartsWith("hush:   hush_", StringComparison.Ordinal));
        var token = tokenLine["hush:   ".Length..].Trim();
        Assert.True(started.Tokens.Validate(token).Succeeded);
        Assert.Equal("dev", started.Tokens.Validate(token).Identity!.Tenant);
        Assert.Contains("OTEL_EXPORTER_OTLP_HEADERS=\"Authorization=Bearer " + token, text, StringComparison.Ordinal);
        Assert.DoesNotContain(token, File.ReadAllText(started.Tokens.Path), StringComparison.Ordinal);
        Assert.Contains("hush: stopped", text, StringComparison.Ordinal);
        Assert.False(started.IsReady);
    }

    [Fact]
    public void TokenCommands_CreateListRevoke_WorkOnTheConfiguredStore()
    {
        var dir = Directory.CreateTempSubdirectory("hush-token-").FullName;
        try
        {
            var env = new Dictionary<string, string?> { ["HUSH_SERVICE__DATA_DIR"] = dir };
            var output = new StringWriter();

            Assert.Equal(0, TokenCommand.RunCreate(null, "acme", ["checkout*", "cart"], "ci", output, TextWriter.Null, env));
            var token = output.ToString().Split('\n').Select(l => l.Trim()).Single(l => l.StartsWith("hush_", StringComparison.Ordinal));
            var id = token.Split('_')[1];

            var list = new StringWriter();
            Assert.Equal(0, TokenCommand.RunList(null, list, TextWriter.Null, env));
            Assert.Contains(id, list.ToString(), StringComparison.Ordinal);
            Assert.Contains("checkout*,cart", list.ToString(), StringComparison.Ordinal);
            Assert.DoesNotContain(token, list.ToString(), StringComparison.Ordinal);

            // A pasted whole token revokes by its id.
            Assert.Equal(0, TokenCommand.RunRevoke(null, token, TextWriter.Null, TextWriter.Null, env));
            var error = new StringWriter();
            Assert.Equal(1, TokenCommand.RunRevoke(null, id, TextWriter.Null, error, env));
            Assert.Contains("no active token", error.ToString(), StringComparison.Ordinal);
            Assert.Equal(2, TokenCommand.RunCreate(null, "acme", [], null, TextWriter.Null, TextWriter.Null, env));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task RunAsync_InvalidPolicyFile_Exits1NamingThePolicyKey()
    {
        var dir = Directory.CreateTempSubdirectory("hush-serve-").FullName;
        try
        {
            var policy = Path.Combine(dir, "policy.yaml");
            File.WriteAllText(policy, "version: 1\nmode: maybe\n");
            var config = Path.Combine(dir, "hush.yaml");
            File.WriteAllText(config, $"processors:\n  privacy: {{ policy: {policy} }}\n");
            var error = new StringWriter();

            var code = await ServeCommand.RunAsync(config, TextWriter.Null, error, new Dictionary<string, string?>(), null, default);

            Assert.Equal(1, code);
            Assert.Contains("  - 'processors.privacy.policy': ", error.ToString(), StringComparison.Ordinal);
            Assert.Contains("mode", error.ToString(), StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void ReportReload_BrokenFile_ListsErrorsAndSaysThePolicyStays()
    {
        var current = Hush.Privacy.PolicyLoader.LoadDefault().Policy!;
        var error = new StringWriter();

        ServeCommand.ReportReload(new Hush.Privacy.PolicyReloadResult(false, false, ["'mode': unknown"], [], current), TextWriter.Null, error);

        Assert.Contains("the policy in force stays", error.ToString(), StringComparison.Ordinal);
        Assert.Contains("  - 'mode': unknown", error.ToString(), StringComparison.Ordinal);
    }
}
