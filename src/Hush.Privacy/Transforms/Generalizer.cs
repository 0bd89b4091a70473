using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Hush.Privacy.Detection.BuiltIn;

namespace Hush.Privacy.Transforms;

/// <summary>Coarsens values that identify a person when exact but stay useful when coarse.</summary>
public static class Generalizer
{
    /// <summary>Keeps the network, drops the host: /24 for IPv4 (one site), /48 for IPv6 (one organization's allocation).</summary>
    private const int V6PrefixBytes = 6;

    private const string V4Suffix = ".0/24";

    /// <summary>
    /// IPv4 → its /24 (<c>203.0.113.77</c> → <c>203.0.113.0/24</c>); IPv6 → its /48 (<c>2001:db8:85a3::8a2e:370:7334</c>
    /// → <c>2001:db8:85a3::/48</c>); IPv4-mapped IPv6 is treated as IPv4. Brackets and zone ids are accepted and dropped.
    /// Only dotted-quad IPv4 counts (not the legacy "10.1" forms). False (and an empty string) for anything else.
    /// </summary>
    public static bool TryGeneralizeIp(string value, out string generalized) => TryGeneralizeIp(value, null, out generalized);

    /// <summary>
    /// <see cref="TryGeneralizeIp(string, out string)"/> that reuses an IPv4 result already in <paramref name="recent"/>
    /// (a direct-mapped table, length a power of two, owned by one caller) and records new ones there: the addresses of
    /// a request share a few networks, and each result was a new string.
    /// </summary>
    internal static bool TryGeneralizeIp(string value, string?[]? recent, out string generalized)
    {
        generalized = string.Empty;
        if (string.IsNullOrEmpty(value) || value.Length > 64)
        {
            return false;
        }

        string s = value.Trim();
        if (s.Length > 2 && s[0] == '[' && s[^1] == ']')
        {
            s = s[1..^1];
        }

        if (s.Contains(':'))
        {
            if (!IPAddress.TryParse(s, out IPAddress? address) || address.AddressFamily != AddressFamily.InterNetworkV6)
            {
                return false;
            }

            if (address.IsIPv4MappedToIPv6)
            {
                generalized = V4Prefix(address.MapToIPv4().GetAddressBytes());
                return true;
            }

            byte[] bytes = address.GetAddressBytes();
            Array.Clear(bytes, V6PrefixBytes, bytes.Length - V6PrefixBytes);
            generalized = new IPAddress(bytes).ToString() + "/48";
            return true;
        }

        if (Ipv4Detector.TryParse(s, 0) != s.Length)
        {
            return false;
        }

        if (TryV4PrefixFast(s, recent, out generalized))
        {
            return true;
        }

        if (!IPAddress.TryParse(s, out IPAddress? v4))
        {
            return false;
        }

        generalized = V4Prefix(v4.GetAddressBytes());
        return true;
    }

    /// <summary>
    /// ISO 8601 dates and timestamps → their year: <c>1987-06-05</c>, <c>1987-06</c>, <c>19870605</c>,
    /// <c>1987-06-05T13:45:00Z</c>, <c>1987-06-05 13:45:00+02:00</c> → <c>1987</c>. The date must be a real calendar date.
    /// </summary>
    public static bool TryGeneralizeDate(string value, out string year)
    {
        year = string.Empty;
        if (string.IsNullOrEmpty(value) || value.Length > 64)
        {
            return false;
        }

        ReadOnlySpan<char> s = value.AsSpan().Trim();
        bool ok = s.Length switch
        {
            7 => DateOnly.TryParseExact(s, "yyyy-MM", CultureInfo.InvariantCulture, DateTimeStyles.None, out _),
            8 => DateOnly.TryParseExact(s, "yyyyMMdd", CultureInfo.InvariantCulture, DateTimeStyles.None, out _),
            10 => DateOnly.TryParseExact(s, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out _),
            > 10 => s[10] is 'T' or 't' or ' ' &&
                    DateOnly.TryParseExact(s[..10], "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out _) &&
                    DateTimeOffset.TryParse(s, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AllowWhiteSpaces, out _),
            _ => false,
        };
        if (!ok)
        {
            return false;
        }

        year = s[..4].ToString();
        return true;
    }

    /// <summary>
    /// A validated dotted quad whose octets have no leading zero is its own canonical text: its /24 is the first three
    /// octets as written plus ".0/24", one allocation and no <see cref="IPAddress"/>. Leading zeros take the
    /// <see cref="IPAddress"/> path, which decides how they are read.
    /// </summary>
    private static bool TryV4PrefixFast(string s, string?[]? recent, out string generalized)
    {
        generalized = string.Empty;
        int thirdDot = -1;
        uint hash = 0;
        for (int i = 0, dots = 0; i < s.Length; i++)
        {
            if (s[i] == '0' && (i == 0 || s[i - 1] == '.') && i + 1 < s.Length && s[i + 1] != '.')
            {
                return false;
            }

            if (s[i] == '.' && ++dots == 3)
            {
                thirdDot = i;
            }

            // The network's chars (those before the third dot), hashed on the way for the table of recent networks.
            hash = thirdDot < 0 ? (hash * 31) + s[i] : hash;
        }

        if (thirdDot < 0)
        {
            return false;
        }

        ReadOnlySpan<char> network = s.AsSpan(0, thirdDot);
        if (recent is null)
        {
            generalized = string.Concat(network, V4Suffix);
            return true;
        }

        hash ^= hash >> 15;
        hash *= 0x2C1B3C6Du;
        hash ^= hash >> 12;
        int slot = (int)(hash & (uint)(recent.Length - 1));
        if (recent[slot] is { } known && known.Length == thirdDot + V4Suffix.Length && known.AsSpan(0, thirdDot).SequenceEqual(network))
        {
            generalized = known;
            return true;
        }

        generalized = string.Concat(network, V4Suffix);
        recent[slot] = generalized;
        return true;
    }

    private static string V4Prefix(byte[] b) =>
        string.Create(CultureInfo.InvariantCulture, $"{b[0]}.{b[1]}.{b[2]}.0/24");
}
