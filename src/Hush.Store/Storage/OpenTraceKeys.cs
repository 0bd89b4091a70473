namespace Hush.Store.Storage;

/// <summary>
/// The trace tokens of a tenant's segments that are not sealed yet (normally the one being written), in memory:
/// token → sequences of the blocks holding the trace. Bounded by a segment's size. When a segment is complete its
/// keys are sorted into the index (<see cref="StoreIndex.Seal"/>) and forgotten here; after a crash they are read
/// back from the blocks' token blobs instead. Thread-safe: appends add while queries look up.
/// </summary>
internal sealed class OpenTraceKeys
{
    private readonly Lock _lock = new();
    private readonly Dictionary<ulong, Dictionary<UInt128, List<ulong>>> _segments = [];

    /// <summary>Records that block <paramref name="sequence"/> of <paramref name="segment"/> holds the traces of <paramref name="tokens"/> (concatenated).</summary>
    public void Add(ulong segment, ulong sequence, byte[] tokens)
    {
        lock (_lock)
        {
            if (!_segments.TryGetValue(segment, out var keys))
            {
                keys = [];
                _segments.Add(segment, keys);
            }

            for (var at = 0; at + IndexKey.TraceTokenBytes <= tokens.Length; at += IndexKey.TraceTokenBytes)
            {
                var key = TraceKey.TokenOf(tokens.AsSpan(at, IndexKey.TraceTokenBytes));
                if (!keys.TryGetValue(key, out var sequences))
                {
                    sequences = new List<ulong>(1);
                    keys.Add(key, sequences);
                }

                sequences.Add(sequence);
            }
        }
    }

    /// <summary>Sequences of the open blocks holding the trace of <paramref name="token"/> (empty when none).</summary>
    public IReadOnlyCollection<ulong> Find(byte[] token)
    {
        var key = TraceKey.TokenOf(token);
        lock (_lock)
        {
            List<ulong>? found = null;
            foreach (var keys in _segments.Values)
            {
                if (keys.TryGetValue(key, out var sequences))
                {
                    (found ??= []).AddRange(sequences);
                }
            }

            return found ?? (IReadOnlyCollection<ulong>)[];
        }
    }

    /// <summary>The segments held here, oldest first.</summary>
    public IReadOnlyList<ulong> Segments()
    {
        lock (_lock)
        {
            return [.. _segments.Keys.Order()];
        }
    }

    /// <summary>The keys of <paramref name="segment"/>, as (token, sequence) pairs.</summary>
    public List<TraceKey> KeysOf(ulong segment)
    {
        lock (_lock)
        {
            if (!_segments.TryGetValue(segment, out var keys))
            {
                return [];
            }

            var pairs = new List<TraceKey>(keys.Count);
            foreach (var (key, sequences) in keys)
            {
                foreach (var sequence in sequences)
                {
                    pairs.Add(new TraceKey(key, sequence));
                }
            }

            return pairs;
        }
    }

    /// <summary>Forgets <paramref name="segment"/> (sealed into the index, or deleted).</summary>
    public void Forget(ulong segment)
    {
        lock (_lock)
        {
            _segments.Remove(segment);
        }
    }

    /// <summary>Forgets everything (the tenant was erased).</summary>
    public void Clear()
    {
        lock (_lock)
        {
            _segments.Clear();
        }
    }
}

/// <summary>A trace token (its 16 bytes read big-endian: the first bits are the bucket) and a block holding the trace.</summary>
internal readonly record struct TraceKey(UInt128 Token, ulong Sequence)
{
    public static UInt128 TokenOf(ReadOnlySpan<byte> token) => System.Buffers.Binary.BinaryPrimitives.ReadUInt128BigEndian(token);
}
