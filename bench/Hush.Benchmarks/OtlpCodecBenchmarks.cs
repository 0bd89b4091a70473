using System.Buffers;
using BenchmarkDotNet.Attributes;
using Hush.Otlp;

namespace Hush.Benchmarks;

/// <summary>
/// Decode and encode of one 512-span OTLP request (about 22 attributes per span: http.*, url.*,
/// db.*, user ids; an event on every fourth span) in protobuf and OTLP/JSON. Spans per second per
/// core = 512 / mean. Our protobuf decode is the baseline. Min and median are shown because the
/// shared 2-core build machine is noisy; min approximates an idle core.
/// </summary>
[MemoryDiagnoser]
[MinColumn]
[MedianColumn]
public class OtlpCodecBenchmarks
{
    private const int SpanCount = 512;

    private TraceRequest _request = null!;
    private byte[] _protobuf = null!;
    private byte[] _json = null!;
    private ArrayBufferWriter<byte> _output = null!;

    [GlobalSetup]
    public void Setup()
    {
        _request = BuildRequest(SpanCount);
        _protobuf = OtlpProtobuf.Encode(_request);
        _json = OtlpJson.Encode(_request);
        _output = new ArrayBufferWriter<byte>(_json.Length * 2);
    }

    [Benchmark(Baseline = true)]
    public TraceRequest ProtobufDecode() => OtlpProtobuf.DecodeTraceRequest(_protobuf);

    [Benchmark]
    public int ProtobufEncode()
    {
        _output.ResetWrittenCount();
        OtlpProtobuf.Encode(_request, _output);
        return _output.WrittenCount;
    }

    /// <summary>What a receiver does instead of decoding when no stage needs the spans: check the request, keep its bytes.</summary>
    [Benchmark]
    public TraceRequest? ProtobufKeepWireForm() =>
        OtlpProtobuf.TryKeepWireForm(_protobuf, null, "hush.ingest.identity", out var request) ? request : null;

    /// <summary>Encoding a wire-form request stamped with its sender (a forwarding exporter's body): copies and one splice per resource.</summary>
    [Benchmark]
    public int ProtobufEncodeWireForm()
    {
        OtlpProtobuf.TryKeepWireForm(_protobuf, null, "hush.ingest.identity", out var request);
        request!.StampResources("hush.ingest.identity", "token:k3x9a1b2");
        _output.ResetWrittenCount();
        OtlpProtobuf.Encode(request, _output);
        return _output.WrittenCount;
    }

    [Benchmark]
    public TraceRequest JsonDecode() => OtlpJson.DecodeTraceRequest(_json);

    [Benchmark]
    public int JsonEncode()
    {
        _output.ResetWrittenCount();
        OtlpJson.Encode(_request, _output);
        return _output.WrittenCount;
    }

    internal static TraceRequest BuildRequest(int spanCount)
    {
        var random = new Random(42);
        var spans = new List<Span>(spanCount);
        var traceHigh = 0UL;
        for (var i = 0; i < spanCount; i++)
        {
            if (i % 16 == 0)
            {
                traceHigh = (ulong)random.NextInt64();
            }

            var start = 1_700_000_000_000_000_000UL + ((ulong)i * 1_000_000UL);
            var userId = random.Next(1, 1_000_000);
            var span = new Span
            {
                TraceId = new TraceId(traceHigh, (ulong)random.NextInt64()),
                SpanId = new SpanId((ulong)random.NextInt64()),
                ParentSpanId = i % 16 == 0 ? SpanId.Empty : new SpanId((ulong)random.NextInt64()),
                Flags = 1,
                Name = i % 3 == 0 ? "SELECT orders" : "GET /api/users/{id}/orders",
                Kind = i % 3 == 0 ? SpanKind.Client : SpanKind.Server,
                StartTimeUnixNano = start,
                EndTimeUnixNano = start + (ulong)random.Next(1000, 50_000_000),
                Attributes =
                [
                    new("http.request.method", AnyValue.Of("GET")),
                    new("http.response.status_code", AnyValue.Of(200L)),
                    new("http.route", AnyValue.Of("/api/users/{id}/orders")),
                    new("url.full", AnyValue.Of($"https://shop.example.com/api/users/{userId}/orders?page=2&token=abc{userId}")),
                    new("url.path", AnyValue.Of($"/api/users/{userId}/orders")),
                    new("url.query", AnyValue.Of("page=2&sort=desc")),
                    new("url.scheme", AnyValue.Of("https")),
                    new("server.address", AnyValue.Of("shop.example.com")),
                    new("server.port", AnyValue.Of(443L)),
                    new("client.address", AnyValue.Of($"10.0.{userId % 256}.{i % 256}")),
                    new("user_agent.original", AnyValue.Of("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36")),
                    new("network.protocol.version", AnyValue.Of("1.1")),
                    new("db.system", AnyValue.Of("postgresql")),
                    new("db.namespace", AnyValue.Of("orders")),
                    new("db.query.text", AnyValue.Of($"SELECT * FROM orders WHERE user_id = {userId} AND email = 'user{userId}@example.com'")),
                    new("db.operation.name", AnyValue.Of("SELECT")),
                    new("enduser.id", AnyValue.Of($"user-{userId}")),
                    new("user.email", AnyValue.Of($"user{userId}@example.com")),
                    new("session.id", AnyValue.Of(new Guid(random.Next(), 1, 2, 3, 4, 5, 6, 7, 8, 9, 10).ToString())),
                    new("thread.id", AnyValue.Of((long)random.Next(1, 64))),
                    new("app.cache_hit", AnyValue.Of(random.Next(2) == 0)),
                    new("app.latency_ratio", AnyValue.Of(random.NextDouble())),
                ],
                Status = new SpanStatus { Code = i % 10 == 0 ? StatusCode.Error : StatusCode.Unset },
            };
            if (i % 4 == 0)
            {
                span.Events.Add(new SpanEvent
                {
                    TimeUnixNano = start + 500,
                    Name = i % 10 == 0 ? "exception" : "cache.miss",
                    Attributes =
                    [
                        new("exception.type", AnyValue.Of("System.InvalidOperationException")),
                        new("exception.message", AnyValue.Of($"Order {userId} not found for user{userId}@example.com")),
                    ],
                });
            }

            spans.Add(span);
        }

        return new TraceRequest
        {
            ResourceSpans =
            [
                new ResourceSpans
                {
                    Resource = new Resource
                    {
                        Attributes =
                        [
                            new("service.name", AnyValue.Of("checkout")),
                            new("service.version", AnyValue.Of("2.3.1")),
                            new("deployment.environment.name", AnyValue.Of("production")),
                            new("host.name", AnyValue.Of("checkout-7f9c-abcde")),
                        ],
                    },
                    ScopeSpans =
                    [
                        new ScopeSpans
                        {
                            Scope = new InstrumentationScope { Name = "OpenTelemetry.Instrumentation.AspNetCore", Version = "1.9.0" },
                            Spans = spans,
                        },
                    ],
                },
            ],
        };
    }
}
