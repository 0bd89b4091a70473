using System.Text;

namespace Hush.Otlp.Tests;

/// <summary>Decode errors describe what and where, never the payload's content.</summary>
public sealed class PrivacyTests
{
    private const int Seed = 4711;

    /// <summary>A fragment distinctive enough that any echo of the planted value contains it.</summary>
    private const string Fragment = "planted-secret";

    [Fact]
    public void ProtobufErrors_FromMutatedPlantedMessages_NeverQuoteContent()
    {
        var original = OtlpProtobuf.Encode(Samples.Planted());
        var random = new Random(Seed);
        var messages = 0;
        for (var i = 0; i < 3_000; i++)
        {
            var bytes = (byte[])original.Clone();
            bytes[random.Next(bytes.Length)] = (byte)random.Next(256);
            try
            {
                OtlpProtobuf.DecodeTraceRequest(bytes);
            }
            catch (OtlpDecodeException e)
            {
                messages++;
                Assert.DoesNotContain(Fragment, e.Message, StringComparison.Ordinal);
            }
        }

        Assert.True(messages > 100, $"only {messages} errors provoked");
    }

    [Fact]
    public void JsonErrors_FromMutatedPlantedDocuments_NeverQuoteContent()
    {
        var original = OtlpJson.Encode(Samples.Planted());
        var random = new Random(Seed);
        var messages = 0;
        for (var i = 0; i < 3_000; i++)
        {
            var bytes = (byte[])original.Clone();
            bytes[random.Next(bytes.Length)] = (byte)"\"{}[],:x\\"[random.Next(9)];
            try
            {
                OtlpJson.DecodeTraceRequest(bytes);
            }
            catch (OtlpDecodeException e)
            {
                messages++;
                Assert.DoesNotContain(Fragment, e.Message, StringComparison.Ordinal);
            }
        }

        Assert.True(messages > 100, $"only {messages} errors provoked");
    }

    [Theory]
    [InlineData("{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"traceId\":\"" + Samples.Secret + "\"}]}]}]}")]
    [InlineData("{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"spanId\":\"planted0planted0\"}]}]}]}")]
    [InlineData("{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"startTimeUnixNano\":\"" + Samples.Secret + "\"}]}]}]}")]
    [InlineData("{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"kind\":\"" + Samples.Secret + "\"}]}]}]}")]
    [InlineData("{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"attributes\":[{\"key\":\"k\",\"value\":{\"doubleValue\":\"" + Samples.Secret + "\"}}]}]}]}]}")]
    [InlineData("{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"attributes\":[{\"key\":\"k\",\"value\":{\"bytesValue\":\"" + Samples.Secret + "\"}}]}]}]}]}")]
    [InlineData("{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"name\":planted-secret}]}]}]}")]
    [InlineData("{\"resourceSpans\":[{\"planted-secret\":[}]}")]
    [InlineData("planted-secret")]
    public void JsonErrors_ForPlantedValues_NeverQuoteThem(string json)
    {
        var e = Assert.Throws<OtlpDecodeException>(() => OtlpJson.DecodeTraceRequest(Encoding.UTF8.GetBytes(json)));

        Assert.DoesNotContain(Fragment, e.Message, StringComparison.Ordinal);
        Assert.Null(e.InnerException);
    }

    [Fact]
    public void ProtobufErrors_ForInvalidUtf8NextToPlantedValue_NeverQuoteIt()
    {
        var name = Encoding.UTF8.GetBytes(Samples.Secret).Append((byte)0xFF).ToArray();
        var span = new byte[] { 0x2A, (byte)name.Length }.Concat(name).ToArray();

        var e = Assert.Throws<OtlpDecodeException>(() => OtlpProtobuf.DecodeTraceRequest(Protobuf.ProtobufGoldenTests.Wrap(span)));

        Assert.DoesNotContain(Fragment, e.Message, StringComparison.Ordinal);
        Assert.Contains("Span.name", e.Message, StringComparison.Ordinal);
        Assert.Null(e.InnerException);
    }
}
