using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Hush.Gateway.Tests.Support;
using Hush.Otlp;

namespace Hush.Gateway.Tests.Receivers;

public sealed class OtlpHttpReceiverTests
{
    private const string Protobuf = "application/x-protobuf";
    private const string Json = "application/json";

    /// <summary>256 MiB of zeros gzipped (about 250 KiB): under the 1 MiB body cap compressed, far over it expanded.</summary>
    private static readonly Lazy<byte[]> Bomb = new(() => BoundedBodyReaderTests.GzipZeros(256L << 20));

    private sealed record BadCase(string ContentType, string? Encoding, Func<byte[]> Body, HttpStatusCode Status, string? BodyContains, string Method = "POST", string Path = "v1/traces");

    private static readonly Dictionary<string, BadCase> Cases = new()
    {
        ["truncated-protobuf"] = new(Protobuf, null, () => Half(OtlpProtobuf.Encode(GatewayFixture.Request("bad", 3))), HttpStatusCode.BadRequest, null),
        ["wrong-wire-type"] = new(Protobuf, null, () => [0x08, 0x01], HttpStatusCode.BadRequest, null),
        ["absurd-length"] = new(Protobuf, null, () => [0x0A, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F, 0x01], HttpStatusCode.BadRequest, null),
        ["random-bytes"] = new(Protobuf, null, () => RandomBytes(4096), HttpStatusCode.BadRequest, null),
        ["invalid-json"] = new(Json, null, () => "{\"resourceSpans\":[{\"scopeSpans\":"u8.ToArray(), HttpStatusCode.BadRequest, "\"code\":3"),
        ["json-short-trace-id"] = new(Json, null, () => JsonWithTraceId("abcd"), HttpStatusCode.BadRequest, "\"code\":3"),
        ["json-non-hex-trace-id"] = new(Json, null, () => JsonWithTraceId("zz02030405060708090a0b0c0d0e0f10"), HttpStatusCode.BadRequest, "\"code\":3"),
        ["json-charset-latin1"] = new(Json + "; charset=iso-8859-1", null, () => "{}"u8.ToArray(), HttpStatusCode.UnsupportedMediaType, null),
        ["bad-gzip"] = new(Protobuf, "gzip", () => [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0, 0xde, 0xad, 0xbe, 0xef], HttpStatusCode.BadRequest, null),
        ["gzip-bomb"] = new(Protobuf, "gzip", () => Bomb.Value, HttpStatusCode.RequestEntityTooLarge, null),
        ["oversized"] = new(Protobuf, null, () => new byte[(1 << 20) + 1], HttpStatusCode.RequestEntityTooLarge, null),
        ["wrong-content-type"] = new("text/plain", null, () => OtlpProtobuf.Encode(GatewayFixture.Request("bad")), HttpStatusCode.UnsupportedMediaType, "application/x-protobuf"),
        ["no-content-type"] = new(string.Empty, null, () => OtlpProtobuf.Encode(GatewayFixture.Request("bad")), HttpStatusCode.UnsupportedMediaType, null),
        ["unsupported-encoding"] = new(Protobuf, "br", () => OtlpProtobuf.Encode(GatewayFixture.Request("bad")), HttpStatusCode.UnsupportedMediaType, null),
        ["wrong-method"] = new(Protobuf, null, () => [], HttpStatusCode.MethodNotAllowed, "use POST", Method: "PUT"),
        ["wrong-path"] = new(Protobuf, null, () => OtlpProtobuf.Encode(GatewayFixture.Request("bad")), HttpStatusCode.NotFound, "/v1/traces", Path: "v1/metrics"),
    };

    public static TheoryData<string> CaseNames() => [.. Cases.Keys];

    private static byte[] Half(byte[] data) => data[..(data.Length / 2)];

    private static byte[] RandomBytes(int length)
    {
        var data = new byte[length];
        new Random(42).NextBytes(data);
        return data;
    }

    private static byte[] JsonWithTraceId(string traceId) => Encoding.UTF8.GetBytes(
        $$$"""{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"{{{traceId}}}","spanId":"0102030405060708","name":"n","attributes":[{"key":"user.email","value":{"stringValue":"{{{GatewayFixture.Planted}}}"}}]}]}]}]}""");

    internal static async Task<HttpResponseMessage> PostAsync(HttpClient client, string path, string contentType, byte[] body, string? encoding = null, string method = "POST")
    {
        var request = new HttpRequestMessage(new HttpMethod(method), path) { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = null;
        if (contentType.Length > 0)
        {
            request.Content.Headers.TryAddWithoutValidation("Content-Type", contentType);
        }

        if (encoding is not null)
        {
            request.Content.Headers.ContentEncoding.Add(encoding);
        }

        return await client.SendAsync(request);
    }

    [Theory]
    [MemberData(nameof(CaseNames))]
    public async Task Post_BadInput_ClearErrorAndNothingLost(string name)
    {
        var bad = Cases[name];
        await using var gateway = await GatewayFixture.StartAsync();
        var before = await PostAsync(gateway.Http, "v1/traces", Protobuf, OtlpProtobuf.Encode(GatewayFixture.Request("before", 2)));
        Assert.Equal(HttpStatusCode.OK, before.StatusCode);
        await gateway.Sink.WaitForAsync(2);

        var stopwatch = Stopwatch.StartNew();
        using var response = await PostAsync(gateway.Http, bad.Path, bad.ContentType, bad.Body(), bad.Encoding, bad.Method);
        var body = await response.Content.ReadAsByteArrayAsync();

        Assert.Equal(bad.Status, response.StatusCode);
        Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(10), $"took {stopwatch.Elapsed}");
        var text = Encoding.UTF8.GetString(body);
        if (bad.BodyContains is not null)
        {
            Assert.Contains(bad.BodyContains, text, StringComparison.Ordinal);
        }

        if (bad.Status == HttpStatusCode.BadRequest && bad.ContentType == Protobuf)
        {
            // A google.rpc.Status in the request's encoding, code INVALID_ARGUMENT, with a message.
            Assert.Equal(Protobuf, response.Content.Headers.ContentType?.MediaType);
            var (code, message) = OtlpProtobuf.DecodeRpcStatus(body);
            Assert.Equal(3, code);
            Assert.NotEmpty(message);
        }

        if (bad.Status == HttpStatusCode.MethodNotAllowed)
        {
            Assert.Equal(["POST"], response.Content.Headers.Allow);
        }

        Assert.DoesNotContain(GatewayFixture.Planted, text, StringComparison.Ordinal);
        Assert.DoesNotContain("PLANTED", gateway.Logs.AllText, StringComparison.Ordinal);

        var after = await PostAsync(gateway.Http, "v1/traces", Protobuf, OtlpProtobuf.Encode(GatewayFixture.Request("after", 1)));
        Assert.Equal(HttpStatusCode.OK, after.StatusCode);
        await gateway.Sink.WaitForAsync(3);
        Assert.Equal(["after-0", "before-0", "before-1"], gateway.Sink.Spans.Select(s => s.Span.Name).Order());
    }

    [Theory]
    [InlineData(Protobuf, null)]
    [InlineData(Protobuf, "gzip")]
    [InlineData(Json, null)]
    [InlineData(Json + "; charset=utf-8", "gzip")]
    [InlineData("application/x-protobuf; proto=opentelemetry", "identity")]
    public async Task Post_ValidRequest_200WithEmptyResponseInRequestEncoding(string contentType, string? encoding)
    {
        await using var gateway = await GatewayFixture.StartAsync();
        var request = GatewayFixture.Request("ok", 3);
        var json = contentType.StartsWith(Json, StringComparison.Ordinal);
        var body = json ? OtlpJson.Encode(request) : OtlpProtobuf.Encode(request);
        if (encoding == "gzip")
        {
            body = BoundedBodyReaderTests.Gzip(body);
        }

        using var response = await PostAsync(gateway.Http, "v1/traces", contentType, body, encoding);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(json ? Json : Protobuf, response.Content.Headers.ContentType?.MediaType);
        var bytes = await response.Content.ReadAsByteArrayAsync();
        var decoded = json ? OtlpJson.DecodeExportResponse(bytes) : OtlpProtobuf.DecodeExportResponse(bytes);
        Assert.Null(decoded.PartialSuccess);
        await gateway.Sink.WaitForAsync(3);
        Assert.All(gateway.Sink.Spans, s => Assert.StartsWith("eml_", s.Span.Attributes[0].Value.StringValue, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Post_QueueFull_429WithRetryAfterThenRecovers()
    {
        await using var gateway = await GatewayFixture.StartAsync(capacitySpans: 16);
        gateway.Sink.Block();

        using var first = await PostAsync(gateway.Http, "v1/traces", Protobuf, OtlpProtobuf.Encode(GatewayFixture.Request("first", 10)));
        using var second = await PostAsync(gateway.Http, "v1/traces", Protobuf, OtlpProtobuf.Encode(GatewayFixture.Request("second", 10)));

        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        Assert.Equal(HttpStatusCode.TooManyRequests, second.StatusCode);
        Assert.Equal(TimeSpan.FromSeconds(1), second.Headers.RetryAfter?.Delta);
        var (code, _) = OtlpProtobuf.DecodeRpcStatus(await second.Content.ReadAsByteArrayAsync());
        Assert.Equal(8, code);

        using var grpc = await OtlpGrpcReceiverTests.CallAsync(gateway.Grpc, OtlpGrpcReceiverTests.ExportPath, GrpcFramingFrame(GatewayFixture.Request("grpc", 10)));
        Assert.Equal("14", OtlpGrpcReceiverTests.Trailer(grpc, "grpc-status"));
        Assert.Equal("1000", OtlpGrpcReceiverTests.Trailer(grpc, "grpc-retry-pushback-ms"));
        Assert.NotNull(OtlpGrpcReceiverTests.Trailer(grpc, "grpc-status-details-bin"));

        gateway.Sink.Release();
        await gateway.Sink.WaitForAsync(10);

        // The sink has the spans before the worker returns and frees their room in the queue: wait for that too.
        await WaitForEmptyQueueAsync(gateway);
        using var third = await PostAsync(gateway.Http, "v1/traces", Protobuf, OtlpProtobuf.Encode(GatewayFixture.Request("third", 10)));
        Assert.Equal(HttpStatusCode.OK, third.StatusCode);
        await gateway.Sink.WaitForAsync(20);
        Assert.DoesNotContain(gateway.Sink.Spans, s => s.Span.Name.StartsWith("second", StringComparison.Ordinal));

        var metrics = await gateway.Admin.GetStringAsync("metrics");
        Assert.Contains("hush_receiver_spans_refused_total{transport=\"http\",reason=\"throttled\"} 10", metrics, StringComparison.Ordinal);
        Assert.Contains("hush_receiver_spans_refused_total{transport=\"grpc\",reason=\"throttled\"} 10", metrics, StringComparison.Ordinal);
    }

    private static async Task WaitForEmptyQueueAsync(GatewayFixture gateway)
    {
        var empty = $"{Hush.Pipeline.PipelineMetrics.QueueSpansName}{{pipeline=\"traces\"}} 0\n";
        for (var i = 0; i < 500 && !(await gateway.Admin.GetStringAsync("metrics")).Contains(empty, StringComparison.Ordinal); i++)
        {
            await Task.Delay(10);
        }
    }

    [Fact]
    public async Task Post_AfterStop_ConnectionRefusedAndAcceptedSpansDrained()
    {
        var gateway = await GatewayFixture.StartAsync();
        var http = gateway.Http;
        using var response = await PostAsync(http, "v1/traces", Protobuf, OtlpProtobuf.Encode(GatewayFixture.Request("drained", 5)));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);

        await gateway.Server.StopAsync();

        Assert.False(gateway.Server.IsReady);
        Assert.Equal(5, gateway.Sink.Count);
        await Assert.ThrowsAsync<HttpRequestException>(() => new HttpClient().PostAsync(new Uri(gateway.Server.HttpEndpoint!, "v1/traces"), new ByteArrayContent([])));
        await gateway.DisposeAsync();
    }

    [Fact]
    public async Task Post_ClientAbortsMidBody_CountedAndServerKeepsServing()
    {
        await using var gateway = await GatewayFixture.StartAsync();
        using (var tcp = new System.Net.Sockets.TcpClient())
        {
            await tcp.ConnectAsync(gateway.Server.HttpEndpoint!.Host, gateway.Server.HttpEndpoint.Port);
            var stream = tcp.GetStream();
            await stream.WriteAsync(Encoding.ASCII.GetBytes(
                "POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\nContent-Length: 1000\r\n\r\n0123456789"));
            await stream.FlushAsync();
        }

        // Another connection notices the abort: poll the counter with a bounded deadline.
        var deadline = Stopwatch.StartNew();
        string metrics;
        do
        {
            metrics = await gateway.Admin.GetStringAsync("metrics");
        }
        while (!metrics.Contains("outcome=\"aborted\"} 1", StringComparison.Ordinal) && deadline.Elapsed < TimeSpan.FromSeconds(10));

        Assert.Contains("hush_receiver_requests_total{transport=\"http\",outcome=\"aborted\"} 1", metrics, StringComparison.Ordinal);
        using var after = await PostAsync(gateway.Http, "v1/traces", Protobuf, OtlpProtobuf.Encode(GatewayFixture.Request("after")));
        Assert.Equal(HttpStatusCode.OK, after.StatusCode);
    }

    private static byte[] GrpcFramingFrame(TraceRequest request) => Hush.Gateway.Receivers.GrpcFraming.Frame(OtlpProtobuf.Encode(request));
}
