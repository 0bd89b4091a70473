using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Hush.Cli.Commands;
using Hush.Gateway.Configuration;
using Hush.Gateway.Query.Audit;
using Microsoft.Data.Sqlite;
using OpenTelemetry;
using OpenTelemetry.Exporter;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace Hush.Gateway.Tests.Query;

/// <summary>
/// Issue 6 end to end through the real embedded store and its durable vault: the OpenTelemetry .NET SDK sends spans with
/// planted PII; an engineer reads them scrubbed; an investigator resolves the tokenized value only, audited; the token
/// still resolves after a restart; after <c>hush erase --subject</c> it never does. Grafana-style search finds the
/// subject's traces by the pseudonym the CLI computes.
/// </summary>
public sealed partial class VaultEndToEndTests : IDisposable
{
    private const string CustomerId = "PLANTED-CUST-4711-0042";
    private const string Email = "PLANTED-jane.doe@example.com";
    private const string Card = "4111 1111 1111 1111";

    private const string Policy = """
        version: 1
        detectors:
          builtin: all
        on_detect:
          default: redact
        rules:
          - name: customers
            keys: [enduser.id]
            class: customer_id
            action: tokenize
          - name: emails
            keys: [user.email]
            class: email
            action: pseudonymize
          - name: cards
            keys: [payment.card]
            class: payment_card
            action: redact
        """;

    private readonly string _dataDir = Directory.CreateTempSubdirectory("hush-vault-e2e-").FullName;

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        Directory.Delete(_dataDir, recursive: true);
    }

    [Fact]
    public async Task SdkSpans_ThroughTheStore_TokenResolvesAcrossRestart_UntilTheSubjectIsErased()
    {
        var configPath = WriteConfig();
        var config = HushConfigLoader.LoadFile(configPath, new Dictionary<string, string?>()).Config!;
        var keys = Hush.Gateway.Query.QueryApi.OpenApiKeys(config);
        var engineer = keys.Create("dev", [], "eng", ["engineer"]).Token;
        var investigator = keys.Create("dev", [], "ir", ["investigator"]).Token;
        string traceId, token, pseudonym, redacted;

        await using (var server = await HushServer.StartAsync(config))
        {
            using var admin = Admin(server);
            traceId = SendPlantedSpan(server.HttpEndpoint!);
            var body = await WaitForTraceAsync(admin, engineer, traceId);

            Assert.DoesNotContain("PLANTED", body, StringComparison.Ordinal);
            Assert.DoesNotContain(Card, body, StringComparison.Ordinal);
            Assert.DoesNotContain("4111111111111111", body, StringComparison.Ordinal);
            token = Assert.Single(TokenPattern().Matches(body)).Value;
            pseudonym = Assert.Single(PseudonymPattern().Matches(body)).Value;
            redacted = AttributeValue(body, "payment.card");

            var resolved = await ResolveAsync(admin, investigator, token, traceId);
            Assert.Equal(HttpStatusCode.OK, resolved.StatusCode);
            Assert.Equal(CustomerId, JsonDocument.Parse(await resolved.Content.ReadAsStringAsync()).RootElement.GetProperty("value").GetString());

            // Neither a pseudonym nor a redacted placeholder is reversible, and an engineer may not resolve.
            foreach (var other in new[] { pseudonym, redacted })
            {
                var refused = await ResolveAsync(admin, investigator, other, traceId);
                Assert.NotEqual(HttpStatusCode.OK, refused.StatusCode);
                Assert.DoesNotContain("PLANTED", await refused.Content.ReadAsStringAsync(), StringComparison.Ordinal);
            }

            Assert.Equal(HttpStatusCode.Forbidden, (await ResolveAsync(admin, engineer, token, traceId)).StatusCode);

            // Dev mode (loopback, no credential) never grants investigator.
            Assert.Equal(HttpStatusCode.Forbidden, (await ResolveAsync(admin, null, token, traceId)).StatusCode);

            // A responder finds the user's traces by the pseudonym the CLI computes from the raw address.
            var printed = new StringWriter();
            Assert.Equal(0, PseudonymCommand.Run(null, "dev", null, Email, printed, TextWriter.Null, new Dictionary<string, string?> { ["HUSH_SERVICE__DATA_DIR"] = _dataDir }));
            Assert.Equal(pseudonym, printed.ToString().Trim());
            var search = await admin.GetStringAsync("/api/search?q=" + Uri.EscapeDataString($"{{ span.user.email = \"{pseudonym}\" }}"));
            Assert.Contains(traceId, search, StringComparison.Ordinal);
        }

        var audit = File.ReadAllText(Path.Combine(AuditLog.DirectoryFor(_dataDir), "audit.log"));
        Assert.Contains("\"action\":\"resolve\"", audit, StringComparison.Ordinal);
        Assert.Contains("\"decision\":\"allow\"", audit, StringComparison.Ordinal);
        Assert.DoesNotContain("PLANTED", audit, StringComparison.Ordinal);
        Assert.True(AuditReader.Verify(_dataDir).Intact);
        Assert.True(File.Exists(Path.Combine(_dataDir, Hush.Store.Vault.TokenVault.FileName)));

        // Same data directory, new process state: the vault is on disk, and the same value gets the same token.
        await using (var server = await HushServer.StartAsync(config))
        {
            using var admin = Admin(server);
            var resolved = await ResolveAsync(admin, investigator, token, traceId);
            Assert.Equal(HttpStatusCode.OK, resolved.StatusCode);
            Assert.Contains(CustomerId, await resolved.Content.ReadAsStringAsync(), StringComparison.Ordinal);

            var again = SendPlantedSpan(server.HttpEndpoint!);
            Assert.Contains(token, await WaitForTraceAsync(admin, engineer, again), StringComparison.Ordinal);
        }

        var output = new StringWriter();
        var errors = new StringWriter();
        Assert.True(StoreCommands.RunErase(configPath, "dev", CustomerId, all: false, output, errors, new Dictionary<string, string?>()) == 0, errors.ToString());
        Assert.Contains("removed 2 spans", output.ToString(), StringComparison.Ordinal);
        Assert.Contains("deleted 1 token vault entries", output.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("PLANTED", output.ToString(), StringComparison.Ordinal);

        await using (var server = await HushServer.StartAsync(config))
        {
            using var admin = Admin(server);
            var gone = await ResolveAsync(admin, investigator, token, traceId);
            Assert.Equal(HttpStatusCode.NotFound, gone.StatusCode);
            Assert.DoesNotContain("PLANTED", await gone.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }
    }

    [GeneratedRegex("tok_[0-9A-Z]{26}")]
    private static partial Regex TokenPattern();

    [GeneratedRegex("eml_[0-9A-Z]{16}")]
    private static partial Regex PseudonymPattern();

    private static HttpClient Admin(HushServer server) => new() { BaseAddress = server.AdminEndpoint, Timeout = TimeSpan.FromSeconds(20) };

    private static string SendPlantedSpan(Uri endpoint)
    {
        using var source = new ActivitySource("Hush.Tests.VaultE2E");
        using var provider = Sdk.CreateTracerProviderBuilder()
            .SetResourceBuilder(ResourceBuilder.CreateEmpty().AddService("checkout"))
            .AddSource(source.Name)
            .AddOtlpExporter(o =>
            {
                o.Endpoint = new Uri(endpoint, "v1/traces");
                o.Protocol = OtlpExportProtocol.HttpProtobuf;
                o.ExportProcessorType = ExportProcessorType.Simple;
            })
            .Build();
        string traceId;
        using (var activity = source.StartActivity("POST /orders", ActivityKind.Server)!)
        {
            activity.SetTag("enduser.id", CustomerId);
            activity.SetTag("user.email", Email);
            activity.SetTag("payment.card", Card);
            traceId = activity.TraceId.ToHexString();
        }

        Assert.True(provider.ForceFlush(10_000));
        return traceId;
    }

    private static async Task<string> WaitForTraceAsync(HttpClient admin, string key, string traceId)
    {
        var deadline = DateTime.UtcNow.AddSeconds(15);
        while (true)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "/api/v2/traces/" + traceId);
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
            using var response = await admin.SendAsync(request);
            if (response.StatusCode == HttpStatusCode.OK || DateTime.UtcNow > deadline)
            {
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                return await response.Content.ReadAsStringAsync();
            }

            await Task.Delay(50);
        }
    }

    /// <summary>The string value of the attribute <paramref name="key"/> wherever it sits in the JSON body.</summary>
    private static string AttributeValue(string body, string key)
    {
        var found = Find(JsonDocument.Parse(body).RootElement);
        Assert.NotNull(found);
        return found;

        string? Find(JsonElement element)
        {
            if (element.ValueKind == JsonValueKind.Object)
            {
                if (element.TryGetProperty("key", out var k) && k.ValueKind == JsonValueKind.String && k.GetString() == key
                    && element.TryGetProperty("value", out var v) && v.TryGetProperty("stringValue", out var s))
                {
                    return s.GetString();
                }

                return element.EnumerateObject().Select(p => Find(p.Value)).FirstOrDefault(r => r is not null);
            }

            return element.ValueKind == JsonValueKind.Array ? element.EnumerateArray().Select(Find).FirstOrDefault(r => r is not null) : null;
        }
    }

    private static async Task<HttpResponseMessage> ResolveAsync(HttpClient admin, string? key, string token, string traceId)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/hush/resolve")
        {
            Content = new StringContent(JsonSerializer.Serialize(new { token, traceId, justification = "INC-78: customer disputes an order, need the account" }), Encoding.UTF8, "application/json"),
        };
        if (key is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        }

        return await admin.SendAsync(request);
    }

    private string WriteConfig()
    {
        var policyPath = Path.Combine(_dataDir, "policy.yaml");
        File.WriteAllText(policyPath, Policy);
        var yaml = Support.GatewayFixture.StoreYaml(_dataDir, policyPath);
        var path = Path.Combine(_dataDir, "hush.yaml");
        File.WriteAllText(path, yaml);
        return path;
    }
}
