using Hush.Otlp;
using Hush.Pipeline.Sampling;
using Hush.Pipeline.Tests.Support;

namespace Hush.Pipeline.Tests.Sampling;

/// <summary>Traces with known answers, the seed's policy set and a sampler wired to a recording downstream.</summary>
internal static class SamplingTestData
{
    public const ulong StartNano = 1_700_000_000_000_000_000;

    /// <summary>Seed 001 step 6: errors, > 2 s, auth endpoints, security events, 0.5% of the healthy rest.</summary>
    public static IReadOnlyList<SamplingPolicyOptions> SeedPolicies { get; } =
    [
        new() { Name = "errors", Type = "status_code", StatusCode = new() { StatusCodes = ["ERROR"] } },
        new() { Name = "slow", Type = "latency", Latency = new() { ThresholdMs = 2000 } },
        new()
        {
            Name = "auth-routes",
            Type = "string_attribute",
            StringAttribute = new() { Key = "http.route", Values = [AuthPattern], EnabledRegexMatching = true },
        },
        new()
        {
            Name = "auth-paths",
            Type = "string_attribute",
            StringAttribute = new() { Key = "url.path", Values = [AuthPattern], EnabledRegexMatching = true },
        },
        new() { Name = "security-events", Type = "attribute_exists", AttributeExists = new() { Key = "security.event" } },
        new() { Name = "baseline", Type = "probabilistic", Probabilistic = new() { SamplingPercentage = 0.5, HashSalt = "hush-seed-001" } },
    ];

    /// <summary>A path segment login, token or oauth: matches /login, /api/oauth/authorize, /token?x; not /login-history.</summary>
    public const string AuthPattern = @"(^|/)(login|token|oauth)(/|\?|$)";

    private static ulong _next = 0x1000;

    public static TraceId NewTraceId()
    {
        var n = Interlocked.Increment(ref _next);

        // Spread like random ids: the sampler's shards and hash must not depend on sequential ids.
        return new TraceId(Mix(n), Mix(n ^ 0xABCDEF));
    }

    private static ulong Mix(ulong z)
    {
        z += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>
    /// Spans of one trace: a root (unless <paramref name="withRoot"/> is false) and children; the child carries
    /// <paramref name="childAttributes"/> and <paramref name="childStatus"/>; the trace lasts <paramref name="durationMs"/>.
    /// </summary>
    public static List<Span> TraceSpans(
        TraceId traceId,
        int spans = 3,
        int durationMs = 100,
        StatusCode childStatus = StatusCode.Unset,
        KeyValue[]? childAttributes = null,
        bool withRoot = true,
        ulong firstSpanId = 1)
    {
        var list = new List<Span>(spans);
        for (var i = 0; i < spans; i++)
        {
            var isRoot = withRoot && i == 0;
            var span = new Span
            {
                TraceId = traceId,
                SpanId = new SpanId(firstSpanId + (ulong)i),
                ParentSpanId = isRoot ? SpanId.Empty : new SpanId(withRoot ? firstSpanId : 999),
                Name = isRoot ? "GET /" : "child",
                Kind = isRoot ? SpanKind.Server : SpanKind.Internal,
                StartTimeUnixNano = StartNano + (isRoot ? 0UL : 1_000_000UL),
                EndTimeUnixNano = StartNano + (isRoot ? (ulong)durationMs * 1_000_000 : 2_000_000UL),
                Attributes = [new KeyValue("http.request.method", AnyValue.Of("GET")), new KeyValue("n", AnyValue.Of((long)i))],
            };
            if (i == spans - 1)
            {
                span.Status = new SpanStatus { Code = childStatus };
                if (childAttributes is not null)
                {
                    span.Attributes.AddRange(childAttributes);
                }
            }

            list.Add(span);
        }

        return list;
    }

    /// <summary>One batch of one tenant holding the given spans under one resource and scope.</summary>
    public static SpanBatch Batch(IEnumerable<Span> spans, string tenant = "t1", string service = "checkout")
    {
        var scope = new ScopeSpans { Scope = new InstrumentationScope { Name = "test" }, Spans = [.. spans] };
        foreach (var s in scope.Spans)
        {
            s.Attributes.Add(new KeyValue("tenant.marker", AnyValue.Of(tenant)));
        }

        var request = new TraceRequest
        {
            ResourceSpans =
            [
                new ResourceSpans
                {
                    Resource = new Resource { Attributes = [new KeyValue("service.name", AnyValue.Of(service))] },
                    ScopeSpans = [scope],
                },
            ],
        };
        return new SpanBatch(tenant, request, scope.Spans.Count);
    }
}

/// <summary>Records what a sampler releases.</summary>
internal sealed class RecordingDownstream
{
    private readonly Lock _lock = new();
    private readonly List<SpanBatch> _batches = [];

    public IReadOnlyList<SpanBatch> Batches
    {
        get
        {
            lock (_lock)
            {
                return [.. _batches];
            }
        }
    }

    public int SpanCount => Batches.Sum(b => b.SpanCount);

    public HashSet<TraceId> TraceIds() => [.. Batches.SelectMany(b => TestData.AllSpans(b.Traces)).Select(s => s.TraceId)];

    public int SpansOf(TraceId id) => Batches.SelectMany(b => TestData.AllSpans(b.Traces)).Count(s => s.TraceId == id);

    /// <summary>When true, answers that the batch could not be passed on for now (an exporter failing retryably).</summary>
    public bool Refuse { get; set; }

    public ValueTask<bool> Receive(SpanBatch batch, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            _batches.Add(batch);
        }

        return ValueTask.FromResult(!Refuse);
    }
}

/// <summary>A sampler on a manual clock with a recording downstream, started.</summary>
internal sealed class SamplerHarness : IAsyncDisposable
{
    public SamplerHarness(TailSamplingOptions options, string name = "tail_sampling")
    {
        Sampler = new TailSamplingProcessor(name, options, Metrics, Logs, Time);
        Sampler.Start(Downstream.Receive);
    }

    public ManualTimeProvider Time { get; } = new();

    public HushMetrics Metrics { get; } = new();

    public CollectingLoggerFactory Logs { get; } = new();

    public RecordingDownstream Downstream { get; } = new();

    public TailSamplingProcessor Sampler { get; }

    public async Task SendAsync(SpanBatch batch) => Assert.Null(await Sampler.ProcessAsync(batch, CancellationToken.None));

    /// <summary>Moves the clock (firing the tick timer) and then decides whatever is due, deterministically.</summary>
    public async Task AdvanceAsync(TimeSpan by)
    {
        Time.Advance(by);
        await Sampler.DecideDueAsync();
    }

    public long Counter(string name, params (string Label, string Value)[] labels)
    {
        var text = Metrics.ToText();
        var total = 0L;
        foreach (var line in text.Split('\n'))
        {
            if (!line.StartsWith(name + "{", StringComparison.Ordinal))
            {
                continue;
            }

            var ok = true;
            foreach (var (label, value) in labels)
            {
                ok &= line.Contains($"{label}=\"{value}\"", StringComparison.Ordinal);
            }

            if (ok)
            {
                total += long.Parse(line[(line.LastIndexOf(' ') + 1)..], System.Globalization.CultureInfo.InvariantCulture);
            }
        }

        return total;
    }

    public async ValueTask DisposeAsync() => await Sampler.DisposeAsync();
}
