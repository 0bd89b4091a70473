namespace Hush.Store.Storage;

/// <summary>
/// The Bloom filters of the index (a block's terms, a sealed segment's trace tokens): version u8, probes u8, then the
/// bits. Probes come from one 64-bit keyed hash by Kirsch and Mitzenmacher's double hashing, bit i = (h1 + i·h2) mod m
/// in 32-bit arithmetic, h1 the low half, h2 the high half made odd so it never sticks.
/// </summary>
internal static class Bloom
{
    /// <summary>An empty filter for <paramref name="entries"/> distinct entries, at least <paramref name="minBits"/> bits.</summary>
    public static byte[] Create(byte version, int entries, int bitsPerEntry, int probes, int minBits)
    {
        var bits = Math.Max(minBits, entries * bitsPerEntry);
        var filter = new byte[2 + ((bits + 7) / 8)];
        filter[0] = version;
        filter[1] = (byte)probes;
        return filter;
    }

    public static void Add(byte[] filter, ulong hash)
    {
        var (h1, h2, m) = Probing(filter, hash);
        for (var i = 0u; i < filter[1]; i++)
        {
            var bit = (h1 + (i * h2)) % m;
            filter[2 + (bit >> 3)] |= (byte)(1 << (int)(bit & 7));
        }
    }

    /// <summary>False only when the entry is certainly absent. A filter too short or of another version says "maybe".</summary>
    public static bool MightContain(byte[] filter, byte version, ulong hash)
    {
        if (filter.Length < 3 || filter[0] != version)
        {
            return true;
        }

        var (h1, h2, m) = Probing(filter, hash);
        var probes = Math.Min((int)filter[1], 8);
        for (var i = 0u; i < probes; i++)
        {
            var bit = (h1 + (i * h2)) % m;
            if ((filter[2 + (bit >> 3)] & (1 << (int)(bit & 7))) == 0)
            {
                return false;
            }
        }

        return true;
    }

    private static (uint H1, uint H2, uint M) Probing(byte[] filter, ulong hash) => ((uint)hash, (uint)(hash >> 32) | 1, (uint)((filter.Length - 2) * 8));
}
