using Google.Protobuf;
using R = Hush.Otlp.Tests.Reference;

namespace Hush.Otlp.Tests.Protobuf;

public sealed class ProtobufGoldenTests
{
    [Fact]
    public void Encode_RichRequest_IsByteForByteTheReferenceEncoding()
    {
        var request = Samples.Rich();

        var ours = OtlpProtobuf.Encode(request);
        var reference = ReferenceModel.ToReference(request).ToByteArray();

        Assert.Equal(reference, ours);
    }

    [Fact]
    public void Encode_RichRequest_ParsesWithGeneratedCodeToTheSameMessage()
    {
        var request = Samples.Rich();

        var parsed = R.ExportTraceServiceRequest.Parser.ParseFrom(OtlpProtobuf.Encode(request));

        Assert.Equal(ReferenceModel.ToReference(request), parsed);
    }

    [Fact]
    public void DecodeTraceRequest_ReferenceEncoding_YieldsTheOriginalRequest()
    {
        var expected = ReferenceModel.ToReference(Samples.Rich());

        var decoded = OtlpProtobuf.DecodeTraceRequest(expected.ToByteArray());

        Assert.Equal(expected, ReferenceModel.ToReference(decoded));
    }

    [Fact]
    public void DecodeTraceRequest_RichRequest_KeepsEveryFieldValue()
    {
        var decoded = OtlpProtobuf.DecodeTraceRequest(OtlpProtobuf.Encode(Samples.Rich()));

        var rs = decoded.ResourceSpans[0];
        Assert.Equal(2, decoded.ResourceSpans.Count);
        Assert.Equal("checkout", rs.Resource.Attributes[0].Value.StringValue);
        Assert.Equal(2u, rs.Resource.DroppedAttributesCount);
        Assert.Equal("https://opentelemetry.io/schemas/1.26.0", rs.SchemaUrl);
        var ss = rs.ScopeSpans[0];
        Assert.Equal("Hush.Tests", ss.Scope.Name);
        Assert.Equal("1.0.0", ss.Scope.Version);
        Assert.Equal(9u, ss.Scope.DroppedAttributesCount);
        Assert.Equal(1.5, ss.Scope.Attributes[0].Value.DoubleValue);
        var span = ss.Spans[0];
        Assert.Equal(Samples.TraceA, span.TraceId);
        Assert.Equal(Samples.SpanA, span.SpanId);
        Assert.Equal(Samples.SpanB, span.ParentSpanId);
        Assert.Equal("vendor=abc,other=x", span.TraceState);
        Assert.Equal(0x301u, span.Flags);
        Assert.Equal(SpanKind.Server, span.Kind);
        Assert.Equal(ulong.MaxValue, span.EndTimeUnixNano);
        Assert.Equal(long.MinValue, span.Attributes.Single(a => a.Key == "int.min").Value.IntValue);
        Assert.True(double.IsNaN(span.Attributes.Single(a => a.Key == "double.nan").Value.DoubleValue));
        Assert.True(double.IsNegative(span.Attributes.Single(a => a.Key == "double.negzero").Value.DoubleValue));
        Assert.Equal(new byte[] { 0, 1, 2, 0xff, 0xfe }, span.Attributes.Single(a => a.Key == "bytes").Value.BytesValue);
        Assert.Equal("日本語 – ü – \u0000 – 😀", span.Attributes.Single(a => a.Key == "unicode").Value.StringValue);
        Assert.Equal(AnyValueKind.String, span.Attributes.Single(a => a.Key == "empty.string").Value.Kind);
        Assert.Equal(AnyValueKind.Empty, span.Attributes.Single(a => a.Key == "empty.value").Value.Kind);
        Assert.Equal(uint.MaxValue, span.Events[0].DroppedAttributesCount);
        Assert.Equal(new TraceId(1, 2), span.Links[0].TraceId);
        Assert.Equal(1u, span.Links[0].Flags);
        Assert.Equal(StatusCode.Error, span.Status.Code);
        Assert.Equal("not found – ✗", span.Status.Message);
        Assert.Equal((SpanKind)7, ss.Spans[2].Kind);
        Assert.Equal((StatusCode)(-1), ss.Spans[2].Status.Code);
    }

    [Fact]
    public void Encode_RealisticRequest_IsByteForByteTheReferenceEncoding()
    {
        var request = Samples.Realistic(64);

        Assert.Equal(ReferenceModel.ToReference(request).ToByteArray(), OtlpProtobuf.Encode(request));
    }

    [Fact]
    public void GetEncodedSize_RichRequest_EqualsEncodedLength()
    {
        var request = Samples.Rich();

        Assert.Equal(OtlpProtobuf.Encode(request).Length, OtlpProtobuf.GetEncodedSize(request));
    }

    [Fact]
    public void Encode_IntoSpanAndBufferWriter_MatchesArrayEncoding()
    {
        var request = Samples.Rich();
        var expected = OtlpProtobuf.Encode(request);

        var destination = new byte[expected.Length + 10];
        var written = OtlpProtobuf.Encode(request, destination.AsSpan());
        var writer = new System.Buffers.ArrayBufferWriter<byte>();
        OtlpProtobuf.Encode(request, writer);

        Assert.Equal(expected.Length, written);
        Assert.Equal(expected, destination[..written]);
        Assert.Equal(expected, writer.WrittenSpan.ToArray());
    }

    [Fact]
    public void Encode_DestinationTooSmall_ThrowsArgumentException()
    {
        var request = Samples.Rich();
        var destination = new byte[OtlpProtobuf.GetEncodedSize(request) - 1];

        Assert.Throws<ArgumentException>(() => OtlpProtobuf.Encode(request, destination.AsSpan()));
    }

    [Fact]
    public void Encode_EmptyRequest_IsEmpty()
    {
        Assert.Empty(OtlpProtobuf.Encode(new TraceRequest()));
        Assert.Empty(OtlpProtobuf.DecodeTraceRequest([]).ResourceSpans);
    }

    [Fact]
    public void Encode_CyclicAttributeValue_ThrowsArgumentException()
    {
        var list = new List<AnyValue>();
        list.Add(AnyValue.Of(list));
        var request = new TraceRequest { ResourceSpans = [new ResourceSpans { Resource = new Resource { Attributes = [new("cycle", AnyValue.Of(list))] } }] };

        Assert.Throws<ArgumentException>(() => OtlpProtobuf.Encode(request));
    }

    [Fact]
    public void DecodeTraceRequest_UnknownFieldsOfEveryWireType_AreSkipped()
    {
        var expected = ReferenceModel.ToReference(Samples.Rich());
        var bytes = expected.ToByteArray();
        using var stream = new MemoryStream();
        var output = new CodedOutputStream(stream);
        // Unknown fields before the real content: varint, fixed64, length-delimited, group, fixed32,
        // and the deprecated instrumentation_library_spans (1000).
        output.WriteTag(99, WireFormat.WireType.Varint);
        output.WriteUInt64(ulong.MaxValue);
        output.WriteTag(98, WireFormat.WireType.Fixed64);
        output.WriteFixed64(7);
        output.WriteTag(97, WireFormat.WireType.LengthDelimited);
        output.WriteBytes(ByteString.CopyFromUtf8("ignored"));
        output.WriteTag(96, WireFormat.WireType.StartGroup);
        output.WriteTag(1, WireFormat.WireType.Varint);
        output.WriteInt32(5);
        output.WriteTag(95, WireFormat.WireType.StartGroup);
        output.WriteTag(95, WireFormat.WireType.EndGroup);
        output.WriteTag(96, WireFormat.WireType.EndGroup);
        output.WriteTag(94, WireFormat.WireType.Fixed32);
        output.WriteFixed32(3);
        output.WriteTag(1000, WireFormat.WireType.LengthDelimited);
        output.WriteBytes(ByteString.CopyFrom(bytes));
        output.Flush();
        var payload = stream.ToArray().Concat(bytes).ToArray();

        var decoded = OtlpProtobuf.DecodeTraceRequest(payload);

        Assert.Equal(expected, ReferenceModel.ToReference(decoded));
    }

    [Fact]
    public void DecodeTraceRequest_UnknownFieldsInsideSpan_AreSkipped()
    {
        // Span with an unknown field 17 (varint) and 1000 (bytes) between known ones.
        var span = new R.Span { Name = "n", Kind = R.Span.Types.SpanKind.Client };
        var spanBytes = span.ToByteArray().Concat(new byte[] { 0x88, 0x01, 0x05, 0xC2, 0x3E, 0x01, 0xAA }).ToArray();
        var request = Wrap(spanBytes);

        var decoded = OtlpProtobuf.DecodeTraceRequest(request);

        var result = decoded.ResourceSpans[0].ScopeSpans[0].Spans[0];
        Assert.Equal("n", result.Name);
        Assert.Equal(SpanKind.Client, result.Kind);
    }

    [Fact]
    public void DecodeTraceRequest_DeprecatedInstrumentationLibrarySpans_IsSkipped()
    {
        // ResourceSpans { instrumentation_library_spans (1000) = { spans = [ { name = "old" } ] }, schema_url = "s" }
        var oldSpans = new byte[] { 0x12, 0x05, 0x2A, 0x03, (byte)'o', (byte)'l', (byte)'d' };
        var resourceSpans = new byte[] { 0xC2, 0x3E, (byte)oldSpans.Length }.Concat(oldSpans).Concat(new byte[] { 0x1A, 0x01, (byte)'s' }).ToArray();
        var request = new byte[] { 0x0A, (byte)resourceSpans.Length }.Concat(resourceSpans).ToArray();

        var decoded = OtlpProtobuf.DecodeTraceRequest(request);

        var rs = Assert.Single(decoded.ResourceSpans);
        Assert.Empty(rs.ScopeSpans);
        Assert.Equal("s", rs.SchemaUrl);
    }

    [Fact]
    public void DecodeTraceRequest_RepeatedScalarField_LastValueWins()
    {
        // name=5 twice: protobuf keeps the last.
        var spanBytes = new byte[] { 0x2A, 0x01, (byte)'a', 0x2A, 0x01, (byte)'b' };

        var decoded = OtlpProtobuf.DecodeTraceRequest(Wrap(spanBytes));

        Assert.Equal("b", decoded.ResourceSpans[0].ScopeSpans[0].Spans[0].Name);
    }

    [Fact]
    public void ExportResponse_RoundTrips_AndMatchesReference()
    {
        var full = OtlpProtobuf.EncodeExportResponse(new TraceExportResponse());
        var partial = OtlpProtobuf.EncodeExportResponse(new TraceExportResponse
        {
            PartialSuccess = new ExportPartialSuccess { RejectedSpans = 12, ErrorMessage = "12 spans exceeded the size limit" },
        });
        var reference = new R.ExportTraceServiceResponse
        {
            PartialSuccess = new R.ExportTracePartialSuccess { RejectedSpans = 12, ErrorMessage = "12 spans exceeded the size limit" },
        };

        Assert.Empty(full);
        Assert.Null(OtlpProtobuf.DecodeExportResponse(full).PartialSuccess);
        Assert.Equal(reference.ToByteArray(), partial);
        var decoded = OtlpProtobuf.DecodeExportResponse(reference.ToByteArray());
        Assert.Equal(12, decoded.PartialSuccess!.RejectedSpans);
        Assert.Equal("12 spans exceeded the size limit", decoded.PartialSuccess.ErrorMessage);
    }

    [Fact]
    public void ExportResponse_NegativeRejectedSpans_RoundTrips()
    {
        var bytes = OtlpProtobuf.EncodeExportResponse(new TraceExportResponse { PartialSuccess = new ExportPartialSuccess { RejectedSpans = -5 } });

        Assert.Equal(-5, R.ExportTraceServiceResponse.Parser.ParseFrom(bytes).PartialSuccess.RejectedSpans);
        Assert.Equal(-5, OtlpProtobuf.DecodeExportResponse(bytes).PartialSuccess!.RejectedSpans);
    }

    [Theory]
    [InlineData(0, "")]
    [InlineData(3, "request body is not valid OTLP")]
    [InlineData(-1, "négatif")]
    [InlineData(16, "")]
    public void RpcStatus_RoundTrips_AndMatchesReference(int code, string message)
    {
        var ours = OtlpProtobuf.EncodeRpcStatus(code, message);

        Assert.Equal(new R.RpcStatus { Code = code, Message = message }.ToByteArray(), ours);
        Assert.Equal((code, message), OtlpProtobuf.DecodeRpcStatus(ours));
    }

    [Fact]
    public void DecodeRpcStatus_WithDetails_SkipsThem()
    {
        var status = new R.RpcStatus { Code = 8, Message = "slow down" };
        status.Details.Add(new R.AnyLike { TypeUrl = "type.googleapis.com/google.rpc.RetryInfo", Value = ByteString.CopyFrom(1, 2, 3) });

        Assert.Equal((8, "slow down"), OtlpProtobuf.DecodeRpcStatus(status.ToByteArray()));
    }

    /// <summary>Wraps raw Span bytes in ResourceSpans/ScopeSpans/request envelopes.</summary>
    internal static byte[] Wrap(byte[] spanBytes)
    {
        static byte[] Field(int field, byte[] body)
        {
            using var stream = new MemoryStream();
            var output = new CodedOutputStream(stream);
            output.WriteTag(field, WireFormat.WireType.LengthDelimited);
            output.WriteBytes(ByteString.CopyFrom(body));
            output.Flush();
            return stream.ToArray();
        }

        return Field(1, Field(2, Field(2, spanBytes)));
    }
}
