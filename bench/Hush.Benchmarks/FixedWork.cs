using System.Globalization;
using System.IO.Compression;
using Hush.Cli.Loadgen;
using Hush.Otlp;

namespace Hush.Benchmarks;

/// <summary>
/// A yardstick for a shared machine: the same pure CPU work (Brotli quality 0 of one fixed 256-span OTLP request,
/// ~220 KB, as the store compresses a block), timed in CPU time right after each measured round. Its input never
/// changes, it allocates nothing and waits for nothing, so its spread over the rounds is the host's.
/// <para>
/// On the 2-core VM these figures come from, the host runs in two modes: the yardstick takes ~1.45 ms when the core
/// is the VM's alone and 2.0-2.6 ms when it is shared, and memory-bound code (the scrub) slows by up to 1.9x in the
/// second mode, more than the yardstick, and the host switches between them every few rounds. So the rounds are not
/// scaled by it (the slowdown depends on the work) nor filtered by it (a mode can change within a round): it is printed
/// so that a reader can see which host a run had. A run whose yardstick never came near 1.45 ms never had the core
/// to itself, and its best rounds are slower than the code. (Beside <c>store-write</c> the yardstick reads higher,
/// 1.44-1.83 ms: that harness leaves the allocator and the caches colder. Compare it within one harness.)
/// </para>
/// </summary>
internal sealed class FixedWork
{
    private const int Repeats = 4;

    /// <summary>A yardstick run "near its best" took at most this much of the fastest one.</summary>
    private const double NearBest = 1.10;

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
    /// One line for the <paramref name="rounds"/> measured (one <see cref="Record"/> each): the yardstick's best and
    /// median, and after how many rounds it ran within 10% of its best.
    /// </summary>
    public string Describe(int rounds)
    {
        if (rounds != _times.Count || rounds == 0)
        {
            throw new InvalidOperationException($"{rounds} rounds against {_times.Count} yardstick runs.");
        }

        var sortedTimes = _times.Order().ToList();
        var near = _times.Count(t => t <= sortedTimes[0] * NearBest);
        return string.Create(CultureInfo.InvariantCulture,
            $"host yardstick (Brotli q0 of {_input.Length / 1024} KB x {Repeats}, after each round): best {sortedTimes[0] / 1000:F0} us, median {Median(sortedTimes) / 1000:F0} us, within 10% of its best after {near} of {_times.Count} rounds");
    }

    private static double Median(List<double> sorted) => sorted[sorted.Count / 2];
}
