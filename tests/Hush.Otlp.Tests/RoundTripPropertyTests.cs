using Google.Protobuf;

namespace Hush.Otlp.Tests;

/// <summary>Seeded random requests: both codecs round-trip them and the protobuf bytes equal the reference encoder's.</summary>
public sealed class RoundTripPropertyTests
{
    private const int Seed = 1234;
    private const int Cases = 300;

    [Fact]
    public void RandomRequests_RoundTripThroughBothCodecs_AndEncodeLikeTheReference()
    {
        var random = new Random(Seed);
        for (var i = 0; i < Cases; i++)
        {
            var request = RandomRequest(random);
            var expected = ReferenceModel.ToReference(request);

            var protobuf = OtlpProtobuf.Encode(request);
            Assert.Equal(expected.ToByteArray(), protobuf);
            Assert.Equal(protobuf.Length, OtlpProtobuf.GetEncodedSize(request));
            Assert.Equal(expected, ReferenceModel.ToReference(OtlpProtobuf.DecodeTraceRequest(protobuf)));
            Assert.Equal(expected, ReferenceModel.ToReference(OtlpJson.DecodeTraceRequest(OtlpJson.Encode(request))));
        }
    }

    internal static TraceRequest RandomRequest(Random random)
    {
        var request = new TraceRequest();
        for (var r = random.Next(0, 3); r > 0; r--)
        {
            var rs = new ResourceSpans { SchemaUrl = RandomString(random), Resource = new Resource { Attributes = RandomAttributes(random, 0), DroppedAttributesCount = RandomCount(random) } };
            for (var s = random.Next(0, 3); s > 0; s--)
            {
                var ss = new ScopeSpans
                {
                    SchemaUrl = RandomString(random),
                    Scope = new InstrumentationScope { Name = RandomString(random), Version = RandomString(random), Attributes = RandomAttributes(random, 0), DroppedAttributesCount = RandomCount(random) },
                };
                for (var n = random.Next(0, 4); n > 0; n--)
                {
                    ss.Spans.Add(RandomSpan(random));
                }

                rs.ScopeSpans.Add(ss);
            }

            request.ResourceSpans.Add(rs);
        }

        return request;
    }

    private static Span RandomSpan(Random random)
    {
        var span = new Span
        {
            TraceId = random.Next(4) == 0 ? TraceId.Empty : new TraceId((ulong)random.NextInt64(), (ulong)random.NextInt64()),
            SpanId = random.Next(4) == 0 ? SpanId.Empty : new SpanId((ulong)random.NextInt64()),
            ParentSpanId = random.Next(2) == 0 ? SpanId.Empty : new SpanId((ulong)random.NextInt64()),
            TraceState = RandomString(random),
            Flags = RandomCount(random),
            Name = RandomString(random),
            Kind = (SpanKind)random.Next(-1, 7),
            StartTimeUnixNano = RandomUInt64(random),
            EndTimeUnixNano = RandomUInt64(random),
            Attributes = RandomAttributes(random, 0),
            DroppedAttributesCount = RandomCount(random),
            DroppedEventsCount = RandomCount(random),
            DroppedLinksCount = RandomCount(random),
            Status = new SpanStatus { Message = RandomString(random), Code = (StatusCode)random.Next(-1, 4) },
        };
        for (var e = random.Next(0, 3); e > 0; e--)
        {
            span.Events.Add(new SpanEvent { TimeUnixNano = RandomUInt64(random), Name = RandomString(random), Attributes = RandomAttributes(random, 0), DroppedAttributesCount = RandomCount(random) });
        }

        for (var l = random.Next(0, 3); l > 0; l--)
        {
            span.Links.Add(new SpanLink
            {
                TraceId = new TraceId((ulong)random.NextInt64(), (ulong)random.NextInt64()),
                SpanId = new SpanId((ulong)random.NextInt64()),
                TraceState = RandomString(random),
                Attributes = RandomAttributes(random, 0),
                DroppedAttributesCount = RandomCount(random),
                Flags = RandomCount(random),
            });
        }

        return span;
    }

    private static List<KeyValue> RandomAttributes(Random random, int depth)
    {
        var list = new List<KeyValue>();
        for (var i = random.Next(0, depth == 0 ? 6 : 3); i > 0; i--)
        {
            list.Add(new KeyValue(RandomString(random), RandomValue(random, depth)));
        }

        return list;
    }

    private static AnyValue RandomValue(Random random, int depth)
    {
        var kind = random.Next(depth < 4 ? 8 : 6);
        switch (kind)
        {
            case 0:
                return AnyValue.Empty;
            case 1:
                return AnyValue.Of(RandomString(random));
            case 2:
                return AnyValue.Of(random.Next(2) == 0);
            case 3:
                return AnyValue.Of(random.Next(3) switch { 0 => random.NextInt64(), 1 => -random.NextInt64(), _ => random.Next(-5, 5) });
            case 4:
                return AnyValue.Of(random.Next(6) switch
                {
                    0 => double.NaN,
                    1 => double.NegativeInfinity,
                    2 => -0.0,
                    3 => BitConverter.Int64BitsToDouble(random.NextInt64() & 0x7FEF_FFFF_FFFF_FFFF),
                    _ => (random.NextDouble() - 0.5) * 1e6,
                });
            case 5:
                {
                    var bytes = new byte[random.Next(0, 20)];
                    random.NextBytes(bytes);
                    return AnyValue.Of(bytes);
                }

            case 6:
                {
                    var list = new List<AnyValue>();
                    for (var i = random.Next(0, 4); i > 0; i--)
                    {
                        list.Add(RandomValue(random, depth + 1));
                    }

                    return AnyValue.Of(list);
                }

            default:
                return AnyValue.Of(RandomAttributes(random, depth + 1));
        }
    }

    private static readonly string[] Fragments = ["", "a", "http.method", "é", "日本", "😀", "\"", "\\", "\n", "\u0000", "\u007f", "<script>", " ", "ÿ"];

    private static string RandomString(Random random)
    {
        var parts = random.Next(0, 4);
        var text = string.Empty;
        for (var i = 0; i < parts; i++)
        {
            text += Fragments[random.Next(Fragments.Length)];
        }

        return random.Next(20) == 0 ? text + new string('x', random.Next(100, 300)) : text;
    }

    private static uint RandomCount(Random random) => random.Next(3) switch { 0 => 0u, 1 => (uint)random.Next(1, 200), _ => (uint)random.NextInt64(0, uint.MaxValue + 1L) };

    private static ulong RandomUInt64(Random random) => random.Next(4) == 0 ? 0UL : (ulong)random.NextInt64() * (ulong)random.Next(1, 3);
}
