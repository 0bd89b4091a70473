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
    private volatile string? _cleanSchemaUrl;

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

        var policy = _policies.Current;
        if (request.IsWireForm)
        {
            if (LeavesUnchanged(policy, request.WireContainerDepth) && SchemaUrlsUnchanged(request))
            {
                // The walk would change nothing (see LeavesUnchanged): the request goes on as the bytes it came in.
                return default;
            }

            // A policy that may change values sees decoded spans, and no raw byte is left behind in the buffer.
            request.DecodeWireForm();
        }

        var session = new ScrubSession(this, policy, tenant ?? string.Empty);
        return session.Run(request);
    }

    /// <summary>
    /// Whether the policy in force may leave a request unchanged whose attribute values start arrays and maps no deeper
    /// than <paramref name="containerDepth"/>: so a receiver may keep such a request in wire form (the answer for each
    /// request is <see cref="Scrub"/>'s, with the policy of that moment and the request's schema URLs).
    /// </summary>
    public bool MayLeaveUnchanged(int containerDepth) => LeavesUnchanged(_policies.Current, containerDepth);

    /// <summary>
    /// True when <see cref="ScrubSession"/> provably changes nothing but schema URLs: no detector, no rule and detect
    /// mode (<see cref="CompiledPolicy.OnlyLimitsApply"/>: text passes as it is), span names not URL-sanitized, and no
    /// array or map deep enough for the depth limit. Schema URLs are sanitized under every policy:
    /// <see cref="SchemaUrlsUnchanged"/> checks them.
    /// </summary>
    private static bool LeavesUnchanged(CompiledPolicy policy, int containerDepth) =>
        policy.OnlyLimitsApply && policy.Document.SpanNames != SpanNameTreatment.Url && containerDepth < policy.Document.MaxDepth;

    /// <summary>Whether every schema URL of a wire-form request is one the URL sanitizer leaves as it is (what <c>ScrubSchemaUrl</c> does).</summary>
    private bool SchemaUrlsUnchanged(TraceRequest request)
    {
        foreach (var url in request.GetWireSchemaUrls())
        {
            if (string.Equals(url, _cleanSchemaUrl, StringComparison.Ordinal))
            {
                continue;
            }

            if (url.Length > Detection.DetectorSet.MaxScanChars || !string.Equals(UrlSanitizer.Sanitize(url), url, StringComparison.Ordinal))
            {
                return false;
            }

            // Sanitizing depends on nothing but the text: one clean URL is remembered (requests of a service repeat it).
            _cleanSchemaUrl = url;
        }

        return true;
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
