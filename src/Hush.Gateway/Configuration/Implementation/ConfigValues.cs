using System.Globalization;
using System.Net;

namespace Hush.Gateway.Configuration.Implementation;

/// <summary>Parsers for the scalar forms config values take: durations, sizes, endpoints.</summary>
internal static class ConfigValues
{
    /// <summary>Go/Collector style: <c>200ms</c>, <c>5s</c>, <c>1m</c>, <c>1h30m</c>, <c>1.5s</c>, or <c>0</c>.</summary>
    public static bool TryParseDuration(string text, out TimeSpan value)
    {
        value = TimeSpan.Zero;
        var s = text.AsSpan().Trim();
        if (s is "0")
        {
            return true;
        }

        if (s.IsEmpty)
        {
            return false;
        }

        double totalTicks = 0;
        while (!s.IsEmpty)
        {
            var n = 0;
            while (n < s.Length && (char.IsAsciiDigit(s[n]) || s[n] == '.'))
            {
                n++;
            }

            if (n == 0 || !double.TryParse(s[..n], NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var number))
            {
                return false;
            }

            s = s[n..];
            var u = 0;
            while (u < s.Length && !char.IsAsciiDigit(s[u]) && s[u] != '.')
            {
                u++;
            }

            double ticksPerUnit = s[..u] switch
            {
                "ns" => 0.01,
                "us" or "µs" => TimeSpan.TicksPerMicrosecond,
                "ms" => TimeSpan.TicksPerMillisecond,
                "s" => TimeSpan.TicksPerSecond,
                "m" => TimeSpan.TicksPerMinute,
                "h" => TimeSpan.TicksPerHour,
                _ => -1,
            };
            if (ticksPerUnit < 0)
            {
                return false;
            }

            totalTicks += number * ticksPerUnit;
            s = s[u..];
        }

        if (totalTicks > TimeSpan.MaxValue.Ticks)
        {
            return false;
        }

        value = TimeSpan.FromTicks((long)totalTicks);
        return true;
    }

    public static string FormatDuration(TimeSpan value) =>
        value.Ticks % TimeSpan.TicksPerHour == 0 && value >= TimeSpan.FromHours(1) ? $"{(long)value.TotalHours}h"
        : value.Ticks % TimeSpan.TicksPerMinute == 0 && value >= TimeSpan.FromMinutes(1) ? $"{(long)value.TotalMinutes}m"
        : value.Ticks % TimeSpan.TicksPerSecond == 0 && value >= TimeSpan.FromSeconds(1) ? $"{(long)value.TotalSeconds}s"
        : $"{value.TotalMilliseconds.ToString(CultureInfo.InvariantCulture)}ms";

    /// <summary>Bytes as a whole number, or with a unit: B, KB/MB/GB (1000s) or KiB/MiB/GiB (1024s).</summary>
    public static bool TryParseSize(string text, out long value)
    {
        value = 0;
        var s = text.AsSpan().Trim();
        var n = 0;
        while (n < s.Length && char.IsAsciiDigit(s[n]))
        {
            n++;
        }

        if (n == 0 || !long.TryParse(s[..n], NumberStyles.None, CultureInfo.InvariantCulture, out var number))
        {
            return false;
        }

        var unit = s[n..].Trim().ToString().ToLowerInvariant();
        long multiplier = unit switch
        {
            "" or "b" => 1,
            "kb" => 1_000,
            "mb" => 1_000_000,
            "gb" => 1_000_000_000,
            "kib" => 1L << 10,
            "mib" => 1L << 20,
            "gib" => 1L << 30,
            _ => 0,
        };
        if (multiplier == 0 || number > long.MaxValue / multiplier)
        {
            return false;
        }

        value = number * multiplier;
        return true;
    }

    /// <summary>
    /// <c>host:port</c> where host is an IP literal (IPv6 in brackets), <c>localhost</c>, or empty
    /// for all interfaces. Kestrel binds addresses, so other host names are refused.
    /// </summary>
    public static bool TryParseEndpoint(string text, out IPAddress address, out int port, out string problem)
    {
        address = IPAddress.Loopback;
        port = 0;
        problem = string.Empty;
        var colon = text.LastIndexOf(':');
        if (colon < 0)
        {
            problem = "must be host:port, such as 127.0.0.1:4318";
            return false;
        }

        var host = text[..colon].Trim();
        if (!int.TryParse(text.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out port) || port > 65_535)
        {
            problem = "must end with a port from 0 to 65535, such as 127.0.0.1:4318";
            port = 0;
            return false;
        }

        if (host.Length == 0)
        {
            address = IPAddress.Any;
            return true;
        }

        if (host.Equals("localhost", StringComparison.OrdinalIgnoreCase))
        {
            address = IPAddress.Loopback;
            return true;
        }

        if (host.StartsWith('[') && host.EndsWith(']'))
        {
            host = host[1..^1];
        }
        else if (host.Contains(':', StringComparison.Ordinal))
        {
            problem = "must write an IPv6 address in brackets, such as [::1]:4318";
            return false;
        }

        if (!IPAddress.TryParse(host, out var parsed))
        {
            problem = "must name an IP address or localhost (Kestrel binds addresses, not host names)";
            return false;
        }

        address = parsed;
        return true;
    }
}
