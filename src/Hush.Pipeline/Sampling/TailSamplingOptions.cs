using System.Text.RegularExpressions;

namespace Hush.Pipeline.Sampling;

/// <summary>
/// Settings of one <see cref="TailSamplingProcessor"/> (<c>processors.tail_sampling[/NAME].*</c>), shaped like the
/// OpenTelemetry Collector's <c>tail_sampling</c> processor. A trace is buffered for <see cref="DecisionWait"/>, then
/// the policies decide: a drop policy that matches drops it; otherwise the first policy that matches keeps it;
/// a trace no policy matches is dropped.
/// </summary>
public sealed record TailSamplingOptions
{
    /// <summary>Longest a shard may hold: more shards than this only cost memory on 2-64 cores.</summary>
    internal const int MaxShards = 256;

    /// <summary>Leaf span tests per policy set: each is one bit of a per-trace 64-bit mask.</summary>
    internal const int MaxSpanTestsPerPolicySet = 64;

    /// <summary><c>decision_wait</c>: how long spans of a trace are buffered after its first span arrived.</summary>
    public TimeSpan DecisionWait { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// <c>decision_wait_after_root_received</c>: once the root span arrived, decide as soon as no span of the trace
    /// arrived for this long (a quiet period), before <see cref="DecisionWait"/>. Zero turns early decisions off.
    /// </summary>
    public TimeSpan DecisionWaitAfterRootReceived { get; init; } = TimeSpan.Zero;

    /// <summary><c>num_traces</c>: most traces buffered at once; past it the oldest are decided early (counted).</summary>
    public int NumTraces { get; init; } = 100_000;

    /// <summary>
    /// <c>max_buffer_bytes</c>: most bytes buffered (encoded spans plus bookkeeping); past it the oldest traces are
    /// decided early, never silently lost (counted). 128 MiB holds 10 s of ~25,000 spans/s at ~500 bytes a span.
    /// </summary>
    public long MaxBufferBytes { get; init; } = 128L * 1024 * 1024;

    /// <summary><c>max_trace_bytes</c>: a trace larger than this is decided at once; its later spans follow the decision.</summary>
    public long MaxTraceBytes { get; init; } = 4L * 1024 * 1024;

    /// <summary><c>tick_interval</c>: how often due traces are decided; a decision is at most this late.</summary>
    public TimeSpan TickInterval { get; init; } = TimeSpan.FromMilliseconds(100);

    /// <summary><c>num_shards</c>: independent trace buffers (by trace id), each with its own lock; 0 = 4 per core.</summary>
    public int NumShards { get; init; }

    /// <summary><c>decision_cache</c>: remembered decisions, so spans arriving after a decision follow it.</summary>
    public DecisionCacheOptions DecisionCache { get; init; } = new();

    /// <summary><c>policies</c>: the default policy set, for every tenant not listed in <see cref="Tenants"/>.</summary>
    public IReadOnlyList<SamplingPolicyOptions> Policies { get; init; } = [];

    /// <summary><c>tenants</c>: per-tenant policy sets replacing <see cref="Policies"/> for that tenant.</summary>
    public IReadOnlyDictionary<string, TenantSamplingOptions> Tenants { get; init; } = new Dictionary<string, TenantSamplingOptions>();

    /// <summary>Returns every problem at once, each quoting its key under <paramref name="keyPath"/>; empty when valid.</summary>
    public IReadOnlyList<string> Validate(string keyPath)
    {
        var prefix = string.IsNullOrEmpty(keyPath) ? string.Empty : keyPath + ".";
        var errors = new List<string>();
        if (DecisionWait <= TimeSpan.Zero)
        {
            errors.Add($"'{prefix}decision_wait' must be greater than zero");
        }

        if (DecisionWaitAfterRootReceived < TimeSpan.Zero)
        {
            errors.Add($"'{prefix}decision_wait_after_root_received' must not be negative");
        }
        else if (DecisionWait > TimeSpan.Zero && DecisionWaitAfterRootReceived >= DecisionWait)
        {
            errors.Add($"'{prefix}decision_wait_after_root_received' must be less than '{prefix}decision_wait'");
        }

        if (NumTraces <= 0)
        {
            errors.Add($"'{prefix}num_traces' must be greater than zero");
        }

        if (MaxBufferBytes <= 0)
        {
            errors.Add($"'{prefix}max_buffer_bytes' must be greater than zero");
        }

        if (MaxTraceBytes <= 0)
        {
            errors.Add($"'{prefix}max_trace_bytes' must be greater than zero");
        }
        else if (MaxBufferBytes > 0 && MaxTraceBytes > MaxBufferBytes)
        {
            errors.Add($"'{prefix}max_trace_bytes' must not be greater than '{prefix}max_buffer_bytes'");
        }

        if (TickInterval <= TimeSpan.Zero)
        {
            errors.Add($"'{prefix}tick_interval' must be greater than zero");
        }

        if (NumShards is < 0 or > MaxShards)
        {
            errors.Add($"'{prefix}num_shards' must be between 0 (automatic) and {MaxShards}");
        }

        if (DecisionCache is null)
        {
            errors.Add($"'{prefix}decision_cache' must not be null");
        }
        else
        {
            if (DecisionCache.SampledCacheSize < 0)
            {
                errors.Add($"'{prefix}decision_cache.sampled_cache_size' must not be negative");
            }

            if (DecisionCache.NonSampledCacheSize < 0)
            {
                errors.Add($"'{prefix}decision_cache.non_sampled_cache_size' must not be negative");
            }

            if (DecisionCache.PersistPath is { } persist && string.IsNullOrWhiteSpace(persist))
            {
                errors.Add($"'{prefix}decision_cache.persist_path' must not be empty (leave it out to keep decisions in memory only)");
            }
        }

        ValidatePolicySet(Policies, prefix + "policies", errors);
        if (Tenants is not null)
        {
            foreach (var (tenant, set) in Tenants)
            {
                if (string.IsNullOrWhiteSpace(tenant))
                {
                    errors.Add($"'{prefix}tenants' has an empty tenant name");
                    continue;
                }

                ValidatePolicySet(set?.Policies, $"{prefix}tenants.{tenant}.policies", errors);
            }
        }

        return errors;
    }

    private static void ValidatePolicySet(IReadOnlyList<SamplingPolicyOptions>? policies, string key, List<string> errors)
    {
        if (policies is null || policies.Count == 0)
        {
            errors.Add($"'{key}' must list at least one policy");
            return;
        }

        var spanTests = 0;
        SamplingPolicyOptions.ValidateList(policies, key, SamplingPolicyOptions.TopLevelTypes, errors, ref spanTests);
        if (spanTests > MaxSpanTestsPerPolicySet)
        {
            errors.Add($"'{key}' has {spanTests} attribute and status tests; at most {MaxSpanTestsPerPolicySet} are supported");
        }
    }
}

/// <summary><c>decision_cache</c>: how many decided trace ids are remembered, by outcome.</summary>
public sealed record DecisionCacheOptions
{
    /// <summary><c>sampled_cache_size</c>: kept trace ids remembered (~40 bytes each).</summary>
    public int SampledCacheSize { get; init; } = 100_000;

    /// <summary><c>non_sampled_cache_size</c>: dropped trace ids remembered (~40 bytes each).</summary>
    public int NonSampledCacheSize { get; init; } = 100_000;

    /// <summary>
    /// <c>persist_path</c>: a file the remembered decisions are written to on stop (after the last decision) and read
    /// from at construction, so late spans after a restart follow decisions made before it; null = memory only.
    /// Holds tenant names and trace ids, never span content; a missing, corrupt or foreign file starts empty (a
    /// warning). Remembering costs 8 bytes more per id while set.
    /// </summary>
    public string? PersistPath { get; init; }
}

/// <summary><c>tenants.NAME</c>: the policy set of one tenant.</summary>
public sealed record TenantSamplingOptions
{
    /// <summary><c>policies</c>: replaces the default policies for this tenant.</summary>
    public IReadOnlyList<SamplingPolicyOptions> Policies { get; init; } = [];
}

/// <summary>
/// One policy (<c>policies[i]</c>): a <see cref="Name"/>, a <see cref="Type"/> and the block of that type, as in the
/// Collector (<c>{ name: errors, type: status_code, status_code: { status_codes: [ERROR] } }</c>).
/// </summary>
public sealed record SamplingPolicyOptions
{
    public const string AlwaysType = "always";
    public const string StatusCodeType = "status_code";
    public const string LatencyType = "latency";
    public const string StringAttributeType = "string_attribute";
    public const string NumericAttributeType = "numeric_attribute";
    public const string BooleanAttributeType = "boolean_attribute";
    public const string AttributeExistsType = "attribute_exists";
    public const string ProbabilisticType = "probabilistic";
    public const string RateLimitingType = "rate_limiting";
    public const string SpanCountType = "span_count";
    public const string AndType = "and";
    public const string CompositeType = "composite";
    public const string DropType = "drop";

    /// <summary>The Collector's name for <see cref="AlwaysType"/>, accepted too.</summary>
    public const string AlwaysSampleAlias = "always_sample";

    internal static readonly string[] LeafTypes =
    [
        AlwaysType, StatusCodeType, LatencyType, StringAttributeType, NumericAttributeType, BooleanAttributeType,
        AttributeExistsType, ProbabilisticType, RateLimitingType, SpanCountType,
    ];

    internal static readonly string[] TopLevelTypes = [.. LeafTypes, AndType, CompositeType, DropType];

    internal static readonly string[] CompositeSubTypes = [.. LeafTypes, AndType];

    /// <summary><c>name</c>: unique within its list; the <c>policy</c> label of the metrics.</summary>
    public string Name { get; init; } = string.Empty;

    /// <summary><c>type</c>: one of the <c>*Type</c> constants.</summary>
    public string Type { get; init; } = string.Empty;

    /// <summary><c>status_code</c>.</summary>
    public StatusCodePolicyOptions? StatusCode { get; init; }

    /// <summary><c>latency</c>.</summary>
    public LatencyPolicyOptions? Latency { get; init; }

    /// <summary><c>string_attribute</c>.</summary>
    public StringAttributePolicyOptions? StringAttribute { get; init; }

    /// <summary><c>numeric_attribute</c>.</summary>
    public NumericAttributePolicyOptions? NumericAttribute { get; init; }

    /// <summary><c>boolean_attribute</c>.</summary>
    public BooleanAttributePolicyOptions? BooleanAttribute { get; init; }

    /// <summary><c>attribute_exists</c> (a Hush addition: the key is present on a span or its resource, any value).</summary>
    public AttributeExistsPolicyOptions? AttributeExists { get; init; }

    /// <summary><c>probabilistic</c>.</summary>
    public ProbabilisticPolicyOptions? Probabilistic { get; init; }

    /// <summary><c>rate_limiting</c>.</summary>
    public RateLimitingPolicyOptions? RateLimiting { get; init; }

    /// <summary><c>span_count</c>.</summary>
    public SpanCountPolicyOptions? SpanCount { get; init; }

    /// <summary><c>and</c>.</summary>
    public AndPolicyOptions? And { get; init; }

    /// <summary><c>composite</c>.</summary>
    public CompositePolicyOptions? Composite { get; init; }

    /// <summary><c>drop</c>.</summary>
    public DropPolicyOptions? Drop { get; init; }

    /// <summary>The type with aliases resolved, lower case.</summary>
    internal string NormalizedType
    {
        get
        {
            var type = (Type ?? string.Empty).Trim().ToLowerInvariant();
            return type == AlwaysSampleAlias ? AlwaysType : type;
        }
    }

    internal static void ValidateList(IReadOnlyList<SamplingPolicyOptions>? policies, string key, string[] allowedTypes, List<string> errors, ref int spanTests)
    {
        if (policies is null || policies.Count == 0)
        {
            errors.Add($"'{key}' must list at least one policy");
            return;
        }

        var names = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < policies.Count; i++)
        {
            var itemKey = $"{key}[{i}]";
            var policy = policies[i];
            if (policy is null)
            {
                errors.Add($"'{itemKey}' must not be empty");
                continue;
            }

            if (string.IsNullOrWhiteSpace(policy.Name))
            {
                errors.Add($"'{itemKey}.name' is required");
            }
            else if (!names.Add(policy.Name))
            {
                errors.Add($"'{itemKey}.name' '{policy.Name}' is used by another policy in the same list");
            }

            policy.ValidateBody(itemKey, allowedTypes, errors, ref spanTests);
        }
    }

    private void ValidateBody(string key, string[] allowedTypes, List<string> errors, ref int spanTests)
    {
        var type = NormalizedType;
        if (type.Length == 0)
        {
            errors.Add($"'{key}.type' is required (one of {string.Join(", ", allowedTypes)})");
            return;
        }

        if (Array.IndexOf(allowedTypes, type) < 0)
        {
            var known = Array.IndexOf(TopLevelTypes, type) >= 0;
            errors.Add(known
                ? $"'{key}.type' '{type}' is not allowed here (one of {string.Join(", ", allowedTypes)})"
                : $"'{key}.type' '{Type}' is not a known policy type (one of {string.Join(", ", allowedTypes)})");
            return;
        }

        switch (type)
        {
            case AlwaysType:
                break;
            case StatusCodeType:
                if (Require(StatusCode, key, type, errors) is { } sc)
                {
                    spanTests++;
                    if (sc.StatusCodes is null || sc.StatusCodes.Count == 0)
                    {
                        errors.Add($"'{key}.status_code.status_codes' must list at least one of ERROR, OK, UNSET");
                    }
                    else
                    {
                        for (var i = 0; i < sc.StatusCodes.Count; i++)
                        {
                            if (!StatusCodePolicyOptions.TryParse(sc.StatusCodes[i], out _))
                            {
                                errors.Add($"'{key}.status_code.status_codes[{i}]' must be ERROR, OK or UNSET");
                            }
                        }
                    }
                }

                break;
            case LatencyType:
                if (Require(Latency, key, type, errors) is { } lat)
                {
                    if (lat.ThresholdMs < 0)
                    {
                        errors.Add($"'{key}.latency.threshold_ms' must not be negative");
                    }

                    if (lat.UpperThresholdMs < 0)
                    {
                        errors.Add($"'{key}.latency.upper_threshold_ms' must not be negative");
                    }
                    else if (lat.UpperThresholdMs > 0 && lat.UpperThresholdMs <= lat.ThresholdMs)
                    {
                        errors.Add($"'{key}.latency.upper_threshold_ms' must be greater than 'threshold_ms' (or 0 for no upper bound)");
                    }
                }

                break;
            case StringAttributeType:
                if (Require(StringAttribute, key, type, errors) is { } sa)
                {
                    spanTests++;
                    RequireKey(sa.Key, $"{key}.string_attribute.key", errors);
                    if (sa.Values is null || sa.Values.Count == 0)
                    {
                        errors.Add($"'{key}.string_attribute.values' must list at least one value");
                    }
                    else if (sa.EnabledRegexMatching)
                    {
                        for (var i = 0; i < sa.Values.Count; i++)
                        {
                            if (StringAttributePolicyOptions.TryCompile(sa.Values[i], out _, out var problem) is false)
                            {
                                errors.Add($"'{key}.string_attribute.values[{i}]' {problem}");
                            }
                        }
                    }
                }

                break;
            case NumericAttributeType:
                if (Require(NumericAttribute, key, type, errors) is { } na)
                {
                    spanTests++;
                    RequireKey(na.Key, $"{key}.numeric_attribute.key", errors);
                    if (na.MinValue is null && na.MaxValue is null)
                    {
                        errors.Add($"'{key}.numeric_attribute' needs 'min_value', 'max_value' or both");
                    }
                    else if (na.MinValue is { } min && na.MaxValue is { } max && min > max)
                    {
                        errors.Add($"'{key}.numeric_attribute.min_value' must not be greater than 'max_value'");
                    }
                }

                break;
            case BooleanAttributeType:
                if (Require(BooleanAttribute, key, type, errors) is { } ba)
                {
                    spanTests++;
                    RequireKey(ba.Key, $"{key}.boolean_attribute.key", errors);
                }

                break;
            case AttributeExistsType:
                if (Require(AttributeExists, key, type, errors) is { } ae)
                {
                    spanTests++;
                    RequireKey(ae.Key, $"{key}.attribute_exists.key", errors);
                }

                break;
            case ProbabilisticType:
                if (Require(Probabilistic, key, type, errors) is { } pr
                    && (double.IsNaN(pr.SamplingPercentage) || pr.SamplingPercentage < 0 || pr.SamplingPercentage > 100))
                {
                    errors.Add($"'{key}.probabilistic.sampling_percentage' must be between 0 and 100");
                }

                break;
            case RateLimitingType:
                if (Require(RateLimiting, key, type, errors) is { } rl && rl.SpansPerSecond <= 0)
                {
                    errors.Add($"'{key}.rate_limiting.spans_per_second' must be greater than zero");
                }

                break;
            case SpanCountType:
                if (Require(SpanCount, key, type, errors) is { } sp)
                {
                    if (sp.MinSpans < 0)
                    {
                        errors.Add($"'{key}.span_count.min_spans' must not be negative");
                    }

                    if (sp.MaxSpans < 0)
                    {
                        errors.Add($"'{key}.span_count.max_spans' must not be negative");
                    }
                    else if (sp.MaxSpans > 0 && sp.MaxSpans < sp.MinSpans)
                    {
                        errors.Add($"'{key}.span_count.max_spans' must not be less than 'min_spans' (or 0 for no upper bound)");
                    }
                }

                break;
            case AndType:
                if (Require(And, key, type, errors) is { } and)
                {
                    ValidateList(and.AndSubPolicy, $"{key}.and.and_sub_policy", LeafTypes, errors, ref spanTests);
                }

                break;
            case DropType:
                if (Require(Drop, key, type, errors) is { } drop)
                {
                    ValidateList(drop.DropSubPolicy, $"{key}.drop.drop_sub_policy", LeafTypes, errors, ref spanTests);
                }

                break;
            case CompositeType:
                if (Require(Composite, key, type, errors) is { } composite)
                {
                    composite.Validate($"{key}.composite", errors, ref spanTests);
                }

                break;
        }
    }

    private static T? Require<T>(T? block, string key, string type, List<string> errors)
        where T : class
    {
        if (block is null)
        {
            errors.Add($"'{key}.{type}' is required for a policy of type '{type}'");
        }

        return block;
    }

    private static void RequireKey(string? attributeKey, string key, List<string> errors)
    {
        if (string.IsNullOrEmpty(attributeKey))
        {
            errors.Add($"'{key}' is required");
        }
    }
}

/// <summary><c>status_code</c>: keeps a trace with a span of one of these statuses.</summary>
public sealed record StatusCodePolicyOptions
{
    /// <summary><c>status_codes</c>: ERROR, OK and/or UNSET (any case).</summary>
    public IReadOnlyList<string> StatusCodes { get; init; } = [];

    internal static bool TryParse(string? value, out Otlp.StatusCode code)
    {
        switch ((value ?? string.Empty).Trim().ToUpperInvariant())
        {
            case "ERROR":
                code = Otlp.StatusCode.Error;
                return true;
            case "OK":
                code = Otlp.StatusCode.Ok;
                return true;
            case "UNSET":
                code = Otlp.StatusCode.Unset;
                return true;
            default:
                code = default;
                return false;
        }
    }
}

/// <summary><c>latency</c>: keeps a trace whose duration (first span start to last span end) is in range.</summary>
public sealed record LatencyPolicyOptions
{
    /// <summary><c>threshold_ms</c>: the trace lasted at least this long (milliseconds).</summary>
    public long ThresholdMs { get; init; }

    /// <summary><c>upper_threshold_ms</c>: and at most this long; 0 = no upper bound.</summary>
    public long UpperThresholdMs { get; init; }
}

/// <summary><c>string_attribute</c>: keeps a trace with a span (or resource) whose string attribute matches.</summary>
public sealed record StringAttributePolicyOptions
{
    /// <summary>Regex matching is linear time: .NET's non-backtracking engine, so a value cannot stall a decision.</summary>
    internal const RegexOptions RegexFlags = RegexOptions.NonBacktracking | RegexOptions.CultureInvariant;

    /// <summary><c>key</c>: the attribute name.</summary>
    public string Key { get; init; } = string.Empty;

    /// <summary><c>values</c>: exact values, or regular expressions with <see cref="EnabledRegexMatching"/>.</summary>
    public IReadOnlyList<string> Values { get; init; } = [];

    /// <summary><c>enabled_regex_matching</c>: treat <see cref="Values"/> as regular expressions (unanchored, linear time).</summary>
    public bool EnabledRegexMatching { get; init; }

    /// <summary><c>invert_match</c>: keep the trace when no span matches instead.</summary>
    public bool InvertMatch { get; init; }

    internal static bool TryCompile(string? pattern, out Regex? regex, out string problem)
    {
        regex = null;
        problem = string.Empty;
        if (pattern is null)
        {
            problem = "must not be empty";
            return false;
        }

        try
        {
            regex = new Regex(pattern, RegexFlags);
            return true;
        }
        catch (NotSupportedException)
        {
            // Backreferences, lookarounds and atomic groups need backtracking: refused, never run slowly.
            problem = "is not a linear-time regular expression (backreferences, lookarounds and atomic groups are not supported)";
            return false;
        }
        catch (ArgumentException ex)
        {
            problem = "is not a valid regular expression: " + (ex is RegexParseException parse ? parse.Error.ToString() : "invalid pattern");
            return false;
        }
    }
}

/// <summary><c>numeric_attribute</c>: keeps a trace with a span (or resource) whose numeric attribute is in range.</summary>
public sealed record NumericAttributePolicyOptions
{
    /// <summary><c>key</c>: the attribute name (int or double values).</summary>
    public string Key { get; init; } = string.Empty;

    /// <summary><c>min_value</c>: inclusive; null = no lower bound.</summary>
    public long? MinValue { get; init; }

    /// <summary><c>max_value</c>: inclusive; null = no upper bound.</summary>
    public long? MaxValue { get; init; }

    /// <summary><c>invert_match</c>: keep the trace when no span matches instead.</summary>
    public bool InvertMatch { get; init; }
}

/// <summary><c>boolean_attribute</c>: keeps a trace with a span (or resource) whose boolean attribute has this value.</summary>
public sealed record BooleanAttributePolicyOptions
{
    /// <summary><c>key</c>: the attribute name.</summary>
    public string Key { get; init; } = string.Empty;

    /// <summary><c>value</c>: the value to match.</summary>
    public bool Value { get; init; }

    /// <summary><c>invert_match</c>: keep the trace when no span matches instead.</summary>
    public bool InvertMatch { get; init; }
}

/// <summary><c>attribute_exists</c>: keeps a trace with a span (or resource) carrying the attribute, any type, any value.</summary>
public sealed record AttributeExistsPolicyOptions
{
    /// <summary><c>key</c>: the attribute name.</summary>
    public string Key { get; init; } = string.Empty;

    /// <summary><c>invert_match</c>: keep the trace when no span carries it instead.</summary>
    public bool InvertMatch { get; init; }
}

/// <summary><c>probabilistic</c>: keeps a share of traces chosen by a hash of the trace id, so every replica agrees.</summary>
public sealed record ProbabilisticPolicyOptions
{
    /// <summary><c>sampling_percentage</c>: 0-100 (0.5 keeps one trace in 200).</summary>
    public double SamplingPercentage { get; init; }

    /// <summary><c>hash_salt</c>: changes which traces are kept; replicas that must agree use the same salt.</summary>
    public string HashSalt { get; init; } = string.Empty;
}

/// <summary><c>rate_limiting</c>: keeps traces while the spans kept by this policy stay under a rate.</summary>
public sealed record RateLimitingPolicyOptions
{
    /// <summary><c>spans_per_second</c>.</summary>
    public long SpansPerSecond { get; init; }
}

/// <summary><c>span_count</c>: keeps a trace with this many spans.</summary>
public sealed record SpanCountPolicyOptions
{
    /// <summary><c>min_spans</c>: inclusive.</summary>
    public int MinSpans { get; init; }

    /// <summary><c>max_spans</c>: inclusive; 0 = no upper bound.</summary>
    public int MaxSpans { get; init; }
}

/// <summary><c>and</c>: keeps a trace every sub-policy keeps.</summary>
public sealed record AndPolicyOptions
{
    /// <summary><c>and_sub_policy</c>: leaf policies (not and, composite or drop).</summary>
    public IReadOnlyList<SamplingPolicyOptions> AndSubPolicy { get; init; } = [];
}

/// <summary><c>drop</c>: drops a trace every sub-policy matches, whatever the other policies say.</summary>
public sealed record DropPolicyOptions
{
    /// <summary><c>drop_sub_policy</c>: leaf policies (not and, composite or drop).</summary>
    public IReadOnlyList<SamplingPolicyOptions> DropSubPolicy { get; init; } = [];
}

/// <summary>
/// <c>composite</c>: sub-policies tried in order, each with a share of a total span rate; a trace is kept by the first
/// sub-policy that matches and still has room in its share (and in the total).
/// </summary>
public sealed record CompositePolicyOptions
{
    /// <summary><c>max_total_spans_per_second</c>.</summary>
    public long MaxTotalSpansPerSecond { get; init; }

    /// <summary><c>policy_order</c>: sub-policy names in the order they are tried; empty = as listed.</summary>
    public IReadOnlyList<string> PolicyOrder { get; init; } = [];

    /// <summary><c>composite_sub_policy</c>: leaf or and policies.</summary>
    public IReadOnlyList<SamplingPolicyOptions> CompositeSubPolicy { get; init; } = [];

    /// <summary><c>rate_allocation</c>: each sub-policy's share of the total; sub-policies not listed share what is left.</summary>
    public IReadOnlyList<RateAllocationOptions> RateAllocation { get; init; } = [];

    internal void Validate(string key, List<string> errors, ref int spanTests)
    {
        if (MaxTotalSpansPerSecond <= 0)
        {
            errors.Add($"'{key}.max_total_spans_per_second' must be greater than zero");
        }

        SamplingPolicyOptions.ValidateList(CompositeSubPolicy, $"{key}.composite_sub_policy", SamplingPolicyOptions.CompositeSubTypes, errors, ref spanTests);
        var names = new HashSet<string>(StringComparer.Ordinal);
        if (CompositeSubPolicy is not null)
        {
            foreach (var p in CompositeSubPolicy)
            {
                if (p?.Name is { Length: > 0 } name)
                {
                    names.Add(name);
                }
            }
        }

        if (PolicyOrder is not null)
        {
            for (var i = 0; i < PolicyOrder.Count; i++)
            {
                if (!names.Contains(PolicyOrder[i] ?? string.Empty))
                {
                    errors.Add($"'{key}.policy_order[{i}]' '{PolicyOrder[i]}' is not a composite_sub_policy name");
                }
            }
        }

        double total = 0;
        if (RateAllocation is not null)
        {
            for (var i = 0; i < RateAllocation.Count; i++)
            {
                var a = RateAllocation[i];
                if (a is null || !names.Contains(a.Policy ?? string.Empty))
                {
                    errors.Add($"'{key}.rate_allocation[{i}].policy' '{a?.Policy}' is not a composite_sub_policy name");
                }

                if (a is not null && (double.IsNaN(a.Percent) || a.Percent <= 0 || a.Percent > 100))
                {
                    errors.Add($"'{key}.rate_allocation[{i}].percent' must be greater than 0 and at most 100");
                }
                else if (a is not null)
                {
                    total += a.Percent;
                }
            }
        }

        if (total > 100)
        {
            errors.Add($"'{key}.rate_allocation' percents add up to {total}, more than 100");
        }
    }
}

/// <summary><c>rate_allocation[i]</c>: a composite sub-policy's share of the total rate.</summary>
public sealed record RateAllocationOptions
{
    /// <summary><c>policy</c>: a sub-policy name.</summary>
    public string Policy { get; init; } = string.Empty;

    /// <summary><c>percent</c>: its share of <c>max_total_spans_per_second</c>.</summary>
    public double Percent { get; init; }
}
