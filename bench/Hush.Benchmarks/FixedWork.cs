using System.Globalization;
using System.IO.Compression;
using Hush.Cli.Loadgen;
using Hush.Otlp;

namespace Hush.Benchmarks;

/// <summary>
/// A yardstick for a shared machine: the same pure CPU work (Brotli quality 0 of one fixed 256-span OTLP request,
/// ~220 KB, as the store compresses a block), timed in CPU time right after each measured round. Its own spread
/// over the rounds is the machine's: the input never changes, nothing is allocated, nothing waits. When a harness's
/// rounds spread about as much, that spread says how busy the host was, not how fast the code is.
/// <para>
/// Each round is also divided by the yardstick beside it and multiplied by the yardstick's best: the round as it
/// would have run with the machine at its fastest, if both slowed together (neighbours on the host, clock changes).
/// The median of those is printed next to the raw median; the best rounds stay the figure of record.
/// </para>
/// </summary>
internal sealed class FixedWork
{
    private const int Repeats = 4;

    private readonly byte[] _input;
    private readonly byte[] _output;
    private readonly List<double> _times = [];

    public FixedWork()
    {
        _input = OtlpProtobuf.Encode(new SpanMixGenerator(seed: 7, services: 5, piiRatio: 0).NextRequest(256));
        _output = new byte[BrotliEncoder.GetMaxCompressedLength(_input.Length)];
        Time();
    }

    /// <summary>Runs the work and returns its CPU time in nanoseconds (not recorded).</summary>
    public double Time()
    {
        var start = ThreadCpu.Nanoseconds();
        for (var i = 0; i < Repeats; i++)
        {
            if (!BrotliEncoder.TryCompress(_input, _output, out _, quality: 0, window: 22))
            {
                throw new InvalidOperationException("The fixed work did not compress.");
            }
        }

        return ThreadCpu.Nanoseconds() - start;
    }

    /// <summary>Runs the work after a measured round and records it next to that round.</summary>
    public void Record() => _times.Add(Time());

    /// <summary>
    /// One line for the rounds recorded, in the order they were measured (<paramref name="rounds"/>, one per
    /// <see cref="Record"/>, in ns per span): the yardstick's best and median and their ratio, the rounds' own ratio,
    /// and the rounds' median once each is scaled to the machine at its fastest.
    /// </summary>
    public string Describe(IReadOnlyList<double> rounds)
    {
        if (rounds.Count != _times.Count || rounds.Count == 0)
        {
            throw new InvalidOperationException($"{rounds.Count} rounds against {_times.Count} yardstick runs.");
        }

        var fastest = _times.Min();
        var scaled = rounds.Select((r, i) => r * fastest / _times[i]).Order().ToList();
        var sortedRounds = rounds.Order().ToList();
        var sortedTimes = _times.Order().ToList();
        var timesSpread = Median(sortedTimes) / sortedTimes[0];
        var roundsSpread = Median(sortedRounds) / sortedRounds[0];
        return string.Create(CultureInfo.InvariantCulture,
            $"yardstick (Brotli q0 of {_input.Length / 1024} KB x {Repeats}): best {sortedTimes[0] / 1000:F0} us, median {Median(sortedTimes) / 1000:F0} us, median/best {timesSpread:F2} (rounds {roundsSpread:F2}); rounds scaled to the fastest machine: median {Median(scaled) / 1000:F3} us/span ({1e9 / Median(scaled):F0} spans/s)");
    }

    private static double Median(List<double> sorted) => sorted[sorted.Count / 2];
}
