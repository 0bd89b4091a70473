using System.Numerics;
using Hush.Privacy.Detection.BuiltIn;

namespace Hush.Privacy.Detection;

/// <summary>
/// Runs a set of detectors on one value. One pass records which char classes the value has, and every built-in
/// detector whose trigger chars are absent is skipped, so a clean short value costs a few tens of nanoseconds.
/// The work per value is capped at <see cref="MaxScanChars"/>; overlapping matches are merged and returned sorted.
/// Immutable and safe to share between threads.
/// </summary>
public sealed class DetectorSet
{
    /// <summary>
    /// Only the first 64 Ki chars of a value are scanned: at roughly 10-50 ns per char for the full built-in set that
    /// bounds one value to a few milliseconds, while real attribute values (stack traces, SQL) are far below it.
    /// Longer values are reported as partially scanned so the caller applies its oversized-value action.
    /// </summary>
    public const int MaxScanChars = 64 * 1024;

    private static readonly Comparison<DetectorMatch> ByStartThenLongest = static (a, b) =>
        a.Start != b.Start ? a.Start.CompareTo(b.Start) : b.Length.CompareTo(a.Length);

    private readonly IValueDetector[] _detectors;
    private readonly Prefilter[] _prefilters;

    /// <summary>The built-in detectors by index (null for custom ones), called without a virtual hop or a view object.</summary>
    private readonly BuiltInDetector?[] _builtIns;

    /// <summary>Every prefilter's flag and count checks as bit tables, so one value costs five loads instead of one check per detector.</summary>
    private readonly PrefilterMasks? _masks;

    /// <summary>Creates a set over <paramref name="detectors"/> (run in the given order).</summary>
    public DetectorSet(IEnumerable<IValueDetector> detectors)
    {
        ArgumentNullException.ThrowIfNull(detectors);
        _detectors = [.. detectors];
        Detectors = Array.AsReadOnly(_detectors);
        _prefilters = new Prefilter[_detectors.Length];
        _builtIns = new BuiltInDetector?[_detectors.Length];
        for (int i = 0; i < _detectors.Length; i++)
        {
            if (_detectors[i] is null)
            {
                throw new ArgumentException($"detector at index {i} is null", nameof(detectors));
            }

            // Custom detectors have no prefilter: the empty one lets every value through.
            _builtIns[i] = _detectors[i] as BuiltInDetector;
            _prefilters[i] = _builtIns[i]?.Prefilter ?? default;
        }

        _masks = _detectors.Length <= PrefilterMasks.MaxDetectors ? new PrefilterMasks(_prefilters) : null;
    }

    /// <summary>The detectors, in run order.</summary>
    public IReadOnlyList<IValueDetector> Detectors { get; }

    /// <summary>
    /// Clears <paramref name="matches"/> and fills it with the matches in <paramref name="value"/>, sorted by start,
    /// non-overlapping. Returns true if the whole value was scanned, false if only its first
    /// <see cref="MaxScanChars"/> chars were. Never throws for any string content.
    /// </summary>
    public bool Scan(string value, List<DetectorMatch> matches)
    {
        ArgumentNullException.ThrowIfNull(value);
        ArgumentNullException.ThrowIfNull(matches);
        matches.Clear();
        if (value.Length == 0 || _detectors.Length == 0)
        {
            return true;
        }

        bool whole = value.Length <= MaxScanChars;
        string text = value;
        if (!whole)
        {
            // Never cut between the halves of a surrogate pair.
            int cut = char.IsHighSurrogate(value[MaxScanChars - 1]) ? MaxScanChars - 1 : MaxScanChars;
            text = value[..cut];
        }

        // Pure ASCII without %XX is its own normalized form (ASCII is already NFKC): no copy and, for the built-in
        // detectors, no view object either, so a clean value allocates nothing.
        TextFeatures features = TextFeatures.Compute(text);
        TextView? view = null;
        string scanned = text;
        var masks = default(LazyMasks);
        if (features.Has(CharFlags.NonAscii | CharFlags.Percent))
        {
            if (_masks is not null && TextFeatures.TryComputeLatin1Normalized(text, out TextFeatures normalized) &&
                _masks.Candidates(normalized) == 0)
            {
                // No detector's flag and count checks pass on the normalized text: nothing to find, no view needed.
                return whole;
            }

            view = TextView.Create(text);
            if (view.IsNormalized)
            {
                scanned = view.Normalized;
                features = TextFeatures.Compute(scanned);
            }
            else
            {
                view = null;
            }
        }

        if (_masks is not null)
        {
            // The same detectors the per-detector checks below would pass, in the same order.
            ulong candidates = _masks.Candidates(features);
            while (candidates != 0)
            {
                int i = BitOperations.TrailingZeroCount(candidates);
                candidates &= candidates - 1;
                RunIfRunsAllow(i, ref features, text, scanned, ref view, ref masks, matches);
            }
        }
        else
        {
            for (int i = 0; i < _detectors.Length; i++)
            {
                if (_prefilters[i].Allows(features))
                {
                    RunIfRunsAllow(i, ref features, text, scanned, ref view, ref masks, matches);
                }
            }
        }

        if (matches.Count > 1)
        {
            Merge(matches);
        }

        return whole;
    }

    /// <summary>
    /// True when <see cref="Scan"/> would find nothing in <paramref name="text"/> without running a detector: ASCII
    /// without <c>%</c> (its own normalized form) on which no detector's flag and count checks pass. Lets a caller skip
    /// copying a slice into a string to scan it; false says nothing.
    /// </summary>
    internal bool CannotMatch(ReadOnlySpan<char> text)
    {
        if (text.Length == 0 || _detectors.Length == 0)
        {
            return true;
        }

        TextFeatures features = TextFeatures.Compute(text);
        return _masks is not null && !features.Has(CharFlags.NonAscii | CharFlags.Percent) && _masks.Candidates(features) == 0;
    }

    /// <summary>Runs detector <paramref name="i"/>, whose flag and count checks passed, unless its run-length checks fail.</summary>
    private void RunIfRunsAllow(int i, ref TextFeatures features, string text, string scanned, ref TextView? view, ref LazyMasks masks, List<DetectorMatch> matches)
    {
        ref readonly Prefilter prefilter = ref _prefilters[i];
        if (prefilter.NeedsRuns)
        {
            if (prefilter.LacksRuns(features))
            {
                features = features.WithRuns(scanned, prefilter, ref masks);
            }

            if (!prefilter.AllowsRuns(features))
            {
                return;
            }
        }

        if (_builtIns[i] is { } builtIn)
        {
            RunBuiltIn(builtIn, text.Length, scanned, view, ref masks, matches);
        }
        else
        {
            view ??= TextView.Create(text);
            RunOne(_detectors[i], view, matches);
        }
    }

    private static void RunBuiltIn(BuiltInDetector detector, int originalLength, string scanned, TextView? view, ref LazyMasks masks, List<DetectorMatch> matches)
    {
        int before = matches.Count;
        try
        {
            detector.FindIn(scanned, view, matches, ref masks);
        }
#pragma warning disable CA1031 // Fail closed, as for custom detectors: a bug must not let the value through.
        catch (Exception)
#pragma warning restore CA1031
        {
            matches.RemoveRange(before, matches.Count - before);
            matches.Add(new DetectorMatch(0, originalLength, detector.DataClass, detector.Name));
        }
    }

    private static void RunOne(IValueDetector detector, TextView view, List<DetectorMatch> matches)
    {
        int before = matches.Count;
        try
        {
            detector.Find(view, matches);
        }
#pragma warning disable CA1031 // A faulty (custom) detector must not break the pipeline; it fails closed instead.
        catch (Exception)
#pragma warning restore CA1031
        {
            matches.RemoveRange(before, matches.Count - before);
            matches.Add(new DetectorMatch(0, view.Original.Length, detector.DataClass ?? "unknown", detector.Name ?? "unknown"));
            return;
        }

        // Defensive: drop out-of-range results of custom detectors rather than corrupt the redaction.
        for (int i = matches.Count - 1; i >= before; i--)
        {
            DetectorMatch m = matches[i];
            if (m.Start < 0 || m.Length <= 0 || m.Start > view.Original.Length - m.Length)
            {
                matches.RemoveAt(i);
            }
        }
    }

    /// <summary>
    /// Sorts by start and merges every overlapping cluster into one match covering the union of its ranges, reported
    /// with the class of its longest member (earliest on ties): covering the union means no part of any match survives.
    /// </summary>
    internal static void Merge(List<DetectorMatch> matches)
    {
        matches.Sort(ByStartThenLongest);
        int write = 0;
        DetectorMatch current = matches[0];
        DetectorMatch winner = current;
        int end = current.End;
        for (int read = 1; read < matches.Count; read++)
        {
            DetectorMatch next = matches[read];
            if (next.Start < end)
            {
                if (next.Length > winner.Length)
                {
                    winner = next;
                }

                end = Math.Max(end, next.End);
                continue;
            }

            matches[write++] = new DetectorMatch(current.Start, end - current.Start, winner.DataClass, winner.Detector);
            current = next;
            winner = next;
            end = next.End;
        }

        matches[write++] = new DetectorMatch(current.Start, end - current.Start, winner.DataClass, winner.Detector);
        matches.RemoveRange(write, matches.Count - write);
    }
}
