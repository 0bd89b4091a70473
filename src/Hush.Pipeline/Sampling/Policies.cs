using System.Text;
using System.Text.RegularExpressions;
using Hush.Otlp;

namespace Hush.Pipeline.Sampling;

/// <summary>
/// What a trace's spans told the policies, gathered once per span as it arrives (while it is still decoded), so a
/// decision never looks at spans again: one bit per span test, the span count, the time span and whether the root came.
/// </summary>
internal struct TraceFacts
{
    public ulong Bits;
    public int SpanCount;
    public ulong MinStartUnixNano;
    public ulong MaxEndUnixNano;
    public bool HasRoot;

    public static TraceFacts Empty => new() { MinStartUnixNano = ulong.MaxValue };

    public void Merge(in TraceFacts other)
    {
        Bits |= other.Bits;
        SpanCount += other.SpanCount;
        MinStartUnixNano = Math.Min(MinStartUnixNano, other.MinStartUnixNano);
        MaxEndUnixNano = Math.Max(MaxEndUnixNano, other.MaxEndUnixNano);
        HasRoot |= other.HasRoot;
    }

    public readonly TimeSpan Duration =>
        SpanCount == 0 || MaxEndUnixNano <= MinStartUnixNano ? TimeSpan.Zero : TimeSpan.FromTicks((long)((MaxEndUnixNano - MinStartUnixNano) / 100));
}

/// <summary>A test of one span (or its resource's attributes); its result is bit <see cref="Bit"/> of <see cref="TraceFacts.Bits"/>.</summary>
internal abstract class SpanTest
{
    public int Bit { get; set; }

    public ulong Mask => 1UL << Bit;

    /// <summary>Whether resource attributes are tested too (as the Collector does for attribute policies).</summary>
    public virtual bool TestsResource => true;

    public virtual bool Matches(Span span) => MatchesAttributes(span.Attributes);

    public abstract bool MatchesAttributes(List<KeyValue> attributes);

    protected static bool TryFind(List<KeyValue> attributes, string key, out AnyValue value)
    {
        for (var i = 0; i < attributes.Count; i++)
        {
            var k = attributes[i].Key;
            if (ReferenceEquals(k, key) || (k.Length == key.Length && string.Equals(k, key, StringComparison.Ordinal)))
            {
                value = attributes[i].Value;
                return true;
            }
        }

        value = default;
        return false;
    }
}

internal sealed class StatusTest(bool error, bool ok, bool unset) : SpanTest
{
    public override bool TestsResource => false;

    public override bool Matches(Span span) => span.Status.Code switch
    {
        StatusCode.Error => error,
        StatusCode.Ok => ok,
        _ => unset,
    };

    public override bool MatchesAttributes(List<KeyValue> attributes) => false;
}

internal sealed class StringTest : SpanTest
{
    /// <summary>Up to this many exact values a linear scan beats hashing the attribute value.</summary>
    private const int LinearScanValues = 4;

    private readonly string _key;
    private readonly string[] _values;
    private readonly HashSet<string>? _set;
    private readonly Regex[]? _regexes;

    public StringTest(StringAttributePolicyOptions options)
    {
        _key = options.Key;
        _values = [.. options.Values];
        if (options.EnabledRegexMatching)
        {
            _regexes = new Regex[_values.Length];
            for (var i = 0; i < _values.Length; i++)
            {
                if (!StringAttributePolicyOptions.TryCompile(_values[i], out var regex, out _))
                {
                    throw new ArgumentException("A string_attribute regex does not compile; validate the options first.", nameof(options));
                }

                _regexes[i] = regex!;
            }
        }
        else if (_values.Length > LinearScanValues)
        {
            _set = new HashSet<string>(_values, StringComparer.Ordinal);
        }
    }

    public override bool MatchesAttributes(List<KeyValue> attributes)
    {
        if (!TryFind(attributes, _key, out var value) || value.StringValue is not { } s)
        {
            return false;
        }

        if (_regexes is not null)
        {
            foreach (var regex in _regexes)
            {
                if (regex.IsMatch(s))
                {
                    return true;
                }
            }

            return false;
        }

        if (_set is not null)
        {
            return _set.Contains(s);
        }

        foreach (var v in _values)
        {
            if (string.Equals(v, s, StringComparison.Ordinal))
            {
                return true;
            }
        }

        return false;
    }
}

internal sealed class NumericTest(NumericAttributePolicyOptions options) : SpanTest
{
    private readonly double _min = options.MinValue ?? double.NegativeInfinity;
    private readonly double _max = options.MaxValue ?? double.PositiveInfinity;

    public override bool MatchesAttributes(List<KeyValue> attributes)
    {
        if (!TryFind(attributes, options.Key, out var value))
        {
            return false;
        }

        double d;
        switch (value.Kind)
        {
            case AnyValueKind.Int:
                d = value.IntValue;
                break;
            case AnyValueKind.Double:
                d = value.DoubleValue;
                break;
            default:
                return false;
        }

        return d >= _min && d <= _max;
    }
}

internal sealed class BooleanTest(BooleanAttributePolicyOptions options) : SpanTest
{
    public override bool MatchesAttributes(List<KeyValue> attributes) =>
        TryFind(attributes, options.Key, out var value) && value.Kind == AnyValueKind.Bool && value.BoolValue == options.Value;
}

internal sealed class ExistsTest(string key) : SpanTest
{
    public override bool MatchesAttributes(List<KeyValue> attributes) => TryFind(attributes, key, out _);
}

/// <summary>A spans-per-second budget in one-second windows of the injected clock.</summary>
internal sealed class SpanRateBudget(long spansPerSecond)
{
    private readonly Lock _lock = new();
    private long _second = long.MinValue;
    private long _used;

    public long SpansPerSecond { get; } = spansPerSecond;

    public bool TryTake(int spans, long utcTicks)
    {
        lock (_lock)
        {
            return TryTakeLocked(spans, utcTicks);
        }
    }

    /// <summary>For callers holding their own lock over several budgets.</summary>
    public bool CanTakeUnlocked(int spans, long utcTicks)
    {
        var second = utcTicks / TimeSpan.TicksPerSecond;
        var used = second == _second ? _used : 0;
        return used + spans <= SpansPerSecond;
    }

    public bool TryTakeLocked(int spans, long utcTicks)
    {
        var second = utcTicks / TimeSpan.TicksPerSecond;
        if (second != _second)
        {
            _second = second;
            _used = 0;
        }

        if (_used + spans > SpansPerSecond)
        {
            return false;
        }

        _used += spans;
        return true;
    }
}

/// <summary>A compiled policy: decides from a trace's facts (and, for rate policies, the clock).</summary>
internal abstract class PolicyNode
{
    public abstract bool Evaluate(TraceId traceId, in TraceFacts facts, long utcTicks);
}

internal sealed class AlwaysNode : PolicyNode
{
    public override bool Evaluate(TraceId traceId, in TraceFacts facts, long utcTicks) => true;
}

internal sealed class SpanTestNode(SpanTest test, bool invert) : PolicyNode
{
    public override bool Evaluate(TraceId traceId, in TraceFacts facts, long utcTicks) => ((facts.Bits & test.Mask) != 0) != invert;
}

internal sealed class LatencyNode(LatencyPolicyOptions options) : PolicyNode
{
    private readonly TimeSpan _min = TimeSpan.FromMilliseconds(options.ThresholdMs);
    private readonly TimeSpan _max = options.UpperThresholdMs > 0 ? TimeSpan.FromMilliseconds(options.UpperThresholdMs) : TimeSpan.MaxValue;

    public override bool Evaluate(TraceId traceId, in TraceFacts facts, long utcTicks)
    {
        var d = facts.Duration;
        return d >= _min && d <= _max;
    }
}

internal sealed class SpanCountNode(SpanCountPolicyOptions options) : PolicyNode
{
    public override bool Evaluate(TraceId traceId, in TraceFacts facts, long utcTicks) =>
        facts.SpanCount >= options.MinSpans && (options.MaxSpans == 0 || facts.SpanCount <= options.MaxSpans);
}

/// <summary>Keeps a trace when a salted hash of its id falls under the percentage: the same answer on every replica.</summary>
internal sealed class ProbabilisticNode : PolicyNode
{
    private const double TwoToThe64 = 18446744073709551616.0;

    private readonly ulong _salt;
    private readonly ulong _threshold;
    private readonly bool _all;

    public ProbabilisticNode(ProbabilisticPolicyOptions options)
    {
        _salt = SaltHash(options.HashSalt ?? string.Empty);
        _all = options.SamplingPercentage >= 100;
        _threshold = _all ? ulong.MaxValue : (ulong)(options.SamplingPercentage / 100 * TwoToThe64);
    }

    public override bool Evaluate(TraceId traceId, in TraceFacts facts, long utcTicks) => _all || Hash(traceId, _salt) < _threshold;

    internal static ulong Hash(TraceId traceId, ulong salt) => Mix(Mix(salt ^ traceId.High) ^ traceId.Low);

    /// <summary>FNV-1a over the salt's UTF-8 bytes: stable across processes, unlike string.GetHashCode.</summary>
    internal static ulong SaltHash(string salt)
    {
        var hash = 14695981039346656037UL;
        foreach (var b in Encoding.UTF8.GetBytes(salt))
        {
            hash = (hash ^ b) * 1099511628211UL;
        }

        return hash;
    }

    /// <summary>SplitMix64's finalizer: every input bit affects every output bit.</summary>
    private static ulong Mix(ulong z)
    {
        z += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}

internal sealed class RateLimitingNode(long spansPerSecond) : PolicyNode
{
    private readonly SpanRateBudget _budget = new(spansPerSecond);

    public override bool Evaluate(TraceId traceId, in TraceFacts facts, long utcTicks) => _budget.TryTake(facts.SpanCount, utcTicks);
}

internal sealed class AndNode(PolicyNode[] children) : PolicyNode
{
    public override bool Evaluate(TraceId traceId, in TraceFacts facts, long utcTicks)
    {
        foreach (var child in children)
        {
            if (!child.Evaluate(traceId, facts, utcTicks))
            {
                return false;
            }
        }

        return true;
    }
}

internal sealed class CompositeNode(PolicyNode[] children, SpanRateBudget[] shares, SpanRateBudget total) : PolicyNode
{
    private readonly Lock _lock = new();

    public override bool Evaluate(TraceId traceId, in TraceFacts facts, long utcTicks)
    {
        for (var i = 0; i < children.Length; i++)
        {
            if (!children[i].Evaluate(traceId, facts, utcTicks))
            {
                continue;
            }

            lock (_lock)
            {
                if (shares[i].CanTakeUnlocked(facts.SpanCount, utcTicks) && total.CanTakeUnlocked(facts.SpanCount, utcTicks))
                {
                    shares[i].TryTakeLocked(facts.SpanCount, utcTicks);
                    total.TryTakeLocked(facts.SpanCount, utcTicks);
                    return true;
                }
            }
        }

        return false;
    }
}

/// <summary>A top-level policy with its metric series.</summary>
internal sealed class TopPolicy(string name, PolicyNode node, bool isDrop)
{
    public string Name { get; } = name;

    public PolicyNode Node { get; } = node;

    public bool IsDrop { get; } = isDrop;

    public Counter TracesSampled { get; set; } = null!;

    public Counter TracesDropped { get; set; } = null!;

    public Counter SpansSampled { get; set; } = null!;

    public Counter SpansDropped { get; set; } = null!;
}

/// <summary>
/// One policy set (the default or a tenant's), compiled: the span tests run on arrival, the top-level policies at
/// decision time. Immutable after construction except for the rate budgets.
/// </summary>
internal sealed class CompiledPolicySet
{
    /// <summary>The metrics' policy label of a trace no policy kept.</summary>
    internal const string NoMatchPolicy = "no_match";

    private readonly SpanTest[] _spanTests;
    private readonly SpanTest[] _resourceTests;
    private readonly TopPolicy[] _drops;
    private readonly TopPolicy[] _keeps;

    public CompiledPolicySet(string setName, IReadOnlyList<SamplingPolicyOptions> policies)
    {
        SetName = setName;
        var tests = new List<SpanTest>();
        var drops = new List<TopPolicy>();
        var keeps = new List<TopPolicy>();
        foreach (var p in policies)
        {
            if (p.NormalizedType == SamplingPolicyOptions.DropType)
            {
                drops.Add(new TopPolicy(p.Name, new AndNode(CompileList(p.Drop!.DropSubPolicy, tests)), isDrop: true));
            }
            else
            {
                keeps.Add(new TopPolicy(p.Name, Compile(p, tests), isDrop: false));
            }
        }

        _spanTests = [.. tests];
        _resourceTests = tests.FindAll(static t => t.TestsResource).ToArray();
        _drops = [.. drops];
        _keeps = [.. keeps];
        NoMatch = new TopPolicy(NoMatchPolicy, new AlwaysNode(), isDrop: true);
        All = [.. _drops, .. _keeps, NoMatch];
    }

    public string SetName { get; }

    /// <summary>Drops, then keeps, then <see cref="NoMatch"/>: for registering metric series.</summary>
    public TopPolicy[] All { get; }

    public TopPolicy NoMatch { get; }

    /// <summary>Bits of the tests that a resource's attributes pass (tested once per resource, not per span).</summary>
    public ulong TestResource(Resource resource)
    {
        ulong bits = 0;
        if (resource.Attributes.Count == 0)
        {
            return 0;
        }

        foreach (var t in _resourceTests)
        {
            if (t.MatchesAttributes(resource.Attributes))
            {
                bits |= t.Mask;
            }
        }

        return bits;
    }

    /// <summary>Adds one span to <paramref name="facts"/>; tests already passed by an earlier span are skipped.</summary>
    public void AddSpan(Span span, ref TraceFacts facts)
    {
        var tests = _spanTests;
        for (var i = 0; i < tests.Length; i++)
        {
            var t = tests[i];
            if ((facts.Bits & t.Mask) == 0 && t.Matches(span))
            {
                facts.Bits |= t.Mask;
            }
        }

        facts.SpanCount++;
        if (span.StartTimeUnixNano < facts.MinStartUnixNano)
        {
            facts.MinStartUnixNano = span.StartTimeUnixNano;
        }

        if (span.EndTimeUnixNano > facts.MaxEndUnixNano)
        {
            facts.MaxEndUnixNano = span.EndTimeUnixNano;
        }

        if (span.ParentSpanId.IsEmpty)
        {
            facts.HasRoot = true;
        }
    }

    /// <summary>Drop policies first (any match drops), then keep policies in order (the first match keeps).</summary>
    public TopPolicy Decide(TraceId traceId, in TraceFacts facts, long utcTicks, out bool sampled)
    {
        foreach (var d in _drops)
        {
            if (d.Node.Evaluate(traceId, facts, utcTicks))
            {
                sampled = false;
                return d;
            }
        }

        foreach (var k in _keeps)
        {
            if (k.Node.Evaluate(traceId, facts, utcTicks))
            {
                sampled = true;
                return k;
            }
        }

        sampled = false;
        return NoMatch;
    }

    private static PolicyNode[] CompileList(IReadOnlyList<SamplingPolicyOptions> policies, List<SpanTest> tests)
    {
        var nodes = new PolicyNode[policies.Count];
        for (var i = 0; i < nodes.Length; i++)
        {
            nodes[i] = Compile(policies[i], tests);
        }

        return nodes;
    }

    private static PolicyNode Compile(SamplingPolicyOptions p, List<SpanTest> tests)
    {
        switch (p.NormalizedType)
        {
            case SamplingPolicyOptions.AlwaysType:
                return new AlwaysNode();
            case SamplingPolicyOptions.StatusCodeType:
                {
                    bool error = false, ok = false, unset = false;
                    foreach (var s in p.StatusCode!.StatusCodes)
                    {
                        if (!StatusCodePolicyOptions.TryParse(s, out var code))
                        {
                            continue;
                        }

                        error |= code == StatusCode.Error;
                        ok |= code == StatusCode.Ok;
                        unset |= code == StatusCode.Unset;
                    }

                    return new SpanTestNode(Add(tests, new StatusTest(error, ok, unset)), invert: false);
                }

            case SamplingPolicyOptions.LatencyType:
                return new LatencyNode(p.Latency!);
            case SamplingPolicyOptions.StringAttributeType:
                return new SpanTestNode(Add(tests, new StringTest(p.StringAttribute!)), p.StringAttribute!.InvertMatch);
            case SamplingPolicyOptions.NumericAttributeType:
                return new SpanTestNode(Add(tests, new NumericTest(p.NumericAttribute!)), p.NumericAttribute!.InvertMatch);
            case SamplingPolicyOptions.BooleanAttributeType:
                return new SpanTestNode(Add(tests, new BooleanTest(p.BooleanAttribute!)), p.BooleanAttribute!.InvertMatch);
            case SamplingPolicyOptions.AttributeExistsType:
                return new SpanTestNode(Add(tests, new ExistsTest(p.AttributeExists!.Key)), p.AttributeExists!.InvertMatch);
            case SamplingPolicyOptions.ProbabilisticType:
                return new ProbabilisticNode(p.Probabilistic!);
            case SamplingPolicyOptions.RateLimitingType:
                return new RateLimitingNode(p.RateLimiting!.SpansPerSecond);
            case SamplingPolicyOptions.SpanCountType:
                return new SpanCountNode(p.SpanCount!);
            case SamplingPolicyOptions.AndType:
                return new AndNode(CompileList(p.And!.AndSubPolicy, tests));
            case SamplingPolicyOptions.CompositeType:
                return CompileComposite(p.Composite!, tests);
            default:
                throw new ArgumentException($"Policy type '{p.Type}' cannot be compiled; validate the options first.", nameof(p));
        }
    }

    private static CompositeNode CompileComposite(CompositePolicyOptions c, List<SpanTest> tests)
    {
        var ordered = new List<SamplingPolicyOptions>();
        foreach (var name in c.PolicyOrder)
        {
            foreach (var sub in c.CompositeSubPolicy)
            {
                if (sub.Name == name && !ordered.Contains(sub))
                {
                    ordered.Add(sub);
                }
            }
        }

        foreach (var sub in c.CompositeSubPolicy)
        {
            if (!ordered.Contains(sub))
            {
                ordered.Add(sub);
            }
        }

        double allocated = 0;
        var unallocated = 0;
        var percents = new double[ordered.Count];
        for (var i = 0; i < ordered.Count; i++)
        {
            percents[i] = -1;
            foreach (var a in c.RateAllocation)
            {
                if (a.Policy == ordered[i].Name)
                {
                    percents[i] = a.Percent;
                }
            }

            if (percents[i] < 0)
            {
                unallocated++;
            }
            else
            {
                allocated += percents[i];
            }
        }

        // Sub-policies without an allocation split what is left equally (all of it when nothing is allocated).
        var rest = unallocated == 0 ? 0 : Math.Max(0, 100 - allocated) / unallocated;
        var nodes = new PolicyNode[ordered.Count];
        var shares = new SpanRateBudget[ordered.Count];
        for (var i = 0; i < ordered.Count; i++)
        {
            nodes[i] = Compile(ordered[i], tests);
            var percent = percents[i] < 0 ? rest : percents[i];
            shares[i] = new SpanRateBudget((long)(c.MaxTotalSpansPerSecond * percent / 100));
        }

        return new CompositeNode(nodes, shares, new SpanRateBudget(c.MaxTotalSpansPerSecond));
    }

    private static SpanTest Add(List<SpanTest> tests, SpanTest test)
    {
        test.Bit = tests.Count;
        tests.Add(test);
        return test;
    }
}
