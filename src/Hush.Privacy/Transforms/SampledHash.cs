namespace Hush.Privacy.Transforms;

/// <summary>
/// A hash of a text from its length and five of its chars (first, quarter, middle, three quarters, last), for the
/// direct-mapped tables that remember values within one call: a lookup reads a few chars, not all of them, and a
/// collision only costs recomputing (the tables compare whole texts before answering). Non-negative; callers mask it.
/// </summary>
internal static class SampledHash
{
    public static int Of(ReadOnlySpan<char> s)
    {
        var n = s.Length;
        if (n == 0)
        {
            return 0;
        }

        var h = ((uint)n * 0x9E3779B1u) ^ s[0] ^ ((uint)s[n >> 1] << 7) ^ ((uint)s[n - 1] << 14);
        h = (h * 31u) + s[n >> 2] + ((uint)s[(3 * n) >> 2] << 9);
        h ^= h >> 13;
        h *= 0x5BD1E995u;
        h ^= h >> 15;
        return (int)(h & 0x7FFFFFFF);
    }
}
