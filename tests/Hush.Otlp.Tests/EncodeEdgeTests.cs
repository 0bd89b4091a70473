namespace Hush.Otlp.Tests;

public sealed class EncodeEdgeTests
{
    private static TraceRequest WithAttribute(AnyValue value) => new()
    {
        ResourceSpans = [new ResourceSpans { ScopeSpans = [new ScopeSpans { Spans = [new Span { Name = "s", Attributes = [new("k", value)] }] }] }],
    };

    [Fact]
    public void Encode_LoneSurrogate_IsReplacedNotThrown_InBothCodecs()
    {
        var request = WithAttribute(AnyValue.Of("a\ud800b"));

        var viaProtobuf = OtlpProtobuf.DecodeTraceRequest(OtlpProtobuf.Encode(request));
        var viaJson = OtlpJson.DecodeTraceRequest(OtlpJson.Encode(request));

        Assert.Equal(OtlpProtobuf.GetEncodedSize(request), OtlpProtobuf.Encode(request).Length);
        Assert.StartsWith("a", viaProtobuf.ResourceSpans[0].ScopeSpans[0].Spans[0].Attributes[0].Value.StringValue, StringComparison.Ordinal);
        Assert.StartsWith("a", viaJson.ResourceSpans[0].ScopeSpans[0].Spans[0].Attributes[0].Value.StringValue, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(42)]
    [InlineData(43)]
    [InlineData(127)]
    [InlineData(128)]
    [InlineData(16_383)]
    [InlineData(16_384)]
    public void Encode_StringsAroundLengthPrefixBoundaries_MatchReference(int length)
    {
        foreach (var text in new[] { new string('a', length), new string('é', length), string.Concat(Enumerable.Repeat("😀", length / 2)) })
        {
            var request = WithAttribute(AnyValue.Of(text));
            request.ResourceSpans[0].ScopeSpans[0].Spans[0].Name = text;

            Assert.Equal(Google.Protobuf.MessageExtensions.ToByteArray(ReferenceModel.ToReference(request)), OtlpProtobuf.Encode(request));
        }
    }

    [Theory]
    [InlineData(42)]      // 126 bytes: 1-byte prefix
    [InlineData(43)]      // 129 bytes from 43 chars: the 1-byte guess is moved up one
    [InlineData(5_461)]   // 16,383 bytes: the largest string encoded without counting first
    [InlineData(5_462)]
    public void Encode_ThreeByteCharsAroundPrefixGuessLimits_MatchReference(int length)
    {
        var text = new string('日', length);
        var request = WithAttribute(AnyValue.Of(text));
        request.ResourceSpans[0].ScopeSpans[0].Spans[0].Name = text;

        Assert.Equal(Google.Protobuf.MessageExtensions.ToByteArray(ReferenceModel.ToReference(request)), OtlpProtobuf.Encode(request));
        Assert.Equal(text, OtlpProtobuf.DecodeTraceRequest(OtlpProtobuf.Encode(request)).ResourceSpans[0].ScopeSpans[0].Spans[0].Name);
    }

    [Fact]
    public void DecodeJson_LargeIntegersAsNumbers_KeepFullPrecision()
    {
        var json = "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"startTimeUnixNano\":18446744073709551615,\"attributes\":[{\"key\":\"k\",\"value\":{\"intValue\":9007199254740993}}]}]}]}]}"u8;

        var span = OtlpJson.DecodeTraceRequest(json).ResourceSpans[0].ScopeSpans[0].Spans[0];

        Assert.Equal(ulong.MaxValue, span.StartTimeUnixNano);
        Assert.Equal(9007199254740993L, span.Attributes[0].Value.IntValue);
    }

    [Fact]
    public void AttributeKeys_RepeatedAcrossSpans_AreInterned()
    {
        var request = new TraceRequest
        {
            ResourceSpans =
            [
                new ResourceSpans
                {
                    ScopeSpans =
                    [
                        new ScopeSpans
                        {
                            Spans =
                            [
                                new Span { Attributes = [new("http.request.method", AnyValue.Of("GET"))] },
                                new Span { Attributes = [new("http.request.method", AnyValue.Of("GET"))] },
                            ],
                        },
                    ],
                },
            ],
        };

        foreach (var decoded in new[] { OtlpProtobuf.DecodeTraceRequest(OtlpProtobuf.Encode(request)), OtlpJson.DecodeTraceRequest(OtlpJson.Encode(request)) })
        {
            var spans = decoded.ResourceSpans[0].ScopeSpans[0].Spans;
            Assert.Same(spans[0].Attributes[0].Key, spans[1].Attributes[0].Key);
        }

        // Keys are interned across requests; values never are (RequestStringsTests: shared within one request only).
        var bytes = OtlpProtobuf.Encode(request);
        Assert.NotSame(
            OtlpProtobuf.DecodeTraceRequest(bytes).ResourceSpans[0].ScopeSpans[0].Spans[0].Attributes[0].Value.StringValue,
            OtlpProtobuf.DecodeTraceRequest(bytes).ResourceSpans[0].ScopeSpans[0].Spans[0].Attributes[0].Value.StringValue);
    }

    [Fact]
    public void AttributeKeys_ManyDistinctKeys_DecodeCorrectly()
    {
        // 5,000 distinct keys overflow the per-thread table many times over; every key must still be right.
        var span = new Span();
        for (var i = 0; i < 5_000; i++)
        {
            span.Attributes.Add(new KeyValue("key." + i.ToString(System.Globalization.CultureInfo.InvariantCulture), AnyValue.Of((long)i)));
        }

        var request = new TraceRequest { ResourceSpans = [new ResourceSpans { ScopeSpans = [new ScopeSpans { Spans = [span] }] }] };

        for (var pass = 0; pass < 2; pass++)
        {
            var decoded = OtlpProtobuf.DecodeTraceRequest(OtlpProtobuf.Encode(request)).ResourceSpans[0].ScopeSpans[0].Spans[0];
            for (var i = 0; i < 5_000; i++)
            {
                Assert.Equal("key." + i.ToString(System.Globalization.CultureInfo.InvariantCulture), decoded.Attributes[i].Key);
                Assert.Equal(i, decoded.Attributes[i].Value.IntValue);
            }
        }
    }
}
