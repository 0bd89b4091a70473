using System.Collections.Concurrent;

namespace Hush.Privacy;

/// <summary>One counter: labels are policy names (rule, data class, action), never values.</summary>
public readonly record struct PrivacyCounterSample(string Rule, string DataClass, string Action, long Count);

/// <summary>Thread-safe counters of what the scrubber did, for <c>/metrics</c>.</summary>
public sealed class PrivacyCounters
{
    /// <summary>
    /// Slots of the identity cache in front of the dictionary (power of two). The scrubber passes the same label
    /// instances every time (rule names, data classes and action labels come from the policy or are literals), so a
    /// reference compare finds the cell without hashing three strings (~40 ns per recorded action).
    /// </summary>
    private const int RecentSlots = 64;

    private readonly ConcurrentDictionary<(string Rule, string DataClass, string Action), Cell> _cells = new();
    private readonly Recent?[] _recent = new Recent?[RecentSlots];

    /// <summary>Adds <paramref name="count"/> to the counter of (rule, class, action).</summary>
    public void Add(string rule, string dataClass, string action, long count = 1)
    {
        if (rule is null || dataClass is null || action is null)
        {
            Interlocked.Add(ref _cells.GetOrAdd((rule!, dataClass!, action!), static _ => new Cell()).Value, count);
            return;
        }

        var slot = Slot(rule, dataClass, action);
        var recent = Volatile.Read(ref _recent[slot]);
        Cell cell;
        if (recent is not null && ReferenceEquals(recent.Rule, rule) && ReferenceEquals(recent.DataClass, dataClass) && ReferenceEquals(recent.Action, action))
        {
            cell = recent.Cell;
        }
        else
        {
            cell = _cells.GetOrAdd((rule, dataClass, action), static _ => new Cell());
            Volatile.Write(ref _recent[slot], new Recent(rule, dataClass, action, cell));
        }

        Interlocked.Add(ref cell.Value, count);
    }

    /// <summary>A slot from lengths and a few chars: no per-string hash; a collision only costs a dictionary lookup.</summary>
    private static int Slot(string rule, string dataClass, string action)
    {
        var h = (uint)rule.Length * 31u + (uint)dataClass.Length * 7u + (uint)action.Length;
        if (rule.Length > 0)
        {
            h = (h * 31u) + rule[^1] + ((uint)rule[rule.Length / 2] << 3);
        }

        if (dataClass.Length > 0)
        {
            h = (h * 31u) + dataClass[0];
        }

        if (action.Length > 0)
        {
            h = (h * 31u) + action[0];
        }

        return (int)((h ^ (h >> 7)) & (RecentSlots - 1));
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

    /// <summary>One identity-cache entry; immutable, so a slot is replaced, never torn.</summary>
    private sealed record Recent(string Rule, string DataClass, string Action, Cell Cell);
}
