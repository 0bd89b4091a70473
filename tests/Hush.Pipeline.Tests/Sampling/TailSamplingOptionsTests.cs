using Hush.Otlp;
using Hush.Pipeline.Sampling;
using Hush.Pipeline.Tests.Support;
using static Hush.Pipeline.Tests.Sampling.SamplingTestData;

namespace Hush.Pipeline.Tests.Sampling;

public sealed class TailSamplingOptionsTests
{
    private const string Key = "processors.tail_sampling";

    [Fact]
    public void Validate_Defaults_WithSeedPolicies_NoErrors()
    {
        Assert.Empty(new TailSamplingOptions { Policies = SeedPolicies }.Validate(Key));
    }

    [Fact]
    public void Validate_BlankPersistPath_ReportsTheKey()
    {
        var options = new TailSamplingOptions { Policies = SeedPolicies, DecisionCache = new() { PersistPath = "  " } };

        var error = Assert.Single(options.Validate(Key));
        Assert.StartsWith("'processors.tail_sampling.decision_cache.persist_path' must not be empty", error, StringComparison.Ordinal);
        Assert.Empty((options with { DecisionCache = new() { PersistPath = "data/sampling/x.decisions" } }).Validate(Key));
    }

    [Fact]
    public void Validate_UnknownTypeNegativeWaitAndBacktrackingRegex_ListsEveryErrorWithItsKey()
    {
        var options = new TailSamplingOptions
        {
            DecisionWait = TimeSpan.FromSeconds(-1),
            MaxTraceBytes = 0,
            Policies =
            [
                new() { Name = "mystery", Type = "sometimes" },
                new()
                {
                    Name = "backref",
                    Type = "string_attribute",
                    StringAttribute = new() { Key = "http.route", Values = [@"(a+)\1", "(?=lookahead)", "ok.*"], EnabledRegexMatching = true },
                },
                new() { Name = "backref", Type = "probabilistic", Probabilistic = new() { SamplingPercentage = 150 } },
                new() { Name = "no-block", Type = "latency" },
            ],
        };

        var errors = options.Validate(Key);
        Assert.Contains("'processors.tail_sampling.decision_wait' must be greater than zero", errors);
        Assert.Contains("'processors.tail_sampling.max_trace_bytes' must be greater than zero", errors);
        Assert.Contains(errors, e => e.StartsWith("'processors.tail_sampling.policies[0].type' 'sometimes' is not a known policy type", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("'processors.tail_sampling.policies[1].string_attribute.values[0]' is not a linear-time regular expression", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("'processors.tail_sampling.policies[1].string_attribute.values[1]' is not a linear-time regular expression", StringComparison.Ordinal));
        Assert.Contains("'processors.tail_sampling.policies[2].name' 'backref' is used by another policy in the same list", errors);
        Assert.Contains("'processors.tail_sampling.policies[2].probabilistic.sampling_percentage' must be between 0 and 100", errors);
        Assert.Contains("'processors.tail_sampling.policies[3].latency' is required for a policy of type 'latency'", errors);
        Assert.Equal(8, errors.Count);
    }

    [Fact]
    public void Validate_NestedPolicies_ReportsKeysInsideAndCompositeDropAndTenants()
    {
        var options = new TailSamplingOptions
        {
            DecisionWaitAfterRootReceived = TimeSpan.FromSeconds(30),
            Policies =
            [
                new() { Name = "a", Type = "and", And = new() { AndSubPolicy = [new() { Name = "x", Type = "composite" }] } },
                new()
                {
                    Name = "c",
                    Type = "composite",
                    Composite = new()
                    {
                        MaxTotalSpansPerSecond = 0,
                        PolicyOrder = ["missing"],
                        CompositeSubPolicy = [new() { Name = "s", Type = "span_count", SpanCount = new() { MinSpans = 5, MaxSpans = 2 } }],
                        RateAllocation = [new() { Policy = "s", Percent = 120 }],
                    },
                },
                new() { Name = "d", Type = "drop", Drop = new() { DropSubPolicy = [] } },
            ],
            Tenants = new Dictionary<string, TenantSamplingOptions> { ["acme"] = new() { Policies = [] } },
        };

        var errors = options.Validate(Key);
        Assert.Equal(
            [
                "'processors.tail_sampling.decision_wait_after_root_received' must be less than 'processors.tail_sampling.decision_wait'",
                "'processors.tail_sampling.policies[0].and.and_sub_policy[0].type' 'composite' is not allowed here (one of always, status_code, latency, string_attribute, numeric_attribute, boolean_attribute, attribute_exists, probabilistic, rate_limiting, span_count)",
                "'processors.tail_sampling.policies[1].composite.max_total_spans_per_second' must be greater than zero",
                "'processors.tail_sampling.policies[1].composite.composite_sub_policy[0].span_count.max_spans' must not be less than 'min_spans' (or 0 for no upper bound)",
                "'processors.tail_sampling.policies[1].composite.policy_order[0]' 'missing' is not a composite_sub_policy name",
                "'processors.tail_sampling.policies[1].composite.rate_allocation[0].percent' must be greater than 0 and at most 100",
                "'processors.tail_sampling.policies[2].drop.drop_sub_policy' must list at least one policy",
                "'processors.tail_sampling.tenants.acme.policies' must list at least one policy",
            ],
            errors);
    }

    [Fact]
    public void Constructor_InvalidOptions_ThrowsWithEveryError()
    {
        var options = new TailSamplingOptions { DecisionWait = TimeSpan.Zero, Policies = [new() { Name = "x", Type = "nope" }] };
        var ex = Assert.Throws<ArgumentException>(() => new TailSamplingProcessor("tail_sampling", options, new HushMetrics(), new CollectingLoggerFactory(), new ManualTimeProvider()));
        Assert.Contains("'tail_sampling.decision_wait'", ex.Message, StringComparison.Ordinal);
        Assert.Contains("'tail_sampling.policies[0].type'", ex.Message, StringComparison.Ordinal);
    }

    public static TheoryData<string, SamplingPolicyOptions, bool> LeafCases() => new()
    {
        { "numeric in range", new() { Name = "p", Type = "numeric_attribute", NumericAttribute = new() { Key = "http.response.status_code", MinValue = 500, MaxValue = 599 } }, true },
        { "numeric out of range", new() { Name = "p", Type = "numeric_attribute", NumericAttribute = new() { Key = "http.response.status_code", MinValue = 200, MaxValue = 299 } }, false },
        { "numeric inverted", new() { Name = "p", Type = "numeric_attribute", NumericAttribute = new() { Key = "http.response.status_code", MinValue = 200, MaxValue = 299, InvertMatch = true } }, true },
        { "boolean", new() { Name = "p", Type = "boolean_attribute", BooleanAttribute = new() { Key = "retry", Value = true } }, true },
        { "boolean other value", new() { Name = "p", Type = "boolean_attribute", BooleanAttribute = new() { Key = "retry", Value = false } }, false },
        { "string exact", new() { Name = "p", Type = "string_attribute", StringAttribute = new() { Key = "service.name", Values = ["checkout"] } }, true },
        { "string inverted", new() { Name = "p", Type = "string_attribute", StringAttribute = new() { Key = "service.name", Values = ["checkout"], InvertMatch = true } }, false },
        { "string many exact", new() { Name = "p", Type = "string_attribute", StringAttribute = new() { Key = "http.route", Values = ["a", "b", "c", "d", "e", "/pay"] } }, true },
        { "span count", new() { Name = "p", Type = "span_count", SpanCount = new() { MinSpans = 3, MaxSpans = 3 } }, true },
        { "span count too few", new() { Name = "p", Type = "span_count", SpanCount = new() { MinSpans = 4 } }, false },
        { "latency window", new() { Name = "p", Type = "latency", Latency = new() { ThresholdMs = 100, UpperThresholdMs = 1000 } }, true },
        { "latency above window", new() { Name = "p", Type = "latency", Latency = new() { ThresholdMs = 10, UpperThresholdMs = 100 } }, false },
        { "status ok", new() { Name = "p", Type = "status_code", StatusCode = new() { StatusCodes = ["ok"] } }, false },
        { "status unset", new() { Name = "p", Type = "status_code", StatusCode = new() { StatusCodes = ["UNSET"] } }, true },
        { "always alias", new() { Name = "p", Type = "always_sample" }, true },
        {
            "and",
            new()
            {
                Name = "p",
                Type = "and",
                And = new() { AndSubPolicy = [new() { Name = "a", Type = "boolean_attribute", BooleanAttribute = new() { Key = "retry", Value = true } }, new() { Name = "b", Type = "span_count", SpanCount = new() { MinSpans = 9 } }] },
            },
            false
        },
    };

    [Theory]
    [MemberData(nameof(LeafCases))]
    public void Decide_OneTrace_MatchesAsConfigured(string description, SamplingPolicyOptions policy, bool expected)
    {
        Assert.Empty(new TailSamplingOptions { Policies = [policy] }.Validate(Key));
        var set = new CompiledPolicySet("default", [policy]);
        var spans = TraceSpans(NewTraceId(), durationMs: 500, childAttributes: [new("http.response.status_code", AnyValue.Of(503L)), new("retry", AnyValue.Of(true)), new("http.route", AnyValue.Of("/pay"))]);
        var facts = TraceFacts.Empty;
        facts.Bits = set.TestResource(new Resource { Attributes = [new("service.name", AnyValue.Of("checkout"))] });
        foreach (var s in spans)
        {
            set.AddSpan(s, ref facts);
        }

        set.Decide(spans[0].TraceId, facts, 0, out var sampled);
        Assert.True(expected == sampled, description);
    }

    [Fact]
    public void Decide_DropPolicyMatches_DropsEvenWhenAnotherPolicyKeeps()
    {
        SamplingPolicyOptions[] policies =
        [
            new() { Name = "all", Type = "always" },
            new() { Name = "no-health", Type = "drop", Drop = new() { DropSubPolicy = [new() { Name = "h", Type = "string_attribute", StringAttribute = new() { Key = "http.route", Values = ["/healthz"] } }] } },
        ];
        var set = new CompiledPolicySet("default", policies);
        var facts = TraceFacts.Empty;
        foreach (var s in TraceSpans(NewTraceId(), childAttributes: [new("http.route", AnyValue.Of("/healthz"))]))
        {
            set.AddSpan(s, ref facts);
        }

        Assert.Equal("no-health", set.Decide(NewTraceId(), facts, 0, out var sampled).Name);
        Assert.False(sampled);
    }

    [Fact]
    public void Decide_RateLimiting_KeepsUpToTheSpanRatePerSecond()
    {
        var set = new CompiledPolicySet("default", [new() { Name = "r", Type = "rate_limiting", RateLimiting = new() { SpansPerSecond = 10 } }]);
        var facts = TraceFacts.Empty with { SpanCount = 3 };
        var second = TimeSpan.TicksPerSecond * 100;
        var kept = Enumerable.Range(0, 5).Count(_ => Decide(set, facts, second));
        Assert.Equal(3, kept);
        Assert.True(Decide(set, facts, second + TimeSpan.TicksPerSecond));
    }

    [Fact]
    public void Decide_Composite_SubPoliciesShareTheTotalRateInOrder()
    {
        var set = new CompiledPolicySet("default",
        [
            new()
            {
                Name = "c",
                Type = "composite",
                Composite = new()
                {
                    MaxTotalSpansPerSecond = 100,
                    PolicyOrder = ["errors", "rest"],
                    CompositeSubPolicy =
                    [
                        new() { Name = "rest", Type = "always" },
                        new() { Name = "errors", Type = "status_code", StatusCode = new() { StatusCodes = ["ERROR"] } },
                    ],
                    RateAllocation = [new() { Policy = "errors", Percent = 70 }, new() { Policy = "rest", Percent = 30 }],
                },
            },
        ]);
        var healthy = TraceFacts.Empty with { SpanCount = 10 };
        var error = healthy;
        error.Bits = 1;
        var now = TimeSpan.TicksPerSecond * 7;
        Assert.Equal(3, Enumerable.Range(0, 10).Count(_ => Decide(set, healthy, now)));
        Assert.Equal(7, Enumerable.Range(0, 10).Count(_ => Decide(set, error, now)));
    }

    private static bool Decide(CompiledPolicySet set, TraceFacts facts, long now)
    {
        set.Decide(NewTraceId(), facts, now, out var sampled);
        return sampled;
    }
}
