using System.Globalization;
using System.Net;

namespace Hush.Gateway.Configuration.Implementation;

/// <summary>
/// Reads the keys of one config map, collecting every error instead of stopping at the first, and
/// reports keys nobody read as typos (with a "did you mean" suggestion). Never puts a value in an
/// error message: values may be secrets.
/// </summary>
internal sealed class MapReader
{
    private readonly ConfigMap? _map;
    private readonly List<string> _errors;
    private readonly HashSet<string> _known = new(StringComparer.Ordinal);

    public MapReader(ConfigNode? node, string path, List<string> errors)
    {
        _errors = errors;
        Path = path;
        switch (node)
        {
            case ConfigMap map:
                _map = map;
                break;
            case null:
            case ConfigScalar { IsNull: true }:
                break;
            default:
                errors.Add($"'{path}' must be a mapping of keys{node.Where}");
                break;
        }
    }

    public string Path { get; }

    /// <summary>The shared error list, for checks that span several keys.</summary>
    public List<string> Errors => _errors;

    public bool Exists => _map is not null;

    public IEnumerable<KeyValuePair<string, ConfigNode>> Entries => _map?.Entries ?? [];

    public string KeyPath(string key) => ConfigNode.Join(Path, key);

    public ConfigNode? Node(string key)
    {
        _known.Add(key);
        return _map?.Get(key);
    }

    public bool Has(string key) => Node(key) is not null and not ConfigScalar { IsNull: true };

    public MapReader Map(string key) => new(Node(key), KeyPath(key), _errors);

    public string? String(string key)
    {
        switch (Node(key))
        {
            case null:
            case ConfigScalar { IsNull: true }:
                return null;
            case ConfigScalar scalar:
                return scalar.Value;
            case var other:
                _errors.Add($"'{KeyPath(key)}' must be a single value{other.Where}");
                return null;
        }
    }

    public int Int(string key, int fallback, int min, int max) => (int)Long(key, fallback, min, max);

    public long Long(string key, long fallback, long min, long max)
    {
        var text = String(key);
        if (text is null)
        {
            return fallback;
        }

        if (!long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value))
        {
            _errors.Add($"'{KeyPath(key)}' must be a whole number from {min} to {max}{Where(key)}");
            return fallback;
        }

        if (value < min || value > max)
        {
            _errors.Add($"'{KeyPath(key)}' must be from {min} to {max}, got {value}{Where(key)}");
            return fallback;
        }

        return value;
    }

    public double Double(string key, double fallback, double min, double max)
    {
        var text = String(key);
        if (text is null)
        {
            return fallback;
        }

        if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) || !double.IsFinite(value) || value < min || value > max)
        {
            _errors.Add($"'{KeyPath(key)}' must be a number from {min.ToString(CultureInfo.InvariantCulture)} to {max.ToString(CultureInfo.InvariantCulture)}{Where(key)}");
            return fallback;
        }

        return value;
    }

    public bool Bool(string key, bool fallback)
    {
        var text = String(key);
        if (text is null)
        {
            return fallback;
        }

        if (bool.TryParse(text, out var value))
        {
            return value;
        }

        _errors.Add($"'{KeyPath(key)}' must be true or false{Where(key)}");
        return fallback;
    }

    public TimeSpan Duration(string key, TimeSpan fallback, TimeSpan min, TimeSpan max)
    {
        var text = String(key);
        if (text is null)
        {
            return fallback;
        }

        if (!ConfigValues.TryParseDuration(text, out var value))
        {
            _errors.Add($"'{KeyPath(key)}' must be a duration such as 200ms, 5s, 1m or 1h30m{Where(key)}");
            return fallback;
        }

        if (value < min || value > max)
        {
            _errors.Add($"'{KeyPath(key)}' must be from {ConfigValues.FormatDuration(min)} to {ConfigValues.FormatDuration(max)}{Where(key)}");
            return fallback;
        }

        return value;
    }

    public long Size(string key, long fallback, long min, long max)
    {
        var text = String(key);
        if (text is null)
        {
            return fallback;
        }

        if (!ConfigValues.TryParseSize(text, out var value))
        {
            _errors.Add($"'{KeyPath(key)}' must be a size in bytes such as 4194304, 512KiB or 4MiB{Where(key)}");
            return fallback;
        }

        if (value < min || value > max)
        {
            _errors.Add($"'{KeyPath(key)}' must be from {min} to {max} bytes, got {value}{Where(key)}");
            return fallback;
        }

        return value;
    }

    /// <summary>A list of plain strings; null when absent.</summary>
    public List<string>? StringList(string key)
    {
        var node = Node(key);
        switch (node)
        {
            case null:
            case ConfigScalar { IsNull: true }:
                return null;
            case ConfigList list:
                var result = new List<string>(list.Items.Count);
                foreach (var item in list.Items)
                {
                    if (item is ConfigScalar { Value: { } value })
                    {
                        result.Add(value);
                    }
                    else
                    {
                        _errors.Add($"'{item.Path}' must be a name{item.Where}");
                    }
                }

                return result;
            default:
                _errors.Add($"'{KeyPath(key)}' must be a list such as [a, b]{node.Where}");
                return null;
        }
    }

    /// <summary>Binds <c>endpoint</c> (and <c>tls</c> next to it) into a listener.</summary>
    public ListenerConfig Listener(string fallbackEndpoint)
    {
        var key = KeyPath("endpoint");
        var text = String("endpoint") ?? fallbackEndpoint;
        if (!ConfigValues.TryParseEndpoint(text, out var address, out var port, out var problem))
        {
            _errors.Add($"'{key}' {problem}{Where("endpoint")}");
            address = IPAddress.Loopback;
            port = 0;
        }

        TlsConfig? tls = null;
        var tlsReader = Map("tls");
        if (tlsReader.Exists)
        {
            var cert = tlsReader.String("cert_file");
            var keyFile = tlsReader.String("key_file");
            tlsReader.RequireFile("cert_file", cert);
            tlsReader.RequireFile("key_file", keyFile);
            tlsReader.Finish();
            if (cert is not null && keyFile is not null)
            {
                tls = new TlsConfig(System.IO.Path.GetFullPath(cert), System.IO.Path.GetFullPath(keyFile));
            }
        }

        return new ListenerConfig(key, address, port, tls);
    }

    public void RequireFile(string key, string? value)
    {
        if (string.IsNullOrWhiteSpace(value))
        {
            _errors.Add($"'{KeyPath(key)}' is required");
        }
        else if (!File.Exists(value))
        {
            _errors.Add($"'{KeyPath(key)}' names a file that does not exist or cannot be read{Where(key)}");
        }
    }

    /// <summary>Reports every key that was not read as unknown.</summary>
    public void Finish()
    {
        if (_map is null)
        {
            return;
        }

        foreach (var entry in _map.Entries)
        {
            if (_known.Contains(entry.Key))
            {
                continue;
            }

            var suggestion = Suggest(entry.Key, _known);
            var hint = suggestion is null
                ? _known.Count == 0 ? "; this section takes no keys" : $"; known keys: {string.Join(", ", _known.Order(StringComparer.Ordinal))}"
                : $"; did you mean '{suggestion}'?";
            _errors.Add($"'{KeyPath(entry.Key)}' is not a known key{Describe(entry.Value)}{hint}");
        }
    }

    public string Where(string key) => _map?.Get(key) is { } node ? Describe(node) : string.Empty;

    private static string Describe(ConfigNode node) => node switch
    {
        ConfigScalar { Source: { } source } => $" (from environment variable {source})",
        _ => node.Where,
    };

    /// <summary>The closest candidate within a small edit distance, or null.</summary>
    public static string? Suggest(string key, IEnumerable<string> candidates)
    {
        string? best = null;
        var bestDistance = int.MaxValue;
        foreach (var candidate in candidates)
        {
            var distance = Levenshtein(key.ToLowerInvariant(), candidate);
            if (distance < bestDistance)
            {
                best = candidate;
                bestDistance = distance;
            }
        }

        // Up to 2 edits, or a third of the key for long keys: close enough to be a typo.
        return best is not null && bestDistance <= Math.Max(2, key.Length / 3) ? best : null;
    }

    private static int Levenshtein(string a, string b)
    {
        var previous = new int[b.Length + 1];
        var current = new int[b.Length + 1];
        for (var j = 0; j <= b.Length; j++)
        {
            previous[j] = j;
        }

        for (var i = 1; i <= a.Length; i++)
        {
            current[0] = i;
            for (var j = 1; j <= b.Length; j++)
            {
                var cost = a[i - 1] == b[j - 1] ? 0 : 1;
                current[j] = Math.Min(Math.Min(current[j - 1] + 1, previous[j] + 1), previous[j - 1] + cost);
            }

            (previous, current) = (current, previous);
        }

        return previous[b.Length];
    }
}
