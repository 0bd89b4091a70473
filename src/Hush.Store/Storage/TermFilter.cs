using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using Hush.Otlp;
using Hush.Store.Reading;

namespace Hush.Store.Storage;

/// <summary>
/// A tenant's index key, <c>HKDF-SHA256(KEK, info "hush/index/v1/" + tenant)</c>, and what it keys: trace tokens
/// (the first 16 bytes of HMAC-SHA256 of the trace id) and the terms of per-block Bloom filters (HMAC-SHA256 of
/// <c>kind | key | value</c>). Without the KEK, neither reveals nor confirms a value: a guessed service name
/// cannot be tested against a stolen index.
/// </summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1001", Justification = "One per tenant for the store's lifetime; the per-thread HMAC contexts hold no secret beyond the key, which lives as long.")]
internal sealed class IndexKey
{
    public const int TraceTokenBytes = 16;

    private readonly byte[] _key;

    /// <summary>
    /// One reusable HMAC context per thread: a one-shot HMAC sets the key up on every call, which costs ~2.5x a
    /// reset-and-reuse on Linux/OpenSSL (see <c>Pseudonymizer</c>), and a block has thousands of distinct terms.
    /// </summary>
    private readonly ThreadLocal<IncrementalHash> _hmac;

    public IndexKey(KeyMaterial kek, string tenant)
    {
        _key = new byte[32];
        HKDF.DeriveKey(HashAlgorithmName.SHA256, kek.Span, _key, salt: [], info: Encoding.UTF8.GetBytes("hush/index/v1/" + tenant));
        _hmac = new ThreadLocal<IncrementalHash>(() => IncrementalHash.CreateHMAC(HashAlgorithmName.SHA256, _key));
    }

    public byte[] TraceToken(TraceId id)
    {
        Span<byte> bytes = stackalloc byte[16];
        id.WriteTo(bytes);
        Span<byte> mac = stackalloc byte[32];
        HMACSHA256.HashData(_key, bytes, mac);
        return mac[..TraceTokenBytes].ToArray();
    }

    public static string TermText(TermKind kind, string key, string value) => ((char)('0' + (int)kind)).ToString() + key + "\u0000" + value;

    public void TermOfText(string text, Span<byte> mac)
    {
        var bytes = Encoding.UTF8.GetMaxByteCount(text.Length) <= 1024 ? stackalloc byte[1024] : new byte[Encoding.UTF8.GetMaxByteCount(text.Length)];
        var length = Encoding.UTF8.GetBytes(text, bytes);
        var hmac = _hmac.Value!;
        hmac.AppendData(bytes[..length]);
        hmac.GetHashAndReset(mac);
    }
}

/// <summary>
/// A Bloom filter over a block's keyed terms: span names, service names, string attributes (key and value) and
/// attribute values alone. About ten bits and seven probes per distinct term (under 1% false positives). Layout:
/// version u8 = 1, probes u8, then the bits.
/// </summary>
internal static class TermFilter
{
    private const int Probes = 7;
    private const int BitsPerTerm = 10;

    /// <summary>The distinct terms of <paramref name="traces"/>, as <see cref="IndexKey.TermText"/> strings.</summary>
    public static HashSet<string> Terms(TraceRequest traces)
    {
        var terms = new HashSet<string>(StringComparer.Ordinal);
        foreach (var rs in traces.ResourceSpans)
        {
            AddAttributes(terms, rs.Resource.Attributes);
            foreach (var kv in rs.Resource.Attributes)
            {
                if (kv.Key == "service.name" && kv.Value.StringValue is { } service)
                {
                    terms.Add(IndexKey.TermText(TermKind.ServiceName, string.Empty, service));
                }
            }

            foreach (var ss in rs.ScopeSpans)
            {
                foreach (var span in ss.Spans)
                {
                    terms.Add(IndexKey.TermText(TermKind.SpanName, string.Empty, span.Name));
                    AddAttributes(terms, span.Attributes);
                    foreach (var e in span.Events)
                    {
                        AddAttributes(terms, e.Attributes);
                    }
                }
            }
        }

        return terms;
    }

    public static byte[] Build(HashSet<string> terms, IndexKey key)
    {
        var bits = Math.Max(512, terms.Count * BitsPerTerm);
        var filter = new byte[2 + ((bits + 7) / 8)];
        filter[0] = 1;
        filter[1] = Probes;
        var m = (uint)((filter.Length - 2) * 8);
        Span<byte> mac = stackalloc byte[32];
        foreach (var term in terms)
        {
            key.TermOfText(term, mac);
            for (var i = 0; i < Probes; i++)
            {
                var bit = BinaryPrimitives.ReadUInt32LittleEndian(mac[(i * 4)..]) % m;
                filter[2 + (bit >> 3)] |= (byte)(1 << (int)(bit & 7));
            }
        }

        return filter;
    }

    /// <summary>False only when the term is certainly not in the block. An empty or unknown filter says "maybe".</summary>
    public static bool MightContain(byte[] filter, TermHint hint, IndexKey key)
    {
        if (filter.Length < 3 || filter[0] != 1)
        {
            return true;
        }

        var text = hint.Kind == TermKind.Attribute
            ? IndexKey.TermText(TermKind.Attribute, hint.Key, hint.Value)
            : IndexKey.TermText(hint.Kind, string.Empty, hint.Value);
        Span<byte> mac = stackalloc byte[32];
        key.TermOfText(text, mac);
        var m = (uint)((filter.Length - 2) * 8);
        for (var i = 0; i < filter[1] && i < 8; i++)
        {
            var bit = BinaryPrimitives.ReadUInt32LittleEndian(mac[(i * 4)..]) % m;
            if ((filter[2 + (bit >> 3)] & (1 << (int)(bit & 7))) == 0)
            {
                return false;
            }
        }

        return true;
    }

    private static void AddAttributes(HashSet<string> terms, List<KeyValue> attributes)
    {
        foreach (var kv in attributes)
        {
            if (kv.Value.StringValue is { } value)
            {
                terms.Add(IndexKey.TermText(TermKind.Attribute, kv.Key, value));
            }
        }
    }
}
