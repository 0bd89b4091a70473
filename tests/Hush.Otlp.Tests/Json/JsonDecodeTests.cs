using Google.Protobuf;

namespace Hush.Otlp.Tests.Json;

public sealed class JsonDecodeTests
{
    private static byte[] TestData(string name) => File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "testdata", name));

    [Fact]
    public void DecodeTraceRequest_SpecShapedDocument_ReadsEveryField()
    {
        var request = OtlpJson.DecodeTraceRequest(TestData("trace.json"));

        var rs = Assert.Single(request.ResourceSpans);
        Assert.Equal("https://opentelemetry.io/schemas/1.26.0", rs.SchemaUrl);
        Assert.Equal("service.name", rs.Resource.Attributes[0].Key);
        Assert.Equal("my.service", rs.Resource.Attributes[0].Value.StringValue);
        Assert.Equal(3, rs.Resource.Attributes[1].Value.IntValue);
        Assert.Equal(1u, rs.Resource.DroppedAttributesCount);
        var ss = Assert.Single(rs.ScopeSpans);
        Assert.Equal("https://opentelemetry.io/schemas/1.25.0", ss.SchemaUrl);
        Assert.Equal("my.library", ss.Scope.Name);
        Assert.Equal("1.0.0", ss.Scope.Version);
        Assert.Equal("some scope attribute", ss.Scope.Attributes[0].Value.StringValue);
        var span = Assert.Single(ss.Spans);
        Assert.Equal("5b8efff798038103d269b633813fc60c", span.TraceId.ToString());
        Assert.Equal("eee19b7ec3c1b174", span.SpanId.ToString());
        Assert.Equal("eee19b7ec3c1b173", span.ParentSpanId.ToString());
        Assert.Equal("rojo=00f067aa0ba902b7", span.TraceState);
        Assert.Equal(257u, span.Flags);
        Assert.Equal("I'm a server span", span.Name);
        Assert.Equal(1544712660000000000UL, span.StartTimeUnixNano);
        Assert.Equal(1544712661000000000UL, span.EndTimeUnixNano);
        Assert.Equal(SpanKind.Server, span.Kind);
        Assert.Equal(7, span.Attributes.Count);
        Assert.Equal("some value", span.Attributes[0].Value.StringValue);
        Assert.Equal(404, span.Attributes[1].Value.IntValue);
        Assert.Equal(0.25, span.Attributes[2].Value.DoubleValue);
        Assert.Equal(AnyValueKind.Bool, span.Attributes[3].Value.Kind);
        Assert.False(span.Attributes[3].Value.BoolValue);
        Assert.Equal(new byte[] { 0, 1, 2, 0xff }, span.Attributes[4].Value.BytesValue);
        var tags = span.Attributes[5].Value.ArrayValue!;
        Assert.Equal("a", tags[0].StringValue);
        Assert.Equal(-7, tags[1].IntValue);
        var map = span.Attributes[6].Value.KeyValueListValue!;
        Assert.Equal("inner", map[0].Key);
        Assert.True(map[0].Value.BoolValue);
        Assert.Equal(2u, span.DroppedAttributesCount);
        var ev = Assert.Single(span.Events);
        Assert.Equal(1544712660500000000UL, ev.TimeUnixNano);
        Assert.Equal("exception", ev.Name);
        Assert.Equal("boom", ev.Attributes[0].Value.StringValue);
        Assert.Equal(4u, ev.DroppedAttributesCount);
        Assert.Equal(5u, span.DroppedEventsCount);
        var link = Assert.Single(span.Links);
        Assert.Equal("0af7651916cd43dd8448eb211c80319c", link.TraceId.ToString());
        Assert.Equal("b7ad6b7169203331", link.SpanId.ToString());
        Assert.Equal("congo=t61rcWkgMzE", link.TraceState);
        Assert.Equal("follows", link.Attributes[0].Value.StringValue);
        Assert.Equal(6u, link.DroppedAttributesCount);
        Assert.Equal(1u, link.Flags);
        Assert.Equal(7u, span.DroppedLinksCount);
        Assert.Equal("not found", span.Status.Message);
        Assert.Equal(StatusCode.Error, span.Status.Code);
    }

    [Fact]
    public void DecodeTraceRequest_ProtoNamesEnumNamesAndNulls_AreAccepted()
    {
        var request = OtlpJson.DecodeTraceRequest(TestData("trace_proto_names.json"));

        var rs = Assert.Single(request.ResourceSpans);
        Assert.Equal(1u, rs.Resource.DroppedAttributesCount);
        var ss = Assert.Single(rs.ScopeSpans);
        Assert.Equal("my.library", ss.Scope.Name);
        Assert.Equal(string.Empty, ss.Scope.Version);
        var span = Assert.Single(ss.Spans);
        Assert.Equal("5b8efff798038103d269b633813fc60c", span.TraceId.ToString());
        Assert.True(span.ParentSpanId.IsEmpty);
        Assert.Equal(string.Empty, span.TraceState);
        Assert.Equal(SpanKind.Client, span.Kind);
        Assert.Equal(1544712660000000000UL, span.StartTimeUnixNano);
        Assert.Equal(1544712661000000000UL, span.EndTimeUnixNano);
        Assert.Equal(long.MinValue, span.Attributes[0].Value.IntValue);
        Assert.True(double.IsNaN(span.Attributes[1].Value.DoubleValue));
        Assert.Equal(double.PositiveInfinity, span.Attributes[2].Value.DoubleValue);
        Assert.Equal(double.NegativeInfinity, span.Attributes[3].Value.DoubleValue);
        Assert.Equal(1500.0, span.Attributes[4].Value.DoubleValue);
        Assert.Equal(new byte[] { 0xfb, 0xff }, span.Attributes[5].Value.BytesValue);
        Assert.Equal(AnyValueKind.Empty, span.Attributes[6].Value.Kind);
        Assert.Equal(AnyValueKind.Empty, span.Attributes[7].Value.Kind);
        Assert.Equal("escaped.key", span.Attributes[8].Key);
        Assert.Equal("café", span.Attributes[8].Value.StringValue);
        Assert.Equal(StatusCode.Ok, span.Status.Code);
    }

    [Fact]
    public void DecodeTraceRequest_SpecDocument_ProtobufEncodingMatchesReference()
    {
        // The JSON-decoded model, encoded to protobuf, equals what the reference encoder makes of it.
        var request = OtlpJson.DecodeTraceRequest(TestData("trace.json"));

        Assert.Equal(ReferenceModel.ToReference(request).ToByteArray(), OtlpProtobuf.Encode(request));
    }

    [Fact]
    public void Encode_RichRequest_RoundTrips()
    {
        var request = Samples.Rich();

        var decoded = OtlpJson.DecodeTraceRequest(OtlpJson.Encode(request));

        Assert.Equal(ReferenceModel.ToReference(request), ReferenceModel.ToReference(decoded));
    }

    [Fact]
    public void Encode_RealisticRequest_RoundTripsAndAgreesWithProtobuf()
    {
        var request = Samples.Realistic(100);

        var viaJson = OtlpJson.DecodeTraceRequest(OtlpJson.Encode(request));

        Assert.Equal(OtlpProtobuf.Encode(request), OtlpProtobuf.Encode(viaJson));
    }

    [Fact]
    public void Encode_WritesSpecFormatting()
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
                                new Span
                                {
                                    TraceId = Samples.TraceA,
                                    SpanId = Samples.SpanA,
                                    Kind = SpanKind.Server,
                                    StartTimeUnixNano = 1544712660000000000UL,
                                    Attributes =
                                    [
                                        new("i", AnyValue.Of(long.MinValue)),
                                        new("d", AnyValue.Of(double.NegativeInfinity)),
                                        new("b", AnyValue.Of(new byte[] { 0, 1, 2, 0xff })),
                                        new("u", AnyValue.Of("é<>")),
                                    ],
                                    Status = new SpanStatus { Code = StatusCode.Error },
                                },
                            ],
                        },
                    ],
                },
            ],
        };

        var json = System.Text.Encoding.UTF8.GetString(OtlpJson.Encode(request));

        Assert.Equal(
            "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"traceId\":\"0123456789abcdeffedcba9876543210\",\"spanId\":\"1122334455667788\","
            + "\"kind\":2,\"startTimeUnixNano\":\"1544712660000000000\",\"attributes\":["
            + "{\"key\":\"i\",\"value\":{\"intValue\":\"-9223372036854775808\"}},"
            + "{\"key\":\"d\",\"value\":{\"doubleValue\":\"-Infinity\"}},"
            + "{\"key\":\"b\",\"value\":{\"bytesValue\":\"AAEC/w==\"}},"
            + "{\"key\":\"u\",\"value\":{\"stringValue\":\"é<>\"}}],"
            + "\"status\":{\"code\":2}}]}]}]}",
            json);
    }

    [Fact]
    public void Encode_IntoBufferWriter_MatchesArrayEncoding()
    {
        var request = Samples.Rich();
        var writer = new System.Buffers.ArrayBufferWriter<byte>();

        OtlpJson.Encode(request, writer);

        Assert.Equal(OtlpJson.Encode(request), writer.WrittenSpan.ToArray());
    }

    [Fact]
    public void Encode_EmptyRequest_IsEmptyObject()
    {
        Assert.Equal("{}"u8.ToArray(), OtlpJson.Encode(new TraceRequest()));
        Assert.Empty(OtlpJson.DecodeTraceRequest("{}"u8).ResourceSpans);
        Assert.Empty(OtlpJson.DecodeTraceRequest("{\"resourceSpans\":null}"u8).ResourceSpans);
    }

    [Fact]
    public void ExportResponse_FullAndPartialSuccess_RoundTrip()
    {
        var full = OtlpJson.EncodeExportResponse(new TraceExportResponse());
        var partial = OtlpJson.EncodeExportResponse(new TraceExportResponse
        {
            PartialSuccess = new ExportPartialSuccess { RejectedSpans = 3, ErrorMessage = "3 spans were too large" },
        });

        Assert.Equal("{}"u8.ToArray(), full);
        Assert.Null(OtlpJson.DecodeExportResponse(full).PartialSuccess);
        Assert.Equal("{\"partialSuccess\":{\"rejectedSpans\":\"3\",\"errorMessage\":\"3 spans were too large\"}}", System.Text.Encoding.UTF8.GetString(partial));
        var decoded = OtlpJson.DecodeExportResponse(partial).PartialSuccess!;
        Assert.Equal(3, decoded.RejectedSpans);
        Assert.Equal("3 spans were too large", decoded.ErrorMessage);
        Assert.Equal(9, OtlpJson.DecodeExportResponse("{\"partial_success\":{\"rejected_spans\":9}}"u8).PartialSuccess!.RejectedSpans);
    }

    [Fact]
    public void EncodeRpcStatus_WritesCodeAndMessage()
    {
        Assert.Equal("{\"code\":3,\"message\":\"bad \\\"body\\\"\"}", System.Text.Encoding.UTF8.GetString(OtlpJson.EncodeRpcStatus(3, "bad \"body\"")));
    }

    [Theory]
    [InlineData("{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"traceId\":\"0123\"}]}]}]}", "Span.traceId")]
    [InlineData("{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"traceId\":\"0123456789abcdef0123456789abcdef00\"}]}]}]}", "Span.traceId")]
    [InlineData("{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"traceId\":\"0123456789abcdefg123456789abcdef\"}]}]}]}", "Span.traceId")]
    [InlineData("{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"spanId\":\"0123456789abcdef0\"}]}]}]}", "Span.spanId")]
    [InlineData("{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"spanId\":\"zz23456789abcdef\"}]}]}]}", "Span.spanId")]
    [InlineData("{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"parentSpanId\":12}]}]}]}", "Span.parentSpanId")]
    [InlineData("{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"links\":[{\"traceId\":\"AAECAwQFBgcICQoLDA0ODw==\"}]}]}]}]}", "Span.Link.traceId")]
    [InlineData("{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"links\":[{\"spanId\":\"0011\"}]}]}]}]}", "Span.Link.spanId")]
    public void DecodeTraceRequest_BadId_ThrowsNamingTheField(string json, string field)
    {
        var e = Assert.Throws<OtlpDecodeException>(() => OtlpJson.DecodeTraceRequest(System.Text.Encoding.UTF8.GetBytes(json)));

        Assert.Contains(field, e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("{\"resourceSpans\":{}}")]
    [InlineData("{\"resourceSpans\":[1]}")]
    [InlineData("{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"name\":5}]}]}]}")]
    [InlineData("{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"kind\":\"SPAN_KIND_BOGUS\"}]}]}]}")]
    [InlineData("{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"kind\":1.5}]}]}]}")]
    [InlineData("{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"startTimeUnixNano\":-1}]}]}]}")]
    [InlineData("{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"startTimeUnixNano\":\"12x\"}]}]}]}")]
    [InlineData("{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"flags\":4294967296}]}]}]}")]
    [InlineData("{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"droppedAttributesCount\":true}]}]}]}")]
    [InlineData("{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"attributes\":[{\"key\":1}]}]}]}]}")]
    [InlineData("{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"attributes\":[{\"key\":\"k\",\"value\":\"v\"}]}]}]}]}")]
    [InlineData("{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"attributes\":[{\"key\":\"k\",\"value\":{\"intValue\":\"9223372036854775808\"}}]}]}]}]}")]
    [InlineData("{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"attributes\":[{\"key\":\"k\",\"value\":{\"intValue\":1.5}}]}]}]}]}")]
    [InlineData("{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"attributes\":[{\"key\":\"k\",\"value\":{\"doubleValue\":\"fast\"}}]}]}]}]}")]
    [InlineData("{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"attributes\":[{\"key\":\"k\",\"value\":{\"boolValue\":\"true\"}}]}]}]}]}")]
    [InlineData("{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"attributes\":[{\"key\":\"k\",\"value\":{\"bytesValue\":\"!!!\"}}]}]}]}]}")]
    [InlineData("{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"attributes\":[{\"key\":\"k\",\"value\":{\"arrayValue\":[]}}]}]}]}]}")]
    [InlineData("{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"status\":{\"code\":\"STATUS_CODE_MAYBE\"}}]}]}]}")]
    [InlineData("[]")]
    [InlineData("\"text\"")]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData("{")]
    [InlineData("{}{}")]
    [InlineData("{} x")]
    [InlineData("{\"resourceSpans\":[],}")]
    [InlineData("{/*comment*/}")]
    [InlineData("{'resourceSpans':[]}")]
    [InlineData("{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"name\":\"unterminated}]}]}]}")]
    [InlineData("nul")]
    public void DecodeTraceRequest_InvalidDocument_ThrowsOtlpDecodeException(string json)
    {
        Assert.Throws<OtlpDecodeException>(() => OtlpJson.DecodeTraceRequest(System.Text.Encoding.UTF8.GetBytes(json)));
    }

    [Fact]
    public void DecodeTraceRequest_BadValue_ReportsByteOffsetAndField()
    {
        var json = "{\"resourceSpans\":[{\"schemaUrl\":7}]}"u8.ToArray();

        var e = Assert.Throws<OtlpDecodeException>(() => OtlpJson.DecodeTraceRequest(json));

        Assert.Equal(31, e.Offset);
        Assert.Contains("ResourceSpans.schemaUrl at byte offset 31", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void DecodeTraceRequest_MalformedJson_ReportsLineAndByte()
    {
        var json = "{\n  \"resourceSpans\": [\n    x\n  ]\n}"u8.ToArray();

        var e = Assert.Throws<OtlpDecodeException>(() => OtlpJson.DecodeTraceRequest(json));

        Assert.Contains("line 3, byte 5", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void DecodeTraceRequest_LeadingByteOrderMark_IsIgnored()
    {
        var json = new byte[] { 0xEF, 0xBB, 0xBF }.Concat("{\"resourceSpans\":[{\"schemaUrl\":\"s\"}]}"u8.ToArray()).ToArray();

        Assert.Equal("s", OtlpJson.DecodeTraceRequest(json).ResourceSpans[0].SchemaUrl);
    }

    [Fact]
    public void DecodeTraceRequest_UppercaseHexIds_AreAccepted()
    {
        var json = "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"traceId\":\"0123456789ABCDEFFEDCBA9876543210\",\"spanId\":\"1122334455667788\"}]}]}]}"u8;

        var span = OtlpJson.DecodeTraceRequest(json).ResourceSpans[0].ScopeSpans[0].Spans[0];

        Assert.Equal(Samples.TraceA, span.TraceId);
        Assert.Equal(Samples.SpanA, span.SpanId);
    }

    [Fact]
    public void DecodeTraceRequest_UnknownFieldsWithDeepValues_AreSkipped()
    {
        var json = "{\"extra\":{\"a\":[1,{\"b\":[true,null,\"s\"]}]},\"resourceSpans\":[{\"x\":[[[]]],\"scopeSpans\":[{\"spans\":[{\"name\":\"n\",\"y\":{}}]}]}]}"u8;

        Assert.Equal("n", OtlpJson.DecodeTraceRequest(json).ResourceSpans[0].ScopeSpans[0].Spans[0].Name);
    }
}
