using Hush.Otlp;

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
    private readonly Dictionary<ulong, SegmentKeys> _segments = [];

    /// <summary>
    /// Records that block <paramref name="sequence"/> of <paramref name="segment"/> holds the traces of <paramref name="tokens"/>
    /// (concatenated), of token <paramref name="version"/>: the segment's, which its first block sets.
    /// </summary>
    public void Add(ulong segment, ulong sequence, byte[] tokens, byte version)
    {
        lock (_lock)
        {
            if (!_segments.TryGetValue(segment, out var keys))
            {
                keys = new SegmentKeys(version);
                _segments.Add(segment, keys);
            }
            else if (keys.Version != version)
            {
                throw new InvalidOperationException($"Segment {segment} holds trace tokens of version {keys.Version}, not {version}.");
            }

            for (var at = 0; at + IndexKey.TraceTokenBytes <= tokens.Length; at += IndexKey.TraceTokenBytes)
            {
                keys.Add(TraceKey.TokenOf(tokens.AsSpan(at, IndexKey.TraceTokenBytes)), sequence);
            }
        }
    }

    /// <summary>Sequences of the open blocks holding the trace <paramref name="index"/> of <paramref name="traceIds"/> (empty when none).</summary>
    public IReadOnlyCollection<ulong> Find(LookupTokens traceIds, int index)
    {
        lock (_lock)
        {
            List<ulong>? found = null;
            foreach (var keys in _segments.Values)
            {
                keys.Find(traceIds.Of(index, keys.Version), ref found);
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

    /// <summary>The keys of <paramref name="segment"/>, as (token, sequence) pairs, and their token version.</summary>
    public (List<TraceKey> Keys, byte TokenVersion) KeysOf(ulong segment)
    {
        lock (_lock)
        {
            return _segments.TryGetValue(segment, out var keys) ? (keys.Pairs(), keys.Version) : ([], IndexKey.TraceTokenVersion);
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

    /// <summary>
    /// One segment's keys. Most traces sit in one block: their first sequence is a dictionary value, not a list per
    /// trace (a 64 MiB segment holds ~450,000 traces of the worst-case mix, each list an object the GC would carry
    /// to gen 2 until the segment is sealed). Later blocks of a trace go to <see cref="_more"/>.
    /// </summary>
    private sealed class SegmentKeys(byte version)
    {
        private readonly Dictionary<UInt128, ulong> _first = [];
        private readonly Dictionary<UInt128, List<ulong>> _more = [];

        public byte Version { get; } = version;

        public void Add(UInt128 key, ulong sequence)
        {
            if (_first.TryAdd(key, sequence))
            {
                return;
            }

            if (!_more.TryGetValue(key, out var sequences))
            {
                sequences = new List<ulong>(1);
                _more.Add(key, sequences);
            }

            sequences.Add(sequence);
        }

        public void Find(UInt128 key, ref List<ulong>? found)
        {
            if (_first.TryGetValue(key, out var sequence))
            {
                (found ??= []).Add(sequence);
                if (_more.TryGetValue(key, out var more))
                {
                    found.AddRange(more);
                }
            }
        }

        public List<TraceKey> Pairs()
        {
            var pairs = new List<TraceKey>(_first.Count + _more.Count);
            foreach (var (key, sequence) in _first)
            {
                pairs.Add(new TraceKey(key, sequence));
            }

            foreach (var (key, sequences) in _more)
            {
                foreach (var sequence in sequences)
                {
                    pairs.Add(new TraceKey(key, sequence));
                }
            }

            return pairs;
        }
    }
}

/// <summary>A trace token (its 16 bytes read big-endian: the first bits are the bucket) and a block holding the trace.</summary>
internal readonly record struct TraceKey(UInt128 Token, ulong Sequence)
{
    public static UInt128 TokenOf(ReadOnlySpan<byte> token) => System.Buffers.Binary.BinaryPrimitives.ReadUInt128BigEndian(token);
}

/// <summary>
/// The tokens a lookup of some trace ids needs, computed when a segment of that token version first asks: version 2 for
/// all the ids with one AES-ECB call, version 1 (an HMAC each) only in a store that still has segments of it.
/// </summary>
internal sealed class LookupTokens(TraceId[] traceIds, IndexKey key)
{
    private UInt128[]? _version2;
    private UInt128?[]? _version1;

    public IReadOnlyList<TraceId> TraceIds => traceIds;

    public UInt128 Of(int index, byte version)
    {
        if (version == 1)
        {
            _version1 ??= new UInt128?[traceIds.Length];
            return _version1[index] ??= key.TraceToken(traceIds[index], 1);
        }

        if (_version2 is null)
        {
            var bytes = new byte[traceIds.Length * IndexKey.TraceTokenBytes];
            key.TraceTokens(traceIds, 2, bytes);
            _version2 = new UInt128[traceIds.Length];
            for (var i = 0; i < _version2.Length; i++)
            {
                _version2[i] = TraceKey.TokenOf(bytes.AsSpan(i * IndexKey.TraceTokenBytes, IndexKey.TraceTokenBytes));
            }
        }

        return _version2[index];
    }
}
