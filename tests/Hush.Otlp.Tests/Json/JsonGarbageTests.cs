using System.Text;

namespace Hush.Otlp.Tests.Json;

public sealed class JsonGarbageTests
{
    private const int Seed = 20261122;

    [Fact]
    public void DecodeTraceRequest_EveryTruncatedPrefix_ThrowsOtlpDecodeException()
    {
        var json = OtlpJson.Encode(Samples.Rich());

        for (var length = 0; length < json.Length; length++)
        {
            var prefix = json.AsSpan(0, length).ToArray();
            Assert.Throws<OtlpDecodeException>(() => OtlpJson.DecodeTraceRequest(prefix));
        }
    }

    [Fact]
    public void DecodeTraceRequest_DepthBombOfRawArrays_Throws()
    {
        var inKnownField = "{\"resourceSpans\":" + new string('[', 10_000) + new string(']', 10_000) + "}";
        var inUnknownField = "{\"skipped\":" + new string('[', 10_000) + new string(']', 10_000) + "}";

        Assert.Throws<OtlpDecodeException>(() => OtlpJson.DecodeTraceRequest(Encoding.UTF8.GetBytes(inKnownField)));
        var e = Assert.Throws<OtlpDecodeException>(() => OtlpJson.DecodeTraceRequest(Encoding.UTF8.GetBytes(inUnknownField)));
        Assert.Contains("nested deeper than", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(32, false)]
    [InlineData(33, true)]
    [InlineData(10_000, true)]
    public void DecodeTraceRequest_NestedArrayValues_EnforcesDepthLimit(int depth, bool throws)
    {
        var builder = new StringBuilder("{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":\"k\",\"value\":");
        for (var i = 0; i < depth; i++)
        {
            builder.Append("{\"arrayValue\":{\"values\":[");
        }

        builder.Append("{}");
        for (var i = 0; i < depth; i++)
        {
            builder.Append("]}}");
        }

        builder.Append("}]}}]}");
        var bytes = Encoding.UTF8.GetBytes(builder.ToString());

        if (throws)
        {
            Assert.Throws<OtlpDecodeException>(() => OtlpJson.DecodeTraceRequest(bytes));
        }
        else
        {
            var value = OtlpJson.DecodeTraceRequest(bytes).ResourceSpans[0].Resource.Attributes[0].Value;
            for (var i = 0; i < depth; i++)
            {
                value = Assert.Single(value.ArrayValue!);
            }

            Assert.Equal(AnyValueKind.Empty, value.Kind);
        }
    }

    [Theory]
    [InlineData(new byte[] { 0xC3, 0x28 })]
    [InlineData(new byte[] { 0xFF })]
    [InlineData(new byte[] { 0xED, 0xA0, 0x80 })]
    [InlineData(new byte[] { 0xC0, 0x80 })]
    public void DecodeTraceRequest_InvalidUtf8InStrings_Throws(byte[] invalid)
    {
        foreach (var template in new[]
        {
            "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"name\":\"a#b\"}]}]}]}",
            "{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":\"#\",\"value\":{\"stringValue\":\"v\"}}]}}]}",
            "{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":\"k\",\"value\":{\"stringValue\":\"#\"}}]}}]}",
            "{\"resourceSpans\":[{\"unknown#\":1}]}",
        })
        {
            var parts = template.Split('#');
            var bytes = Encoding.UTF8.GetBytes(parts[0]).Concat(invalid).Concat(Encoding.UTF8.GetBytes(parts[1])).ToArray();

            Assert.Throws<OtlpDecodeException>(() => OtlpJson.DecodeTraceRequest(bytes));
        }
    }

    [Fact]
    public void DecodeTraceRequest_RandomBytes_OnlyEverThrowsOtlpDecodeException()
    {
        var random = new Random(Seed);
        for (var i = 0; i < 10_000; i++)
        {
            var bytes = new byte[random.Next(0, 200)];
            random.NextBytes(bytes);
            DecodeOrOtlpException(bytes);
        }
    }

    [Fact]
    public void DecodeTraceRequest_MutatedRealDocuments_OnlyEverThrowsOtlpDecodeException()
    {
        var random = new Random(Seed);
        var original = OtlpJson.Encode(Samples.Rich());
        // Mutations that hit JSON's structure and OTLP's typed values alike.
        var alphabet = "{}[]\",:0123456789-.eEtrufalsn\\u\" x"u8.ToArray();
        for (var i = 0; i < 3_000; i++)
        {
            var bytes = (byte[])original.Clone();
            var flips = random.Next(1, 4);
            for (var f = 0; f < flips; f++)
            {
                bytes[random.Next(bytes.Length)] = random.Next(4) == 0 ? (byte)random.Next(256) : alphabet[random.Next(alphabet.Length)];
            }

            DecodeOrOtlpException(bytes);
        }
    }

    private static void DecodeOrOtlpException(byte[] bytes)
    {
        try
        {
            OtlpJson.DecodeTraceRequest(bytes);
        }
        catch (OtlpDecodeException)
        {
        }

        try
        {
            OtlpJson.DecodeExportResponse(bytes);
        }
        catch (OtlpDecodeException)
        {
        }
    }
}
