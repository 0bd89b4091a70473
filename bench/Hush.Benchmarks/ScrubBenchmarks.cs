using BenchmarkDotNet.Attributes;
using Hush.Otlp;
using Hush.Privacy;
using Hush.Privacy.Transforms;

namespace Hush.Benchmarks;

/// <summary>
/// The scrub stage alone under the shipped default policy: one request of 200 spans, ~20 attributes
/// each (HTTP server/client and DB spans with realistic keys), 5% of spans carrying personal data.
/// Results are per span (OperationsPerInvoke); spans/s per core = 1e9 / mean ns.
/// The PII values are re-planted before every scrub so each invocation scrubs them again.
/// </summary>
[MemoryDiagnoser]
public class ScrubBenchmarks
{
    private const int SpanCount = 200;

    /// <summary>Every 20th span carries PII: 5%.</summary>
    private const int PiiEvery = 20;

    private PolicyScrubber _scrubber = null!;
    private TraceRequest _clean = null!;
    private TraceRequest _mixed = null!;
    private readonly List<(List<KeyValue> Attributes, int Index, KeyValue Original)> _plants = [];

    [GlobalSetup]
    public void Setup()
    {
        var secret = new byte[32];
        new Random(7).NextBytes(secret);
        _scrubber = new PolicyScrubber(PolicyProvider.FromDefault(), new DerivedPseudonymKeyProvider(secret), new InMemoryTokenVault(), new PrivacyCounters());
        _clean = Build(withPii: false);
        _mixed = Build(withPii: true);
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = SpanCount)]
    public ScrubReport CleanSpans() => _scrubber.Scrub(_clean, "bench");

    [Benchmark(OperationsPerInvoke = SpanCount)]
    public ScrubReport FivePercentPii()
    {
        foreach (var (attributes, index, original) in _plants)
        {
            if (index < attributes.Count)
            {
                attributes[index] = original;
            }
            else
            {
                attributes.Add(original);
            }
        }

        return _scrubber.Scrub(_mixed, "bench");
    }

    private TraceRequest Build(bool withPii)
    {
        var random = new Random(42);
        var scope = new ScopeSpans { Scope = new InstrumentationScope { Name = "OpenTelemetry.Instrumentation.AspNetCore", Version = "1.9.0" } };
        for (var i = 0; i < SpanCount; i++)
        {
            var span = new Span
            {
                TraceId = new TraceId((ulong)random.NextInt64(), (ulong)random.NextInt64()),
                SpanId = new SpanId((ulong)random.NextInt64()),
                ParentSpanId = new SpanId((ulong)random.NextInt64()),
                Name = (i % 3) switch { 0 => "GET /api/orders/{id}", 1 => "SELECT shop.orders", _ => "POST /api/cart/items" },
                Kind = i % 3 == 1 ? SpanKind.Client : SpanKind.Server,
                StartTimeUnixNano = 1_700_000_000_000_000_000UL + (ulong)i,
                EndTimeUnixNano = 1_700_000_000_004_000_000UL + (ulong)i,
                Attributes = Attributes(i, random),
            };
            if (withPii && i % PiiEvery == 0)
            {
                Plant(span.Attributes, 4, new KeyValue("user.id", AnyValue.Of("customer-" + i)));
                Plant(span.Attributes, 9, new KeyValue("app.note", AnyValue.Of($"reset link sent to user{i}@example.com")));
                span.Events.Add(new SpanEvent { Name = "exception", Attributes = [new("exception.type", AnyValue.Of("PaymentDeclined")), new("exception.message", AnyValue.Of("card 4539 1488 0343 6467 declined"))] });
            }

            scope.Spans.Add(span);
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
                            new("service.name", AnyValue.Of("checkout")), new("service.version", AnyValue.Of("2.14.3")),
                            new("deployment.environment.name", AnyValue.Of("production")), new("k8s.pod.name", AnyValue.Of("checkout-7d9f8b6c5d-x2x7q")),
                            new("host.name", AnyValue.Of("node-17")), new("telemetry.sdk.language", AnyValue.Of("dotnet")),
                        ],
                    },
                    ScopeSpans = [scope],
                },
            ],
        };
    }

    private void Plant(List<KeyValue> attributes, int index, KeyValue value)
    {
        attributes[index] = value;
        _plants.Add((attributes, index, value));
    }

    private static List<KeyValue> Attributes(int i, Random random) =>
    [
        new("http.request.method", AnyValue.Of(i % 2 == 0 ? "GET" : "POST")),
        new("http.route", AnyValue.Of("/api/orders/{id}")),
        new("http.response.status_code", AnyValue.Of(i % 50 == 0 ? 500L : 200L)),
        new("url.scheme", AnyValue.Of("https")),
        new("url.path", AnyValue.Of("/api/orders/" + random.Next(1000, 9999))),
        new("server.address", AnyValue.Of("checkout.internal")),
        new("server.port", AnyValue.Of(8443L)),
        new("network.protocol.version", AnyValue.Of("1.1")),
        new("user_agent.original", AnyValue.Of("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36")),
        new("http.request.header.x-request-id", AnyValue.Of(Guid.NewGuid().ToString())),
        new("client.address", AnyValue.Of("10.1.2." + random.Next(1, 254))),
        new("db.system", AnyValue.Of("postgresql")),
        new("db.operation.name", AnyValue.Of("SELECT")),
        new("db.query.text", AnyValue.Of("SELECT id, total FROM orders WHERE id = $1")),
        new("db.collection.name", AnyValue.Of("orders")),
        new("thread.id", AnyValue.Of(17L)),
        new("code.function", AnyValue.Of("OrdersController.Get")),
        new("app.cache.hit", AnyValue.Of(i % 4 == 0)),
        new("app.items", AnyValue.Of((long)random.Next(1, 20))),
        new("app.region", AnyValue.Of("eu-west-1")),
    ];
}
