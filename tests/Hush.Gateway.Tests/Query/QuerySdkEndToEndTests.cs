using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Hush.Cli.Commands;
using Hush.Gateway.Configuration;
using Hush.Gateway.Query.Audit;
using Hush.Gateway.Tests.Support;
using Hush.Otlp;
using Hush.Pipeline;
using OpenTelemetry;
using OpenTelemetry.Exporter;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace Hush.Gateway.Tests.Query;

/// <summary>
/// The OpenTelemetry .NET SDK sends spans with planted PII to a running Hush; an exporter keeps the scrubbed batches in
/// an in-memory store; the query API returns them scrubbed, and an investigator resolves only the tokenized value.
/// (The real store replaces the in-memory one after the merge.)
/// </summary>
public sealed class QuerySdkEndToEndTests : IAsyncDisposable
{
    private const string CustomerId = "PLANTED-CUST-4711-0042";
    private const string Email = "PLANTED-jane.doe@example.com";

    private const string Policy = """
        version: 1
        detectors:
          builtin: all
        on_detect:
          default: redact
          email: pseudonymize
        rules:
          - name: customers
            keys: [customer.id]
            class: customer_id
            action: tokenize
          - name: emails
            keys: [user.email]
            class: email
            action: pseudonymize
        """;

    private readonly string _dataDir = Directory.CreateTempSubdirectory("hush-qsdk-").FullName;
    private readonly InMemoryTraceReader _store = new();

    public ValueTask DisposeAsync()
    {
        Directory.Delete(_dataDir, recursive: true);
        return ValueTask.CompletedTask;
    }

    [Fact]
    public async Task SdkSpans_QueriedScrubbed_ResolvedOnlyForTokenizedValues_Audited()
    {
        var policyPath = Path.Combine(_dataDir, "policy.yaml");
        File.WriteAllText(policyPath, Policy);
        var yaml = GatewayFixture.Yaml
            .Replace("DATADIR", _dataDir, StringComparison.Ordinal)
            .Replace("CAPACITY", "1024", StringComparison.Ordinal)
            .Replace("BATCH", "100", StringComparison.Ordinal)
            .Replace("processors:\n  batch:", $"processors:\n  privacy: {{ policy: {policyPath} }}\n  batch:", StringComparison.Ordinal);
        var config = HushConfigLoader.LoadYaml(yaml, new Dictionary<string, string?>()).Config!;
        var investigator = Hush.Gateway.Query.QueryApi.OpenApiKeys(config).Create("dev", [], "ir", ["investigator"]).Token;
        await using var server = await HushServer.StartAsync(config, new HushServerOptions { TraceReader = _store, AdditionalExporters = [new StoreExporter(_store)] });
        using var admin = new HttpClient { BaseAddress = server.AdminEndpoint, Timeout = TimeSpan.FromSeconds(20) };

        using var source = new ActivitySource("Hush.Tests.QueryE2E");
        string traceId;
        using (var provider = Sdk.CreateTracerProviderBuilder()
            .SetResourceBuilder(ResourceBuilder.CreateEmpty().AddService("checkout"))
            .AddSource(source.Name)
            .AddOtlpExporter(o =>
            {
                o.Endpoint = new Uri(server.HttpEndpoint!, "v1/traces");
                o.Protocol = OtlpExportProtocol.HttpProtobuf;
                o.ExportProcessorType = ExportProcessorType.Simple;
            })
            .Build())
        {
            using (var activity = source.StartActivity("POST /orders", ActivityKind.Server)!)
            {
                activity.SetTag("customer.id", CustomerId);
                activity.SetTag("user.email", Email);
                traceId = activity.TraceId.ToHexString();
            }

            Assert.True(provider.ForceFlush(10_000));
        }

        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (_store.Count == 0 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20);
        }

        // Dev mode (loopback, no credential): an engineer of tenant dev sees the trace, scrubbed.
        var body = await admin.GetStringAsync("/api/traces/" + traceId);
        Assert.DoesNotContain("PLANTED", body, StringComparison.Ordinal);
        var trace = OtlpJson.DecodeTraceRequest(Encoding.UTF8.GetBytes(body));
        var attributes = trace.ResourceSpans.SelectMany(r => r.ScopeSpans).SelectMany(s => s.Spans).Single().Attributes;
        var token = attributes.Single(a => a.Key == "customer.id").Value.StringValue!;
        var pseudonym = attributes.Single(a => a.Key == "user.email").Value.StringValue!;
        Assert.StartsWith("tok_", token, StringComparison.Ordinal);
        Assert.StartsWith("eml_", pseudonym, StringComparison.Ordinal);

        // A responder finds the user's traces by the pseudonym the CLI computes from the raw address.
        var printed = new StringWriter();
        Assert.Equal(0, PseudonymCommand.Run(null, "dev", null, Email, printed, TextWriter.Null, new Dictionary<string, string?> { ["HUSH_SERVICE__DATA_DIR"] = _dataDir }));
        Assert.Equal(pseudonym, printed.ToString().Trim());
        var search = await admin.GetStringAsync("/api/search?q=" + Uri.EscapeDataString($"{{ span.user.email = \"{pseudonym}\" }}"));
        Assert.Contains(traceId, search, StringComparison.Ordinal);

        // Dev mode never grants investigator.
        var anonymous = await admin.PostAsync("/api/hush/resolve", Json(token, traceId));
        Assert.Equal(HttpStatusCode.Forbidden, anonymous.StatusCode);

        var resolved = await ResolveAsync(admin, investigator, token, traceId);
        Assert.Equal(HttpStatusCode.OK, resolved.StatusCode);
        Assert.Equal(CustomerId, JsonDocument.Parse(await resolved.Content.ReadAsStringAsync()).RootElement.GetProperty("value").GetString());

        var pseudonymResolve = await ResolveAsync(admin, investigator, pseudonym, traceId);
        Assert.Equal(HttpStatusCode.NotFound, pseudonymResolve.StatusCode);
        Assert.DoesNotContain("PLANTED", await pseudonymResolve.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        var audit = File.ReadAllText(Path.Combine(AuditLog.DirectoryFor(_dataDir), "audit.log"));
        Assert.Contains("\"action\":\"resolve\"", audit, StringComparison.Ordinal);
        Assert.Contains("\"decision\":\"allow\"", audit, StringComparison.Ordinal);
        Assert.DoesNotContain("PLANTED", audit, StringComparison.Ordinal);
        Assert.True(AuditReader.Verify(_dataDir).Intact);
    }

    private static StringContent Json(string token, string traceId) =>
        new(JsonSerializer.Serialize(new { token, traceId, justification = "INC-77: customer disputes an order, need the account" }), Encoding.UTF8, "application/json");

    private static async Task<HttpResponseMessage> ResolveAsync(HttpClient admin, string key, string token, string traceId)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/hush/resolve") { Content = Json(token, traceId) };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        return await admin.SendAsync(request);
    }

    /// <summary>Keeps each scrubbed batch (a copy) in the in-memory store, as the embedded store will.</summary>
    private sealed class StoreExporter(InMemoryTraceReader store) : ISpanExporter
    {
        public string Name => "memory-store";

        public ValueTask<ExportOutcome> ExportAsync(SpanBatch batch, CancellationToken cancellationToken)
        {
            store.Add(batch.Tenant, OtlpProtobuf.DecodeTraceRequest(OtlpProtobuf.Encode(batch.Traces)));
            return ValueTask.FromResult(ExportOutcome.Success);
        }

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
