using System.Net;
using Hush.Gateway.Configuration;
using Hush.Gateway.Receivers;
using Hush.Gateway.Tests.Receivers;
using Hush.Gateway.Tests.Support;
using Hush.Otlp;
using Hush.Pipeline;

namespace Hush.Gateway.Tests;

public sealed class HushServerTests
{
    /// <summary>A privacy stage that fails on spans named "poison-*", with the planted value in its exception.</summary>
    private sealed class PoisonPrivacyStage : IPrivacyStage
    {
        public HushConfig? Config { get; set; }

        public void Scrub(TraceRequest request, IngestContext context)
        {
            if (request.ResourceSpans[0].ScopeSpans[0].Spans[0].Name.StartsWith("poison", StringComparison.Ordinal))
            {
                throw new InvalidOperationException("cannot scrub " + GatewayFixture.Planted);
            }

            foreach (var span in request.ResourceSpans[0].ScopeSpans[0].Spans)
            {
                span.Attributes.Clear();
            }
        }
    }

    [Fact]
    public async Task StartAsync_PrivacyStageFactory_IsUsedForEveryRequest()
    {
        var stage = new PoisonPrivacyStage();
        await using var gateway = await GatewayFixture.StartAsync(privacy: config =>
        {
            stage.Config = config;
            return stage;
        });

        using var response = await OtlpHttpReceiverTests.PostAsync(gateway.Http, "v1/traces", "application/x-protobuf", OtlpProtobuf.Encode(GatewayFixture.Request("clean", 2)));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Same(gateway.Server.Config, stage.Config);
        await gateway.Sink.WaitForAsync(2);
        Assert.All(gateway.Sink.Spans, s => Assert.Empty(s.Span.Attributes));
    }

    [Fact]
    public async Task Post_PrivacyStageFails_PartialSuccessOnBothTransportsAndNothingLeaks()
    {
        await using var gateway = await GatewayFixture.StartAsync(privacy: _ => new PoisonPrivacyStage());

        using var http = await OtlpHttpReceiverTests.PostAsync(gateway.Http, "v1/traces", "application/x-protobuf", OtlpProtobuf.Encode(GatewayFixture.Request("poison", 3)));
        using var grpc = await OtlpGrpcReceiverTests.CallAsync(gateway.Grpc, OtlpGrpcReceiverTests.ExportPath, GrpcFraming.Frame(OtlpProtobuf.Encode(GatewayFixture.Request("poison", 2))));
        var httpResponse = OtlpProtobuf.DecodeExportResponse(await http.Content.ReadAsByteArrayAsync());

        Assert.Equal(HttpStatusCode.OK, http.StatusCode);
        Assert.Equal(3, httpResponse.PartialSuccess?.RejectedSpans);
        Assert.NotEmpty(httpResponse.PartialSuccess!.ErrorMessage);
        Assert.DoesNotContain("PLANTED", httpResponse.PartialSuccess.ErrorMessage, StringComparison.Ordinal);
        Assert.Equal("0", OtlpGrpcReceiverTests.Trailer(grpc, "grpc-status"));
        Assert.Equal(0, gateway.Sink.Count);
        Assert.DoesNotContain("PLANTED", gateway.Logs.AllText, StringComparison.Ordinal);
        var metrics = await gateway.Admin.GetStringAsync("metrics");
        Assert.Contains("hush_receiver_requests_total{transport=\"http\",outcome=\"partial_success\"} 1", metrics, StringComparison.Ordinal);
        Assert.Contains("hush_receiver_spans_refused_total{transport=\"grpc\",reason=\"rejected\"} 2", metrics, StringComparison.Ordinal);
        Assert.DoesNotContain("outcome=\"rejected\"", metrics, StringComparison.Ordinal);
    }

    [Fact]
    public async Task StopAsync_WhileDraining_ReadyzIs503AndAcceptedSpansStillDelivered()
    {
        await using var gateway = await GatewayFixture.StartAsync();
        gateway.Sink.Block();
        using var response = await OtlpHttpReceiverTests.PostAsync(gateway.Http, "v1/traces", "application/x-protobuf", OtlpProtobuf.Encode(GatewayFixture.Request("held", 4)));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);

        var stopping = gateway.Server.StopAsync();
        using var ready = await gateway.Admin.GetAsync("readyz");
        using var health = await gateway.Admin.GetAsync("healthz");

        Assert.Equal(HttpStatusCode.ServiceUnavailable, ready.StatusCode);
        Assert.Equal("stopping\n", await ready.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        Assert.False(stopping.IsCompleted);
        gateway.Sink.Release();
        await stopping.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(4, gateway.Sink.Count);
    }

    [Fact]
    public async Task StartAsync_PortTaken_ThrowsAndReleasesEverything()
    {
        await using var first = await GatewayFixture.StartAsync();
        var yaml = GatewayFixture.Yaml.Replace("http: { endpoint: 127.0.0.1:0", $"http: {{ endpoint: 127.0.0.1:{first.Server.HttpEndpoint!.Port}", StringComparison.Ordinal);

        var error = await Record.ExceptionAsync(() => GatewayFixture.StartAsync(yaml: yaml));

        Assert.IsType<IOException>(error, exactMatch: false);
    }
}
