using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using Hush.Gateway.Receivers;
using Hush.Gateway.Tests.Support;
using Hush.Otlp;
using OpenTelemetry;
using OpenTelemetry.Exporter;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace Hush.Gateway.Tests.Receivers;

/// <summary>
/// Under a policy that changes nothing (no detectors, no rules, detect mode), receivers hand requests over in wire
/// form; the spans still arrive whole and stamped with their sender, and anything that needs decoded spans gets them.
/// </summary>
public sealed class WireFormIngestTests
{
    [Theory]
    [InlineData(OtlpExportProtocol.HttpProtobuf)]
    [InlineData(OtlpExportProtocol.Grpc)]
    public async Task SdkSpans_UnderAPolicyThatChangesNothing_TravelInWireForm_AndArriveWholeAndStamped(OtlpExportProtocol protocol)
    {
        await using var gateway = await GatewayFixture.StartWithPolicyAsync(GatewayFixture.MinimalPolicy);
        var sourceName = "Hush.Tests.Wire." + protocol;
        using var source = new ActivitySource(sourceName);
        var endpoint = protocol == OtlpExportProtocol.Grpc ? gateway.Server.GrpcEndpoint! : new Uri(gateway.Server.HttpEndpoint!, "v1/traces");
        string traceId;
        using (var provider = Sdk.CreateTracerProviderBuilder()
            .SetResourceBuilder(ResourceBuilder.CreateEmpty().AddService("checkout", serviceVersion: "1.2.3"))
            .AddSource(sourceName)
            .AddOtlpExporter(o =>
            {
                o.Endpoint = endpoint;
                o.Protocol = protocol;
                o.ExportProcessorType = ExportProcessorType.Simple;
            })
            .Build())
        {
            using (var parent = source.StartActivity("GET /orders/{id}", ActivityKind.Server)!)
            {
                parent.SetTag("http.route", "/orders/{id}");
                parent.SetTag("user.email", GatewayFixture.Planted);
                parent.SetTag("tags", new[] { "a", "b" });
                traceId = parent.TraceId.ToHexString();
                using var child = source.StartActivity("SELECT orders", ActivityKind.Client)!;
                child.AddEvent(new ActivityEvent("retry", tags: new ActivityTagsCollection { ["attempt"] = 2 }));
            }

            Assert.True(provider.ForceFlush(10_000));
        }

        await gateway.Sink.WaitForAsync(2);
        Assert.True(gateway.Sink.WireFormBatches > 0, "the requests were decoded before the exporters");
        var transport = protocol == OtlpExportProtocol.Grpc ? "grpc" : "http";
        Assert.Contains($"hush_receiver_spans_undecoded_total{{transport=\"{transport}\"}} 2", await gateway.Admin.GetStringAsync("metrics"), StringComparison.Ordinal);

        var server = gateway.Sink.Single("GET /orders/{id}");
        Assert.Equal(traceId, server.TraceId.ToString());
        Assert.Equal("/orders/{id}", Attribute(server.Attributes, "http.route").StringValue);

        // This policy changes nothing, by its own terms: the value passes as sent.
        Assert.Equal(GatewayFixture.Planted, Attribute(server.Attributes, "user.email").StringValue);
        Assert.Equal(["a", "b"], Attribute(server.Attributes, "tags").ArrayValue!.Select(v => v.StringValue));
        var retry = Assert.Single(gateway.Sink.Single("SELECT orders").Events);
        Assert.Equal(2, Attribute(retry.Attributes, "attempt").IntValue);
        foreach (var (tenant, resource, _) in gateway.Sink.Spans)
        {
            Assert.Equal("dev", tenant);
            Assert.Equal("checkout", Attribute(resource.Resource.Attributes, "service.name").StringValue);
            Assert.Equal("dev:loopback", Attribute(resource.Resource.Attributes, IngestGate.IdentityAttribute).StringValue);
        }
    }

    [Fact]
    public async Task AClientsOwnIdentityAttribute_IsStillReplaced()
    {
        await using var gateway = await GatewayFixture.StartWithPolicyAsync(GatewayFixture.MinimalPolicy);
        var request = GatewayFixture.Request("forged");
        request.ResourceSpans[0].Resource.Attributes.Add(new KeyValue(IngestGate.IdentityAttribute, AnyValue.Of("token:someone-else")));

        Assert.Equal(HttpStatusCode.OK, (await PostAsync(gateway, OtlpProtobuf.Encode(request))).StatusCode);

        await gateway.Sink.WaitForAsync(1);
        Assert.Contains("hush_receiver_spans_undecoded_total{transport=\"http\"} 0", await gateway.Admin.GetStringAsync("metrics"), StringComparison.Ordinal);
        var (_, resource, _) = Assert.Single(gateway.Sink.Spans);
        Assert.Equal("dev:loopback", Attribute(resource.Resource.Attributes, IngestGate.IdentityAttribute).StringValue);
        Assert.Equal(0, gateway.Sink.WireFormBatches);
    }

    [Fact]
    public async Task UnderTheDefaultPolicy_NothingTravelsInWireForm_AndValuesAreScrubbed()
    {
        await using var gateway = await GatewayFixture.StartAsync();
        Assert.Equal(HttpStatusCode.OK, (await PostAsync(gateway, OtlpProtobuf.Encode(GatewayFixture.Request("default", 3)))).StatusCode);

        await gateway.Sink.WaitForAsync(3);
        Assert.Equal(0, gateway.Sink.WireFormBatches);
        Assert.Contains("hush_receiver_spans_undecoded_total{transport=\"http\"} 0", await gateway.Admin.GetStringAsync("metrics"), StringComparison.Ordinal);
        Assert.All(gateway.Sink.Spans, s => Assert.NotEqual(GatewayFixture.Planted, Attribute(s.Span.Attributes, "user.email").StringValue));
    }

    [Fact]
    public async Task BadProtobuf_IsStillRefusedWithTheDecodersError_AndDisturbsNothingAccepted()
    {
        await using var gateway = await GatewayFixture.StartWithPolicyAsync(GatewayFixture.MinimalPolicy);
        var good = OtlpProtobuf.Encode(GatewayFixture.Request("good", 2));

        var truncated = await PostAsync(gateway, good[..^3]);
        Assert.Equal(HttpStatusCode.BadRequest, truncated.StatusCode);
        var (code, message) = OtlpProtobuf.DecodeRpcStatus(await truncated.Content.ReadAsByteArrayAsync());
        Assert.Equal(3, code);
        Assert.Contains("offset", message, StringComparison.Ordinal);

        // An unknown field is valid protobuf: decoded (and dropped) the ordinary way, never forwarded unseen.
        byte[] unknownField = [.. good, 0x98, 0x01, 0x01];
        Assert.Equal(HttpStatusCode.OK, (await PostAsync(gateway, unknownField)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await PostAsync(gateway, good)).StatusCode);

        await gateway.Sink.WaitForAsync(4);
        Assert.Equal(4, gateway.Sink.Count);
    }

    [Fact]
    public async Task IntoTheStore_WireFormRequestsAreJournalledDecodedAndStoredWithTheirStamp()
    {
        var directory = Directory.CreateTempSubdirectory("hush-wire-store-").FullName;
        try
        {
            var policy = Path.Combine(directory, "policy.yaml");
            await File.WriteAllTextAsync(policy, GatewayFixture.MinimalPolicy);
            var dataDir = Path.Combine(directory, "data");
            await using (var gateway = await GatewayFixture.StartAsync(yaml: GatewayFixture.StoreYaml(dataDir, policy)))
            {
                Assert.Equal(HttpStatusCode.OK, (await PostAsync(gateway, OtlpProtobuf.Encode(GatewayFixture.Request("first", 3)))).StatusCode);
                var second = GatewayFixture.Request("second", 3);
                second.ResourceSpans[0].ScopeSpans[0].Spans.ForEach(span => span.SpanId = new SpanId(span.SpanId.Value + 1000));
                Assert.Equal(HttpStatusCode.OK, (await PostAsync(gateway, OtlpProtobuf.Encode(second))).StatusCode);
                // The journal encodes the bytes as they are; the store (or the sink, whichever reads first) decodes them.
                await gateway.Sink.WaitForAsync(6);
                Assert.Contains("hush_receiver_spans_undecoded_total{transport=\"http\"} 6", await gateway.Admin.GetStringAsync("metrics"), StringComparison.Ordinal);
            }

            using var kek = Hush.Store.KeyEncryptionKey.Load(dataDir, null, _ => null, out _);
            using var store = Hush.Store.Storage.TraceStore.Open(dataDir, kek);
            for (var i = 1; i <= 3; i++)
            {
                var trace = await store.FindTraceAsync("dev", new TraceId(0x0102030405060708, (ulong)i), null, null, CancellationToken.None);
                Assert.NotNull(trace);
                Assert.Equal(["first-" + (i - 1), "second-" + (i - 1)], trace.ResourceSpans.SelectMany(rs => rs.ScopeSpans).SelectMany(ss => ss.Spans).Select(sp => sp.Name).Order(StringComparer.Ordinal));
                Assert.All(trace.ResourceSpans, rs => Assert.Equal("dev:loopback", Attribute(rs.Resource.Attributes, IngestGate.IdentityAttribute).StringValue));
            }
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    private static async Task<HttpResponseMessage> PostAsync(GatewayFixture gateway, byte[] body)
    {
        var content = new ByteArrayContent(body);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/x-protobuf");
        return await gateway.Http.PostAsync("v1/traces", content);
    }

    private static AnyValue Attribute(List<KeyValue> attributes, string key) => Assert.Single(attributes, a => a.Key == key).Value;
}
