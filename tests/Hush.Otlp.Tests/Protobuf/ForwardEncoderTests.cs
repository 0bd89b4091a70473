using System.Buffers;

namespace Hush.Otlp.Tests.Protobuf;

/// <summary>
/// The one-pass encoder reserves each length prefix before the body and moves the body when the guess was wrong:
/// every message kind is driven across each prefix size it can take (1 to 4 bytes), through every entry point, and
/// must give the reference implementation's bytes. A buffer the encoder wrote into but did not hand back is cleared.
/// </summary>
public sealed class ForwardEncoderTests
{
    private static readonly int[] Lengths = [0, 1, 60, 100, 119, 120, 121, 126, 127, 128, 129, 200, 16_300, 16_383, 16_384, 16_500];

    public static TheoryData<int> Sizes() => [.. Lengths];

    [Theory]
    [MemberData(nameof(Sizes))]
    public void EveryMessageKind_AcrossPrefixSizes_MatchesReference(int length)
    {
        var text = new string('x', length);
        var request = new TraceRequest
        {
            ResourceSpans =
            [
                new ResourceSpans
                {
                    Resource = { Attributes = length == 0 ? [] : [new("service.name", AnyValue.Of(text))] },
                    SchemaUrl = text,
                    ScopeSpans =
                    [
                        new ScopeSpans
                        {
                            Scope = new InstrumentationScope { Name = text, Version = length % 2 == 0 ? string.Empty : "1" },
                            SchemaUrl = text,
                            Spans =
                            [
                                new Span
                                {
                                    TraceId = new TraceId(0x5b8efff798038103, 0xd269b633813fc60c),
                                    SpanId = new SpanId(0xeee19b7ec3c1b174),
                                    Name = text,
                                    Attributes =
                                    [
                                        new("k", AnyValue.Of(text)),
                                        new(text, AnyValue.Of(length)),
                                        new(text, AnyValue.Of(-1L - length)),
                                        new("big", AnyValue.Of(long.MaxValue)),
                                        new("negative", AnyValue.Of(long.MinValue)),
                                        new("list", AnyValue.Of(new List<AnyValue> { AnyValue.Of(text), AnyValue.Of(new List<AnyValue> { AnyValue.Of(text) }) })),
                                        new("map", AnyValue.Of(new List<KeyValue> { new(text, AnyValue.Of(text)), new("e", default) })),
                                        new("bytes", AnyValue.Of(new byte[length])),
                                        new("empty", default),
                                    ],
                                    Events = [new SpanEvent { Name = text, TimeUnixNano = 1, Attributes = [new("k", AnyValue.Of(text))] }],
                                    Links = [new SpanLink { TraceId = new TraceId(0x5b8efff798038103, 0xd269b633813fc60c), TraceState = text }],
                                    Status = new SpanStatus { Message = text },
                                },
                                new Span(),
                            ],
                        },
                        new ScopeSpans(),
                    ],
                },
                new ResourceSpans(),
            ],
        };

        AssertEncodesLikeReference(request);
    }

    [Fact]
    public void MessagesOfTwoMebibytesAndMore_TakeFourBytePrefixes_MatchReference()
    {
        // A scope's spans and the resource's scopes above 2 MiB need 4 bytes where 3 were reserved.
        var big = new string('y', 300_000);
        var spans = Enumerable.Range(0, 8).Select(i => new Span { Name = big + i }).ToList();
        var request = new TraceRequest { ResourceSpans = [new ResourceSpans { ScopeSpans = [new ScopeSpans { Spans = spans }] }] };

        AssertEncodesLikeReference(request);
    }

    [Fact]
    public void ManyAttributesCrossingTheFirstGuess_GrowTheBuffer_MatchReference()
    {
        // ~40 KB in one span: far beyond the per-span guess, so the writer grows several times mid-message.
        var request = new TraceRequest
        {
            ResourceSpans = [new ResourceSpans { ScopeSpans = [new ScopeSpans { Spans = [new Span { Name = "s", Attributes = [.. Enumerable.Range(0, 400).Select(i => new KeyValue("key." + i, AnyValue.Of(new string((char)('a' + (i % 26)), i))))] }] }] }],
        };

        AssertEncodesLikeReference(request);
    }

    [Fact]
    public void BufferWriterThatHandsOutTooLittle_GetsTheSameBytes_AndItsUnadvancedBufferIsCleared()
    {
        var request = new TraceRequest
        {
            ResourceSpans = [new ResourceSpans { ScopeSpans = [new ScopeSpans { Spans = [new Span { Name = "secret-ish", Attributes = [new("k", AnyValue.Of(new string('z', 5_000)))] }] }] }],
        };
        var output = new StingyWriter(firstSpan: 1_024);

        OtlpProtobuf.Encode(request, output);

        Assert.Equal(Reference(request), output.Written.ToArray());
        Assert.All(output.FirstBuffer, b => Assert.Equal(0, b));
    }

    [Theory]
    [InlineData("short-span")]
    [InlineData("a-shortcut-that-gives-up-\u00e9")]
    public void BytesMovedBackOrTakenBack_AreNotLeftPastTheEnd(string name)
    {
        // Every message here is shorter than its reserved prefix assumed, so each body moves back over bytes that were
        // written; the last ones would be left behind the end. The attribute shortcut also gives up half way (non-ASCII).
        var request = new TraceRequest
        {
            ResourceSpans = [new ResourceSpans { ScopeSpans = [new ScopeSpans { Spans = [new Span { Name = name, Attributes = [new("k", AnyValue.Of(name))] }] }, new ScopeSpans()] }],
        };
        var expected = Reference(request);

        var destination = new byte[4_096];
        Assert.Equal(expected.Length, OtlpProtobuf.Encode(request, destination));
        Assert.Equal(expected, destination[..expected.Length]);
        Assert.All(destination[expected.Length..], b => Assert.Equal(0, b));

        var output = new StingyWriter(firstSpan: 4_096);
        OtlpProtobuf.Encode(request, output);
        Assert.Equal(expected, output.Written.ToArray());
        Assert.All(output.FirstBuffer[expected.Length..], b => Assert.Equal(0, b));
    }

    [Fact]
    public void DestinationTooSmall_Throws_AndIsLeftCleared()
    {
        var request = new TraceRequest
        {
            ResourceSpans = [new ResourceSpans { ScopeSpans = [new ScopeSpans { Spans = [new Span { Name = new string('n', 300) }] }] }],
        };
        var destination = new byte[100];

        var error = Assert.Throws<ArgumentException>(() => OtlpProtobuf.Encode(request, destination));

        Assert.Contains("100 bytes", error.Message, StringComparison.Ordinal);
        Assert.All(destination, b => Assert.Equal(0, b));
        Assert.Equal(Reference(request).Length, OtlpProtobuf.Encode(request, new byte[400]));
    }

    [Fact]
    public void ValuesNestedTooDeep_Throw_AndLeaveNothingInTheDestination()
    {
        var value = AnyValue.Of("leaf");
        for (var i = 0; i < 40; i++)
        {
            value = AnyValue.Of(new List<AnyValue> { value });
        }

        var request = new TraceRequest { ResourceSpans = [new ResourceSpans { ScopeSpans = [new ScopeSpans { Spans = [new Span { Name = "deep", Attributes = [new("k", value)] }] }] }] };
        var destination = new byte[4_096];

        Assert.Throws<ArgumentException>(() => OtlpProtobuf.Encode(request, destination));
        Assert.Throws<ArgumentException>(() => OtlpProtobuf.Encode(request));
        Assert.All(destination, b => Assert.Equal(0, b));
    }

    [Fact]
    public void ErrorBodies_WithLongMessages_MatchReference()
    {
        foreach (var length in Lengths)
        {
            var message = new string('m', length);
            var status = new Reference.RpcStatus { Code = 3, Message = message };
            Assert.Equal(Google.Protobuf.MessageExtensions.ToByteArray(status), OtlpProtobuf.EncodeRpcStatus(3, message));

            var response = new Reference.ExportTraceServiceResponse { PartialSuccess = new Reference.ExportTracePartialSuccess { RejectedSpans = length, ErrorMessage = message } };
            var encoded = OtlpProtobuf.EncodeExportResponse(new TraceExportResponse { PartialSuccess = new ExportPartialSuccess { RejectedSpans = length, ErrorMessage = message } });
            Assert.Equal(Google.Protobuf.MessageExtensions.ToByteArray(response), encoded);
        }
    }

    private static byte[] Reference(TraceRequest request) => Google.Protobuf.MessageExtensions.ToByteArray(ReferenceModel.ToReference(request));

    private static void AssertEncodesLikeReference(TraceRequest request)
    {
        var expected = Reference(request);

        Assert.Equal(expected, OtlpProtobuf.Encode(request));
        Assert.Equal(expected.Length, OtlpProtobuf.GetEncodedSize(request));
        var destination = new byte[expected.Length];
        Assert.Equal(expected.Length, OtlpProtobuf.Encode(request, destination));
        Assert.Equal(expected, destination);
        var output = new ArrayBufferWriter<byte>();
        OtlpProtobuf.Encode(request, output);
        Assert.Equal(expected, output.WrittenSpan.ToArray());
    }

    /// <summary>An output that offers only <c>firstSpan</c> bytes at first (whatever is asked), then what is asked.</summary>
    private sealed class StingyWriter(int firstSpan) : IBufferWriter<byte>
    {
        private byte[] _buffer = new byte[firstSpan];
        private int _written;
        private bool _first = true;

        public byte[] FirstBuffer { get; private set; } = [];

        public ReadOnlySpan<byte> Written => _buffer.AsSpan(0, _written);

        public void Advance(int count) => _written += count;

        public Memory<byte> GetMemory(int sizeHint = 0) => throw new NotSupportedException();

        public Span<byte> GetSpan(int sizeHint = 0)
        {
            if (_first)
            {
                _first = false;
                FirstBuffer = _buffer;
                return _buffer;
            }

            if (_buffer.Length - _written < sizeHint)
            {
                _buffer = new byte[_written + sizeHint];
            }

            return _buffer.AsSpan(_written);
        }
    }
}
