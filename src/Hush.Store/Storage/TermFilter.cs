using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using Hush.Otlp;
using Hush.Store.Reading;

namespace Hush.Store.Storage;

/// <summary>
/// A tenant's index keys and what they key. Trace tokens: the first 16 bytes of HMAC-SHA256 of the trace id under
/// <c>HKDF-SHA256(KEK, info "hush/index/v1/" + tenant)</c>. Bloom terms: SipHash-2-4 of <c>kind | key | 0 | value</c>
/// under <c>HKDF-SHA256(KEK, info "hush/index/v2/terms/" + tenant)</c> (filters of version 1 used HMAC-SHA256 of the
/// same text under the first key, and are still read). Without the KEK, neither reveals nor confirms a value: a
/// guessed service name cannot be tested against a stolen index.
/// </summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1001", Justification = "One per tenant for the store's lifetime; the per-thread HMAC contexts hold no secret beyond the key, which lives as long.")]
internal sealed class IndexKey
{
    public const int TraceTokenBytes = 16;

    /// <summary>Terms up to this many UTF-8 bytes are encoded on the stack.</summary>
    private const int StackTermBytes = 512;

    private readonly byte[] _key;
    private readonly SipHash _terms;

    /// <summary>
    /// One reusable HMAC context per thread: a one-shot HMAC sets the key up on every call, which costs ~2.5x a
    /// reset-and-reuse on Linux/OpenSSL (see <c>Pseudonymizer</c>), and a request can carry hundreds of traces.
    /// </summary>
    private readonly ThreadLocal<IncrementalHash> _hmac;

    public IndexKey(KeyMaterial kek, string tenant)
    {
        _key = new byte[32];
        HKDF.DeriveKey(HashAlgorithmName.SHA256, kek.Span, _key, salt: [], info: Encoding.UTF8.GetBytes("hush/index/v1/" + tenant));
        Span<byte> terms = stackalloc byte[16];
        HKDF.DeriveKey(HashAlgorithmName.SHA256, kek.Span, terms, salt: [], info: Encoding.UTF8.GetBytes("hush/index/v2/terms/" + tenant));
        _terms = new SipHash(terms);
        CryptographicOperations.ZeroMemory(terms);
        _hmac = new ThreadLocal<IncrementalHash>(() => IncrementalHash.CreateHMAC(HashAlgorithmName.SHA256, _key));
    }

    public byte[] TraceToken(TraceId id)
    {
        Span<byte> bytes = stackalloc byte[16];
        id.WriteTo(bytes);
        Span<byte> mac = stackalloc byte[32];
        var hmac = _hmac.Value!;
        hmac.AppendData(bytes);
        hmac.GetHashAndReset(mac);
        return mac[..TraceTokenBytes].ToArray();
    }

    /// <summary>The keyed hash of a version-2 filter term. The stack buffer is not zeroed first: only what is encoded is read.</summary>
    [System.Runtime.CompilerServices.SkipLocalsInit]
    public ulong Term(TermKind kind, string key, string value)
    {
        var max = 1 + Encoding.UTF8.GetMaxByteCount(key.Length) + 1 + Encoding.UTF8.GetMaxByteCount(value.Length);
        byte[]? rented = null;
        var buffer = max <= StackTermBytes ? stackalloc byte[StackTermBytes] : (rented = System.Buffers.ArrayPool<byte>.Shared.Rent(max));
        buffer[0] = (byte)('0' + (int)kind);
        var length = 1 + Encoding.UTF8.GetBytes(key, buffer[1..]);
        buffer[length++] = 0;
        length += Encoding.UTF8.GetBytes(value, buffer[length..]);
        var hash = _terms.Hash(buffer[..length]);
        if (rented is not null)
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(rented);
        }

        return hash;
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
        var hashes = new HashSet<ulong>();
        foreach (var rs in traces.ResourceSpans)
        {
            AddAttributes(hashes, rs.Resource.Attributes, key);
            foreach (var kv in rs.Resource.Attributes)
            {
                if (kv.Key == "service.name" && kv.Value.StringValue is { } service)
                {
                    hashes.Add(key.Term(TermKind.ServiceName, string.Empty, service));
                }
            }

            foreach (var ss in rs.ScopeSpans)
            {
                foreach (var span in ss.Spans)
                {
                    hashes.Add(key.Term(TermKind.SpanName, string.Empty, span.Name));
                    AddAttributes(hashes, span.Attributes, key);
                    foreach (var e in span.Events)
                    {
                        AddAttributes(hashes, e.Attributes, key);
                    }
                }
            }
        }

        var filter = Bloom.Create(Version, hashes.Count, BitsPerTerm, Probes, minBits: 512);
        foreach (var hash in hashes)
        {
            Bloom.Add(filter, hash);
        }

        return filter;
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

    private static void AddAttributes(HashSet<ulong> hashes, List<KeyValue> attributes, IndexKey key)
    {
        foreach (var kv in attributes)
        {
            if (kv.Value.StringValue is { } value)
            {
                hashes.Add(key.Term(TermKind.Attribute, kv.Key, value));
            }
        }
    }
}
