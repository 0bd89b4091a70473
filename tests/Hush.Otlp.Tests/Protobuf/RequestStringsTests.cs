using Hush.Otlp.Implementation;

namespace Hush.Otlp.Tests.Protobuf;

/// <summary>
/// The protobuf decoder shares one string per distinct value within a request and forgets them when the request
/// is decoded: equal values share, unequal ones never do, and nothing stays behind, not even after garbage.
/// </summary>
public sealed class RequestStringsTests
{
    [Fact]
    public void Decode_RepeatedValuesAndNames_ShareOneStringPerDistinctValue()
    {
        var decoded = Spans(Decode(RequestOf(Enumerable.Range(0, 40).Select(i => SpanWith($"GET /orders/{{id}}", ("http.request.method", "GET"), ("url.route", "/orders/{id}"), ("n", $"value-{i % 3}"))))));

        Assert.All(decoded, span => Assert.Same(decoded[0].Name, span.Name));
        Assert.All(decoded, span => Assert.Same(decoded[0].Attributes[0].Value.StringValue, span.Attributes[0].Value.StringValue));
        Assert.All(decoded, span => Assert.Same(decoded[0].Attributes[1].Value.StringValue, span.Attributes[1].Value.StringValue));
        Assert.Equal(3, decoded.Select(s => s.Attributes[2].Value.StringValue).Distinct(ReferenceEqualityComparer.Instance).Count());
        Assert.Equal(["value-0", "value-1", "value-2"], decoded.Take(3).Select(s => s.Attributes[2].Value.StringValue));
    }

    [Fact]
    public void Decode_ValuesThatDifferInOneByteOrInEncoding_StayDistinct()
    {
        string[] values =
        [
            "/api/v1/users/1234/orders", "/api/v1/users/1235/orders", "/api/v1/users/9234/orders",
            "caf\u00e9", "cafe!", "caf\u00e8", "x", "y", "", "0123456789abcdef", "0123456789abcdeF",
            "a\u00e9\u00e9b", "a\u00e9\u00e9b", new string('z', RequestStrings.MaxBytes), new string('z', RequestStrings.MaxBytes + 1),
        ];
        var request = RequestOf(values.Select(v => SpanWith(v, ("v", v))));

        var decoded = Spans(Decode(request));

        Assert.Equal(values, decoded.Select(s => s.Attributes[0].Value.StringValue));
        Assert.Equal(values, decoded.Select(s => s.Name));
        Assert.Equal(OtlpProtobuf.Encode(request), OtlpProtobuf.Encode(Decode(request)));
    }

    [Fact]
    public void Decode_MoreDistinctValuesThanTheTableHolds_DecodesEveryOne()
    {
        var values = Enumerable.Range(0, 6_000).Select(i => $"id-{i:x8}-{i * 7919 % 10_007}").ToArray();
        var request = RequestOf(values.Concat(values.Take(100)).Select(v => SpanWith("s", ("v", v))));

        var decoded = Spans(Decode(request)).Select(s => s.Attributes[0].Value.StringValue).ToArray();

        Assert.Equal(values.Concat(values.Take(100)), decoded);
    }

    [Fact]
    public void Decode_ForgetsTheRequestsValues()
    {
        Decode(RequestOf(Enumerable.Range(0, 20).Select(i => SpanWith("name", ("user.email", $"someone{i % 4}@example.com")))));

        Assert.False(AttributeKeyCache.Current.Strings.IsOpen);
        Assert.Equal(0, AttributeKeyCache.Current.Strings.Count);
    }

    [Fact]
    public void Decode_GarbageAfterGoodValues_ThrowsAndLeavesTheTableClosedAndEmpty()
    {
        var good = OtlpProtobuf.Encode(RequestOf([SpanWith("first", ("a", "remember-me")), SpanWith("second", ("a", "PLACEHOLDER"))]));
        var at = good.AsSpan().IndexOf("PLACEHOLDER"u8);
        good[at] = 0xFF;

        Assert.Throws<OtlpDecodeException>(() => OtlpProtobuf.DecodeTraceRequest(good));

        Assert.False(AttributeKeyCache.Current.Strings.IsOpen);
        Assert.Equal(0, AttributeKeyCache.Current.Strings.Count);
        var next = Spans(Decode(RequestOf([SpanWith("x", ("a", "again")), SpanWith("x", ("a", "again"))])));
        Assert.Same(next[0].Attributes[0].Value.StringValue, next[1].Attributes[0].Value.StringValue);
    }

    private static TraceRequest Decode(TraceRequest request) => OtlpProtobuf.DecodeTraceRequest(OtlpProtobuf.Encode(request));

    private static List<Span> Spans(TraceRequest request) => request.ResourceSpans[0].ScopeSpans[0].Spans;

    private static Span SpanWith(string name, params (string Key, string Value)[] attributes) => new()
    {
        TraceId = new TraceId(1, 2),
        SpanId = new SpanId(3),
        Name = name,
        Attributes = [.. attributes.Select(a => new KeyValue(a.Key, AnyValue.Of(a.Value)))],
    };

    private static TraceRequest RequestOf(IEnumerable<Span> spans) => new()
    {
        ResourceSpans = [new ResourceSpans { ScopeSpans = [new ScopeSpans { Spans = [.. spans] }] }],
    };
}
