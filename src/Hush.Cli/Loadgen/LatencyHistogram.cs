using System.Numerics;

namespace Hush.Cli.Loadgen;

/// <summary>
/// Lock-free latency histogram in microseconds with log-linear buckets: exact below 64 µs, then
/// 32 buckets per power of two (at most ~3% error), up to ~2^40 µs (12 days). 1,184 counters,
/// so percentiles cost no sorting and memory does not grow with the request count.
/// </summary>
internal sealed class LatencyHistogram
{
    private const int LinearBuckets = 64;
    private const int SubBucketBits = 5;
    private const int SubBuckets = 1 << SubBucketBits;
    private const int MaxExponent = 40;
    private const int BucketCount = LinearBuckets + ((MaxExponent - 6) * SubBuckets);

    private readonly long[] _counts = new long[BucketCount];
    private long _total;

    public long Count => Interlocked.Read(ref _total);

    public void Record(TimeSpan latency)
    {
        var micros = Math.Max(0L, latency.Ticks / TimeSpan.TicksPerMicrosecond);
        Interlocked.Increment(ref _counts[IndexOf(micros)]);
        Interlocked.Increment(ref _total);
    }

    /// <summary>The latency at quantile <paramref name="q"/> (0..1); zero when nothing was recorded.</summary>
    public TimeSpan Percentile(double q)
    {
        var total = Count;
        if (total == 0)
        {
            return TimeSpan.Zero;
        }

        var rank = Math.Max(1L, (long)Math.Ceiling(q * total));
        long seen = 0;
        for (var i = 0; i < BucketCount; i++)
        {
            seen += Interlocked.Read(ref _counts[i]);
            if (seen >= rank)
            {
                return TimeSpan.FromTicks(ValueOf(i) * TimeSpan.TicksPerMicrosecond);
            }
        }

        return TimeSpan.FromTicks(ValueOf(BucketCount - 1) * TimeSpan.TicksPerMicrosecond);
    }

    private static int IndexOf(long micros)
    {
        if (micros < LinearBuckets)
        {
            return (int)micros;
        }

        var exponent = 63 - BitOperations.LeadingZeroCount((ulong)micros);
        if (exponent >= MaxExponent)
        {
            return BucketCount - 1;
        }

        var sub = (int)((micros >> (exponent - SubBucketBits)) & (SubBuckets - 1));
        return LinearBuckets + ((exponent - 6) * SubBuckets) + sub;
    }

    /// <summary>The middle of bucket <paramref name="index"/>.</summary>
    private static long ValueOf(int index)
    {
        if (index < LinearBuckets)
        {
            return index;
        }

        var exponent = ((index - LinearBuckets) / SubBuckets) + 6;
        var sub = (index - LinearBuckets) % SubBuckets;
        var width = 1L << (exponent - SubBucketBits);
        return (1L << exponent) + (sub * width) + (width / 2);
    }
}
