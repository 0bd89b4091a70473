using Hush.Otlp;
using Hush.Store.Reading;

namespace Hush.Store.Tests.Storage;

/// <summary>The wire walk behind a search's intrinsic filter: the same spans as the full decoder, and no throw on any input.</summary>
public sealed class SpanIntrinsicsReaderTests
{
    private static TraceRequest Mixed()
    {
        var error = Spans.Span(1, 1, durationNanos: 250_000_000);
        error.Status = new SpanStatus { Code = StatusCode.Error, Message = "deadlock" };
        error.Kind = SpanKind.Server;
        var client = Spans.Span(2, 2, startSeconds: 7, attributes: new KeyValue("db.system", AnyValue.Of("postgresql")));
        client.Kind = SpanKind.Client;
        var backwards = Spans.Span(1, 3);
        backwards.EndTimeUnixNano = backwards.StartTimeUnixNano - 1;
        return Spans.Merge(Spans.Request("checkout", error, client), Spans.Request("billing", backwards, Spans.Span(3, 4)));
    }

    [Fact]
    public void TryRead_EncodedRequest_GivesEverySpanAsTheDecoderDoesInStoredOrder()
    {
        var request = Mixed();
        var spans = new List<(TraceId Trace, SpanIntrinsics Span)>();

        Assert.True(SpanIntrinsicsReader.TryRead(OtlpProtobuf.Encode(request), spans));

        var expected = Spans.All(OtlpProtobuf.DecodeTraceRequest(OtlpProtobuf.Encode(request)))
            .Select(s => (s.TraceId, new SpanIntrinsics(s.StartTimeUnixNano, s.EndTimeUnixNano, s.Kind, s.Status.Code)));
        Assert.Equal(expected, spans);
        Assert.Equal(0UL, spans[2].Span.DurationNanos);
        Assert.Equal(250_000_000UL, spans[0].Span.DurationNanos);
    }

    [Fact]
    public void TryRead_AnyTruncationOrCorruption_NeverThrows()
    {
        var bytes = OtlpProtobuf.Encode(Mixed());
        var random = new Random(6);
        for (var cut = 0; cut < bytes.Length; cut++)
        {
            SpanIntrinsicsReader.TryRead(bytes.AsSpan(0, cut), []);
        }

        for (var round = 0; round < 2000; round++)
        {
            var corrupt = (byte[])bytes.Clone();
            corrupt[random.Next(corrupt.Length)] = (byte)random.Next(256);
            SpanIntrinsicsReader.TryRead(corrupt, []);
        }

        Assert.False(SpanIntrinsicsReader.TryRead([0x0A, 0x05, 0x12], []));
        Assert.False(SpanIntrinsicsReader.TryRead([0x0B], []));
    }
}
