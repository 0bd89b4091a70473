namespace Hush.Otlp.Tests.Protobuf;

/// <summary>
/// The decoder reads KeyValue and AnyValue bodies laid out as SDKs write them straight off the span,
/// and counts repeated fields in a tight loop; everything else falls back to the checked loops. These
/// pin the fallbacks: same values, same precedence, same errors.
/// </summary>
public sealed class ProtobufFastPathTests
{
    /// <summary>Span.attributes (field 9) around one KeyValue body.</summary>
    private static byte[] Attribute(params byte[] keyValue) => [0x4A, (byte)keyValue.Length, .. keyValue];

    private static KeyValue DecodeSingle(byte[] spanBytes) =>
        Assert.Single(OtlpProtobuf.DecodeTraceRequest(ProtobufGoldenTests.Wrap(spanBytes)).ResourceSpans[0].ScopeSpans[0].Spans[0].Attributes);

    [Fact]
    public void Decode_ValueBeforeKey_ReadsBoth()
    {
        var kv = DecodeSingle(Attribute(0x12, 0x02, 0x18, 0x05, 0x0A, 0x01, (byte)'k'));

        Assert.Equal("k", kv.Key);
        Assert.Equal(AnyValue.Of(5L), kv.Value);
    }

    [Fact]
    public void Decode_UnknownFieldAfterValue_IsSkipped()
    {
        var kv = DecodeSingle(Attribute(0x0A, 0x01, (byte)'k', 0x12, 0x02, 0x18, 0x05, 0x18, 0x01));

        Assert.Equal("k", kv.Key);
        Assert.Equal(AnyValue.Of(5L), kv.Value);
    }

    [Fact]
    public void Decode_RepeatedKey_LastWins()
    {
        var kv = DecodeSingle(Attribute(0x0A, 0x01, (byte)'a', 0x0A, 0x01, (byte)'b', 0x12, 0x02, 0x10, 0x01));

        Assert.Equal("b", kv.Key);
        Assert.Equal(AnyValue.Of(true), kv.Value);
    }

    [Theory]
    [InlineData(new byte[] { 0x0A, 0x01, (byte)'a', 0x18, 0x07 }, AnyValueKind.Int)]     // string then int
    [InlineData(new byte[] { 0x18, 0x07, 0x0A, 0x01, (byte)'a' }, AnyValueKind.String)]  // int then string
    public void Decode_TwoOneofMembers_LastWins(byte[] anyValue, AnyValueKind expected)
    {
        var kv = DecodeSingle(Attribute([0x0A, 0x01, (byte)'k', 0x12, (byte)anyValue.Length, .. anyValue]));

        Assert.Equal(expected, kv.Value.Kind);
        Assert.Equal(expected == AnyValueKind.Int ? AnyValue.Of(7L) : AnyValue.Of("a"), kv.Value);
    }

    [Theory]
    [InlineData(-1L)]
    [InlineData(300_000L)]
    [InlineData(long.MaxValue)]
    [InlineData(127L)]
    [InlineData(16_383L)]
    public void Decode_IntOfAnyVarintLength_IsExact(long value)
    {
        var varint = new List<byte>();
        for (var v = (ulong)value; ; v >>= 7)
        {
            if (v < 0x80)
            {
                varint.Add((byte)v);
                break;
            }

            varint.Add((byte)(v | 0x80));
        }

        var kv = DecodeSingle(Attribute([0x0A, 0x01, (byte)'k', 0x12, (byte)(varint.Count + 1), 0x18, .. varint]));

        Assert.Equal(AnyValue.Of(value), kv.Value);
    }

    [Fact]
    public void Decode_DoubleAndEmptyValues_Decode()
    {
        var doubleKv = DecodeSingle(Attribute([0x0A, 0x01, (byte)'d', 0x12, 0x09, 0x21, .. BitConverter.GetBytes(1.5)]));
        var emptyKv = DecodeSingle(Attribute(0x0A, 0x01, (byte)'e', 0x12, 0x00));

        Assert.Equal(AnyValue.Of(1.5), doubleKv.Value);
        Assert.Equal(AnyValueKind.Empty, emptyKv.Value.Kind);
    }

    [Fact]
    public void Decode_InvalidUtf8Key_NamesFieldAndOffset()
    {
        // Wrap adds three 2-byte headers; the span's attribute header and the key's tag and length follow.
        var e = Assert.Throws<OtlpDecodeException>(() => DecodeSingle(Attribute(0x0A, 0x02, 0xC3, 0x28)));

        Assert.Equal(10, e.Offset);
        Assert.Equal("Invalid OTLP protobuf in KeyValue at byte offset 10: KeyValue.key is not valid UTF-8.", e.Message);
    }

    [Fact]
    public void Decode_InvalidUtf8StringValue_NamesFieldAndOffset()
    {
        var e = Assert.Throws<OtlpDecodeException>(() => DecodeSingle(Attribute(0x0A, 0x01, (byte)'k', 0x12, 0x03, 0x0A, 0x01, 0xFF)));

        Assert.Equal(15, e.Offset);
        Assert.Equal("Invalid OTLP protobuf in AnyValue at byte offset 15: AnyValue.string_value is not valid UTF-8.", e.Message);
    }

    [Theory]
    [InlineData(new byte[] { 0x0A, 0x05, (byte)'k' })]             // key longer than the KeyValue
    [InlineData(new byte[] { 0x0A, 0x01, (byte)'k', 0x12, 0x09 })] // value longer than the KeyValue
    [InlineData(new byte[] { 0x0A, 0x01, (byte)'k', 0x12, 0x01, 0x18 })] // int value without its varint
    public void Decode_LyingLengthsInsideKeyValue_Throw(byte[] keyValue)
    {
        Assert.Throws<OtlpDecodeException>(() => DecodeSingle(Attribute(keyValue)));
    }

    [Fact]
    public void Decode_UnknownGroupBetweenAttributes_CountsAndDecodesAll()
    {
        // A group makes the fast count give up; the checked count must still size the list right.
        byte[] group = [0x9B, 0x06, 0x08, 0x01, 0x9C, 0x06]; // field 99: start group { field 1 varint } end group
        byte[] spanBytes = [.. Attribute(0x0A, 0x01, (byte)'a'), .. group, .. Attribute(0x0A, 0x01, (byte)'b'), .. Attribute(0x0A, 0x01, (byte)'c')];

        var span = OtlpProtobuf.DecodeTraceRequest(ProtobufGoldenTests.Wrap(spanBytes)).ResourceSpans[0].ScopeSpans[0].Spans[0];

        Assert.Equal(["a", "b", "c"], span.Attributes.Select(a => a.Key));
        Assert.Equal(3, span.Attributes.Capacity);
    }

    [Fact]
    public void Decode_ResourceFieldRepeated_MergesAttributes()
    {
        static byte[] Field(byte tag, byte[] body) => [tag, (byte)body.Length, .. body];

        // ResourceSpans { resource { attributes a, attributes b } resource { attributes c } }: the second
        // resource merges into the first, so its own count must not shrink the list.
        var resource1 = Field(0x0A, [.. Field(0x0A, [0x0A, 0x01, (byte)'a']), .. Field(0x0A, [0x0A, 0x01, (byte)'b'])]);
        var resource2 = Field(0x0A, Field(0x0A, [0x0A, 0x01, (byte)'c']));
        var bytes = Field(0x0A, [.. resource1, .. resource2]);

        var request = OtlpProtobuf.DecodeTraceRequest(bytes);

        Assert.Equal(["a", "b", "c"], request.ResourceSpans[0].Resource.Attributes.Select(a => a.Key));
    }
}
