namespace Hush.Otlp.Tests;

/// <summary>Requests used across the codec tests.</summary>
internal static class Samples
{
    /// <summary>A value planted in every string field of <see cref="Planted"/>; it must never appear in an error message.</summary>
    public const string Secret = "planted-secret-4711@example.com";

    public static readonly TraceId TraceA = new(0x0123456789abcdef, 0xfedcba9876543210);
    public static readonly SpanId SpanA = new(0x1122334455667788);
    public static readonly SpanId SpanB = new(0x99aabbccddeeff00);

    /// <summary>Every field set, nested arrays and maps, bytes, unicode, extreme numbers and empty strings.</summary>
    public static TraceRequest Rich()
    {
        var nested = new List<AnyValue>
        {
            AnyValue.Of("inner"),
            AnyValue.Of(new List<AnyValue> { AnyValue.Of(1L), AnyValue.Of(new List<KeyValue> { new("deep", AnyValue.Of(true)) }) }),
            AnyValue.Empty,
            AnyValue.Of(string.Empty),
        };
        var map = new List<KeyValue>
        {
            new("m.string", AnyValue.Of("välue ✓ 😀")),
            new("m.empty", AnyValue.Empty),
            new("m.list", AnyValue.Of(nested)),
            new(string.Empty, AnyValue.Of(0L)),
        };

        var span = new Span
        {
            TraceId = TraceA,
            SpanId = SpanA,
            TraceState = "vendor=abc,other=x",
            ParentSpanId = SpanB,
            Flags = 0x301,
            Name = "GET /api/users/{id}",
            Kind = SpanKind.Server,
            StartTimeUnixNano = 1_700_000_000_123_456_789UL,
            EndTimeUnixNano = ulong.MaxValue,
            Attributes =
            [
                new("http.request.method", AnyValue.Of("GET")),
                new("unicode", AnyValue.Of("日本語 – ü – \u0000 – 😀")),
                new("empty.string", AnyValue.Of(string.Empty)),
                new("bool.true", AnyValue.Of(true)),
                new("bool.false", AnyValue.Of(false)),
                new("int.zero", AnyValue.Of(0L)),
                new("int.min", AnyValue.Of(long.MinValue)),
                new("int.max", AnyValue.Of(long.MaxValue)),
                new("int.neg", AnyValue.Of(-1L)),
                new("double.zero", AnyValue.Of(0.0)),
                new("double.negzero", AnyValue.Of(-0.0)),
                new("double.nan", AnyValue.Of(double.NaN)),
                new("double.inf", AnyValue.Of(double.PositiveInfinity)),
                new("double.neginf", AnyValue.Of(double.NegativeInfinity)),
                new("double.max", AnyValue.Of(double.MaxValue)),
                new("double.eps", AnyValue.Of(double.Epsilon)),
                new("double.pi", AnyValue.Of(Math.PI)),
                new("bytes", AnyValue.Of(new byte[] { 0, 1, 2, 0xff, 0xfe })),
                new("bytes.empty", AnyValue.Of(Array.Empty<byte>())),
                new("array", AnyValue.Of(nested)),
                new("array.empty", AnyValue.Of(new List<AnyValue>())),
                new("map", AnyValue.Of(map)),
                new("map.empty", AnyValue.Of(new List<KeyValue>())),
                new("empty.value", AnyValue.Empty),
                new("long." + new string('k', 200), AnyValue.Of(new string('v', 300))),
            ],
            DroppedAttributesCount = 3,
            Events =
            [
                new SpanEvent
                {
                    TimeUnixNano = 1_700_000_000_200_000_000UL,
                    Name = "exception",
                    Attributes = [new("exception.message", AnyValue.Of("boom")), new("exception.stacktrace", AnyValue.Of(new string('s', 5000)))],
                    DroppedAttributesCount = uint.MaxValue,
                },
                new SpanEvent(),
            ],
            DroppedEventsCount = 7,
            Links =
            [
                new SpanLink
                {
                    TraceId = new TraceId(1, 2),
                    SpanId = new SpanId(3),
                    TraceState = "k=v",
                    Attributes = [new("link.attr", AnyValue.Of(42L))],
                    DroppedAttributesCount = 1,
                    Flags = 1,
                },
                new SpanLink(),
            ],
            DroppedLinksCount = 128,
            Status = new SpanStatus { Message = "not found – ✗", Code = StatusCode.Error },
        };

        var minimal = new Span();
        var unknownEnums = new Span
        {
            TraceId = new TraceId(0, 1),
            SpanId = new SpanId(ulong.MaxValue),
            Kind = (SpanKind)7,
            Status = new SpanStatus { Code = (StatusCode)(-1) },
        };

        return new TraceRequest
        {
            ResourceSpans =
            [
                new ResourceSpans
                {
                    Resource = new Resource
                    {
                        Attributes = [new("service.name", AnyValue.Of("checkout")), new("host.name", AnyValue.Of("node-1"))],
                        DroppedAttributesCount = 2,
                    },
                    SchemaUrl = "https://opentelemetry.io/schemas/1.26.0",
                    ScopeSpans =
                    [
                        new ScopeSpans
                        {
                            Scope = new InstrumentationScope
                            {
                                Name = "Hush.Tests",
                                Version = "1.0.0",
                                Attributes = [new("scope.attr", AnyValue.Of(1.5))],
                                DroppedAttributesCount = 9,
                            },
                            SchemaUrl = "https://opentelemetry.io/schemas/1.25.0",
                            Spans = [span, minimal, unknownEnums],
                        },
                        new ScopeSpans(),
                    ],
                },
                new ResourceSpans(),
            ],
        };
    }

    /// <summary>A realistic request of <paramref name="spanCount"/> spans with about 20 attributes each (http, url, db, user ids, some events).</summary>
    public static TraceRequest Realistic(int spanCount, int seed = 1)
    {
        var random = new Random(seed);
        var spans = new List<Span>(spanCount);
        var traceHigh = (ulong)random.NextInt64();
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
                    new("session.id", AnyValue.Of(Guid.NewGuid().ToString())),
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
                            new("telemetry.sdk.language", AnyValue.Of("dotnet")),
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

    /// <summary>A request whose every string and bytes field holds <see cref="Secret"/>.</summary>
    public static TraceRequest Planted()
    {
        var request = Rich();
        var span = request.ResourceSpans[0].ScopeSpans[0].Spans[0];
        span.Name = Secret;
        span.Attributes.Add(new KeyValue(Secret, AnyValue.Of(Secret)));
        span.Attributes.Add(new KeyValue("nested", AnyValue.Of(new List<AnyValue> { AnyValue.Of(Secret) })));
        span.Events[0].Name = Secret;
        span.Status.Message = Secret;
        return request;
    }
}
