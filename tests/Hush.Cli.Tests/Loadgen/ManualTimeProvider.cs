namespace Hush.Cli.Tests.Loadgen;

/// <summary>A clock that moves only when told to; for code that reads time but does not wait on timers.</summary>
internal sealed class ManualTimeProvider(DateTimeOffset start) : TimeProvider
{
    private long _ticks = start.UtcTicks;

    public override long TimestampFrequency => TimeSpan.TicksPerSecond;

    public override DateTimeOffset GetUtcNow() => new(Interlocked.Read(ref _ticks), TimeSpan.Zero);

    public override long GetTimestamp() => Interlocked.Read(ref _ticks);

    public void Advance(TimeSpan by) => Interlocked.Add(ref _ticks, by.Ticks);

    public void AdvanceTo(long timestamp) => Interlocked.Exchange(ref _ticks, Math.Max(timestamp, Interlocked.Read(ref _ticks)));
}
