using Google.Protobuf;

namespace Hush.Otlp.Tests.Protobuf;

/// <summary>Requests kept in their wire form: what the scanner accepts, how they decode, stamp, merge, encode and are released.</summary>
public sealed class WireFormTests
{
    private const int Seed = 20261202;
    private static ReadOnlySpan<byte> Reserved => "hush.ingest.identity"u8;

    [Fact]
    public void RandomRequests_WithSpans_AreKept_AndDecodeExactlyAsTheirBytes()
    {
        var random = new Random(Seed);
        var kept = 0;
        for (var i = 0; i < 300; i++)
        {
            var request = RoundTripPropertyTests.RandomRequest(random);
            var bytes = OtlpProtobuf.Encode(request);
            var spans = request.CountSpans();
            // The scanner remembers up to four distinct schema URLs (a real request names one or two).
            var urls = request.ResourceSpans.SelectMany(rs => rs.ScopeSpans.Select(ss => ss.SchemaUrl).Append(rs.SchemaUrl)).Where(u => u.Length > 0).Distinct().Count();
            Assert.Equal(spans > 0 && urls <= 4, OtlpProtobuf.TryKeepWireForm(bytes, null, Reserved, out var wire));
            if (wire is null)
            {
                continue;
            }

            kept++;
            Assert.True(wire.IsWireForm);
            Assert.Equal(spans, wire.CountSpans());
            Assert.Equal(bytes, OtlpProtobuf.Encode(wire));
            Assert.Equal(bytes.Length, OtlpProtobuf.GetEncodedSize(wire));
            Assert.True(wire.IsWireForm, "encoding must not decode");
            Assert.Equal(ReferenceModel.ToReference(request), ReferenceModel.ToReference(wire));
            Assert.False(wire.IsWireForm);
        }

        Assert.True(kept > 80, $"only {kept} requests kept");
    }

    [Fact]
    public void TheLoadGeneratorsAndAnSdksShape_IsKept()
    {
        var realistic = OtlpProtobuf.Encode(Samples.Realistic(64));
        Assert.True(OtlpProtobuf.TryKeepWireForm(realistic, null, Reserved, out var wire));
        Assert.Equal(64, wire.CountSpans());
        Assert.True(OtlpProtobuf.TryKeepWireForm(OtlpProtobuf.Encode(Samples.Rich()), null, Reserved, out _));
    }

    /// <summary>The property the privacy argument rests on: whatever the scanner accepts, the decoder accepts too.</summary>
    [Fact]
    public void MutatedAndRandomBytes_AreKeptOnlyWhenTheDecoderAcceptsThem()
    {
        var random = new Random(Seed);
        var bases = new List<byte[]> { OtlpProtobuf.Encode(Samples.Rich()), OtlpProtobuf.Encode(Samples.Realistic(8)) };
        for (var i = 0; i < 20; i++)
        {
            bases.Add(OtlpProtobuf.Encode(RoundTripPropertyTests.RandomRequest(random)));
        }

        var keptMutants = 0;
        var refused = 0;
        for (var i = 0; i < 20_000; i++)
        {
            var bytes = Mutate(bases[random.Next(bases.Count)], random);
            if (OtlpProtobuf.TryKeepWireForm(bytes, null, Reserved, out var wire))
            {
                keptMutants++;
                var decoded = OtlpProtobuf.DecodeTraceRequest(bytes);
                Assert.Equal(decoded.CountSpans(), wire.CountSpans());
                Assert.Equal(ReferenceModel.ToReference(decoded), ReferenceModel.ToReference(wire));
            }
            else
            {
                refused++;
            }
        }

        for (var i = 0; i < 5_000; i++)
        {
            var garbage = new byte[random.Next(0, 200)];
            random.NextBytes(garbage);
            if (OtlpProtobuf.TryKeepWireForm(garbage, null, Reserved, out var wire))
            {
                Assert.Equal(OtlpProtobuf.DecodeTraceRequest(garbage).CountSpans(), wire.CountSpans());
            }
        }

        // Both outcomes must occur, or the loop tested nothing.
        Assert.True(keptMutants > 100, $"only {keptMutants} mutants kept");
        Assert.True(refused > 5_000, $"only {refused} mutants refused");
    }

    public static TheoryData<string, byte[]> NotPlain() => new()
    {
        { "unknown top-level field", Concat(Plain(), [0x12, 0x00]) },
        { "unknown span field", Request(ScopeSpans(Field(2, Concat(SpanBody(), [0x98, 0x01, 0x01])))) },
        { "two resources", Request(Concat(Field(1, []), Field(1, []), ScopeSpans(Field(2, SpanBody())))) },
        { "invalid UTF-8 name", Request(ScopeSpans(Field(2, Concat(SpanBody(), Field(5, [0xC3, 0x28]))))) },
        { "trace id of 3 bytes", Request(ScopeSpans(Field(2, Field(1, [1, 2, 3])))) },
        { "value with two members", Request(ScopeSpans(Field(2, Concat(SpanBody(), Field(9, Concat(Field(1, "k"u8.ToArray()), Field(2, [0x10, 0x01, 0x18, 0x02]))))))) },
        { "non-canonical tag", Request(ScopeSpans(Concat([0x92, 0x00], Varint(SpanBody().Length), SpanBody()))) },
        { "reserved resource key", Request(Concat(Field(1, Field(1, Concat(Field(1, "hush.ingest.identity"u8.ToArray()), Field(2, Field(1, "x"u8.ToArray()))))), ScopeSpans(Field(2, SpanBody())))) },
        { "no spans", Request(Field(1, [])) },
        { "empty", [] },
        { "truncated", Plain()[..^1] },
    };

    [Theory]
    [MemberData(nameof(NotPlain))]
    public void RequestsThatAreNotPlain_AreNotKept(string what, byte[] bytes)
    {
        Assert.False(OtlpProtobuf.TryKeepWireForm(bytes, null, Reserved, out var wire), what);
        Assert.Null(wire);
    }

    [Fact]
    public void TheTestShapes_AreValid_SoTheRefusalsAboveAreTheScannersOwn()
    {
        Assert.True(OtlpProtobuf.TryKeepWireForm(Plain(), null, Reserved, out _));
        OtlpProtobuf.DecodeTraceRequest(Request(ScopeSpans(Field(2, Concat(SpanBody(), [0x98, 0x01, 0x01])))));
        OtlpProtobuf.DecodeTraceRequest(Concat(Plain(), [0x12, 0x00]));
    }

    [Fact]
    public void AttributesNestedPastTheCodecLimit_AreNotKept_AndTheDepthIsReported()
    {
        var value = AnyValue.Of("leaf");
        for (var i = 0; i < 3; i++)
        {
            value = AnyValue.Of([value]);
        }

        var request = Samples.Realistic(1);
        request.ResourceSpans[0].ScopeSpans[0].Spans[0].Attributes.Add(new KeyValue("nested", value));
        Assert.True(OtlpProtobuf.TryKeepWireForm(OtlpProtobuf.Encode(request), null, Reserved, out var wire));
        Assert.Equal(2, wire.WireContainerDepth);

        var deep = AnyValue.Of("leaf");
        for (var i = 0; i < 33; i++)
        {
            deep = AnyValue.Of([new KeyValue("k", deep)]);
        }

        var bytes = Request(ScopeSpans(Field(2, Concat(SpanBody(), Field(9, Concat(Field(1, "k"u8.ToArray()), Field(2, Encode(deep))))))));
        Assert.False(OtlpProtobuf.TryKeepWireForm(bytes, null, Reserved, out _));
        Assert.Throws<OtlpDecodeException>(() => OtlpProtobuf.DecodeTraceRequest(bytes));
    }

    [Fact]
    public void Stamps_GoLastOnEveryResource_InTheEncodingAndTheDecodedSpans()
    {
        var random = new Random(Seed + 1);
        for (var i = 0; i < 200; i++)
        {
            var request = RoundTripPropertyTests.RandomRequest(random);
            if (i % 3 == 0 && request.ResourceSpans.Count > 0)
            {
                // A resource the encoder leaves out entirely (no attributes, nothing dropped).
                request.ResourceSpans[0].Resource = new Resource();
            }

            // Stamps follow a resource's own fields, so the bytes equal the reference encoder's (attributes, then the
            // dropped count) only while the count is 0; the decoded spans are equal either way.
            var canonical = i % 2 == 0;
            if (canonical)
            {
                request.ResourceSpans.ForEach(rs => rs.Resource.DroppedAttributesCount = 0);
            }

            var bytes = OtlpProtobuf.Encode(request);
            if (!OtlpProtobuf.TryKeepWireForm(bytes, null, Reserved, out var wire))
            {
                continue;
            }

            wire.StampResources("hush.ingest.identity", "token:abc");
            wire.StampResources("second", "zwei ü");
            request.StampResources("hush.ingest.identity", "token:abc");
            request.StampResources("second", "zwei ü");

            var encoded = OtlpProtobuf.Encode(wire);
            if (canonical)
            {
                Assert.Equal(OtlpProtobuf.Encode(request), encoded);
            }

            Assert.Equal(encoded.Length, OtlpProtobuf.GetEncodedSize(wire));
            var into = new byte[encoded.Length];
            Assert.Equal(encoded.Length, OtlpProtobuf.Encode(wire, into));
            Assert.Equal(encoded, into);
            Assert.Throws<ArgumentException>(() => OtlpProtobuf.Encode(wire, new byte[encoded.Length - 1]));
            Assert.Equal(ReferenceModel.ToReference(request), ReferenceModel.ToReference(wire));
            Assert.All(wire.ResourceSpans, rs => Assert.Equal(["hush.ingest.identity", "second"], rs.Resource.Attributes.TakeLast(2).Select(a => a.Key)));
        }
    }

    [Fact]
    public void Append_KeepsTwoWireFormsInWireForm_AndDecodesAMix()
    {
        var a = Samples.Realistic(5, seed: 1);
        var b = Samples.Realistic(7, seed: 2);
        Assert.True(OtlpProtobuf.TryKeepWireForm(OtlpProtobuf.Encode(a), null, Reserved, out var wa));
        Assert.True(OtlpProtobuf.TryKeepWireForm(OtlpProtobuf.Encode(b), null, Reserved, out var wb));
        wb.StampResources("only", "b");
        wa.Append(wb);
        Assert.True(wa.IsWireForm);
        Assert.Equal(12, wa.CountSpans());
        Assert.Empty(wb.ResourceSpans);

        b.StampResources("only", "b");
        var expected = new TraceRequest { ResourceSpans = [.. a.ResourceSpans, .. b.ResourceSpans] };
        Assert.Equal(OtlpProtobuf.Encode(expected), OtlpProtobuf.Encode(wa));
        Assert.Equal(ReferenceModel.ToReference(expected), ReferenceModel.ToReference(wa));

        var decoded = Samples.Realistic(3, seed: 3);
        Assert.True(OtlpProtobuf.TryKeepWireForm(OtlpProtobuf.Encode(Samples.Realistic(2, seed: 4)), null, Reserved, out var wc));
        decoded.Append(wc);
        Assert.Equal(5, decoded.CountSpans());
        Assert.False(wc.IsWireForm);
    }

    [Fact]
    public void ReleaseWireForm_DisposesEachOwnerOnce_AndANeverDecodedRequestCanNoLongerBeRead()
    {
        var first = new Owner();
        var second = new Owner();
        Assert.True(OtlpProtobuf.TryKeepWireForm(Plain(), first, Reserved, out var a));
        Assert.True(OtlpProtobuf.TryKeepWireForm(Plain(), second, Reserved, out var b));
        a.Append(b);
        b.ReleaseWireForm();
        Assert.Equal(0, second.Disposals);

        a.ReleaseWireForm();
        a.ReleaseWireForm();
        Assert.Equal(1, first.Disposals);
        Assert.Equal(1, second.Disposals);
        Assert.False(a.IsWireForm);
        Assert.Throws<InvalidOperationException>(() => a.ResourceSpans);
        Assert.Throws<InvalidOperationException>(() => OtlpProtobuf.Encode(a));
    }

    [Fact]
    public void ARetainingHolder_KeepsTheBytesUntilItReleasesToo()
    {
        var owner = new Owner();
        Assert.True(OtlpProtobuf.TryKeepWireForm(Plain(), owner, Reserved, out var request));
        request.RetainWireForm();

        request.ReleaseWireForm();
        Assert.Equal(0, owner.Disposals);
        Assert.True(request.IsWireForm);
        Assert.Equal(Plain(), OtlpProtobuf.Encode(request));

        request.ReleaseWireForm();
        Assert.Equal(1, owner.Disposals);
        Assert.Throws<InvalidOperationException>(() => OtlpProtobuf.Encode(request));
    }

    [Fact]
    public void ADecodedRequest_KeepsItsSpansAfterRelease_AndDecodeWireFormReleasesAtOnce()
    {
        var owner = new Owner();
        Assert.True(OtlpProtobuf.TryKeepWireForm(Plain(), owner, Reserved, out var request));
        Assert.Single(request.ResourceSpans);
        Assert.Equal(0, owner.Disposals);
        request.ReleaseWireForm();
        Assert.Equal(1, owner.Disposals);
        Assert.Single(request.ResourceSpans);

        var eager = new Owner();
        Assert.True(OtlpProtobuf.TryKeepWireForm(Plain(), eager, Reserved, out var scrubbed));
        scrubbed.DecodeWireForm();
        Assert.Equal(1, eager.Disposals);
        Assert.False(scrubbed.IsWireForm);
        Assert.Equal(1, scrubbed.CountSpans());
    }

    [Fact]
    public void ConcurrentReaders_ShareOneDecoding()
    {
        Assert.True(OtlpProtobuf.TryKeepWireForm(OtlpProtobuf.Encode(Samples.Realistic(200)), null, Reserved, out var request));
        var lists = new List<ResourceSpans>[8];
        Parallel.For(0, lists.Length, i => lists[i] = request.ResourceSpans);
        Assert.All(lists, l => Assert.Same(lists[0], l));
        Assert.Equal(200, request.CountSpans());
    }

    private static byte[] Mutate(byte[] bytes, Random random)
    {
        var copy = bytes.ToList();
        for (var n = random.Next(1, 4); n > 0 && copy.Count > 0; n--)
        {
            var at = random.Next(copy.Count);
            switch (random.Next(4))
            {
                case 0:
                    copy[at] = (byte)random.Next(256);
                    break;
                case 1:
                    copy[at] ^= (byte)(1 << random.Next(8));
                    break;
                case 2:
                    copy.RemoveAt(at);
                    break;
                default:
                    copy.Insert(at, (byte)random.Next(256));
                    break;
            }
        }

        return [.. copy];
    }

    private static byte[] Plain() => Request(ScopeSpans(Field(2, SpanBody())));

    private static byte[] SpanBody() => Concat(Field(1, new byte[16]), Field(2, new byte[8]), Field(5, "GET /"u8.ToArray()));

    private static byte[] ScopeSpans(byte[] body) => Field(2, body);

    private static byte[] Request(byte[] resourceSpansBody) => Field(1, resourceSpansBody);

    private static byte[] Field(int number, byte[] body) => Concat(Varint((number << 3) | 2), Varint(body.Length), body);

    private static byte[] Encode(AnyValue value)
    {
        var request = Samples.Realistic(1);
        var attributes = request.ResourceSpans[0].Resource.Attributes;
        attributes.Clear();
        attributes.Add(new KeyValue("k", value));
        request.ResourceSpans[0].ScopeSpans.Clear();
        var resource = ReferenceModel.ToReference(request).ResourceSpans[0].Resource.Attributes[0].Value;
        return resource.ToByteArray();
    }

    private static byte[] Varint(int value)
    {
        var bytes = new List<byte>();
        var v = (uint)value;
        while (v >= 0x80)
        {
            bytes.Add((byte)(v | 0x80));
            v >>= 7;
        }

        bytes.Add((byte)v);
        return [.. bytes];
    }

    private static byte[] Concat(params byte[][] parts) => [.. parts.SelectMany(p => p)];

    private sealed class Owner : IDisposable
    {
        public int Disposals { get; private set; }

        public void Dispose() => Disposals++;
    }
}
