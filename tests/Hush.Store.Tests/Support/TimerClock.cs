namespace Hush.Store.Tests;

/// <summary>
/// A clock with timers that moves only in <see cref="Advance"/>: each due tick fires with the clock set to its due
/// time, in order, so a periodic job runs exactly as often as it would in the advanced span of real time.
/// </summary>
internal sealed class TimerClock(DateTimeOffset start) : TimeProvider
{
    private readonly Lock _lock = new();
    private readonly List<Tick> _timers = [];
    private DateTimeOffset _now = start;

    public override DateTimeOffset GetUtcNow()
    {
        lock (_lock)
        {
            return _now;
        }
    }

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        var timer = new Tick(this, () => callback(state));
        timer.Change(dueTime, period);
        return timer;
    }

    public void Advance(TimeSpan by)
    {
        var until = GetUtcNow() + by;
        while (NextDue(until) is { } timer)
        {
            timer.Fire();
        }

        lock (_lock)
        {
            _now = until;
        }
    }

    /// <summary>The earliest timer due by <paramref name="until"/>, with the clock moved to its due time and the timer re-armed.</summary>
    private Tick? NextDue(DateTimeOffset until)
    {
        lock (_lock)
        {
            var next = _timers.Where(t => t.DueAt <= until).MinBy(t => t.DueAt);
            if (next is not null)
            {
                _now = next.DueAt;
                if (next.Period > TimeSpan.Zero && next.Period != Timeout.InfiniteTimeSpan)
                {
                    next.DueAt += next.Period;
                }
                else
                {
                    _timers.Remove(next);
                }
            }

            return next;
        }
    }

    private sealed class Tick(TimerClock clock, Action fire) : ITimer
    {
        public DateTimeOffset DueAt { get; set; }

        public TimeSpan Period { get; private set; }

        public void Fire() => fire();

        public bool Change(TimeSpan dueTime, TimeSpan period)
        {
            lock (clock._lock)
            {
                clock._timers.Remove(this);
                Period = period;
                if (dueTime != Timeout.InfiniteTimeSpan)
                {
                    DueAt = clock._now + dueTime;
                    clock._timers.Add(this);
                }
            }

            return true;
        }

        public void Dispose()
        {
            lock (clock._lock)
            {
                clock._timers.Remove(this);
            }
        }

        public ValueTask DisposeAsync()
        {
            Dispose();
            return ValueTask.CompletedTask;
        }
    }
}
