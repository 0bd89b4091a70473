using System.Buffers.Binary;
using System.Text;

namespace Hush.Otlp.Implementation;

/// <summary>
/// Decodes each distinct string of one request once. A 512-span request of <c>hush loadgen</c>'s mix carries
/// ~7,300 string values and span names but only ~2,000 distinct ones (methods, routes, statuses, hosts, user agents
/// repeat from span to span), so sharing one string per distinct value saves about two allocations in three and the
/// garbage collector the work of carrying them while a batch waits.
/// <para>
/// Scoped to one decode call, never longer: <see cref="Begin"/> opens the table, <see cref="End"/> forgets every
/// string it held, so no attribute value outlives its request in here (values are not interned across requests:
/// a raw value must not linger in a cache after the request that carried it). Sharing is safe because strings are
/// immutable and the privacy stage replaces a value rather than editing it.
/// </para>
/// <para>
/// Only ASCII values up to <see cref="MaxBytes"/> bytes are shared (what repeats; a hit then compares bytes to chars
/// directly). An open-addressing table with a per-process hash seed and a bounded probe: colliding input, chosen or
/// not, costs a fresh string, never a wrong one (every hit compares all bytes).
/// </para>
/// </summary>
internal sealed class RequestStrings
{
    /// <summary>Longer values are decoded without a look-up: they rarely repeat and cost more to hash.</summary>
    public const int MaxBytes = 256;

    /// <summary>Table slots (power of two); half of them may fill, then new values are no longer remembered.</summary>
    private const int Slots = 4096;

    private const int MaxEntries = Slots / 2;

    /// <summary>Slots looked at before a miss is declared.</summary>
    private const int MaxProbes = 4;

    private static readonly ulong Seed = (ulong)Random.Shared.NextInt64() | 1;

    private readonly ulong[] _hashes = new ulong[Slots];
    private readonly string?[] _values = new string?[Slots];
    private readonly int[] _used = new int[MaxEntries];
    private int _count;
    private bool _active;

    /// <summary>Distinct strings remembered for the open request (0 once it ended).</summary>
    public int Count => _count;

    /// <summary>Whether a request is being decoded through the table.</summary>
    public bool IsOpen => _active;

    /// <summary>Opens the table for one request; false when it is already open (a nested decode shares the outer one's).</summary>
    public bool Begin()
    {
        if (_active)
        {
            return false;
        }

        _active = true;
        return true;
    }

    /// <summary>Forgets every string of the request.</summary>
    public void End()
    {
        foreach (var slot in _used.AsSpan(0, _count))
        {
            _values[slot] = null;
            _hashes[slot] = 0;
        }

        _count = 0;
        _active = false;
    }

    /// <summary>The string for <paramref name="utf8"/>, shared with earlier equal values of the open request; null when not valid UTF-8.</summary>
    public string? TryDecode(ReadOnlySpan<byte> utf8)
    {
        if (!_active || utf8.Length > MaxBytes || utf8.IsEmpty)
        {
            return Utf8Text.TryDecode(utf8);
        }

        // Zero marks an empty slot, so no real hash is zero.
        var hash = Hash(utf8) | 1;
        var slot = (int)(hash >> (64 - 12)) & (Slots - 1);
        var free = -1;
        for (var probe = 0; probe < MaxProbes; probe++)
        {
            var stored = _hashes[slot];
            if (stored == 0)
            {
                free = slot;
                break;
            }

            if (stored == hash && Ascii.Equals(utf8, _values[slot]))
            {
                return _values[slot];
            }

            slot = (slot + 1) & (Slots - 1);
        }

        var value = Utf8Text.TryDecode(utf8);
        if (free >= 0 && _count < MaxEntries && value is not null && value.Length == utf8.Length)
        {
            // value.Length == bytes only for ASCII: a multi-byte value never enters, so Ascii.Equals above is exact.
            _hashes[free] = hash;
            _values[free] = value;
            _used[_count++] = free;
        }

        return value;
    }

    /// <summary>A fast keyed hash of every byte: 8 bytes per round, the last (possibly overlapping) word closing it.</summary>
    private static ulong Hash(ReadOnlySpan<byte> utf8)
    {
        var h = Seed ^ ((ulong)utf8.Length * 0x9E3779B97F4A7C15UL);
        if (utf8.Length < sizeof(ulong))
        {
            ulong word = 0;
            foreach (var b in utf8)
            {
                word = (word << 8) | b;
            }

            return Mix(h ^ word);
        }

        var i = 0;
        for (; i + sizeof(ulong) < utf8.Length; i += sizeof(ulong))
        {
            h = Mix(h ^ BinaryPrimitives.ReadUInt64LittleEndian(utf8[i..]));
        }

        return Mix(h ^ BinaryPrimitives.ReadUInt64LittleEndian(utf8[^sizeof(ulong)..]));
    }

    private static ulong Mix(ulong h)
    {
        h *= 0xC2B2AE3D27D4EB4FUL;
        return h ^ (h >> 29);
    }
}
