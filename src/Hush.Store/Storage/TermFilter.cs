using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using Hush.Otlp;
using Hush.Store.Reading;

namespace Hush.Store.Storage;

/// <summary>
/// A tenant's index keys and what they key. Trace tokens of version 2 (written now): the trace id's 16 bytes encrypted
/// as one AES-256 block under <c>HKDF-SHA256(KEK, info "hush/index/v2/traces/" + tenant)</c>, a keyed permutation
/// (deterministic, so equal ids give equal tokens; not reversible nor testable without the key), one ECB call for all
/// of a block's traces. Version 1 (still read): the first 16 bytes of HMAC-SHA256 of the trace id under
/// <c>HKDF-SHA256(KEK, info "hush/index/v1/" + tenant)</c>, one OpenSSL call (~1 us) per trace. Bloom terms: SipHash-2-4
/// of <c>kind | key | 0 | value</c> under <c>HKDF-SHA256(KEK, info "hush/index/v2/terms/" + tenant)</c> (filters of
/// version 1 used HMAC-SHA256 of the same text under the first key, and are still read). Without the KEK, none of them
/// reveals or confirms a value: a guessed service name or trace id cannot be tested against a stolen index.
/// </summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1001", Justification = "One per tenant for the store's lifetime; the per-thread HMAC and AES contexts hold no secret beyond the keys, which live as long.")]
internal sealed class IndexKey
{
    public const int TraceTokenBytes = 16;

    /// <summary>The trace token version new blocks get (<see cref="EncryptTraceIds"/>); 1 is the HMAC of older indexes.</summary>
    public const byte TraceTokenVersion = 2;

    /// <summary>Terms up to this many UTF-8 bytes are encoded on the stack.</summary>
    private const int StackTermBytes = 512;

    private readonly byte[] _key;
    private readonly SipHash _terms;

    /// <summary>
    /// One reusable HMAC context per thread: a one-shot HMAC sets the key up on every call, which costs ~2.5x a
    /// reset-and-reuse on Linux/OpenSSL (see <c>Pseudonymizer</c>), and a request can carry hundreds of traces.
    /// </summary>
    private readonly ThreadLocal<IncrementalHash> _hmac;

    private readonly byte[] _traceKey;

    /// <summary>One AES context per thread, keyed once: <see cref="Aes"/> instances are not safe to share.</summary>
    private readonly ThreadLocal<Aes> _aes;

    public IndexKey(KeyMaterial kek, string tenant)
    {
        _key = new byte[32];
        HKDF.DeriveKey(HashAlgorithmName.SHA256, kek.Span, _key, salt: [], info: Encoding.UTF8.GetBytes("hush/index/v1/" + tenant));
        Span<byte> terms = stackalloc byte[16];
        HKDF.DeriveKey(HashAlgorithmName.SHA256, kek.Span, terms, salt: [], info: Encoding.UTF8.GetBytes("hush/index/v2/terms/" + tenant));
        _terms = new SipHash(terms);
        CryptographicOperations.ZeroMemory(terms);
        _traceKey = new byte[32];
        HKDF.DeriveKey(HashAlgorithmName.SHA256, kek.Span, _traceKey, salt: [], info: Encoding.UTF8.GetBytes("hush/index/v2/traces/" + tenant));
        _hmac = new ThreadLocal<IncrementalHash>(() => IncrementalHash.CreateHMAC(HashAlgorithmName.SHA256, _key));
        _aes = new ThreadLocal<Aes>(() =>
        {
            var aes = Aes.Create();
            aes.Key = _traceKey;
            return aes;
        });
    }

    /// <summary>The token of <paramref name="id"/> under trace token <paramref name="version"/> (1 or 2), as the index compares it.</summary>
    public UInt128 TraceToken(TraceId id, byte version)
    {
        Span<byte> token = stackalloc byte[TraceTokenBytes];
        TraceTokens(new ReadOnlySpan<TraceId>(in id), version, token);
        return TraceKey.TokenOf(token);
    }

    /// <summary>
    /// Writes the tokens of <paramref name="ids"/> under trace token <paramref name="version"/> (1 or 2) to
    /// <paramref name="destination"/>, <see cref="TraceTokenBytes"/> each, in order: version 2 with one AES-ECB call for
    /// all of them, version 1 with an HMAC each.
    /// </summary>
    public void TraceTokens(ReadOnlySpan<TraceId> ids, byte version, Span<byte> destination)
    {
        ArgumentOutOfRangeException.ThrowIfZero(version);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(version, TraceTokenVersion);
        var tokens = destination[..(ids.Length * TraceTokenBytes)];
        for (var i = 0; i < ids.Length; i++)
        {
            var token = tokens.Slice(i * TraceTokenBytes, TraceTokenBytes);
            if (version == 1)
            {
                TraceTokenV1(ids[i], token);
            }
            else
            {
                ids[i].WriteTo(token);
            }
        }

        if (version != 1)
        {
            EncryptTraceIds(tokens);
        }
    }

    /// <summary>
    /// Turns trace ids (<see cref="TraceTokenBytes"/> each, concatenated) into their version-2 tokens, in place: one
    /// AES-ECB call for all of a block's traces, where version 1 made one HMAC call per trace.
    /// </summary>
    private void EncryptTraceIds(Span<byte> ids)
    {
        // ECB encrypts each 16-byte block on its own, and the framework allows the output to be exactly the input.
        _aes.Value!.EncryptEcb(ids, ids, PaddingMode.None);
    }

    /// <summary>Writes the version-1 token of <paramref name="id"/> (truncated HMAC) to the first <see cref="TraceTokenBytes"/> bytes of <paramref name="destination"/>.</summary>
    private void TraceTokenV1(TraceId id, Span<byte> destination)
    {
        Span<byte> bytes = stackalloc byte[16];
        id.WriteTo(bytes);
        Span<byte> mac = stackalloc byte[32];
        var hmac = _hmac.Value!;
        hmac.AppendData(bytes);
        hmac.GetHashAndReset(mac);
        mac[..TraceTokenBytes].CopyTo(destination);
    }

    /// <summary>The keyed hash of a version-2 filter term.</summary>
    public ulong Term(TermKind kind, string key, string value) => TermOf(TermPrefix(kind, key), value);

    /// <summary>The hash state after <c>kind | key | 0</c>: a block's terms of one key resume it (<see cref="TermOf"/>).</summary>
    public SipHashStream TermPrefix(TermKind kind, string key)
    {
        var state = _terms.Start();
        state.Append((byte)('0' + (int)kind));
        AppendUtf8(ref state, key);
        state.Append(0);
        return state;
    }

    /// <summary>The term of <paramref name="value"/> under a key's <paramref name="prefix"/> (taken by value, left as it was).</summary>
    public static ulong TermOf(SipHashStream prefix, string value)
    {
        AppendUtf8(ref prefix, value);
        return prefix.Finish();
    }

    /// <summary>
    /// Feeds the UTF-8 bytes of <paramref name="text"/>: ASCII straight from its characters, anything else through the
    /// encoder (which writes U+FFFD for an unpaired surrogate, as the filter always did). The stack buffer is not zeroed
    /// first: only what is encoded is read.
    /// </summary>
    [System.Runtime.CompilerServices.SkipLocalsInit]
    private static void AppendUtf8(ref SipHashStream state, string text)
    {
        if (Ascii.IsValid(text))
        {
            state.AppendAscii(text);
            return;
        }

        var max = Encoding.UTF8.GetMaxByteCount(text.Length);
        byte[]? rented = null;
        var buffer = max <= StackTermBytes ? stackalloc byte[StackTermBytes] : (rented = System.Buffers.ArrayPool<byte>.Shared.Rent(max));
        var length = Encoding.UTF8.GetBytes(text, buffer);
        state.Append(buffer[..length]);
        if (rented is not null)
        {
            // Telemetry: cleared before it goes back to the pool.
            CryptographicOperations.ZeroMemory(rented.AsSpan(0, length));
            System.Buffers.ArrayPool<byte>.Shared.Return(rented);
        }
    }

    /// <summary>The keyed MAC of a version-1 filter term.</summary>
    public void TermV1(TermKind kind, string key, string value, Span<byte> mac)
    {
        var text = ((char)('0' + (int)kind)).ToString() + key + "\u0000" + value;
        var bytes = Encoding.UTF8.GetMaxByteCount(text.Length) <= 1024 ? stackalloc byte[1024] : new byte[Encoding.UTF8.GetMaxByteCount(text.Length)];
        var length = Encoding.UTF8.GetBytes(text, bytes);
        var hmac = _hmac.Value!;
        hmac.AppendData(bytes[..length]);
        hmac.GetHashAndReset(mac);
    }
}

/// <summary>
/// A Bloom filter over a block's keyed terms: span names, service names, string attributes (key and value). About
/// ten bits and seven probes per distinct term (under 1% false positives). Layout: version u8, probes u8, then the
/// bits. Version 2 (written now) derives the probes from one 64-bit SipHash by double hashing; version 1 took them
/// from an HMAC-SHA256 and is still read.
/// </summary>
internal static class TermFilter
{
    private const byte Version = 2;
    private const int Probes = 7;
    private const int BitsPerTerm = 10;

    /// <summary>The filter of the terms of <paramref name="traces"/>.</summary>
    public static byte[] Build(TraceRequest traces, IndexKey key)
    {
        var terms = BlockTerms.Rent(key);
        try
        {
            foreach (var rs in traces.ResourceSpans)
            {
                terms.AddAttributes(rs.Resource.Attributes);
                foreach (var kv in rs.Resource.Attributes)
                {
                    if (kv.Key == "service.name" && kv.Value.StringValue is { } service)
                    {
                        terms.AddService(service);
                    }
                }

                foreach (var ss in rs.ScopeSpans)
                {
                    foreach (var span in ss.Spans)
                    {
                        terms.AddSpanName(span.Name);
                        terms.AddAttributes(span.Attributes);
                        foreach (var e in span.Events)
                        {
                            terms.AddAttributes(e.Attributes);
                        }
                    }
                }
            }

            var filter = Bloom.Create(Version, terms.Hashes.Count, BitsPerTerm, Probes, minBits: 512);
            var adder = new Bloom.Adder(filter);
            terms.Hashes.AddEachTo(ref adder);

            return filter;
        }
        finally
        {
            BlockTerms.Return(terms);
        }
    }

    /// <summary>False only when the term is certainly not in the block. An empty or unknown filter says "maybe".</summary>
    public static bool MightContain(byte[] filter, TermHint hint, IndexKey key)
    {
        if (filter.Length < 3 || filter[0] is not (1 or Version))
        {
            return true;
        }

        var termKey = hint.Kind == TermKind.Attribute ? hint.Key : string.Empty;
        if (filter[0] == 1)
        {
            var m = (uint)((filter.Length - 2) * 8);
            var probes = Math.Min((int)filter[1], 8);
            Span<byte> mac = stackalloc byte[32];
            key.TermV1(hint.Kind, termKey, hint.Value, mac);
            for (var i = 0; i < probes; i++)
            {
                if (!IsSet(filter, BinaryPrimitives.ReadUInt32LittleEndian(mac[(i * 4)..]) % m))
                {
                    return false;
                }
            }

            return true;
        }

        return Bloom.MightContain(filter, Version, key.Term(hint.Kind, termKey, hint.Value));
    }

    private static bool IsSet(byte[] filter, uint bit) => (filter[2 + (bit >> 3)] & (1 << (int)(bit & 7))) != 0;

}

/// <summary>
/// The distinct term hashes of one block while its filter is built, with what makes them cheap: each attribute key's
/// hash prefix (<c>kind | key | 0</c>) absorbed once per block, found by reference (the decoder interns keys), and up
/// to <see cref="MemoValues"/> values of each key (direct-mapped, by reference), so a repeated value (a method, a
/// route, a network) is not hashed again. One per thread, emptied after each block: it holds telemetry strings only
/// while a filter is being built.
/// </summary>
internal sealed class BlockTerms
{
    /// <summary>Keys found by reference (a power of two): a block's spans of every kind use a few dozen.</summary>
    private const int IdentitySlots = 128;

    /// <summary>Values remembered per key (a power of two): the routes, functions, networks a key takes in a block.</summary>
    private const int MemoValues = 16;

    /// <summary>A block with more distinct keys than this does not keep its tables for the next one.</summary>
    private const int MaxKeptKeys = 1024;

    /// <summary>Nor with more distinct terms than this (a 256-span block of the worst-case mix has ~2,000).</summary>
    private const int MaxKeptHashes = 16_384;

    [ThreadStatic]
    private static BlockTerms? _cached;

    private readonly Dictionary<string, KeyTerms> _keys = new(StringComparer.Ordinal);
    private readonly KeyTerms?[] _byIdentity = new KeyTerms?[IdentitySlots];
    private IndexKey _index = null!;
    private KeyTerms? _spanNames;
    private KeyTerms? _services;

    public DistinctHashes Hashes { get; } = new();

    public static BlockTerms Rent(IndexKey index)
    {
        var terms = _cached ?? new BlockTerms();
        _cached = null;
        terms._index = index;
        return terms;
    }

    /// <summary>Forgets the block (strings and hashes) and keeps the tables for the thread's next one.</summary>
    public static void Return(BlockTerms terms)
    {
        var keep = terms._keys.Count <= MaxKeptKeys && terms.Hashes.Count <= MaxKeptHashes;
        terms._keys.Clear();
        Array.Clear(terms._byIdentity);
        terms._spanNames = null;
        terms._services = null;
        terms.Hashes.Clear(keepSlots: MaxKeptHashes);
        terms._index = null!;
        if (keep)
        {
            _cached = terms;
        }
    }

    public void AddService(string service) => Add(_services ??= new KeyTerms(string.Empty, _index.TermPrefix(TermKind.ServiceName, string.Empty)), service);

    public void AddSpanName(string name) => Add(_spanNames ??= new KeyTerms(string.Empty, _index.TermPrefix(TermKind.SpanName, string.Empty)), name);

    public void AddAttributes(List<KeyValue> attributes)
    {
        foreach (ref readonly var kv in System.Runtime.InteropServices.CollectionsMarshal.AsSpan(attributes))
        {
            if (kv.Value.StringValue is { } value)
            {
                Add(KeyOf(kv.Key), value);
            }
        }
    }

    private KeyTerms KeyOf(string key)
    {
        // The decoder interns keys, so the same key is usually the same string: found by reference before by value.
        var identity = System.Runtime.CompilerServices.RuntimeHelpers.GetHashCode(key) & (IdentitySlots - 1);
        if (_byIdentity[identity] is { } known && ReferenceEquals(known.Key, key))
        {
            return known;
        }

        if (!_keys.TryGetValue(key, out var terms))
        {
            terms = new KeyTerms(key, _index.TermPrefix(TermKind.Attribute, key));
            _keys.Add(key, terms);
        }

        _byIdentity[identity] = terms;
        return terms;
    }

    private void Add(KeyTerms key, string value)
    {
        if (key.Remembers(value))
        {
            return;
        }

        var hash = IndexKey.TermOf(key.Prefix, value);
        Hashes.Add(hash);
        key.Remember(value);
    }

    /// <summary>One key's hash prefix and its last values (already in <see cref="Hashes"/>).</summary>
    private sealed class KeyTerms(string key, SipHashStream prefix)
    {
        private readonly string?[] _values = new string?[MemoValues];

        public string Key { get; } = key;

        public SipHashStream Prefix { get; } = prefix;

        /// <summary>
        /// True when <paramref name="value"/> (this very string) was added before. Direct-mapped by length and last
        /// char, compared by reference: the decoder hands out one string per distinct value of a request, and a block's
        /// traces come from few requests. An equal value in another string is hashed again; the set drops the repeat.
        /// </summary>
        public bool Remembers(string value) => ReferenceEquals(_values[Slot(value)], value);

        public void Remember(string value) => _values[Slot(value)] = value;

        private static int Slot(string value) => (value.Length + (value.Length == 0 ? 0 : value[^1] * 7)) & (MemoValues - 1);
    }
}

/// <summary>
/// The distinct 64-bit term hashes of a block: open addressing with linear probing in a power-of-two table kept at
/// most half full, the hash's own high bits as the index (they are keyed SipHash output, so uniform). About half the
/// cost of a <see cref="HashSet{T}"/> add here; the filter bits do not depend on the order, so they are the same.
/// Zero, which marks an empty slot, is remembered apart.
/// </summary>
internal sealed class DistinctHashes
{
    private const int InitialSlots = 1024;

    /// <summary>The slot of a hash is its top bits: as many as the table has index bits.</summary>
    private const int InitialShift = 64 - 10;

    private ulong[] _slots = new ulong[InitialSlots];
    private int _shift = InitialShift;
    private bool _hasZero;

    public int Count { get; private set; }

    public void Add(ulong hash)
    {
        if (hash == 0)
        {
            Count += _hasZero ? 0 : 1;
            _hasZero = true;
            return;
        }

        var slots = _slots;
        var mask = slots.Length - 1;
        for (var i = (int)(hash >> _shift); ; i = (i + 1) & mask)
        {
            var slot = slots[i];
            if (slot == hash)
            {
                return;
            }

            if (slot == 0)
            {
                slots[i] = hash;
                if (++Count * 2 > slots.Length)
                {
                    Grow();
                }

                return;
            }
        }
    }

    public void AddEachTo(ref Bloom.Adder adder)
    {
        if (_hasZero)
        {
            adder.Add(0);
        }

        foreach (var hash in _slots)
        {
            if (hash != 0)
            {
                adder.Add(hash);
            }
        }
    }

    /// <summary>Empties the set, keeping a table of up to <paramref name="keepSlots"/> for the next block.</summary>
    public void Clear(int keepSlots)
    {
        if (_slots.Length > keepSlots)
        {
            _slots = new ulong[InitialSlots];
            _shift = InitialShift;
        }
        else
        {
            Array.Clear(_slots);
        }

        Count = 0;
        _hasZero = false;
    }

    private void Grow()
    {
        var old = _slots;
        _slots = new ulong[old.Length * 2];
        _shift--;
        var mask = _slots.Length - 1;
        foreach (var hash in old)
        {
            if (hash == 0)
            {
                continue;
            }

            var i = (int)(hash >> _shift);
            while (_slots[i] != 0)
            {
                i = (i + 1) & mask;
            }

            _slots[i] = hash;
        }
    }
}
