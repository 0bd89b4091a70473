using System.Diagnostics;
using System.Text;
using Hush.Gateway.Configuration;
using Hush.Gateway.Privacy;
using Hush.Gateway.Tests.Support;
using Hush.Otlp;
using Microsoft.Extensions.Logging.Abstractions;
using OpenTelemetry;
using OpenTelemetry.Exporter;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace Hush.Gateway.Tests.Privacy;

/// <summary>The policy engine wired into the gateway: what a real SDK sends arrives scrubbed, and only scrubbed.</summary>
public sealed class PolicyPrivacyStageTests
{
    private const string Email = "jane.roe.planted@example.org";
    private const string Card = "4111 1111 1111 1111";
    private const string Token = "sk_live_51PlantedSecretValue0000aaaa";
    private const string Bearer = "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJwbGFudGVkIn0.c2lnbmF0dXJlLXBsYW50ZWQ";
    private const string UserId = "customer-93411-planted";

    private static readonly string[] Raw = [Email, "jane.roe.planted", "4111111111111111", Card, Token, "eyJzdWIiOiJwbGFudGVkIn0", UserId, "hunter2-planted", "o'brien-planted"];

    [Theory]
    [InlineData(OtlpExportProtocol.HttpProtobuf)]
    [InlineData(OtlpExportProtocol.Grpc)]
    public async Task Export_FromOpenTelemetrySdkWithDefaultPolicy_NothingRawReachesExporterAndSignalIsKept(OtlpExportProtocol protocol)
    {
        await using var gateway = await GatewayFixture.StartAsync();
        var sourceName = "Hush.Tests.Privacy." + protocol;
        using var source = new ActivitySource(sourceName);
        var endpoint = protocol == OtlpExportProtocol.Grpc ? gateway.Server.GrpcEndpoint! : new Uri(gateway.Server.HttpEndpoint!, "v1/traces");
        using (var provider = Sdk.CreateTracerProviderBuilder()
            .SetResourceBuilder(ResourceBuilder.CreateEmpty().AddService("checkout").AddAttributes([new("deployment.owner", Email)]))
            .AddSource(sourceName)
            .AddOtlpExporter(o =>
            {
                o.Endpoint = endpoint;
                o.Protocol = protocol;
                o.ExportProcessorType = ExportProcessorType.Simple;
            })
            .Build())
        {
            using (var server = source.StartActivity("GET /users/" + Email, ActivityKind.Server)!)
            {
                server.SetTag("http.route", "/users/{email}");
                server.SetTag("http.request.method", "GET");
                server.SetTag("http.response.status_code", 500);
                server.SetTag("url.full", $"https://shop.example.com/pay?card={Card.Replace(' ', '-')}&access_token={Token}");
                server.SetTag("http.request.header.authorization", Bearer);
                server.SetTag("user.id", UserId);
                server.SetTag("enduser.id", UserId);
                server.SetTag("notes", new[] { "call " + Email, "ok" });
                server.SetTag("db.system", "postgresql");
                server.SetTag("db.statement", "SELECT * FROM users WHERE name = 'o''brien-planted' AND pw = 'hunter2-planted'");
                server.AddEvent(new ActivityEvent("exception", tags: new ActivityTagsCollection
                {
                    ["exception.type"] = "System.InvalidOperationException",
                    ["exception.message"] = "payment failed for " + Email + " with card " + Card,
                }));
                server.SetStatus(ActivityStatusCode.Error, "charge declined for " + Card);
            }

            Assert.True(provider.ForceFlush(10_000));
        }

        await gateway.Sink.WaitForAsync(1);
        var (_, resource, span) = Assert.Single(gateway.Sink.Spans);
        var wire = Encoding.UTF8.GetString(OtlpJson.Encode(new TraceRequest { ResourceSpans = [WithSpan(resource, span)] }));
        foreach (var raw in Raw)
        {
            Assert.DoesNotContain(raw, wire, StringComparison.OrdinalIgnoreCase);
        }

        // The debugging signal survives.
        Assert.Equal("/users/{email}", Attribute(span, "http.route")?.StringValue);
        Assert.Equal(500, Attribute(span, "http.response.status_code")?.IntValue);
        Assert.Equal("postgresql", Attribute(span, "db.system")?.StringValue);
        Assert.Equal("SELECT * FROM users WHERE name = ? AND pw = ?", Attribute(span, "db.statement")?.StringValue);
        Assert.Equal("System.InvalidOperationException", span.Events[0].Attributes.Single(a => a.Key == "exception.type").Value.StringValue);
        Assert.Equal(Hush.Otlp.StatusCode.Error, span.Status.Code);
        Assert.Equal("checkout", resource.Resource.Attributes.Single(a => a.Key == "service.name").Value.StringValue);
        Assert.Null(Attribute(span, "http.request.header.authorization"));

        // One user, one pseudonym, whichever key carries it: traces of a user can still be grouped.
        var pseudonym = Attribute(span, "user.id")!.Value.StringValue!;
        Assert.StartsWith("usr_", pseudonym, StringComparison.Ordinal);
        Assert.Equal(pseudonym, Attribute(span, "enduser.id")?.StringValue);

        // Neither the logs nor /metrics carry a raw value; /metrics counts what the policy did.
        var metrics = await gateway.Admin.GetStringAsync("metrics");
        Assert.Contains("hush_privacy_values_total{rule=\"credential-headers\",class=\"credential\",action=\"drop\"} 1", metrics, StringComparison.Ordinal);
        Assert.Contains("hush_policy_info{fingerprint=\"", metrics, StringComparison.Ordinal);
        foreach (var raw in Raw)
        {
            Assert.DoesNotContain(raw, metrics, StringComparison.OrdinalIgnoreCase);
            Assert.DoesNotContain(raw, gateway.Logs.AllText, StringComparison.OrdinalIgnoreCase);
        }
    }

    [Fact]
    public async Task Start_SameDataDirTwice_KeepsPseudonymsAndCreatesOwnerOnlySecret()
    {
        var dataDir = Directory.CreateTempSubdirectory("hush-secret-").FullName;
        try
        {
            var first = await PseudonymOfUser(dataDir);
            var second = await PseudonymOfUser(dataDir);

            Assert.Equal(first, second);
            var secretFile = PseudonymSecret.DefaultPath(dataDir);
            if (!OperatingSystem.IsWindows())
            {
                Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(secretFile));
                Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(Path.GetDirectoryName(secretFile)!));
            }

            // Another secret, another pseudonym: the key, not the code, makes them unlinkable.
            var otherDir = Directory.CreateTempSubdirectory("hush-secret-").FullName;
            try
            {
                Assert.NotEqual(first, await PseudonymOfUser(otherDir));
            }
            finally
            {
                Directory.Delete(otherDir, recursive: true);
            }
        }
        finally
        {
            Directory.Delete(dataDir, recursive: true);
        }
    }

    [Fact]
    public void Load_SecretFromEnvironmentOrConfiguredFile_UsesItAndNeverEchoesIt()
    {
        var dataDir = Directory.CreateTempSubdirectory("hush-secret-").FullName;
        try
        {
            var secret = Convert.ToBase64String(Enumerable.Range(1, 32).Select(i => (byte)i).ToArray());
            var fromEnv = PseudonymSecret.Load(new PrivacyConfig(null), dataDir, _ => secret, out var envSource);
            Assert.Equal(32, fromEnv.Length);
            Assert.Equal("$" + PseudonymSecret.EnvironmentVariable, envSource);
            Assert.False(File.Exists(PseudonymSecret.DefaultPath(dataDir)));

            var file = Path.Combine(dataDir, "mounted.key");
            File.WriteAllText(file, secret + "\n");
            var fromFile = PseudonymSecret.Load(new PrivacyConfig(null, SecretFile: file), dataDir, _ => "ignored", out var fileSource);
            Assert.Equal(fromEnv, fromFile);
            Assert.Equal(file, fileSource);
        }
        finally
        {
            Directory.Delete(dataDir, recursive: true);
        }
    }

    [Theory]
    [InlineData("not base64 at all! PLANTEDSECRET")]
    [InlineData("UExBTlRFRFNFQ1JFVA==")] // base64 of 15 bytes: too short
    public void Load_UnusableSecret_ThrowsNamingTheSourceNotTheValue(string value)
    {
        var ex = Assert.Throws<InvalidOperationException>(() =>
            PseudonymSecret.Load(new PrivacyConfig(null), Path.GetTempPath(), _ => value, out _));

        Assert.Contains(PseudonymSecret.EnvironmentVariable, ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(value, ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("PLANTED", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void LoadYaml_BrokenPolicyFile_ListsItsErrorsWithTheOtherConfigErrors()
    {
        var dir = Directory.CreateTempSubdirectory("hush-policy-").FullName;
        try
        {
            var policy = Path.Combine(dir, "policy.yaml");
            File.WriteAllText(policy, """
                version: 1
                rules:
                  - name: bad
                    keys: ["x"]
                    action: obliterate
                detectors:
                  custom:
                    - { name: slow, class: secret, pattern: "(a+)+\\1" }
                """);

            var loaded = HushConfigLoader.LoadYaml($$"""
                processors:
                  privacy: { policy: {{policy}}, watch: maybe }
                service:
                  admin: { endpoint: nowhere }
                """, new Dictionary<string, string?>());

            Assert.False(loaded.IsValid);
            Assert.Contains(loaded.Errors, e => e.StartsWith("'processors.privacy.policy': ", StringComparison.Ordinal) && e.Contains("obliterate", StringComparison.Ordinal));
            Assert.Contains(loaded.Errors, e => e.StartsWith("'processors.privacy.policy': ", StringComparison.Ordinal) && e.Contains("detectors.custom[0].pattern", StringComparison.Ordinal) && e.Contains("linear-time", StringComparison.Ordinal));
            Assert.Contains(loaded.Errors, e => e.Contains("processors.privacy.watch", StringComparison.Ordinal));
            Assert.Contains(loaded.Errors, e => e.Contains("service.admin.endpoint", StringComparison.Ordinal));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task ReloadPolicy_ValidThenBrokenFile_AppliesTheFirstAndKeepsItOnTheSecond()
    {
        var dir = Directory.CreateTempSubdirectory("hush-policy-").FullName;
        var policy = Path.Combine(dir, "policy.yaml");
        File.WriteAllText(policy, PolicyWith("keep"));
        try
        {
            var yaml = GatewayFixture.Yaml.Replace("batch: {", $"privacy: {{ policy: {policy}, watch: false }}\n  batch: {{", StringComparison.Ordinal);
            await using var gateway = await GatewayFixture.StartAsync(yaml: yaml);

            Assert.Equal("kept-value", await SendAndReadOrderNote(gateway, 1));

            File.WriteAllText(policy, PolicyWith("redact"));
            var applied = gateway.Server.ReloadPolicy()!;
            Assert.True(applied.Success);
            Assert.True(applied.Changed);
            Assert.Equal("{note}", await SendAndReadOrderNote(gateway, 2));

            File.WriteAllText(policy, "version: 1\nrules: [ { name: broken, keys: [x], action: nope } ]\n");
            var failed = gateway.Server.ReloadPolicy()!;
            Assert.False(failed.Success);
            Assert.Contains(failed.Errors, e => e.Contains("nope", StringComparison.Ordinal));
            Assert.Equal(applied.Current.Fingerprint, failed.Current.Fingerprint);
            Assert.Equal("{note}", await SendAndReadOrderNote(gateway, 3));

            var metrics = await gateway.Admin.GetStringAsync("metrics");
            Assert.Contains("hush_policy_reloads_total{outcome=\"applied\"} 1", metrics, StringComparison.Ordinal);
            Assert.Contains("hush_policy_reloads_total{outcome=\"failed\"} 1", metrics, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task Submit_AllowlistPolicy_DropsUnknownKeysButKeepsHushsOwnProvenance()
    {
        var dir = Directory.CreateTempSubdirectory("hush-policy-").FullName;
        var policy = Path.Combine(dir, "policy.yaml");
        File.WriteAllText(policy, """
            version: 1
            mode: allowlist
            unknown_keys: drop
            rules:
              - { name: service, keys: ["service.name"], class: service, action: keep }
            """);
        try
        {
            var yaml = GatewayFixture.Yaml.Replace("batch: {", $"privacy: {{ policy: {policy} }}\n  batch: {{", StringComparison.Ordinal);
            await using var gateway = await GatewayFixture.StartAsync(yaml: yaml);
            var request = GatewayFixture.Request("allow");
            request.ResourceSpans[0].Resource.Attributes.Add(new KeyValue("hush.ingest.identity", AnyValue.Of("token:forged")));

            await PostAsync(gateway, request);
            await gateway.Sink.WaitForAsync(1);

            var (_, resource, span) = Assert.Single(gateway.Sink.Spans);
            Assert.Empty(span.Attributes);
            Assert.Equal(["service.name", "hush.ingest.identity"], resource.Resource.Attributes.Select(a => a.Key));
            Assert.Equal("dev:loopback", resource.Resource.Attributes[1].Value.StringValue);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task Start_PolicyFileBrokenAfterConfigLoad_RefusesToStart()
    {
        var dir = Directory.CreateTempSubdirectory("hush-policy-").FullName;
        var policy = Path.Combine(dir, "policy.yaml");
        File.WriteAllText(policy, PolicyWith("keep"));
        try
        {
            var loaded = HushConfigLoader.LoadYaml(
                GatewayFixture.Yaml.Replace("batch: {", $"privacy: {{ policy: {policy} }}\n  batch: {{", StringComparison.Ordinal)
                    .Replace("DATADIR", dir, StringComparison.Ordinal).Replace("CAPACITY", "1000", StringComparison.Ordinal).Replace("BATCH", "10", StringComparison.Ordinal),
                new Dictionary<string, string?>());
            Assert.True(loaded.IsValid, string.Join("\n", loaded.Errors));
            File.WriteAllText(policy, "version: 7\n");

            var ex = await Assert.ThrowsAsync<Hush.Privacy.PolicyLoadException>(() => HushServer.StartAsync(loaded.Config!));

            Assert.NotEmpty(ex.Errors);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static string PolicyWith(string action) => $"""
        version: 1
        rules:
          - name: order-notes
            keys: ["order.note"]
            class: note
            action: {action}
            detect: false
        """;

    private static async Task<string?> SendAndReadOrderNote(GatewayFixture gateway, int n)
    {
        var request = GatewayFixture.Request("note-" + n);
        request.ResourceSpans[0].ScopeSpans[0].Spans[0].Attributes = [new KeyValue("order.note", AnyValue.Of("kept-value"))];
        await PostAsync(gateway, request);
        await gateway.Sink.WaitForAsync(n);
        return Attribute(gateway.Sink.Single("note-" + n + "-0"), "order.note")?.StringValue;
    }

    private static async Task PostAsync(GatewayFixture gateway, TraceRequest request)
    {
        using var content = new ByteArrayContent(OtlpProtobuf.Encode(request));
        content.Headers.ContentType = new("application/x-protobuf");
        using var response = await gateway.Http.PostAsync("v1/traces", content);
        Assert.True(response.IsSuccessStatusCode, response.StatusCode.ToString());
    }

    private static async Task<string> PseudonymOfUser(string dataDir)
    {
        var config = HushConfigLoader.LoadYaml(GatewayFixture.Yaml
            .Replace("DATADIR", dataDir, StringComparison.Ordinal).Replace("CAPACITY", "1000", StringComparison.Ordinal).Replace("BATCH", "10", StringComparison.Ordinal),
            new Dictionary<string, string?>()).Config!;
        var sink = new SinkExporter();
        await using var server = await HushServer.StartAsync(config, new HushServerOptions { AdditionalExporters = [sink], LoggerFactory = NullLoggerFactory.Instance });
        var request = GatewayFixture.Request("user");
        request.ResourceSpans[0].ScopeSpans[0].Spans[0].Attributes = [new KeyValue("user.id", AnyValue.Of(UserId))];
        using var http = new HttpClient { BaseAddress = server.HttpEndpoint };
        using var content = new ByteArrayContent(OtlpProtobuf.Encode(request));
        content.Headers.ContentType = new("application/x-protobuf");
        using var response = await http.PostAsync("v1/traces", content);
        response.EnsureSuccessStatusCode();
        await sink.WaitForAsync(1);
        return Attribute(sink.Single("user-0"), "user.id")!.Value.StringValue!;
    }

    private static ResourceSpans WithSpan(ResourceSpans resource, Hush.Otlp.Span span) =>
        new() { Resource = resource.Resource, ScopeSpans = [new ScopeSpans { Spans = [span] }] };

    private static AnyValue? Attribute(Hush.Otlp.Span span, string key) =>
        span.Attributes.FirstOrDefault(a => a.Key == key) is { Key: not null } kv ? kv.Value : null;
}
