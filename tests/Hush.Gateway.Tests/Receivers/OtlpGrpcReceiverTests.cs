using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using Hush.Gateway.Receivers;
using Hush.Gateway.Tests.Support;
using Hush.Otlp;

namespace Hush.Gateway.Tests.Receivers;

public sealed class OtlpGrpcReceiverTests
{
    public const string ExportPath = "opentelemetry.proto.collector.trace.v1.TraceService/Export";

    private static byte[] Header(byte flag, uint length) =>
        [flag, (byte)(length >> 24), (byte)(length >> 16), (byte)(length >> 8), (byte)length];

    internal static async Task<HttpResponseMessage> CallAsync(HttpClient client, string path, byte[] body, string contentType = "application/grpc", string? encoding = null)
    {
        var request = H2(new HttpRequestMessage(HttpMethod.Post, path) { Content = new ByteArrayContent(body) });
        request.Content!.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType);
        request.Headers.TryAddWithoutValidation("te", "trailers");
        if (encoding is not null)
        {
            request.Headers.TryAddWithoutValidation("grpc-encoding", encoding);
        }

        var response = await client.SendAsync(request);
        await response.Content.ReadAsByteArrayAsync();
        return response;
    }

    /// <summary>HTTP/2 with prior knowledge (h2c): a hand-made request does not take the client's default version.</summary>
    private static HttpRequestMessage H2(HttpRequestMessage request)
    {
        request.Version = HttpVersion.Version20;
        request.VersionPolicy = HttpVersionPolicy.RequestVersionExact;
        return request;
    }

    internal static string? Trailer(HttpResponseMessage response, string name) =>
        response.TrailingHeaders.TryGetValues(name, out var values) ? string.Join(",", values) : null;

    private static readonly Dictionary<string, (Func<byte[]> Body, string Path, string? Encoding, string Status, string? MessageContains)> Cases = new()
    {
        ["lying-length"] = (() => [.. Header(0, 1000), .. new byte[10]], ExportPath, null, "13", "declares 1000 bytes and the request ended after 10"),
        ["short-header"] = (() => [0, 0, 0], ExportPath, null, "13", "header"),
        ["empty-body"] = (() => [], ExportPath, null, "13", "no message"),
        ["over-limit"] = (() => [.. Header(0, 2 << 20), .. new byte[16]], ExportPath, null, "8", "more than the limit"),
        ["garbage-protobuf"] = (() => GrpcFraming.Frame([0x0A, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F]), ExportPath, null, "3", null),
        ["truncated-protobuf"] = (() => GrpcFraming.Frame(OtlpProtobuf.Encode(GatewayFixture.Request("bad", 3)).AsSpan(0, 40)), ExportPath, null, "3", null),
        ["compressed-without-encoding"] = (() => [.. Header(1, 3), 1, 2, 3], ExportPath, null, "12", "gzip"),
        ["unsupported-encoding"] = (() => GrpcFraming.Frame(OtlpProtobuf.Encode(GatewayFixture.Request("bad"))), ExportPath, "snappy", "12", "gzip or identity"),
        ["bad-gzip-frame"] = (() => [.. Header(1, 4), 1, 2, 3, 4], ExportPath, "gzip", "13", "gzip"),
        ["unknown-method"] = (() => GrpcFraming.Frame(OtlpProtobuf.Encode(GatewayFixture.Request("bad"))), "opentelemetry.proto.collector.trace.v1.TraceService/Nope", null, "12", "unknown service or method"),
        ["unknown-service"] = (() => GrpcFraming.Frame([]), "grpc.health.v1.Health/Check", null, "12", null),
    };

    public static TheoryData<string> CaseNames() => [.. Cases.Keys];

    [Theory]
    [MemberData(nameof(CaseNames))]
    public async Task Export_BadInput_ClearStatusAndNothingLost(string name)
    {
        var bad = Cases[name];
        await using var gateway = await GatewayFixture.StartAsync();
        using var before = await CallAsync(gateway.Grpc, ExportPath, GrpcFraming.Frame(OtlpProtobuf.Encode(GatewayFixture.Request("before", 2))));
        Assert.Equal("0", Trailer(before, "grpc-status"));
        await gateway.Sink.WaitForAsync(2);

        var stopwatch = Stopwatch.StartNew();
        using var response = await CallAsync(gateway.Grpc, bad.Path, bad.Body(), encoding: bad.Encoding);

        Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(10), $"took {stopwatch.Elapsed}");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(bad.Status, Trailer(response, "grpc-status"));
        var message = Uri.UnescapeDataString(Trailer(response, "grpc-message") ?? string.Empty);
        Assert.NotEmpty(message);
        if (bad.MessageContains is not null)
        {
            Assert.Contains(bad.MessageContains, message, StringComparison.Ordinal);
        }

        Assert.DoesNotContain("PLANTED", message, StringComparison.Ordinal);
        Assert.DoesNotContain("PLANTED", gateway.Logs.AllText, StringComparison.Ordinal);

        using var after = await CallAsync(gateway.Grpc, ExportPath, GrpcFraming.Frame(OtlpProtobuf.Encode(GatewayFixture.Request("after", 1))));
        Assert.Equal("0", Trailer(after, "grpc-status"));
        await gateway.Sink.WaitForAsync(3);
        Assert.Equal(["after-0", "before-0", "before-1"], gateway.Sink.Spans.Select(s => s.Span.Name).Order());
    }

    [Fact]
    public async Task Export_GzipFrame_AcceptedWithFramedResponse()
    {
        await using var gateway = await GatewayFixture.StartAsync();
        var zipped = BoundedBodyReaderTests.Gzip(OtlpProtobuf.Encode(GatewayFixture.Request("zipped", 4)));

        var request = H2(new HttpRequestMessage(HttpMethod.Post, ExportPath) { Content = new ByteArrayContent([.. Header(1, (uint)zipped.Length), .. zipped]) });
        request.Content!.Headers.ContentType = new MediaTypeHeaderValue("application/grpc");
        request.Headers.TryAddWithoutValidation("grpc-encoding", "gzip");
        using var response = await gateway.Grpc.SendAsync(request);
        var body = await response.Content.ReadAsByteArrayAsync();

        Assert.Equal("0", Trailer(response, "grpc-status"));
        Assert.Equal("application/grpc", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal(0, body[0]);
        Assert.Equal(body.Length - 5, (body[1] << 24) | (body[2] << 16) | (body[3] << 8) | body[4]);
        Assert.Null(OtlpProtobuf.DecodeExportResponse(body.AsSpan(5)).PartialSuccess);
        await gateway.Sink.WaitForAsync(4);
    }

    [Fact]
    public async Task Export_NotGrpcContentType_Http415()
    {
        await using var gateway = await GatewayFixture.StartAsync();

        using var response = await CallAsync(gateway.Grpc, ExportPath, [], contentType: "application/json");

        Assert.Equal(HttpStatusCode.UnsupportedMediaType, response.StatusCode);
    }
}
