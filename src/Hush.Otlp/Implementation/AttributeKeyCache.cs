using System.Text;

namespace Hush.Otlp.Implementation;

/// <summary>
/// Interns attribute keys decoded from UTF-8. Keys repeat across every span (http.request.method,
/// db.system, ...), so reusing one string per key saves an allocation per attribute. A small
/// two-way set-associative, per-thread table: no locks, bounded memory; two keys that hash to the
/// same set both stay cached, and a third evicts the least recently used of the pair.
/// </summary>
internal static class AttributeKeyCache
{
    /// <summary>Sets per thread (power of two), two entries each: 512 keys, above the low hundreds of semantic-convention keys in use.</summary>
    private const int Sets = 256;

    /// <summary>Longer keys are not cached: they are rare and would inflate the table (at most 512 x 64 bytes of key bytes per thread).</summary>
    private const int MaxCachedKeyBytes = 64;

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    [ThreadStatic]
    private static Entry[]? _entries;

    /// <summary>Returns the key for <paramref name="utf8"/>; throws <see cref="DecoderFallbackException"/> on invalid UTF-8.</summary>
    public static string GetOrAdd(ReadOnlySpan<byte> utf8)
    {
        if (utf8.IsEmpty)
        {
            return string.Empty;
        }

        if (utf8.Length > MaxCachedKeyBytes)
        {
            return StrictUtf8.GetString(utf8);
        }

        var entries = _entries ??= new Entry[Sets * 2];
        var hash = new HashCode();
        hash.AddBytes(utf8);
        var set = (hash.ToHashCode() & (Sets - 1)) * 2;
        ref var first = ref entries[set];
        if (first.Utf8 is not null && utf8.SequenceEqual(first.Utf8))
        {
            return first.Value;
        }

        ref var second = ref entries[set + 1];
        if (second.Utf8 is not null && utf8.SequenceEqual(second.Utf8))
        {
            // Most recently used goes first.
            (first, second) = (second, first);
            return first.Value;
        }

        var value = StrictUtf8.GetString(utf8);
        second = first;
        first = new Entry(utf8.ToArray(), value);
        return value;
    }

    private readonly record struct Entry(byte[] Utf8, string Value);
}
