using System.Net;
using System.Net.Sockets;

namespace Hush.Privacy.Detection.BuiltIn;

/// <summary>
/// IPv4 addresses: exactly four dot-separated octets 0–255. Three-part versions (1.2.3), five-part runs
/// (10.0.0.1.5) and numbers glued to letters (v1.2.3.4) are not addresses. A trailing port or prefix length stays.
/// </summary>
internal sealed class Ipv4Detector() : BuiltInDetector("ipv4", "ip")
{
    public override Prefilter Prefilter { get; } = new(7, 4, CharFlags.Dot, CharFlags.None);

    protected override void FindCore(string text, TextView? view, List<DetectorMatch> matches)
    {
        int i = 0;
        while (i < text.Length)
        {
            i = Chars.NextDigit(text, i);
            if (i < 0)
            {
                return;
            }

            char p = Chars.Prev(text, i);
            if (!Chars.IsWord(p) && p is not ('.' or '_') && !IsProductVersion(text, i))
            {
                int end = TryParse(text, i);
                if (end > 0)
                {
                    Add(view, matches, i, end - i);
                    i = end;
                    continue;
                }
            }

            // Skip the rest of this number and its dots: no address starts inside it.
            while (i < text.Length && (Chars.IsDigit(text[i]) || text[i] == '.'))
            {
                i++;
            }
        }
    }

    /// <summary>"Chrome/120.0.0.0": a capitalized product token and '/' before the number make it a version.</summary>
    private static bool IsProductVersion(string s, int i)
    {
        if (i < 2 || s[i - 1] != '/')
        {
            return false;
        }

        int w = i - 1;
        while (w > 0 && char.IsAsciiLetter(s[w - 1]))
        {
            w--;
        }

        return w < i - 1 && char.IsAsciiLetterUpper(s[w]);
    }

    /// <summary>Returns the end of a dotted-quad at <paramref name="i"/>, or -1.</summary>
    internal static int TryParse(string s, int i)
    {
        int j = i;
        for (int octet = 0; octet < 4; octet++)
        {
            if (octet > 0)
            {
                if (j >= s.Length || s[j] != '.')
                {
                    return -1;
                }

                j++;
            }

            int start = j;
            int value = 0;
            while (j < s.Length && Chars.IsDigit(s[j]) && j - start < 3)
            {
                value = (value * 10) + (s[j] - '0');
                j++;
            }

            if (j == start || value > 255 || (j < s.Length && Chars.IsDigit(s[j])))
            {
                return -1;
            }
        }

        char n = Chars.At(s, j);
        if (Chars.IsWord(n) || n == '_' || (n == '.' && j + 1 < s.Length && Chars.IsDigit(s[j + 1])))
        {
            return -1;
        }

        // "1.2.3.4-beta", "1.0.0.0+build": a four-part version with a pre-release or build suffix.
        if (n is '-' or '+' && j + 1 < s.Length && char.IsAsciiLetter(s[j + 1]))
        {
            return -1;
        }

        return j;
    }
}

/// <summary>
/// IPv6 addresses: a run of hex digits, colons and dots with at least two colons and one decimal digit, standing
/// alone (not part of a word such as <c>std::vector</c>), confirmed by <see cref="IPAddress.TryParse(ReadOnlySpan{char}, out IPAddress?)"/>.
/// Times (12:30:45) and MAC addresses do not parse as IPv6.
/// </summary>
internal sealed class Ipv6Detector() : BuiltInDetector("ipv6", "ip")
{
    /// <summary>Longest textual IPv6 address (IPv4-mapped, full form) is 45 chars.</summary>
    private const int MaxChars = 45;

    public override Prefilter Prefilter { get; } = new(3, 1, CharFlags.Colon, CharFlags.None);

    protected override void FindCore(string text, TextView? view, List<DetectorMatch> matches)
    {
        int i = 0;
        while (i < text.Length)
        {
            if (!IsV6Char(text[i]))
            {
                i++;
                continue;
            }

            int start = i;
            int colons = 0;
            bool digit = false;
            while (i < text.Length && IsV6Char(text[i]))
            {
                colons += text[i] == ':' ? 1 : 0;
                digit |= Chars.IsDigit(text[i]);
                i++;
            }

            if (colons < 2 || !digit || Chars.IsWord(Chars.Prev(text, start)) || Chars.Prev(text, start) == '_' ||
                Chars.IsWord(Chars.At(text, i)) || Chars.At(text, i) == '_')
            {
                continue;
            }

            int end = i;
            while (end > start && text[end - 1] == '.')
            {
                end--;
            }

            if (end - start <= MaxChars && IsV6(text.AsSpan(start, end - start)))
            {
                Add(view, matches, start, end - start);
            }
            else if (end - start > 1 && text[end - 1] == ':' && text[end - 2] != ':' && end - start - 1 <= MaxChars &&
                     IsV6(text.AsSpan(start, end - start - 1)))
            {
                Add(view, matches, start, end - start - 1);
            }
        }
    }

    private static bool IsV6Char(char c) => char.IsAsciiHexDigit(c) || c is ':' or '.';

    private static bool IsV6(ReadOnlySpan<char> candidate) =>
        IPAddress.TryParse(candidate, out IPAddress? address) && address.AddressFamily == AddressFamily.InterNetworkV6;
}
