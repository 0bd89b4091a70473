using Hush.Pipeline.Sampling;

namespace Hush.Gateway.Configuration.Implementation;

/// <summary>
/// Binds <c>processors.tail_sampling[/name]</c> (the OpenTelemetry Collector's shape) into
/// <see cref="TailSamplingOptions"/>: unknown keys and bad values are reported here, the semantic rules
/// (positive waits, linear-time regexes, known policy types, ...) by the options' own <c>Validate</c>.
/// </summary>
internal static class TailSamplingBinder
{
    private static readonly TimeSpan MaxWait = TimeSpan.FromDays(1);

    public static TailSamplingOptions Bind(MapReader reader)
    {
        var cache = reader.Map("decision_cache");
        var defaults = new TailSamplingOptions();

        // Left as given when blank, so Validate names the key.
        var persistPath = cache.String("persist_path");
        var options = new TailSamplingOptions
        {
            DecisionWait = reader.Duration("decision_wait", defaults.DecisionWait, TimeSpan.Zero, MaxWait),
            DecisionWaitAfterRootReceived = reader.Duration("decision_wait_after_root_received", defaults.DecisionWaitAfterRootReceived, TimeSpan.Zero, MaxWait),
            NumTraces = reader.Int("num_traces", defaults.NumTraces, 1, 100_000_000),
            MaxBufferBytes = reader.Size("max_buffer_bytes", defaults.MaxBufferBytes, 1024, 1L << 40),
            MaxTraceBytes = reader.Size("max_trace_bytes", defaults.MaxTraceBytes, 1024, 1L << 40),
            TickInterval = reader.Duration("tick_interval", defaults.TickInterval, TimeSpan.FromMilliseconds(1), TimeSpan.FromMinutes(1)),
            NumShards = reader.Int("num_shards", defaults.NumShards, 0, 256),
            DecisionCache = new DecisionCacheOptions
            {
                SampledCacheSize = cache.Int("sampled_cache_size", defaults.DecisionCache.SampledCacheSize, 0, 100_000_000),
                NonSampledCacheSize = cache.Int("non_sampled_cache_size", defaults.DecisionCache.NonSampledCacheSize, 0, 100_000_000),
                PersistPath = string.IsNullOrWhiteSpace(persistPath) ? persistPath : Path.GetFullPath(persistPath),
            },
            Policies = Policies(reader, "policies"),
            Tenants = Tenants(reader.Map("tenants")),
        };
        cache.Finish();
        reader.Finish();
        var errors = options.Validate(reader.Path);
        reader.Errors.AddRange(errors);
        return options;
    }

    private static Dictionary<string, TenantSamplingOptions> Tenants(MapReader tenants)
    {
        var result = new Dictionary<string, TenantSamplingOptions>(StringComparer.Ordinal);
        foreach (var (tenant, _) in tenants.Entries)
        {
            var reader = tenants.Map(tenant);
            result[tenant] = new TenantSamplingOptions { Policies = Policies(reader, "policies") };
            reader.Finish();
        }

        tenants.Finish();
        return result;
    }

    private static List<SamplingPolicyOptions> Policies(MapReader parent, string key)
    {
        var result = new List<SamplingPolicyOptions>();
        switch (parent.Node(key))
        {
            case null:
            case ConfigScalar { IsNull: true }:
                break;
            case ConfigList list:
                for (var i = 0; i < list.Items.Count; i++)
                {
                    result.Add(Policy(new MapReader(list.Items[i], $"{parent.KeyPath(key)}[{i}]", parent.Errors)));
                }

                break;
            case var other:
                parent.Errors.Add($"'{parent.KeyPath(key)}' must be a list of policies{other.Where}");
                break;
        }

        return result;
    }

    private static SamplingPolicyOptions Policy(MapReader p)
    {
        var policy = new SamplingPolicyOptions
        {
            Name = p.String("name") ?? string.Empty,
            Type = p.String("type") ?? string.Empty,
            StatusCode = Block(p, "status_code", b => new StatusCodePolicyOptions { StatusCodes = b.StringList("status_codes") ?? [] }),
            Latency = Block(p, "latency", b => new LatencyPolicyOptions
            {
                ThresholdMs = b.Long("threshold_ms", 0, 0, long.MaxValue),
                UpperThresholdMs = b.Long("upper_threshold_ms", 0, 0, long.MaxValue),
            }),
            StringAttribute = Block(p, "string_attribute", b => new StringAttributePolicyOptions
            {
                Key = b.String("key") ?? string.Empty,
                Values = b.StringList("values") ?? [],
                EnabledRegexMatching = b.Bool("enabled_regex_matching", false),
                InvertMatch = b.Bool("invert_match", false),
            }),
            NumericAttribute = Block(p, "numeric_attribute", b => new NumericAttributePolicyOptions
            {
                Key = b.String("key") ?? string.Empty,
                MinValue = b.Has("min_value") ? b.Long("min_value", 0, long.MinValue, long.MaxValue) : null,
                MaxValue = b.Has("max_value") ? b.Long("max_value", 0, long.MinValue, long.MaxValue) : null,
                InvertMatch = b.Bool("invert_match", false),
            }),
            BooleanAttribute = Block(p, "boolean_attribute", b => new BooleanAttributePolicyOptions
            {
                Key = b.String("key") ?? string.Empty,
                Value = b.Bool("value", false),
                InvertMatch = b.Bool("invert_match", false),
            }),
            AttributeExists = Block(p, "attribute_exists", b => new AttributeExistsPolicyOptions
            {
                Key = b.String("key") ?? string.Empty,
                InvertMatch = b.Bool("invert_match", false),
            }),
            Probabilistic = Block(p, "probabilistic", b => new ProbabilisticPolicyOptions
            {
                SamplingPercentage = b.Double("sampling_percentage", 0, double.MinValue, double.MaxValue),
                HashSalt = b.String("hash_salt") ?? string.Empty,
            }),
            RateLimiting = Block(p, "rate_limiting", b => new RateLimitingPolicyOptions { SpansPerSecond = b.Long("spans_per_second", 0, 0, long.MaxValue) }),
            SpanCount = Block(p, "span_count", b => new SpanCountPolicyOptions
            {
                MinSpans = b.Int("min_spans", 0, 0, int.MaxValue),
                MaxSpans = b.Int("max_spans", 0, 0, int.MaxValue),
            }),
            And = Block(p, "and", b => new AndPolicyOptions { AndSubPolicy = Policies(b, "and_sub_policy") }),
            Drop = Block(p, "drop", b => new DropPolicyOptions { DropSubPolicy = Policies(b, "drop_sub_policy") }),
            Composite = Block(p, "composite", b => new CompositePolicyOptions
            {
                MaxTotalSpansPerSecond = b.Long("max_total_spans_per_second", 0, 0, long.MaxValue),
                PolicyOrder = b.StringList("policy_order") ?? [],
                CompositeSubPolicy = Policies(b, "composite_sub_policy"),
                RateAllocation = RateAllocations(b),
            }),
        };
        p.Finish();
        return policy;
    }

    private static List<RateAllocationOptions> RateAllocations(MapReader composite)
    {
        var result = new List<RateAllocationOptions>();
        if (composite.Node("rate_allocation") is ConfigList list)
        {
            for (var i = 0; i < list.Items.Count; i++)
            {
                var r = new MapReader(list.Items[i], $"{composite.KeyPath("rate_allocation")}[{i}]", composite.Errors);
                result.Add(new RateAllocationOptions { Policy = r.String("policy") ?? string.Empty, Percent = r.Double("percent", 0, double.MinValue, double.MaxValue) });
                r.Finish();
            }
        }

        return result;
    }

    private static T? Block<T>(MapReader policy, string key, Func<MapReader, T> bind)
        where T : class
    {
        if (!policy.Has(key))
        {
            return null;
        }

        var block = policy.Map(key);
        var result = bind(block);
        block.Finish();
        return result;
    }
}
