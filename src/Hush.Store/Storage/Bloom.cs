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

    /// <summary>
    /// Adds many entries to one filter: the <c>mod m</c> of every probe is a multiplication by a constant computed
    /// once (Lemire, Kaser and Kurz, "Faster remainder by direct computation", 2019: exact for 32-bit operands)
    /// instead of a division, which was a tenth of the time of building a block's filter.
    /// </summary>
    public readonly struct Adder
    {
        private readonly byte[] _filter;
        private readonly uint _m;
        private readonly ulong _inverse;

        public Adder(byte[] filter)
        {
            _filter = filter;
            _m = (uint)((filter.Length - 2) * 8);
            _inverse = (ulong.MaxValue / _m) + 1;
        }

        public void Add(ulong hash)
        {
            var (h1, h2) = ((uint)hash, (uint)(hash >> 32) | 1);
            for (var i = 0u; i < _filter[1]; i++)
            {
                var bit = Remainder(h1 + (i * h2));
                _filter[2 + (bit >> 3)] |= (byte)(1 << (int)(bit & 7));
            }
        }

        /// <summary><paramref name="value"/> mod m.</summary>
        internal uint Remainder(uint value) => (uint)Math.BigMul(_inverse * value, _m, out _);
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
