using System.Net;
using Hush.Gateway.Receivers;
using Hush.Gateway.Tests.Receivers;
using Hush.Gateway.Tests.Support;
using Hush.Otlp;

namespace Hush.Gateway.Tests.Admin;

public sealed class AdminEndpointsTests
{
    [Fact]
    public async Task Metrics_AfterTraffic_ShowsReceiverAndPipelineCounters()
    {
        await using var gateway = await GatewayFixture.StartAsync();
        using var http = await OtlpHttpReceiverTests.PostAsync(gateway.Http, "v1/traces", "application/x-protobuf", OtlpProtobuf.Encode(GatewayFixture.Request("h", 3)));
        using var bad = await OtlpHttpReceiverTests.PostAsync(gateway.Http, "v1/traces", "application/x-protobuf", [0x0A, 0xFF]);
        using var grpc = await OtlpGrpcReceiverTests.CallAsync(gateway.Grpc, OtlpGrpcReceiverTests.ExportPath, GrpcFraming.Frame(OtlpProtobuf.Encode(GatewayFixture.Request("g", 2))));
        Assert.Equal(HttpStatusCode.OK, http.StatusCode);
        Assert.Equal("0", OtlpGrpcReceiverTests.Trailer(grpc, "grpc-status"));
        await gateway.Sink.WaitForAsync(5);

        using var response = await gateway.Admin.GetAsync("metrics");
        var text = await response.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/plain; version=0.0.4; charset=utf-8", response.Content.Headers.ContentType?.ToString());
        Assert.Contains("hush_receiver_spans_received_total{transport=\"http\"} 3", text, StringComparison.Ordinal);
        Assert.Contains("hush_receiver_spans_received_total{transport=\"grpc\"} 2", text, StringComparison.Ordinal);
        Assert.Contains("hush_receiver_requests_total{transport=\"http\",outcome=\"success\"} 1", text, StringComparison.Ordinal);
        Assert.Contains("hush_receiver_requests_total{transport=\"http\",outcome=\"decode_error\"} 1", text, StringComparison.Ordinal);
        Assert.Contains("hush_receiver_requests_total{transport=\"grpc\",outcome=\"success\"} 1", text, StringComparison.Ordinal);
        Assert.Contains("hush_receiver_request_bytes_total{transport=\"http\"}", text, StringComparison.Ordinal);
        Assert.Contains("hush_pipeline_spans_submitted_total{pipeline=\"traces\"} 5", text, StringComparison.Ordinal);
        Assert.DoesNotContain("PLANTED", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task HealthAndReady_WhileRunning_Are200()
    {
        await using var gateway = await GatewayFixture.StartAsync();

        using var health = await gateway.Admin.GetAsync("healthz");
        using var ready = await gateway.Admin.GetAsync("readyz");
        using var unknown = await gateway.Admin.GetAsync("nope");

        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
        Assert.Equal("ready\n", await ready.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        Assert.True(gateway.Server.IsReady);
    }

    [Fact]
    public async Task Admin_Post_Is405()
    {
        await using var gateway = await GatewayFixture.StartAsync();

        using var response = await gateway.Admin.PostAsync("metrics", new ByteArrayContent([]));

        Assert.Equal(HttpStatusCode.MethodNotAllowed, response.StatusCode);
    }
}
