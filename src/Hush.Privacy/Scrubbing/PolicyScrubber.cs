using System.Collections.Concurrent;
using Hush.Otlp;
using Hush.Privacy.Scrubbing;
using Hush.Privacy.Transforms;

namespace Hush.Privacy;

/// <summary>
/// Applies the current policy to every string a trace request can carry, in place. Thread-safe:
/// each call takes one policy snapshot and keeps it to the end, so a reload never mixes two
/// policies inside one request. Never throws for any input; a span whose scrubbing fails
/// unexpectedly is removed (fail closed) and counted in <see cref="ScrubReport.SpansDropped"/>.
/// </summary>
public sealed class PolicyScrubber
{
    /// <summary>Tenants whose pseudonymizer is cached; beyond this a new one is built per request.</summary>
    private const int PseudonymizerCacheCapacity = 10_000;

    private readonly PolicyProvider _policies;
    private readonly IPseudonymKeyProvider _keys;
    private readonly ConcurrentDictionary<string, Pseudonymizer> _pseudonymizers = new(StringComparer.Ordinal);

    /// <summary>Creates the scrubber.</summary>
    public PolicyScrubber(PolicyProvider policies, IPseudonymKeyProvider keys, ITokenVault vault, PrivacyCounters counters)
    {
        ArgumentNullException.ThrowIfNull(policies);
        ArgumentNullException.ThrowIfNull(keys);
        ArgumentNullException.ThrowIfNull(vault);
        ArgumentNullException.ThrowIfNull(counters);
        _policies = policies;
        _keys = keys;
        Vault = vault;
        Counters = counters;
    }

    internal ITokenVault Vault { get; }

    internal PrivacyCounters Counters { get; }

    /// <summary>Scrubs <paramref name="request"/> in place for <paramref name="tenant"/>.</summary>
    public ScrubReport Scrub(TraceRequest request, string tenant)
    {
        if (request is null)
        {
            return default;
        }

        var session = new ScrubSession(this, _policies.Current, tenant ?? string.Empty);
        return session.Run(request);
    }

    /// <summary>Scrubs one attribute value as if it were carried by <paramref name="key"/> (explain, tests).</summary>
    internal (AnyValue Value, bool Kept, string Key) ScrubAttribute(string key, AnyValue value, string tenant, CompiledPolicy? policy = null)
    {
        var session = new ScrubSession(this, policy ?? _policies.Current, tenant);
        var list = new List<KeyValue> { new(key, value) };
        try
        {
            session.ScrubAttributes(list, 0, null, null);
        }
        finally
        {
            session.FlushCounters();
        }

        return list.Count == 0 ? (AnyValue.Empty, false, key) : (list[0].Value, true, list[0].Key);
    }

    internal Pseudonymizer PseudonymizerFor(string tenant)
    {
        if (_pseudonymizers.TryGetValue(tenant, out var p))
        {
            return p;
        }

        p = new Pseudonymizer(_keys.GetKey(tenant));
        if (_pseudonymizers.Count < PseudonymizerCacheCapacity)
        {
            _pseudonymizers.TryAdd(tenant, p);
        }

        return p;
    }
}
