using Google.Protobuf;

namespace Hush.Otlp.Tests.Protobuf;

public sealed class ProtobufGarbageTests
{
    /// <summary>Seed for the fuzz loops, fixed so a failure reproduces.</summary>
    private const int Seed = 20261122;

    [Fact]
    public void DecodeTraceRequest_EveryTruncatedPrefix_ThrowsOtlpDecodeExceptionOrEndsOnABoundary()
    {
        var request = Samples.Rich();
        var bytes = OtlpProtobuf.Encode(request);
        // Cutting exactly between top-level resource_spans entries leaves a valid, shorter request.
        var boundaries = new HashSet<int> { 0 };
        var offset = 0;
        foreach (var rs in ReferenceModel.ToReference(request).ResourceSpans)
        {
            offset += CodedOutputStream.ComputeTagSize(1) + CodedOutputStream.ComputeMessageSize(rs);
            boundaries.Add(offset);
        }

        Assert.Equal(bytes.Length, offset);
        var failures = 0;
        for (var length = 0; length < bytes.Length; length++)
        {
            var prefix = bytes.AsSpan(0, length).ToArray();
            if (boundaries.Contains(length))
            {
                OtlpProtobuf.DecodeTraceRequest(prefix);
            }
            else
            {
                Assert.Throws<OtlpDecodeException>(() => OtlpProtobuf.DecodeTraceRequest(prefix));
                failures++;
            }
        }

        Assert.True(failures > 1000, $"only {failures} prefixes tested");
    }

    [Theory]
    [InlineData(new byte[] { 0x28, 0x01 }, "Span.name")]                    // name (5) as varint
    [InlineData(new byte[] { 0x0D, 1, 2, 3, 4 }, "Span.trace_id")]           // trace_id (1) as fixed32
    [InlineData(new byte[] { 0x32, 0x00 }, "Span.kind")]                     // kind (6) as bytes
    [InlineData(new byte[] { 0x38, 0x01 }, "Span.start_time_unix_nano")]     // fixed64 as varint
    [InlineData(new byte[] { 0x80, 0x01, 0x01 }, "Span.flags")]              // flags (16) as varint
    [InlineData(new byte[] { 0x48, 0x01 }, "Span.attributes")]               // attributes (9) as varint
    [InlineData(new byte[] { 0x55, 0, 0, 0, 0 }, "Span.dropped_attributes_count")]
    [InlineData(new byte[] { 0x7A, 0x02, 0x1A, 0x00 }, "Status.code")]       // status { code (3) as bytes }
    public void DecodeTraceRequest_WrongWireTypeForKnownField_Throws(byte[] spanBytes, string field)
    {
        var e = Assert.Throws<OtlpDecodeException>(() => OtlpProtobuf.DecodeTraceRequest(ProtobufGoldenTests.Wrap(spanBytes)));

        Assert.Contains(field, e.Message, StringComparison.Ordinal);
        Assert.Contains("wire type", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(new byte[] { 0x0A, 0x05, 1, 2, 3, 4, 5 }, "trace_id")]   // 5-byte trace id
    [InlineData(new byte[] { 0x0A, 0x08, 1, 2, 3, 4, 5, 6, 7, 8 }, "trace_id")]
    [InlineData(new byte[] { 0x12, 0x10, 1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8 }, "span_id")]
    [InlineData(new byte[] { 0x22, 0x01, 1 }, "parent_span_id")]
    [InlineData(new byte[] { 0x6A, 0x04, 0x12, 0x02, 1, 2 }, "span_id")]   // link with a 2-byte span id
    public void DecodeTraceRequest_IdOfWrongLength_Throws(byte[] spanBytes, string field)
    {
        var e = Assert.Throws<OtlpDecodeException>(() => OtlpProtobuf.DecodeTraceRequest(ProtobufGoldenTests.Wrap(spanBytes)));

        Assert.Contains(field, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void DecodeTraceRequest_EmptyIds_AreAbsent()
    {
        var span = OtlpProtobuf.DecodeTraceRequest(ProtobufGoldenTests.Wrap([0x0A, 0x00, 0x12, 0x00, 0x22, 0x00])).ResourceSpans[0].ScopeSpans[0].Spans[0];

        Assert.True(span.TraceId.IsEmpty);
        Assert.True(span.SpanId.IsEmpty);
        Assert.True(span.ParentSpanId.IsEmpty);
    }

    [Theory]
    [InlineData(new byte[] { 0x0A, 0x80, 0x80, 0x80, 0x80, 0x08 })]                                  // length 2^31
    [InlineData(new byte[] { 0x0A, 0xFF, 0xFF, 0xFF, 0xFF, 0x07, 0x00 })]                            // length 2^31-1
    [InlineData(new byte[] { 0x0A, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01 })]    // length 2^64-1
    [InlineData(new byte[] { 0x0A, 0x02, 0x00 })]                                                    // one byte short
    [InlineData(new byte[] { 0x08, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01 })] // 11-byte varint
    [InlineData(new byte[] { 0x08, 0xFF })]                                                          // truncated varint
    [InlineData(new byte[] { 0x00 })]                                                                // field number 0
    [InlineData(new byte[] { 0x0E })]                                                                // wire type 6
    [InlineData(new byte[] { 0x0F })]                                                                // wire type 7
    [InlineData(new byte[] { 0x0C })]                                                                // stray end-group
    [InlineData(new byte[] { 0x13, 0x08, 0x01 })]                                                    // unterminated group
    [InlineData(new byte[] { 0x13, 0x1C })]                                                          // group closed by another field
    [InlineData(new byte[] { 0x11, 0x01, 0x02 })]                                                    // truncated fixed64
    [InlineData(new byte[] { 0x15, 0x01 })]                                                          // truncated fixed32
    [InlineData(new byte[] { 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01 })]                                  // tag beyond 32 bits
    public void DecodeTraceRequest_MalformedWire_Throws(byte[] bytes)
    {
        Assert.Throws<OtlpDecodeException>(() => OtlpProtobuf.DecodeTraceRequest(bytes));
        Assert.Throws<OtlpDecodeException>(() => OtlpProtobuf.DecodeExportResponse(bytes));
        Assert.Throws<OtlpDecodeException>(() => OtlpProtobuf.DecodeRpcStatus(bytes));
    }

    [Fact]
    public void DecodeTraceRequest_LyingLength_ReportsOffset()
    {
        var e = Assert.Throws<OtlpDecodeException>(() => OtlpProtobuf.DecodeTraceRequest(new byte[] { 0x0A, 0x80, 0x80, 0x80, 0x80, 0x08 }));

        Assert.Equal(1, e.Offset);
        Assert.Contains("byte offset 1", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void DecodeTraceRequest_UnknownGroupsNestedTooDeep_Throws()
    {
        var bytes = new List<byte>();
        for (var i = 0; i < 100; i++)
        {
            bytes.Add(0x9B); // field 99, start group
            bytes.Add(0x06);
        }

        for (var i = 0; i < 100; i++)
        {
            bytes.Add(0x9C); // field 99, end group
            bytes.Add(0x06);
        }

        Assert.Throws<OtlpDecodeException>(() => OtlpProtobuf.DecodeTraceRequest(bytes.ToArray()));
    }

    [Theory]
    [InlineData(32, false)]
    [InlineData(33, true)]
    [InlineData(10_000, true)]
    public void DecodeTraceRequest_NestedArrays_EnforcesDepthLimit(int depth, bool throws)
    {
        var bytes = ProtobufGoldenTests.Wrap(NestedArrayAttribute(depth));

        if (throws)
        {
            var e = Assert.Throws<OtlpDecodeException>(() => OtlpProtobuf.DecodeTraceRequest(bytes));
            Assert.Contains("nested deeper than 32", e.Message, StringComparison.Ordinal);
        }
        else
        {
            var value = OtlpProtobuf.DecodeTraceRequest(bytes).ResourceSpans[0].ScopeSpans[0].Spans[0].Attributes[0].Value;
            for (var i = 0; i < depth; i++)
            {
                value = Assert.Single(value.ArrayValue!);
            }

            Assert.Equal(AnyValueKind.Empty, value.Kind);
        }
    }

    [Fact]
    public void Encode_NestingAtTheLimit_RoundTrips_AndBeyondItThrows()
    {
        static TraceRequest Nested(int depth)
        {
            var value = AnyValue.Of(1L);
            for (var i = 0; i < depth; i++)
            {
                value = i % 2 == 0 ? AnyValue.Of(new List<AnyValue> { value }) : AnyValue.Of(new List<KeyValue> { new("k", value) });
            }

            return new TraceRequest { ResourceSpans = [new ResourceSpans { Resource = new Resource { Attributes = [new("deep", value)] } }] };
        }

        var atLimit = Nested(32);
        Assert.Equal(ReferenceModel.ToReference(atLimit), ReferenceModel.ToReference(OtlpProtobuf.DecodeTraceRequest(OtlpProtobuf.Encode(atLimit))));
        Assert.Equal(ReferenceModel.ToReference(atLimit), ReferenceModel.ToReference(OtlpJson.DecodeTraceRequest(OtlpJson.Encode(atLimit))));
        Assert.Throws<ArgumentException>(() => OtlpProtobuf.Encode(Nested(33)));
        Assert.Throws<ArgumentException>(() => OtlpJson.Encode(Nested(33)));
    }

    [Fact]
    public void BothCodecs_MapsNestedToTheLimit_RoundTripInsideAFullEnvelope()
    {
        var value = AnyValue.Of(1L);
        for (var i = 0; i < 32; i++)
        {
            value = AnyValue.Of(new List<KeyValue> { new("k", value) });
        }

        var request = Samples.Rich();
        request.ResourceSpans[0].ScopeSpans[0].Spans[0].Events[0].Attributes.Add(new KeyValue("deep", value));
        request.ResourceSpans[0].ScopeSpans[0].Spans[0].Links[0].Attributes.Add(new KeyValue("deep", value));
        var expected = ReferenceModel.ToReference(request);

        Assert.Equal(expected, ReferenceModel.ToReference(OtlpProtobuf.DecodeTraceRequest(OtlpProtobuf.Encode(request))));
        Assert.Equal(expected, ReferenceModel.ToReference(OtlpJson.DecodeTraceRequest(OtlpJson.Encode(request))));
    }

    [Theory]
    [InlineData(new byte[] { 0x2A, 0x02, 0xC3, 0x28 })]        // name: invalid continuation
    [InlineData(new byte[] { 0x2A, 0x01, 0xFF })]              // name: 0xFF never valid
    [InlineData(new byte[] { 0x2A, 0x03, 0xED, 0xA0, 0x80 })]  // name: encoded surrogate
    [InlineData(new byte[] { 0x2A, 0x02, 0xC0, 0x80 })]        // name: overlong NUL
    [InlineData(new byte[] { 0x4A, 0x04, 0x0A, 0x02, 0xC3, 0x28 })]                // attribute key
    [InlineData(new byte[] { 0x4A, 0x08, 0x0A, 0x01, 0x6B, 0x12, 0x03, 0x0A, 0x01, 0xFF })] // attribute string value
    [InlineData(new byte[] { 0x7A, 0x03, 0x12, 0x01, 0x80 })]  // status message
    public void DecodeTraceRequest_InvalidUtf8_Throws(byte[] spanBytes)
    {
        Assert.Throws<OtlpDecodeException>(() => OtlpProtobuf.DecodeTraceRequest(ProtobufGoldenTests.Wrap(spanBytes)));
    }

    [Fact]
    public void DecodeTraceRequest_RandomBytes_OnlyEverThrowsOtlpDecodeException()
    {
        var random = new Random(Seed);
        for (var i = 0; i < 20_000; i++)
        {
            var bytes = new byte[random.Next(0, 200)];
            random.NextBytes(bytes);
            DecodeOrOtlpException(bytes);
        }
    }

    [Fact]
    public void DecodeTraceRequest_MutatedRealMessages_OnlyEverThrowsOtlpDecodeException()
    {
        var random = new Random(Seed);
        var original = OtlpProtobuf.Encode(Samples.Realistic(4));
        for (var i = 0; i < 5_000; i++)
        {
            var bytes = (byte[])original.Clone();
            var flips = random.Next(1, 6);
            for (var f = 0; f < flips; f++)
            {
                bytes[random.Next(bytes.Length)] = (byte)random.Next(256);
            }

            DecodeOrOtlpException(bytes);
        }
    }

    private static void DecodeOrOtlpException(byte[] bytes)
    {
        try
        {
            OtlpProtobuf.DecodeTraceRequest(bytes);
        }
        catch (OtlpDecodeException)
        {
        }

        try
        {
            OtlpProtobuf.DecodeExportResponse(bytes);
        }
        catch (OtlpDecodeException)
        {
        }

        try
        {
            OtlpProtobuf.DecodeRpcStatus(bytes);
        }
        catch (OtlpDecodeException)
        {
        }
    }

    /// <summary>A Span.attributes entry whose value is <paramref name="depth"/> arrays nested in each other around an empty AnyValue.</summary>
    internal static byte[] NestedArrayAttribute(int depth)
    {
        // Sizes from the inside out: AnyValue(i) = tag + len + ArrayValue(i); ArrayValue(i) = tag + len + AnyValue(i-1).
        var anySizes = new int[depth + 1];
        var arraySizes = new int[depth + 1];
        anySizes[0] = 0;
        for (var i = 1; i <= depth; i++)
        {
            arraySizes[i] = 1 + CodedOutputStream.ComputeLengthSize(anySizes[i - 1]) + anySizes[i - 1];
            anySizes[i] = 1 + CodedOutputStream.ComputeLengthSize(arraySizes[i]) + arraySizes[i];
        }

        using var stream = new MemoryStream();
        var output = new CodedOutputStream(stream);
        var keyValueSize = 3 + 1 + CodedOutputStream.ComputeLengthSize(anySizes[depth]) + anySizes[depth];
        output.WriteTag(9, WireFormat.WireType.LengthDelimited);
        output.WriteLength(keyValueSize);
        output.WriteTag(1, WireFormat.WireType.LengthDelimited);
        output.WriteString("k");
        output.WriteTag(2, WireFormat.WireType.LengthDelimited);
        output.WriteLength(anySizes[depth]);
        for (var i = depth; i >= 1; i--)
        {
            output.WriteTag(5, WireFormat.WireType.LengthDelimited);
            output.WriteLength(arraySizes[i]);
            output.WriteTag(1, WireFormat.WireType.LengthDelimited);
            output.WriteLength(anySizes[i - 1]);
        }

        output.Flush();
        return stream.ToArray();
    }
}
