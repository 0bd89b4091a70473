using Hush.Cli.Loadgen;

namespace Hush.Cli.Tests.Loadgen;

public sealed class LatencyHistogramTests
{
    [Fact]
    public void Percentile_UniformOneToThousandMs_IsWithinThreePercent()
    {
        var histogram = new LatencyHistogram();
        for (var ms = 1; ms <= 1000; ms++)
        {
            histogram.Record(TimeSpan.FromMilliseconds(ms));
        }

        Assert.InRange(histogram.Percentile(0.50).TotalMilliseconds, 500 * 0.97, 500 * 1.03);
        Assert.InRange(histogram.Percentile(0.99).TotalMilliseconds, 990 * 0.97, 990 * 1.03);
        Assert.Equal(1000, histogram.Count);
    }

    [Fact]
    public void Percentile_Empty_IsZero()
    {
        Assert.Equal(TimeSpan.Zero, new LatencyHistogram().Percentile(0.99));
    }

    [Fact]
    public void Record_ExtremeValues_DoNotThrow()
    {
        var histogram = new LatencyHistogram();
        histogram.Record(TimeSpan.FromTicks(-5));
        histogram.Record(TimeSpan.Zero);
        histogram.Record(TimeSpan.MaxValue);

        Assert.Equal(TimeSpan.Zero, histogram.Percentile(0.01));
        Assert.True(histogram.Percentile(1.0) > TimeSpan.FromDays(1));
    }
}
