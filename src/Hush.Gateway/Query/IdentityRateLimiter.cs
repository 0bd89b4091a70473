namespace Hush.Gateway.Query;

/// <summary>
/// A token bucket per identity: <c>rate</c> per second refilled, up to <c>burst</c>. Deterministic under an injected
/// clock. Bounded: past <see cref="MaxIdentities"/> buckets the table is cleared (everyone starts with a full bucket
/// again, which errs on the side of serving, never of memory).
/// </summary>
internal sealed class IdentityRateLimiter
{
    /// <summary>About 1 MB of buckets.</summary>
    private const int MaxIdentities = 10_000;

    private readonly double _perSecond;
    private readonly double _burst;
    private readonly TimeProvider _time;
    private readonly Lock _lock = new();
    private readonly Dictionary<string, (double Tokens, long Ticks)> _buckets = new(StringComparer.Ordinal);

    public IdentityRateLimiter(double perSecond, double burst, TimeProvider time)
    {
        _perSecond = perSecond;
        _burst = Math.Max(1, burst);
        _time = time;
    }

    /// <summary>Takes one token for <paramref name="identity"/>; false with the wait until the next one otherwise.</summary>
    public bool TryTake(string identity, out TimeSpan retryAfter)
    {
        var now = _time.GetUtcNow().UtcTicks;
        lock (_lock)
        {
            if (!_buckets.TryGetValue(identity, out var bucket))
            {
                if (_buckets.Count >= MaxIdentities)
                {
                    _buckets.Clear();
                }

                bucket = (_burst, now);
            }

            var tokens = Math.Min(_burst, bucket.Tokens + ((now - bucket.Ticks) / (double)TimeSpan.TicksPerSecond * _perSecond));
            if (tokens >= 1)
            {
                _buckets[identity] = (tokens - 1, now);
                retryAfter = TimeSpan.Zero;
                return true;
            }

            _buckets[identity] = (tokens, now);
            retryAfter = TimeSpan.FromSeconds((1 - tokens) / _perSecond);
            return false;
        }
    }
}
