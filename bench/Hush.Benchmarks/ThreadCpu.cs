using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Hush.Benchmarks;

/// <summary>CPU time of the calling thread (<c>CLOCK_THREAD_CPUTIME_ID</c>; Linux), falling back to the wall clock elsewhere.</summary>
internal static class ThreadCpu
{
    private const int ClockThreadCpuTime = 3;

    public static long Nanoseconds()
    {
        if (OperatingSystem.IsLinux() && clock_gettime(ClockThreadCpuTime, out var time) == 0)
        {
            return (time.Seconds * 1_000_000_000) + time.Nanoseconds;
        }

        return (long)(Stopwatch.GetTimestamp() * (1e9 / Stopwatch.Frequency));
    }

    [DllImport("libc", EntryPoint = "clock_gettime")]
    private static extern int clock_gettime(int clock, out TimeSpec time);

    [StructLayout(LayoutKind.Sequential)]
    private struct TimeSpec
    {
        public long Seconds;
        public long Nanoseconds;
    }
}
