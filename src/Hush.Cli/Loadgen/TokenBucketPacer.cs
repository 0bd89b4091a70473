namespace Hush.Cli.Loadgen;

/// <summary>
/// Paces sends to a rate in spans per second with a token bucket whose burst is one batch. A
/// caller reserves its spans up front and is told how long to wait; reservations may drive the
/// bucket negative, which queues concurrent callers one behind another, so N workers together
/// still send at the rate. Thread-safe.
/// </summary>
internal sealed class TokenBucketPacer
{
    private readonly TimeProvider _time;
    private readonly double _rate;
    private readonly double _capacity;
    private readonly Lock _lock = new();
    private double _tokens;
    private long _last;

    /// <param name="spansPerSecond">Refill rate, greater than zero.</param>
    /// <param name="burst">Bucket size in spans: at most this many go at once after an idle spell. Starts full.</param>
    /// <param name="timeProvider">Clock; inject a fake one in tests.</param>
    public TokenBucketPacer(int spansPerSecond, int burst, TimeProvider timeProvider)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(spansPerSecond, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(burst, 1);
        _time = timeProvider;
        _rate = spansPerSecond;
        _capacity = burst;
        _tokens = burst;
        _last = timeProvider.GetTimestamp();
    }

    /// <summary>Takes <paramref name="spans"/> tokens and returns how long the caller must wait before sending them.</summary>
    public TimeSpan Reserve(int spans)
    {
        lock (_lock)
        {
            var now = _time.GetTimestamp();
            var elapsed = _time.GetElapsedTime(_last, now).TotalSeconds;
            _last = now;
            _tokens = Math.Min(_capacity, _tokens + (elapsed * _rate)) - spans;
            return _tokens >= 0 ? TimeSpan.Zero : TimeSpan.FromSeconds(-_tokens / _rate);
        }
    }

    /// <summary>Reserves and waits on the clock of this pacer.</summary>
    public async ValueTask WaitAsync(int spans, CancellationToken cancellationToken)
    {
        var delay = Reserve(spans);
        if (delay > TimeSpan.Zero)
        {
            await Task.Delay(delay, _time, cancellationToken);
        }
    }
}
