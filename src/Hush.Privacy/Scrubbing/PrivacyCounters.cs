using System.Collections.Concurrent;

namespace Hush.Privacy;

/// <summary>One counter: labels are policy names (rule, data class, action), never values.</summary>
public readonly record struct PrivacyCounterSample(string Rule, string DataClass, string Action, long Count);

/// <summary>Thread-safe counters of what the scrubber did, for <c>/metrics</c>.</summary>
public sealed class PrivacyCounters
{
    private readonly ConcurrentDictionary<(string Rule, string DataClass, string Action), Cell> _cells = new();

    /// <summary>Adds <paramref name="count"/> to the counter of (rule, class, action).</summary>
    public void Add(string rule, string dataClass, string action, long count = 1)
    {
        var cell = _cells.GetOrAdd((rule, dataClass, action), static _ => new Cell());
        Interlocked.Add(ref cell.Value, count);
    }

    /// <summary>Current values, sorted by rule, class, action.</summary>
    public IReadOnlyList<PrivacyCounterSample> Snapshot()
    {
        var list = new List<PrivacyCounterSample>(_cells.Count);
        foreach (var (key, cell) in _cells)
        {
            list.Add(new PrivacyCounterSample(key.Rule, key.DataClass, key.Action, Interlocked.Read(ref cell.Value)));
        }

        list.Sort(static (a, b) =>
        {
            var c = string.CompareOrdinal(a.Rule, b.Rule);
            if (c == 0)
            {
                c = string.CompareOrdinal(a.DataClass, b.DataClass);
            }

            return c != 0 ? c : string.CompareOrdinal(a.Action, b.Action);
        });
        return list;
    }

    /// <summary>Sum over every counter with the given action (tests, summaries).</summary>
    public long Total(string action)
    {
        long total = 0;
        foreach (var (key, cell) in _cells)
        {
            if (key.Action == action)
            {
                total += Interlocked.Read(ref cell.Value);
            }
        }

        return total;
    }

    private sealed class Cell
    {
        public long Value;
    }
}
