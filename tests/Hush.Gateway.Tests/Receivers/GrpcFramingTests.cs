using Hush.Gateway.Receivers;

namespace Hush.Gateway.Tests.Receivers;

public sealed class GrpcFramingTests
{
    private static byte[] Header(byte flag, uint length) =>
        [flag, (byte)(length >> 24), (byte)(length >> 16), (byte)(length >> 8), (byte)length];

    private static ValueTask<GrpcReadResult> Read(byte[] body, int max = 1000, bool gzip = false) =>
        GrpcFraming.ReadUnaryAsync(new MemoryStream(body), max, gzip, default);

    [Fact]
    public async Task ReadUnaryAsync_OneFrame_ReturnsMessage()
    {
        var framed = GrpcFraming.Frame([1, 2, 3]);

        var result = await Read(framed);

        Assert.Equal(GrpcStatusCode.Ok, result.Status);
        using var message = result.Message!;
        Assert.Equal(new byte[] { 1, 2, 3 }, message.Span.ToArray());
    }

    [Fact]
    public async Task ReadUnaryAsync_EmptyMessage_IsOk()
    {
        var result = await Read(GrpcFraming.Frame([]));

        Assert.Equal(GrpcStatusCode.Ok, result.Status);
        Assert.Equal(0, result.Message!.Length);
    }

    [Fact]
    public async Task ReadUnaryAsync_LyingLength_IsInternalAndSaysHowMuchArrived()
    {
        var body = Header(0, 1000).Concat(new byte[10]).ToArray();

        var result = await Read(body, max: 4096);

        Assert.Equal(GrpcStatusCode.Internal, result.Status);
        Assert.Equal("the message is truncated: it declares 1000 bytes and the request ended after 10", result.Error);
    }

    [Fact]
    public async Task ReadUnaryAsync_LengthOverLimit_IsResourceExhaustedBeforeReading()
    {
        var result = await Read(Header(0, uint.MaxValue));

        Assert.Equal(GrpcStatusCode.ResourceExhausted, result.Status);
        Assert.Contains("4294967295", result.Error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(new byte[0], "no message")]
    [InlineData(new byte[] { 0, 0 }, "inside the 5-byte message header")]
    [InlineData(new byte[] { 7, 0, 0, 0, 0 }, "compressed flag 7")]
    [InlineData(new byte[] { 0, 0, 0, 0, 1, 9, 0, 0, 0, 0, 0 }, "more than one message")]
    public async Task ReadUnaryAsync_BadFraming_IsInternal(byte[] body, string expected)
    {
        var result = await Read(body);

        Assert.Equal(GrpcStatusCode.Internal, result.Status);
        Assert.Contains(expected, result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ReadUnaryAsync_CompressedWithoutGzipEncoding_IsUnimplemented()
    {
        var result = await Read(Header(1, 0));

        Assert.Equal(GrpcStatusCode.Unimplemented, result.Status);
    }

    [Fact]
    public async Task ReadUnaryAsync_GzipFrame_Decompresses()
    {
        var zipped = BoundedBodyReaderTests.Gzip([5, 6, 7]);
        var body = Header(1, (uint)zipped.Length).Concat(zipped).ToArray();

        var result = await Read(body, gzip: true);

        Assert.Equal(GrpcStatusCode.Ok, result.Status);
        Assert.Equal(new byte[] { 5, 6, 7 }, result.Message!.Span.ToArray());
    }

    [Fact]
    public async Task ReadUnaryAsync_GzipBombFrame_IsResourceExhausted()
    {
        var zipped = BoundedBodyReaderTests.GzipZeros(16 << 20);
        var body = Header(1, (uint)zipped.Length).Concat(zipped).ToArray();

        var result = await Read(body, max: 1 << 20, gzip: true);

        Assert.Equal(GrpcStatusCode.ResourceExhausted, result.Status);
    }

    [Fact]
    public async Task ReadUnaryAsync_GarbageGzipFrame_IsInternal()
    {
        var body = Header(1, 4).Concat(new byte[] { 1, 2, 3, 4 }).ToArray();

        var result = await Read(body, gzip: true);

        Assert.Equal(GrpcStatusCode.Internal, result.Status);
    }

    [Theory]
    [InlineData("plain text", "plain text")]
    [InlineData("100% sure", "100%25 sure")]
    [InlineData("line\nbreak", "line%0Abreak")]
    [InlineData("é", "%C3%A9")]
    public void EncodeMessage_PercentEncodesPerSpec(string message, string expected) =>
        Assert.Equal(expected, GrpcFraming.EncodeMessage(message));
}
