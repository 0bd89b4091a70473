using Hush.Otlp;

namespace Hush.Pipeline.Sampling;

/// <summary>A trace of one tenant: two tenants may send the same trace id, and their spans never mix.</summary>
internal readonly struct TraceKey(TraceId traceId, int tenantId) : IEquatable<TraceKey>
{
    public TraceId TraceId { get; } = traceId;

    public int TenantId { get; } = tenantId;

    public bool Equals(TraceKey other) => TraceId.Equals(other.TraceId) && TenantId == other.TenantId;

    public override bool Equals(object? obj) => obj is TraceKey other && Equals(other);

    // Trace ids are random: their low bits are already a good hash.
    public override int GetHashCode() => (int)(TraceId.Low ^ (TraceId.Low >> 32) ^ TraceId.High) ^ TenantId;
}

/// <summary>
/// A trace being buffered: its facts so far and its spans, protobuf-encoded (one fragment per resource/scope group of
/// an incoming batch), so the buffer holds about the encoded size, not the 3-5x of decoded objects.
/// </summary>
internal sealed class TraceEntry(TraceKey key, string tenant, CompiledPolicySet policies, long firstTicks)
{
    /// <summary>Bookkeeping charged per trace: this object, its dictionary entry and its fragment list.</summary>
    internal const int OverheadBytes = 256;

    /// <summary>Charged per fragment on top of its bytes: the array header and the list slot.</summary>
    internal const int FragmentOverheadBytes = 32;

    public TraceKey Key { get; } = key;

    public string Tenant { get; } = tenant;

    public CompiledPolicySet Policies { get; } = policies;

    public long FirstTicks { get; } = firstTicks;

    public long LastTicks { get; set; } = firstTicks;

    public TraceFacts Facts = TraceFacts.Empty;

    public long Bytes { get; set; } = OverheadBytes;

    public List<byte[]> Fragments { get; } = new(2);

    /// <summary>Journal claims of the batches whose spans this entry holds (null when none were journalled).</summary>
    public List<JournalClaim>? Claims { get; set; }

    // Intrusive links: the age list (by first arrival) and the quiet list (root seen, by last arrival).
    public TraceEntry? AgePrev;
    public TraceEntry? AgeNext;
    public TraceEntry? QuietPrev;
    public TraceEntry? QuietNext;
    public bool InQuiet;
}

/// <summary>Intrusive doubly linked lists over <see cref="TraceEntry"/>: O(1) append, remove and move-to-tail.</summary>
internal struct AgeList
{
    public TraceEntry? Head;
    public TraceEntry? Tail;

    public void Append(TraceEntry e)
    {
        e.AgePrev = Tail;
        e.AgeNext = null;
        if (Tail is null)
        {
            Head = e;
        }
        else
        {
            Tail.AgeNext = e;
        }

        Tail = e;
    }

    public void Remove(TraceEntry e)
    {
        if (e.AgePrev is null)
        {
            Head = e.AgeNext;
        }
        else
        {
            e.AgePrev.AgeNext = e.AgeNext;
        }

        if (e.AgeNext is null)
        {
            Tail = e.AgePrev;
        }
        else
        {
            e.AgeNext.AgePrev = e.AgePrev;
        }

        e.AgePrev = e.AgeNext = null;
    }
}

/// <summary>The traces whose root arrived, ordered by their last span's arrival (for quiet-period early decisions).</summary>
internal struct QuietList
{
    public TraceEntry? Head;
    public TraceEntry? Tail;

    public void Append(TraceEntry e)
    {
        e.QuietPrev = Tail;
        e.QuietNext = null;
        if (Tail is null)
        {
            Head = e;
        }
        else
        {
            Tail.QuietNext = e;
        }

        Tail = e;
        e.InQuiet = true;
    }

    public void Remove(TraceEntry e)
    {
        if (!e.InQuiet)
        {
            return;
        }

        if (e.QuietPrev is null)
        {
            Head = e.QuietNext;
        }
        else
        {
            e.QuietPrev.QuietNext = e.QuietNext;
        }

        if (e.QuietNext is null)
        {
            Tail = e.QuietPrev;
        }
        else
        {
            e.QuietNext.QuietPrev = e.QuietPrev;
        }

        e.QuietPrev = e.QuietNext = null;
        e.InQuiet = false;
    }
}

/// <summary>
/// A bounded set of decided trace keys; the oldest is forgotten first (a ring of keys plus a set). With
/// <c>ordered</c>, each key also keeps the order number it was added with (8 bytes more per key), so caches of
/// several shards can be merged oldest first when they are persisted.
/// </summary>
internal sealed class DecisionCache(int capacity, bool ordered = false)
{
    private readonly HashSet<TraceKey> _set = new(Math.Min(capacity, 4096));
    private readonly TraceKey[] _ring = new TraceKey[Math.Max(capacity, 0)];
    private readonly long[]? _order = ordered ? new long[Math.Max(capacity, 0)] : null;
    private int _next;

    public int Count => _set.Count;

    public bool Contains(TraceKey key) => _set.Contains(key);

    public void Add(TraceKey key, long order = 0)
    {
        if (_ring.Length == 0 || !_set.Add(key))
        {
            return;
        }

        if (_set.Count > _ring.Length)
        {
            _set.Remove(_ring[_next]);
        }

        _ring[_next] = key;
        if (_order is not null)
        {
            _order[_next] = order;
        }

        _next = _next + 1 == _ring.Length ? 0 : _next + 1;
    }

    /// <summary>Appends the keys remembered with their order numbers (0 unless <c>ordered</c>), oldest first.</summary>
    public void CopyTo(List<(TraceKey Key, long Order)> destination)
    {
        var start = _set.Count < _ring.Length ? 0 : _next;
        for (var i = 0; i < _set.Count; i++)
        {
            var slot = (start + i) % _ring.Length;
            destination.Add((_ring[slot], _order?[slot] ?? 0));
        }
    }
}

/// <summary>
/// One shard of the buffer: traces whose id hashes here, their age and quiet lists and the decision caches, under one
/// lock held only for dictionary and list updates (never while encoding, decoding or exporting).
/// </summary>
internal sealed class TraceShard(int sampledCacheSize, int droppedCacheSize, bool orderedCaches = false)
{
    public Lock Gate { get; } = new();

    public Dictionary<TraceKey, TraceEntry> Traces { get; } = [];

    public AgeList Age;

    public QuietList Quiet;

    public long Bytes;

    public DecisionCache Sampled { get; } = new(sampledCacheSize, orderedCaches);

    public DecisionCache Dropped { get; } = new(droppedCacheSize, orderedCaches);

    public void Remove(TraceEntry e)
    {
        Traces.Remove(e.Key);
        Age.Remove(e);
        Quiet.Remove(e);
        Bytes -= e.Bytes;
    }
}
