using System.Buffers.Binary;
using System.Text;

namespace Hush.Otlp.Implementation;

/// <summary>
/// Interns attribute keys decoded from UTF-8. Keys repeat across every span (http.request.method,
/// db.system, ...), so reusing one string per key saves an allocation per attribute. A small
/// four-way set-associative, per-thread table: no locks, bounded memory. Four ways, not two: a span
/// visits its keys in a fixed order, so more keys in one set than it has ways miss on every span for
/// the life of the process; with two ways that happened for one process start in twenty with a single
/// service's 28 keys (the hash seed differs per process), with four ways about 3 in 10,000. The
/// protobuf decoder takes <see cref="Current"/> once per request, not once per key: a thread-static
/// read is a call on Linux.
/// </summary>
internal sealed class AttributeKeyCache
{
    /// <summary>Entries per set.</summary>
    private const int Ways = 4;

    /// <summary>Sets per thread (power of two): 512 keys, above the low hundreds of semantic-convention keys in use.</summary>
    private const int Sets = 128;

    /// <summary>The hash's top 7 bits pick the set.</summary>
    private const int SetShift = 64 - 7;

    /// <summary>Longer keys are not cached: they are rare and would inflate the table (at most 512 x 64 bytes of key bytes per thread).</summary>
    private const int MaxCachedKeyBytes = 64;

    /// <summary>
    /// Per-process seed, so a client cannot choose keys that collide in everyone's table. A collision
    /// only costs a miss (one fresh string), never a wrong key: a hit compares every byte.
    /// </summary>
    private static readonly ulong Seed = (ulong)Random.Shared.NextInt64();

    [ThreadStatic]
    private static AttributeKeyCache? _current;

    private readonly Entry[] _entries = new Entry[Sets * Ways];

    private AttributeKeyCache()
    {
    }

    /// <summary>This thread's table.</summary>
    public static AttributeKeyCache Current => _current ??= new AttributeKeyCache();

    /// <summary>This thread's table of one request's values (open only while a request decodes).</summary>
    public RequestStrings Strings { get; } = new();

    /// <summary>Returns the key for <paramref name="utf8"/>; throws <see cref="DecoderFallbackException"/> on invalid UTF-8.</summary>
    public static string GetOrAdd(ReadOnlySpan<byte> utf8) =>
        Current.TryGetOrAdd(utf8) ?? throw new DecoderFallbackException("An attribute key is not valid UTF-8.");

    /// <summary>Returns the key for <paramref name="utf8"/>, or null when it is not valid UTF-8.</summary>
    public string? TryGetOrAdd(ReadOnlySpan<byte> utf8)
    {
        if (utf8.IsEmpty)
        {
            return string.Empty;
        }

        if (utf8.Length > MaxCachedKeyBytes)
        {
            return Utf8Text.TryDecode(utf8);
        }

        var hash = Hash(utf8);
        var set = _entries.AsSpan((int)(hash >> SetShift) * Ways, Ways);
        for (var i = 0; i < set.Length; i++)
        {
            var entry = set[i];
            if (entry.Hash == hash && utf8.SequenceEqual(entry.Utf8))
            {
                if (i > 0)
                {
                    // Move a hit one way forward, so hot keys settle in front of one-off ones.
                    set[i] = set[i - 1];
                    set[i - 1] = entry;
                }

                return entry.Value;
            }
        }

        var value = Utf8Text.TryDecode(utf8);
        if (value is not null)
        {
            // New keys enter at the front; the last way is evicted.
            set[..^1].CopyTo(set[1..]);
            set[0] = new Entry(hash, utf8.ToArray(), value);
        }

        return value;
    }

    /// <summary>
    /// A cheap hash of the length and the first and last 8 bytes (keys of one namespace share a
    /// prefix, so both ends matter). HashCode.AddBytes (an xxHash32 round per 4 bytes) made key lookup a
    /// fifth of decode time; this is two multiplies.
    /// </summary>
    private static ulong Hash(ReadOnlySpan<byte> utf8)
    {
        ulong head;
        ulong tail;
        if (utf8.Length >= sizeof(ulong))
        {
            head = BinaryPrimitives.ReadUInt64LittleEndian(utf8);
            tail = BinaryPrimitives.ReadUInt64LittleEndian(utf8[^sizeof(ulong)..]);
        }
        else
        {
            head = 0;
            foreach (var b in utf8)
            {
                head = (head << 8) | b;
            }

            tail = 0;
        }

        var h = (head ^ Seed) * 0x9E3779B97F4A7C15UL;
        return (h ^ tail ^ (ulong)utf8.Length) * 0xC2B2AE3D27D4EB4FUL;
    }

    /// <summary>A cached key; a default entry (null bytes) compares as an empty span, which never matches since empty keys return early.</summary>
    private readonly record struct Entry(ulong Hash, byte[] Utf8, string Value);
}
