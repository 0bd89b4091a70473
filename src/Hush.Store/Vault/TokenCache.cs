using System.Collections.Concurrent;

namespace Hush.Store.Vault;

/// <summary>
/// The tokens recently issued or looked up, keyed by (tenant, first 128 bits of the lookup MAC): never a raw value.
/// Bounded by two generations of at most half the capacity each: when the current one fills, it becomes the previous
/// one and the older is dropped; a hit in the previous generation moves the entry forward, so hot values stay. Reads
/// are lock-free; a generation swap and <see cref="Clear"/> replace one immutable reference.
/// </summary>
internal sealed class TokenCache
{
    private readonly int _generationCapacity;
    private readonly Lock _swapLock = new();
    private volatile Generations _state = new(new Generation(), new Generation());

    public TokenCache(int capacity)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 2);
        _generationCapacity = capacity / 2;
    }

    public bool TryGet(in Key key, out string? token)
    {
        var state = _state;
        if (state.Current.Tokens.TryGetValue(key, out token))
        {
            return true;
        }

        if (!state.Previous.Tokens.TryGetValue(key, out token))
        {
            return false;
        }

        Add(state, key, token);
        return true;
    }

    /// <summary>Remembers a token that is on disk.</summary>
    public void Add(in Key key, string token) => Add(_state, key, token);

    /// <summary>Forgets everything (after an erasure).</summary>
    public void Clear()
    {
        lock (_swapLock)
        {
            _state = new Generations(new Generation(), new Generation());
        }
    }

    private void Add(Generations state, in Key key, string token)
    {
        if (Volatile.Read(ref state.Current.Count) >= _generationCapacity)
        {
            lock (_swapLock)
            {
                // A swap or a Clear since the caller read the state: skip the add rather than revive an erased token.
                if (!ReferenceEquals(_state, state))
                {
                    return;
                }

                state = new Generations(new Generation(), state.Current);
                _state = state;
            }
        }

        if (state.Current.Tokens.TryAdd(key, token))
        {
            Interlocked.Increment(ref state.Current.Count);
        }
    }

    /// <summary>A tenant and the first 128 bits of a lookup MAC (a collision needs about 2^64 values).</summary>
    internal readonly record struct Key(string Tenant, UInt128 Lookup);

    private sealed class Generation
    {
        public readonly ConcurrentDictionary<Key, string> Tokens = new();
        public int Count;
    }

    private sealed record Generations(Generation Current, Generation Previous);
}
