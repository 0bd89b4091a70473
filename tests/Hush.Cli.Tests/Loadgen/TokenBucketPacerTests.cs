using Hush.Cli.Loadgen;

namespace Hush.Cli.Tests.Loadgen;

public sealed class TokenBucketPacerTests
{
    [Theory]
    [InlineData(2000, 512, 1)]
    [InlineData(2000, 100, 4)]
    [InlineData(50_000, 512, 4)]
    [InlineData(100, 100, 1)]
    public void Reserve_OverOneSecond_SendsTheRateWithinOneBatch(int rate, int batch, int workers)
    {
        var clock = new ManualTimeProvider(DateTimeOffset.UnixEpoch);
        var pacer = new TokenBucketPacer(rate, batch, clock);
        var start = clock.GetTimestamp();
        var end = start + TimeSpan.TicksPerSecond;

        // Each worker reserves, "sleeps" until its slot, sends, and reserves again; the clock
        // jumps to the earliest slot, as real time would.
        var due = new long[workers];
        for (var w = 0; w < workers; w++)
        {
            due[w] = start + pacer.Reserve(batch).Ticks;
        }

        long sentInFirstSecond = 0;
        while (true)
        {
            var w = Array.IndexOf(due, due.Min());
            if (due[w] >= end)
            {
                break;
            }

            clock.AdvanceTo(due[w]);
            sentInFirstSecond += batch;
            due[w] = clock.GetTimestamp() + pacer.Reserve(batch).Ticks;
        }

        Assert.InRange(sentInFirstSecond, rate - batch, rate + batch);
    }

    [Fact]
    public void Reserve_ConcurrentCallers_QueueBehindEachOther()
    {
        var clock = new ManualTimeProvider(DateTimeOffset.UnixEpoch);
        var pacer = new TokenBucketPacer(1000, 100, clock);

        var waits = Enumerable.Range(0, 4).Select(_ => pacer.Reserve(100)).ToArray();

        Assert.Equal(TimeSpan.Zero, waits[0]);
        Assert.Equal(TimeSpan.FromMilliseconds(100), waits[1]);
        Assert.Equal(TimeSpan.FromMilliseconds(200), waits[2]);
        Assert.Equal(TimeSpan.FromMilliseconds(300), waits[3]);
    }

    [Fact]
    public void Reserve_AfterIdleSpell_BurstsAtMostOneBatch()
    {
        var clock = new ManualTimeProvider(DateTimeOffset.UnixEpoch);
        var pacer = new TokenBucketPacer(1000, 100, clock);
        pacer.Reserve(100);

        clock.Advance(TimeSpan.FromMinutes(10));

        Assert.Equal(TimeSpan.Zero, pacer.Reserve(100));
        Assert.Equal(TimeSpan.FromMilliseconds(100), pacer.Reserve(100));
    }

    [Fact]
    public void Constructor_NonPositiveRate_Throws()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new TokenBucketPacer(0, 10, TimeProvider.System));
        Assert.Throws<ArgumentOutOfRangeException>(() => new TokenBucketPacer(10, 0, TimeProvider.System));
    }
}
