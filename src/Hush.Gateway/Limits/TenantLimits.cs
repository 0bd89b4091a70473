using System.Collections.Concurrent;

namespace Hush.Gateway.Limits;

/// <summary>The ingest limits of one tenant (<c>receivers.otlp.limits.default</c> or <c>.tenants.NAME</c>).</summary>
/// <param name="BytesPerSecond">Sustained ingest rate in decompressed request bytes per second; 0 for unlimited.</param>
/// <param name="BurstBytes">Bucket size: how far above the rate a tenant may burst (at least <paramref name="MaxRequestBytes"/>).</param>
/// <param name="MaxRequestBytes">Largest request body, decompressed, for this tenant (also capped by the listener's limit).</param>
/// <param name="MaxSpansPerRequest">Most spans in one export request.</param>
public sealed record TenantLimits(long BytesPerSecond, long BurstBytes, int MaxRequestBytes, int MaxSpansPerRequest)
{
    /// <summary>No rate limit; sizes bounded only by the listener.</summary>
    public static TenantLimits Unlimited { get; } = new(0, 0, int.MaxValue, int.MaxValue);
}

/// <summary>
/// Per-tenant token buckets of request bytes, so one noisy tenant is throttled (429 / UNAVAILABLE with a retry
/// delay) while the others keep flowing. Time comes from the injected <see cref="TimeProvider"/>. Thread-safe;
/// one small lock per tenant, never a global one.
/// </summary>
internal sealed class TenantLimiter
{
    /// <summary>Tenants tracked at once; identities bind tenants, so this bounds memory against nothing but config.</summary>
    private const int MaxTenants = 100_000;

    private readonly TenantLimits _default;
    private readonly IReadOnlyDictionary<string, TenantLimits> _overrides;
    private readonly TimeProvider _time;
    private readonly ConcurrentDictionary<string, Bucket> _buckets = new(StringComparer.Ordinal);

    public TenantLimiter(TenantLimits defaults, IReadOnlyDictionary<string, TenantLimits> overrides, TimeProvider time)
    {
        _default = defaults;
        _overrides = overrides;
        _time = time;
    }

    /// <summary>The limits of <paramref name="tenant"/>.</summary>
    public TenantLimits For(string tenant) => _overrides.TryGetValue(tenant, out var limits) ? limits : _default;

    /// <summary>
    /// Takes <paramref name="bytes"/> from the tenant's bucket. False, with how long until that many bytes are
    /// available, when the tenant is over its rate; nothing is taken then.
    /// </summary>
    public bool TryTake(string tenant, long bytes, out TimeSpan retryAfter)
    {
        retryAfter = TimeSpan.Zero;
        var limits = For(tenant);
        if (limits.BytesPerSecond <= 0)
        {
            return true;
        }

        if (!_buckets.TryGetValue(tenant, out var bucket))
        {
            if (_buckets.Count >= MaxTenants)
            {
                _buckets.Clear();
            }

            bucket = _buckets.GetOrAdd(tenant, static (_, state) => new Bucket(state.Limits.BurstBytes, state.Now), (Limits: limits, Now: _time.GetTimestamp()));
        }

        return bucket.TryTake(bytes, limits, _time, out retryAfter);
    }

    private sealed class Bucket(long tokens, long timestamp)
    {
        private readonly Lock _lock = new();
        private double _tokens = tokens;
        private long _timestamp = timestamp;

        public bool TryTake(long bytes, TenantLimits limits, TimeProvider time, out TimeSpan retryAfter)
        {
            lock (_lock)
            {
                var now = time.GetTimestamp();
                var elapsed = time.GetElapsedTime(_timestamp, now);
                _timestamp = now;
                _tokens = Math.Min(limits.BurstBytes, _tokens + (elapsed.TotalSeconds * limits.BytesPerSecond));
                if (_tokens >= bytes)
                {
                    _tokens -= bytes;
                    retryAfter = TimeSpan.Zero;
                    return true;
                }

                retryAfter = TimeSpan.FromSeconds((bytes - _tokens) / limits.BytesPerSecond);
                return false;
            }
        }
    }
}
