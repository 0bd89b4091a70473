using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Text;
using Hush.Otlp;

namespace Hush.Cli.Loadgen;

/// <summary>
/// Makes realistic OTLP trace requests: traces of 3-10 server, client, internal, database,
/// messaging and RPC spans across several services, ~20 semantic-convention attributes each,
/// exception events on errors, and PII or secrets planted in known places on a chosen fraction
/// of spans. A pool of trace templates is built once from the seed; every request copies
/// templates with fresh trace and span ids and current timestamps, so a request costs a few
/// list copies and no string formatting. Deterministic for a seed (ids and content; timestamps
/// come from the <see cref="TimeProvider"/>). Not thread-safe: give each thread its own
/// <see cref="Fork"/>, which shares the immutable pool.
/// </summary>
[SuppressMessage("Security", "CA5394:Do not use insecure randomness", Justification = "Synthetic test data must be reproducible from a seed.")]
internal sealed class SpanMixGenerator
{
    /// <summary>Most distinct services: each is a ResourceSpans per request, and 64 already exceeds a realistic fan-in.</summary>
    public const int MaxServices = 64;

    /// <summary>Longest trace in the mix.</summary>
    public const int MaxTraceSpans = 10;

    /// <summary>Shortest trace in the mix.</summary>
    public const int MinTraceSpans = 3;

    /// <summary>Trace templates in the pool: ~3,300 spans, enough variety that a 512-span batch never repeats a trace.</summary>
    private const int PoolTraces = 512;

    /// <summary>One trace in 20 ends in an error with an exception event.</summary>
    private const double ErrorTraceRatio = 0.05;

    private static readonly string[] ServiceNames =
    [
        "frontend", "checkout", "payments", "accounts", "inventory",
        "shipping", "notifications", "search", "recommendations", "ledger",
    ];

    private readonly TraceTemplate[] _pool;
    private readonly List<KeyValue>[] _resources;
    private readonly Random _random;
    private readonly TimeProvider _time;
    private ulong _idState;
    private int _next;

    /// <summary>Builds the template pool for <paramref name="seed"/>.</summary>
    /// <param name="seed">Same seed, same traces.</param>
    /// <param name="services">Distinct <c>service.name</c> values (1..<see cref="MaxServices"/>).</param>
    /// <param name="piiRatio">Fraction of spans (0..1) that carry one planted value from <see cref="PlantedValues"/>.</param>
    /// <param name="timeProvider">Clock for span timestamps; the system clock when null.</param>
    public SpanMixGenerator(int seed = 42, int services = 5, double piiRatio = 0.05, TimeProvider? timeProvider = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(services, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(services, MaxServices);
        if (double.IsNaN(piiRatio) || piiRatio < 0 || piiRatio > 1)
        {
            throw new ArgumentOutOfRangeException(nameof(piiRatio), "The PII ratio must be between 0 and 1.");
        }

        var random = new Random(seed);
        var builder = new PoolBuilder(random, services);
        _resources = builder.BuildResources();
        _pool = builder.BuildTraces(PoolTraces, piiRatio);
        _random = new Random(unchecked((seed * 397) ^ 0x5bd1e995));
        _idState = unchecked((ulong)seed * 0x2545F4914F6CDD1DUL);
        _time = timeProvider ?? TimeProvider.System;
    }

    private SpanMixGenerator(SpanMixGenerator source, int stream)
    {
        _pool = source._pool;
        _resources = source._resources;
        _time = source._time;
        _random = new Random(source._random.Next() ^ unchecked(stream * 0x2545F491));
        _idState = source.NextNonZero() ^ unchecked((ulong)stream * 0x9E3779B97F4A7C15UL);
        _next = (int)((uint)stream * 977u % (uint)_pool.Length);
    }

    /// <summary>
    /// The values planted as PII and secrets: emails, Luhn-valid card numbers, phone numbers,
    /// bearer tokens, AWS access key ids and JWTs. None of them occurs in a span unless planted,
    /// so a consumer can count planted spans (and a scrubber test can prove none survives).
    /// </summary>
    public static IReadOnlyList<string> PlantedValues => Planted.All;

    /// <summary>Spans in the template pool.</summary>
    public int PoolSpanCount
    {
        get
        {
            var count = 0;
            foreach (var t in _pool)
            {
                count += t.Spans.Length;
            }

            return count;
        }
    }

    /// <summary>A generator that shares this one's pool but draws its own ids, for another thread.</summary>
    public SpanMixGenerator Fork(int stream) => new(this, stream);

    /// <summary>
    /// A new request with exactly <paramref name="spans"/> spans: whole traces from the pool
    /// (the last one cut short, parents first, so every parent id resolves within the request),
    /// one ResourceSpans per service. The caller owns the result and may edit it in place.
    /// </summary>
    public TraceRequest NextRequest(int spans)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(spans);
        var request = new TraceRequest();
        var byService = new ScopeSpans?[_resources.Length];
        var nowNanos = (ulong)_time.GetUtcNow().ToUnixTimeMilliseconds() * 1_000_000UL;
        Span<ulong> ids = stackalloc ulong[MaxTraceSpans];
        var remaining = spans;
        while (remaining > 0)
        {
            var template = _pool[_next];
            _next = _next + 1 == _pool.Length ? 0 : _next + 1;
            var count = Math.Min(template.Spans.Length, remaining);
            remaining -= count;

            var traceId = new TraceId(NextNonZero(), NextNonZero());
            for (var i = 0; i < count; i++)
            {
                ids[i] = NextNonZero();
            }

            // Traces end "now", give or take 50 ms, so backends accept them as fresh.
            var traceStart = nowNanos - template.DurationNanos - (ulong)_random.Next(50_000_000);
            for (var i = 0; i < count; i++)
            {
                var t = template.Spans[i];
                var scope = byService[t.Service] ??= AddService(request, t.Service);
                scope.Spans.Add(Instantiate(t, traceId, ids, traceStart));
            }
        }

        return request;
    }

    private ScopeSpans AddService(TraceRequest request, int service)
    {
        var scope = new ScopeSpans
        {
            Scope = new InstrumentationScope { Name = "Hush.Loadgen", Version = "1.0.0" },
            SchemaUrl = "https://opentelemetry.io/schemas/1.26.0",
        };
        request.ResourceSpans.Add(new ResourceSpans
        {
            Resource = new Resource { Attributes = new List<KeyValue>(_resources[service]) },
            ScopeSpans = [scope],
            SchemaUrl = "https://opentelemetry.io/schemas/1.26.0",
        });
        return scope;
    }

    private static Span Instantiate(SpanTemplate t, TraceId traceId, ReadOnlySpan<ulong> ids, ulong traceStart)
    {
        var start = traceStart + t.StartOffsetNanos;
        var span = new Span
        {
            TraceId = traceId,
            SpanId = new SpanId(ids[t.Index]),
            ParentSpanId = t.Parent < 0 ? SpanId.Empty : new SpanId(ids[t.Parent]),
            // Sampled (0x01), "is-remote" known (0x100), parent remote (0x200) for spans whose parent is in another process.
            Flags = t.RemoteParent ? 0x301u : 0x101u,
            Name = t.Name,
            Kind = t.Kind,
            StartTimeUnixNano = start,
            EndTimeUnixNano = start + t.DurationNanos,
            Attributes = CopyAttributes(t.Attributes),
            Status = new SpanStatus { Code = t.StatusCode, Message = t.StatusMessage },
        };

        foreach (var e in t.Events)
        {
            span.Events.Add(new SpanEvent
            {
                Name = e.Name,
                TimeUnixNano = start + e.OffsetNanos,
                Attributes = CopyAttributes(e.Attributes),
            });
        }

        // Links only point backwards (producer before consumer), so the target id exists when cut short.
        if (t.LinkTo >= 0)
        {
            span.Links.Add(new SpanLink
            {
                TraceId = traceId,
                SpanId = new SpanId(ids[t.LinkTo]),
                Flags = 0x101,
                Attributes = [new("messaging.operation.type", AnyValue.Of("publish"))],
            });
        }

        return span;
    }

    private static List<KeyValue> CopyAttributes(KeyValue[] source)
    {
        var hasArrays = false;
        foreach (var kv in source)
        {
            hasArrays |= kv.Value.Kind == AnyValueKind.Array;
        }

        if (!hasArrays)
        {
            // KeyValue is an immutable struct over immutable strings: a block copy is a deep copy.
            return new List<KeyValue>(source);
        }

        var list = new List<KeyValue>(source.Length);
        foreach (var kv in source)
        {
            // Arrays are mutable lists: copy them so an in-place scrub of one request cannot reach the pool.
            list.Add(kv.Value.Kind == AnyValueKind.Array ? new(kv.Key, AnyValue.Of(new List<AnyValue>(kv.Value.ArrayValue!))) : kv);
        }

        return list;
    }

    /// <summary>SplitMix64: a few cycles per id, deterministic, and never zero (zero means "absent" in OTLP).</summary>
    private ulong NextNonZero()
    {
        while (true)
        {
            var z = _idState += 0x9E3779B97F4A7C15UL;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            z ^= z >> 31;
            if (z != 0)
            {
                return z;
            }
        }
    }

    private sealed record SpanTemplate(
        int Index,
        int Parent,
        int Service,
        string Name,
        SpanKind Kind,
        ulong StartOffsetNanos,
        ulong DurationNanos,
        KeyValue[] Attributes,
        EventTemplate[] Events,
        StatusCode StatusCode,
        string StatusMessage,
        int LinkTo,
        bool RemoteParent);

    private sealed record EventTemplate(string Name, ulong OffsetNanos, KeyValue[] Attributes);

    private sealed record TraceTemplate(SpanTemplate[] Spans, ulong DurationNanos);

    /// <summary>The planted values, by kind. Baseline data never uses these domains, numbers or prefixes.</summary>
    internal static class Planted
    {
        public static readonly string[] Emails =
        [
            "maria.garcia@mailbox.test", "j.smith+orders@corpmail.test", "li.wei@inbox.test", "olu.adeyemi@postbox.test",
        ];

        // Payment-industry test numbers; each passes the Luhn check.
        public static readonly string[] Cards =
        [
            "4111 1111 1111 1111", "5555555555554444", "378282246310005", "6011-1111-1111-1117",
        ];

        public static readonly string[] Phones =
        [
            "+1 202-555-0143", "(415) 555-0132", "+44 20 7946 0958", "+49 30 901820",
        ];

        public static readonly string[] BearerTokens =
        [
            "Bearer hsk_live_7Qm2ZpX9rV4tB8nL1cF6", "Bearer ya29.A0ARrdaM-k3Jd8Yq2PzT5vW9", "Bearer ghp_4fT9kLm2Qw8Rx1Zv7Nc3Bp6Yh0Ds5Ja",
        ];

        public static readonly string[] AwsKeys =
        [
            "AKIAIOSFODNN7EXAMPLE", "AKIAI44QH8DHBEXAMPLE", "AKIAJ2N7QRT5VX3HLOAD",
        ];

        public static readonly string[] Jwts = [MakeJwt("u-1842", 1), MakeJwt("u-77310", 2), MakeJwt("svc-batch", 3)];

        public static readonly string[] All = [.. Emails, .. Cards, .. Phones, .. BearerTokens, .. AwsKeys, .. Jwts];

        private static string MakeJwt(string subject, int n)
        {
            var header = Base64Url("{\"alg\":\"HS256\",\"typ\":\"JWT\"}"u8);
            var payload = Base64Url(Encoding.UTF8.GetBytes($"{{\"sub\":\"{subject}\",\"iss\":\"https://id.shop.test\",\"exp\":{1_790_000_000 + n}}}"));
            var signature = new byte[32];
            for (var i = 0; i < signature.Length; i++)
            {
                signature[i] = (byte)((i * 37) + (n * 101));
            }

            return $"{header}.{payload}.{Base64Url(signature)}";
        }

        private static string Base64Url(ReadOnlySpan<byte> bytes) =>
            Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
    }

    /// <summary>Builds the pool once; all string formatting happens here.</summary>
    private sealed class PoolBuilder
    {
        private static readonly string[] HttpRoutes =
        [
            "/api/orders/{orderId}", "/api/users/{userId}", "/api/cart/{cartId}/items", "/api/products/{sku}",
            "/api/payments/{paymentId}", "/api/accounts/{accountId}/profile", "/api/search", "/api/shipments/{shipmentId}/track",
        ];

        private static readonly string[] Methods = ["GET", "GET", "GET", "POST", "PUT", "DELETE", "PATCH"];

        private static readonly string[] UserAgents =
        [
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/129.0.0.0 Safari/537.36",
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
            "okhttp/4.12.0", "python-requests/2.32.3", "Go-http-client/2.0", "shop-ios/5.12.1 CFNetwork/1496.0.7 Darwin/23.5.0",
        ];

        private static readonly string[] FirstNames = ["anna", "ben", "carla", "dev", "emil", "fatima", "george", "hana", "ivan", "julia"];

        private static readonly string[] LastNames = ["novak", "okafor", "silva", "tanaka", "muller", "rossi", "kowalski", "nguyen"];

        private static readonly string[] FeatureFlags = ["new-checkout", "dark-mode", "fast-search", "one-click", "beta-recs"];

        private readonly Random _random;
        private readonly int _services;

        public PoolBuilder(Random random, int services)
        {
            _random = random;
            _services = services;
        }

        public static string ServiceName(int index) =>
            index < ServiceNames.Length ? ServiceNames[index] : "service-" + index.ToString(CultureInfo.InvariantCulture);

        public List<KeyValue>[] BuildResources()
        {
            var resources = new List<KeyValue>[_services];
            for (var i = 0; i < _services; i++)
            {
                var name = ServiceName(i);
                var pod = $"{name}-{_random.Next(0x10000000):x7}-{RandomLetters(5)}";
                resources[i] =
                [
                    new("service.name", AnyValue.Of(name)),
                    new("service.version", AnyValue.Of($"1.{i + 2}.{_random.Next(30)}")),
                    new("service.namespace", AnyValue.Of("shop")),
                    new("service.instance.id", AnyValue.Of(NewGuid(_random).ToString())),
                    new("host.name", AnyValue.Of($"ip-10-0-{_random.Next(256)}-{_random.Next(256)}.eu-west-1.compute.internal")),
                    new("host.arch", AnyValue.Of("amd64")),
                    new("os.type", AnyValue.Of("linux")),
                    new("k8s.namespace.name", AnyValue.Of("shop-prod")),
                    new("k8s.pod.name", AnyValue.Of(pod)),
                    new("k8s.deployment.name", AnyValue.Of(name)),
                    new("k8s.node.name", AnyValue.Of($"node-{_random.Next(1, 40)}")),
                    new("deployment.environment", AnyValue.Of("production")),
                    new("deployment.environment.name", AnyValue.Of("production")),
                    new("cloud.provider", AnyValue.Of("aws")),
                    new("cloud.region", AnyValue.Of("eu-west-1")),
                    new("telemetry.sdk.name", AnyValue.Of("opentelemetry")),
                    new("telemetry.sdk.language", AnyValue.Of("dotnet")),
                    new("telemetry.sdk.version", AnyValue.Of("1.20.1")),
                ];
            }

            return resources;
        }

        public TraceTemplate[] BuildTraces(int count, double piiRatio)
        {
            var traces = new List<SpanTemplate>[count];
            var errorFlags = new bool[count];
            var total = 0;
            for (var i = 0; i < count; i++)
            {
                errorFlags[i] = _random.NextDouble() < ErrorTraceRatio;
                traces[i] = BuildTrace(_random.Next(MinTraceSpans, MaxTraceSpans + 1), errorFlags[i]);
                total += traces[i].Count;
            }

            // Plant exactly round(ratio × spans) values, spread by a seeded shuffle, so a sample of
            // the pool carries the requested ratio up to sampling noise.
            var slots = new (int Trace, int Span)[total];
            var n = 0;
            for (var i = 0; i < count; i++)
            {
                for (var j = 0; j < traces[i].Count; j++)
                {
                    slots[n++] = (i, j);
                }
            }

            _random.Shuffle(slots);
            var plant = (int)Math.Round(piiRatio * total, MidpointRounding.AwayFromZero);
            for (var k = 0; k < plant; k++)
            {
                var (ti, si) = slots[k];
                traces[ti][si] = PlantPii(traces[ti][si], k);
            }

            var result = new TraceTemplate[count];
            for (var i = 0; i < count; i++)
            {
                var spans = traces[i].ToArray();
                var end = 0UL;
                foreach (var s in spans)
                {
                    end = Math.Max(end, s.StartOffsetNanos + s.DurationNanos);
                }

                result[i] = new TraceTemplate(spans, end);
            }

            return result;
        }

        private List<SpanTemplate> BuildTrace(int size, bool error)
        {
            var spans = new List<SpanTemplate>(size);
            var user = NewUser();
            var requestId = NewGuid(_random).ToString();
            var rootService = _random.Next(_services);
            var rootDuration = (ulong)_random.Next(5_000_000, 400_000_000);
            spans.Add(HttpServer(0, -1, rootService, 0, rootDuration, user, requestId, remoteParent: false));

            while (spans.Count < size)
            {
                // Parent: a server, consumer or internal span, so the call graph stays plausible.
                var parent = PickParent(spans);
                var p = spans[parent];
                var start = p.StartOffsetNanos + (p.DurationNanos / 10) + (ulong)_random.Next(1_000_000);
                var duration = Math.Max(100_000UL, p.DurationNanos / (ulong)_random.Next(3, 8));
                var room = size - spans.Count;
                var choice = _random.Next(room >= 2 ? 10 : 5);
                var idx = spans.Count;
                switch (choice)
                {
                    case 0 or 1:
                        spans.Add(Internal(idx, parent, p.Service, start, duration, user, requestId));
                        break;
                    case 2 or 3:
                        spans.Add(Database(idx, parent, p.Service, start, duration, user, requestId));
                        break;
                    case 4:
                        spans.Add(Cache(idx, parent, p.Service, start, duration / 4 + 50_000, user, requestId));
                        break;
                    case 5 or 6:
                        {
                            var callee = OtherService(p.Service);
                            var route = HttpRoutes[_random.Next(HttpRoutes.Length)];
                            spans.Add(HttpClient(idx, parent, p.Service, callee, start, duration, user, requestId, route));
                            spans.Add(HttpServer(idx + 1, idx, callee, start + 300_000, Math.Max(100_000UL, duration - Math.Min(duration, 600_000)), user, requestId, remoteParent: true, route));
                            break;
                        }

                    case 7:
                        {
                            var callee = OtherService(p.Service);
                            spans.Add(Rpc(idx, parent, p.Service, callee, SpanKind.Client, start, duration, user, requestId));
                            spans.Add(Rpc(idx + 1, idx, callee, callee, SpanKind.Server, start + 200_000, Math.Max(100_000UL, duration - Math.Min(duration, 400_000)), user, requestId));
                            break;
                        }

                    default:
                        {
                            var consumer = OtherService(p.Service);
                            var topic = _random.Next(2) == 0 ? "orders.created" : "payments.settled";
                            spans.Add(Messaging(idx, parent, p.Service, SpanKind.Producer, topic, start, duration / 5 + 100_000, user, requestId, linkTo: -1));
                            spans.Add(Messaging(idx + 1, idx, consumer, SpanKind.Consumer, topic, start + duration / 2, duration, user, requestId, linkTo: idx));
                            break;
                        }
                }
            }

            if (error)
            {
                MakeError(spans);
            }

            return spans;
        }

        private int PickParent(List<SpanTemplate> spans)
        {
            for (var attempt = 0; attempt < 8; attempt++)
            {
                var i = _random.Next(spans.Count);
                if (spans[i].Kind is SpanKind.Server or SpanKind.Consumer or SpanKind.Internal)
                {
                    return i;
                }
            }

            return 0;
        }

        private int OtherService(int service) => _services == 1 ? service : (service + 1 + _random.Next(_services - 1)) % _services;

        private SpanTemplate HttpServer(int index, int parent, int service, ulong start, ulong duration, User user, string requestId, bool remoteParent, string? route = null)
        {
            route ??= HttpRoutes[_random.Next(HttpRoutes.Length)];
            var method = Methods[_random.Next(Methods.Length)];
            var path = FillRoute(route, user);
            var status = method == "POST" ? 201 : _random.Next(20) == 0 ? 404 : 200;
            var attrs = new List<KeyValue>(24)
            {
                new("http.request.method", AnyValue.Of(method)),
                new("url.scheme", AnyValue.Of("https")),
                new("url.path", AnyValue.Of(path)),
                new("http.route", AnyValue.Of(route)),
                new("http.response.status_code", AnyValue.Of((long)status)),
                new("server.address", AnyValue.Of(ServiceName(service) + ".shop.internal")),
                new("server.port", AnyValue.Of(8080L)),
                new("client.address", AnyValue.Of(Ipv4())),
                new("network.peer.address", AnyValue.Of(Ipv4())),
                new("net.peer.ip", AnyValue.Of(Ipv4())),
                new("user_agent.original", AnyValue.Of(UserAgents[_random.Next(UserAgents.Length)])),
                new("network.protocol.version", AnyValue.Of(_random.Next(2) == 0 ? "1.1" : "2")),
                new("http.request.body.size", AnyValue.Of((long)_random.Next(0, 4096))),
                new("http.response.body.size", AnyValue.Of((long)_random.Next(64, 65536))),
                new("enduser.id", AnyValue.Of(user.Id)),
                new("session.id", AnyValue.Of(Hex(16))),
            };
            if (_random.Next(10) < 6)
            {
                var query = _random.Next(4) == 0 ? $"page={_random.Next(1, 9)}&token={Hex(20)}" : $"page={_random.Next(1, 9)}&sort=created_desc&lang=en";
                attrs.Add(new("url.query", AnyValue.Of(query)));
            }

            if (_random.Next(10) < 4)
            {
                attrs.Add(new("user.email", AnyValue.Of(user.Email)));
            }

            AddCommon(attrs, requestId, "Shop.Api.Controllers", "HandleRequest");
            return new SpanTemplate(index, parent, service, method + " " + route, SpanKind.Server, start, duration, [.. attrs], [],
                StatusCode.Unset, string.Empty, -1, remoteParent);
        }

        private SpanTemplate HttpClient(int index, int parent, int service, int callee, ulong start, ulong duration, User user, string requestId, string route)
        {
            var method = Methods[_random.Next(Methods.Length)];
            var host = ServiceName(callee) + ".shop.internal";
            var attrs = new List<KeyValue>(24)
            {
                new("http.request.method", AnyValue.Of(method)),
                new("url.full", AnyValue.Of($"http://{host}:8080{FillRoute(route, user)}")),
                new("url.template", AnyValue.Of(route)),
                new("server.address", AnyValue.Of(host)),
                new("server.port", AnyValue.Of(8080L)),
                new("http.response.status_code", AnyValue.Of(200L)),
                new("network.peer.address", AnyValue.Of(Ipv4())),
                new("net.peer.ip", AnyValue.Of(Ipv4())),
                new("network.protocol.name", AnyValue.Of("http")),
                new("network.protocol.version", AnyValue.Of("1.1")),
                new("http.request.resend_count", AnyValue.Of((long)_random.Next(0, 2))),
                new("http.request.body.size", AnyValue.Of((long)_random.Next(0, 2048))),
                new("http.response.body.size", AnyValue.Of((long)_random.Next(64, 16384))),
                new("peer.service", AnyValue.Of(ServiceName(callee))),
                new("enduser.id", AnyValue.Of(user.Id)),
            };
            AddCommon(attrs, requestId, "Shop.Clients.HttpApiClient", "SendAsync");
            return new SpanTemplate(index, parent, service, method, SpanKind.Client, start, duration, [.. attrs], [],
                StatusCode.Unset, string.Empty, -1, false);
        }

        private SpanTemplate Database(int index, int parent, int service, ulong start, ulong duration, User user, string requestId)
        {
            var (op, table, sql) = _random.Next(5) switch
            {
                0 => ("SELECT", "orders", $"SELECT id, status, total FROM orders WHERE customer_id = {_random.Next(1, 999_999)} AND created_at > '2026-{_random.Next(1, 12):00}-01' ORDER BY created_at DESC LIMIT 20"),
                1 => ("UPDATE", "inventory", $"UPDATE inventory SET quantity = quantity - {_random.Next(1, 5)} WHERE sku = 'SKU-{_random.Next(10_000, 99_999)}'"),
                2 => ("INSERT", "payments", $"INSERT INTO payments (order_id, amount, currency, status) VALUES ({_random.Next(1, 9_999_999)}, {_random.Next(100, 99_999) / 100.0:0.00}, 'EUR', 'authorized')"),
                3 => ("SELECT", "users", $"SELECT id, name, email FROM users WHERE email = '{user.Email}'"),
                _ => ("DELETE", "cart_items", $"DELETE FROM cart_items WHERE cart_id = {_random.Next(1, 999_999)} AND sku IN ('SKU-{_random.Next(10_000, 99_999)}', 'SKU-{_random.Next(10_000, 99_999)}')"),
            };
            var attrs = new List<KeyValue>(24)
            {
                new("db.system", AnyValue.Of("postgresql")),
                new("db.system.name", AnyValue.Of("postgresql")),
                new("db.namespace", AnyValue.Of("shop")),
                new("db.collection.name", AnyValue.Of(table)),
                new("db.operation.name", AnyValue.Of(op)),
                new("db.query.text", AnyValue.Of(sql)),
                new("db.statement", AnyValue.Of(sql)),
                new("db.user", AnyValue.Of("shop_app")),
                new("server.address", AnyValue.Of("pg-primary.shop.internal")),
                new("server.port", AnyValue.Of(5432L)),
                new("network.peer.address", AnyValue.Of(Ipv4())),
                new("net.peer.ip", AnyValue.Of(Ipv4())),
                new("db.response.returned_rows", AnyValue.Of((long)_random.Next(0, 50))),
                new("db.client.connection.pool.name", AnyValue.Of("shop-primary")),
                new("enduser.id", AnyValue.Of(user.Id)),
            };
            AddCommon(attrs, requestId, "Shop.Data.Repository", op == "SELECT" ? "QueryAsync" : "ExecuteAsync");
            return new SpanTemplate(index, parent, service, op + " shop." + table, SpanKind.Client, start, duration, [.. attrs], [],
                StatusCode.Unset, string.Empty, -1, false);
        }

        private SpanTemplate Cache(int index, int parent, int service, ulong start, ulong duration, User user, string requestId)
        {
            var get = _random.Next(3) != 0;
            var attrs = new List<KeyValue>(24)
            {
                new("db.system", AnyValue.Of("redis")),
                new("db.system.name", AnyValue.Of("redis")),
                new("db.operation.name", AnyValue.Of(get ? "GET" : "SETEX")),
                new("db.query.text", AnyValue.Of(get ? $"GET session:{Hex(12)}" : $"SETEX cart:{_random.Next(1, 999_999)} 3600 ?")),
                new("db.namespace", AnyValue.Of("0")),
                new("server.address", AnyValue.Of("redis.shop.internal")),
                new("server.port", AnyValue.Of(6379L)),
                new("network.peer.address", AnyValue.Of(Ipv4())),
                new("net.peer.ip", AnyValue.Of(Ipv4())),
                new("app.cache.hit", AnyValue.Of(get && _random.Next(4) != 0)),
                new("app.cache.ttl_seconds", AnyValue.Of(3600L)),
                new("enduser.id", AnyValue.Of(user.Id)),
                new("network.transport", AnyValue.Of("tcp")),
            };
            AddCommon(attrs, requestId, "Shop.Caching.RedisCache", get ? "GetAsync" : "SetAsync");
            return new SpanTemplate(index, parent, service, get ? "GET" : "SETEX", SpanKind.Client, start, duration, [.. attrs], [],
                StatusCode.Unset, string.Empty, -1, false);
        }

        private SpanTemplate Internal(int index, int parent, int service, ulong start, ulong duration, User user, string requestId)
        {
            var names = new[] { "OrderService.Validate", "PricingEngine.Quote", "CartService.Merge", "FraudCheck.Score", "Renderer.Render" };
            var name = names[_random.Next(names.Length)];
            var flags = new List<AnyValue>();
            foreach (var f in FeatureFlags)
            {
                if (_random.Next(3) == 0)
                {
                    flags.Add(AnyValue.Of(f));
                }
            }

            var hash = new byte[8];
            _random.NextBytes(hash);
            var attrs = new List<KeyValue>(24)
            {
                new("app.order.id", AnyValue.Of($"ord_{Hex(10)}")),
                new("app.cart.items", AnyValue.Of((long)_random.Next(1, 12))),
                new("app.cart.total", AnyValue.Of(_random.Next(100, 99_999) / 100.0)),
                new("app.currency", AnyValue.Of("EUR")),
                new("app.customer.tier", AnyValue.Of(_random.Next(3) switch { 0 => "gold", 1 => "silver", _ => "basic" })),
                new("app.feature_flags", AnyValue.Of(flags)),
                new("app.fraud.score", AnyValue.Of(_random.NextDouble())),
                new("app.cache.hit", AnyValue.Of(_random.Next(2) == 0)),
                new("app.payload.hash", AnyValue.Of(hash)),
                new("code.namespace", AnyValue.Of("Shop.Domain")),
                new("enduser.id", AnyValue.Of(user.Id)),
                new("app.locale", AnyValue.Of("en-GB")),
                new("app.experiment", AnyValue.Of($"exp-{_random.Next(1, 40)}")),
            };
            AddCommon(attrs, requestId, "Shop.Domain." + name[..name.IndexOf('.', StringComparison.Ordinal)], name[(name.IndexOf('.', StringComparison.Ordinal) + 1)..]);
            return new SpanTemplate(index, parent, service, name, SpanKind.Internal, start, duration, [.. attrs], [],
                StatusCode.Unset, string.Empty, -1, false);
        }

        private SpanTemplate Rpc(int index, int parent, int service, int callee, SpanKind kind, ulong start, ulong duration, User user, string requestId)
        {
            var methods = new[] { "Reserve", "Release", "GetStock", "Quote" };
            var method = methods[_random.Next(methods.Length)];
            var rpcService = "shop." + ServiceName(callee).Replace('-', '_') + ".v1.Api";
            var attrs = new List<KeyValue>(24)
            {
                new("rpc.system", AnyValue.Of("grpc")),
                new("rpc.service", AnyValue.Of(rpcService)),
                new("rpc.method", AnyValue.Of(method)),
                new("rpc.grpc.status_code", AnyValue.Of(0L)),
                new("server.address", AnyValue.Of(ServiceName(callee) + ".shop.internal")),
                new("server.port", AnyValue.Of(9090L)),
                new("network.peer.address", AnyValue.Of(Ipv4())),
                new("net.peer.ip", AnyValue.Of(Ipv4())),
                new("network.protocol.name", AnyValue.Of("http")),
                new("network.protocol.version", AnyValue.Of("2")),
                new("rpc.message.request.size", AnyValue.Of((long)_random.Next(16, 4096))),
                new("rpc.message.response.size", AnyValue.Of((long)_random.Next(16, 4096))),
                new("enduser.id", AnyValue.Of(user.Id)),
            };
            if (kind == SpanKind.Server)
            {
                attrs.Add(new("client.address", AnyValue.Of(Ipv4())));
            }

            AddCommon(attrs, requestId, "Shop.Rpc." + (kind == SpanKind.Server ? "Handlers" : "Clients"), method);
            return new SpanTemplate(index, parent, service, rpcService + "/" + method, kind, start, duration, [.. attrs], [],
                StatusCode.Unset, string.Empty, -1, kind == SpanKind.Server);
        }

        private SpanTemplate Messaging(int index, int parent, int service, SpanKind kind, string topic, ulong start, ulong duration, User user, string requestId, int linkTo)
        {
            var producer = kind == SpanKind.Producer;
            var attrs = new List<KeyValue>(24)
            {
                new("messaging.system", AnyValue.Of("kafka")),
                new("messaging.destination.name", AnyValue.Of(topic)),
                new("messaging.operation.type", AnyValue.Of(producer ? "send" : "process")),
                new("messaging.operation.name", AnyValue.Of(producer ? "send" : "process")),
                new("messaging.message.id", AnyValue.Of(NewGuid(_random).ToString())),
                new("messaging.kafka.message.key", AnyValue.Of(user.Id)),
                new("messaging.destination.partition.id", AnyValue.Of(_random.Next(12).ToString(CultureInfo.InvariantCulture))),
                new("messaging.client.id", AnyValue.Of(ServiceName(service) + "-" + _random.Next(8).ToString(CultureInfo.InvariantCulture))),
                new("messaging.message.body.size", AnyValue.Of((long)_random.Next(100, 8000))),
                new("server.address", AnyValue.Of("kafka-0.shop.internal")),
                new("server.port", AnyValue.Of(9092L)),
                new("net.peer.ip", AnyValue.Of(Ipv4())),
                new("enduser.id", AnyValue.Of(user.Id)),
            };
            if (!producer)
            {
                attrs.Add(new("messaging.consumer.group.name", AnyValue.Of(ServiceName(service) + "-workers")));
                attrs.Add(new("messaging.kafka.offset", AnyValue.Of((long)_random.Next(1, int.MaxValue))));
            }

            AddCommon(attrs, requestId, "Shop.Messaging." + (producer ? "Publisher" : "Consumer"), producer ? "PublishAsync" : "HandleAsync");
            return new SpanTemplate(index, parent, service, (producer ? "send " : "process ") + topic, kind, start, duration, [.. attrs], [],
                StatusCode.Unset, string.Empty, linkTo, !producer);
        }

        private void AddCommon(List<KeyValue> attrs, string requestId, string type, string function)
        {
            attrs.Add(new("app.request.id", AnyValue.Of(requestId)));
            attrs.Add(new("code.function.name", AnyValue.Of(type + "." + function)));
            attrs.Add(new("code.file.path", AnyValue.Of("/src/" + type.Replace('.', '/') + ".cs")));
            attrs.Add(new("code.line.number", AnyValue.Of((long)_random.Next(20, 900))));
            attrs.Add(new("thread.id", AnyValue.Of((long)_random.Next(1, 64))));
        }

        /// <summary>Fails the deepest-starting client span (or the root) with an exception event, and marks the root as failed.</summary>
        private void MakeError(List<SpanTemplate> spans)
        {
            var victim = 0;
            for (var i = spans.Count - 1; i > 0; i--)
            {
                if (spans[i].Kind == SpanKind.Client)
                {
                    victim = i;
                    break;
                }
            }

            var (type, message) = _random.Next(3) switch
            {
                0 => ("Npgsql.PostgresException", "23505: duplicate key value violates unique constraint \"payments_order_id_key\""),
                1 => ("System.TimeoutException", "The operation has timed out after 5000 ms."),
                _ => ("System.Net.Http.HttpRequestException", "Response status code does not indicate success: 503 (Service Unavailable)."),
            };
            spans[victim] = WithError(spans[victim], type, message);
            if (victim != 0)
            {
                var root = spans[0];
                var attrs = root.Attributes.ToArray();
                for (var i = 0; i < attrs.Length; i++)
                {
                    if (attrs[i].Key == "http.response.status_code")
                    {
                        attrs[i] = new("http.response.status_code", AnyValue.Of(500L));
                    }
                }

                spans[0] = root with { Attributes = attrs, StatusCode = StatusCode.Error };
            }
        }

        private SpanTemplate WithError(SpanTemplate span, string type, string message)
        {
            var stack = $"{type}: {message}\n   at {CodeFunction(span)}() in /src/Shop/Handlers.cs:line {_random.Next(20, 900)}\n" +
                "   at System.Runtime.CompilerServices.AsyncMethodBuilderCore.Start[TStateMachine](TStateMachine& stateMachine)\n" +
                "   at Shop.Api.Middleware.ErrorHandling.InvokeAsync(HttpContext context) in /src/Shop/Api/Middleware/ErrorHandling.cs:line 41";
            var exception = new EventTemplate("exception", span.DurationNanos / 2,
            [
                new("exception.type", AnyValue.Of(type)),
                new("exception.message", AnyValue.Of(message)),
                new("exception.stacktrace", AnyValue.Of(stack)),
                new("exception.escaped", AnyValue.Of(false)),
            ]);
            return span with
            {
                Events = [.. span.Events, exception],
                StatusCode = StatusCode.Error,
                StatusMessage = message,
                Attributes = [.. span.Attributes, new("error.type", AnyValue.Of(type))],
            };
        }

        /// <summary>Puts one planted value into a realistic place; kind rotates with <paramref name="k"/> so every kind appears.</summary>
        private SpanTemplate PlantPii(SpanTemplate span, int k)
        {
            var attrs = new List<KeyValue>(span.Attributes);
            var events = span.Events;
            switch (k % 6)
            {
                case 0:
                    {
                        var email = Pick(Planted.Emails);
                        if (!Replace(attrs, "url.path", $"/api/users/{email}/orders"))
                        {
                            Replace(attrs, "enduser.id", email, add: true);
                        }

                        break;
                    }

                case 1:
                    {
                        var card = Pick(Planted.Cards);
                        if (!Replace(attrs, "db.query.text", $"INSERT INTO payment_methods (customer_id, card_number, expiry) VALUES ({_random.Next(1, 999_999)}, '{card}', '12/29')"))
                        {
                            attrs.Add(new("app.payment.card", AnyValue.Of(card)));
                        }

                        break;
                    }

                case 2:
                    attrs.Add(new("app.customer.phone", AnyValue.Of(Pick(Planted.Phones))));
                    break;
                case 3:
                    attrs.Add(new("http.request.header.authorization", AnyValue.Of(new List<AnyValue> { AnyValue.Of(Pick(Planted.BearerTokens)) })));
                    break;
                case 4:
                    events =
                    [
                        .. events,
                        new EventTemplate("log", span.DurationNanos / 3,
                        [
                            new("log.severity", AnyValue.Of("WARN")),
                            new("log.message", AnyValue.Of($"S3 upload retried: credential {Pick(Planted.AwsKeys)}/20261122/eu-west-1/s3/aws4_request was rejected")),
                        ]),
                    ];
                    break;
                default:
                    Replace(attrs, "url.query", $"token={Pick(Planted.Jwts)}&lang=en", add: true);
                    break;
            }

            return span with { Attributes = [.. attrs], Events = events };
        }

        private static bool Replace(List<KeyValue> attrs, string key, string value, bool add = false)
        {
            for (var i = 0; i < attrs.Count; i++)
            {
                if (attrs[i].Key == key)
                {
                    attrs[i] = new(key, AnyValue.Of(value));
                    return true;
                }
            }

            if (add)
            {
                attrs.Add(new(key, AnyValue.Of(value)));
            }

            return add;
        }

        private static string CodeFunction(SpanTemplate span)
        {
            foreach (var kv in span.Attributes)
            {
                if (kv.Key == "code.function.name")
                {
                    return kv.Value.StringValue ?? "Shop.Unknown";
                }
            }

            return "Shop.Unknown";
        }

        private string Pick(string[] values) => values[_random.Next(values.Length)];

        private string FillRoute(string route, User user)
        {
            var open = route.IndexOf('{', StringComparison.Ordinal);
            if (open < 0)
            {
                return route;
            }

            var close = route.IndexOf('}', open);
            string id = _random.Next(4) switch
            {
                0 => NewGuid(_random).ToString(),
                1 => _random.Next(1, 9_999_999).ToString(CultureInfo.InvariantCulture),
                2 => route.Contains("{userId}", StringComparison.Ordinal) && _random.Next(3) == 0 ? user.Email : user.Id,
                _ => $"{route[(open + 1)..(open + 4)].ToUpperInvariant()}-{_random.Next(100_000, 999_999)}",
            };
            return string.Concat(route.AsSpan(0, open), id, route.AsSpan(close + 1));
        }

        private User NewUser()
        {
            var first = FirstNames[_random.Next(FirstNames.Length)];
            var last = LastNames[_random.Next(LastNames.Length)];
            var number = _random.Next(1, 99_999);
            return new User($"u-{number}", $"{first}.{last}{number % 100}@example.com");
        }

        private string Ipv4() => _random.Next(3) switch
        {
            0 => $"10.{_random.Next(256)}.{_random.Next(256)}.{_random.Next(1, 255)}",
            1 => $"192.168.{_random.Next(256)}.{_random.Next(1, 255)}",
            _ => $"{_random.Next(11, 223)}.{_random.Next(256)}.{_random.Next(256)}.{_random.Next(1, 255)}",
        };

        private string Hex(int bytes)
        {
            Span<byte> buffer = stackalloc byte[bytes];
            _random.NextBytes(buffer);
            return Convert.ToHexStringLower(buffer);
        }

        private string RandomLetters(int count)
        {
            Span<char> chars = stackalloc char[count];
            for (var i = 0; i < count; i++)
            {
                chars[i] = (char)('a' + _random.Next(26));
            }

            return new string(chars);
        }

        private sealed record User(string Id, string Email);
    }

    private static Guid NewGuid(Random random)
    {
        Span<byte> bytes = stackalloc byte[16];
        random.NextBytes(bytes);
        return new Guid(bytes);
    }
}
