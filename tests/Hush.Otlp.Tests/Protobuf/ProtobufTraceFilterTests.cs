namespace Hush.Otlp.Tests.Protobuf;

/// <summary>Decoding only one trace's spans (the store's trace-by-id path) gives what a full decode filtered afterwards gives.</summary>
public sealed class ProtobufTraceFilterTests
{
    [Fact]
    public void DecodeTraceRequest_WithTraceId_EqualsFullDecodeFiltered()
    {
        var request = Samples.Realistic(300, seed: 3);
        var all = request.ResourceSpans.SelectMany(rs => rs.ScopeSpans).SelectMany(ss => ss.Spans).ToList();
        for (var i = 0; i < all.Count; i++)
        {
            // Seven traces interleaved across the request's resources and scopes, as a store block holds them.
            all[i].TraceId = new TraceId(7, (ulong)(i % 7) + 1);
        }

        var bytes = OtlpProtobuf.Encode(request);
        var ids = request.ResourceSpans.SelectMany(rs => rs.ScopeSpans).SelectMany(ss => ss.Spans).Select(s => s.TraceId).Distinct().ToList();
        Assert.Equal(7, ids.Count);

        foreach (var id in ids)
        {
            var expected = OtlpProtobuf.DecodeTraceRequest(bytes);
            foreach (var rs in expected.ResourceSpans)
            {
                foreach (var ss in rs.ScopeSpans)
                {
                    ss.Spans.RemoveAll(s => s.TraceId != id);
                }

                rs.ScopeSpans.RemoveAll(ss => ss.Spans.Count == 0);
            }

            expected.ResourceSpans.RemoveAll(rs => rs.ScopeSpans.Count == 0);
            Assert.Equal(OtlpProtobuf.Encode(expected), OtlpProtobuf.Encode(OtlpProtobuf.DecodeTraceRequest(bytes, id)));
        }
    }

    [Fact]
    public void DecodeTraceRequest_UnknownTraceId_IsEmpty()
    {
        var bytes = OtlpProtobuf.Encode(Samples.Realistic(50));

        Assert.Empty(OtlpProtobuf.DecodeTraceRequest(bytes, new TraceId(1, 2)).ResourceSpans);
    }

    [Fact]
    public void DecodeTraceRequest_EmptyTraceId_Throws() =>
        Assert.Throws<ArgumentException>(() => OtlpProtobuf.DecodeTraceRequest([], TraceId.Empty));

    [Fact]
    public void DecodeTraceRequest_TraceIdNotFirstInSpan_StillMatches()
    {
        // Span: name (field 5) before trace_id (field 1): an encoder other than ours may order fields so.
        byte[] traceId = [.. Enumerable.Range(1, 16).Select(i => (byte)i)];
        byte[] span = [0x2A, 0x01, (byte)'x', 0x0A, 0x10, .. traceId];
        var decoded = OtlpProtobuf.DecodeTraceRequest(ProtobufGoldenTests.Wrap(span), TraceId.FromBytes(traceId));

        Assert.Equal("x", Assert.Single(Assert.Single(Assert.Single(decoded.ResourceSpans).ScopeSpans).Spans).Name);
    }
}
