namespace Hush.Gateway.Configuration.Implementation;

/// <summary>
/// Applies <c>HUSH_</c> environment variables to a parsed config, ASP.NET Core style. The rule:
/// <list type="bullet">
/// <item>strip <c>HUSH_</c>, split the rest on <c>__</c>: each part is one key of the path;</item>
/// <item>a part matches an existing key ignoring case, with <c>/</c> in the key read as <c>_</c>
/// (so <c>OTLPHTTP_TEMPO</c> matches <c>otlphttp/tempo</c>);</item>
/// <item>a part that matches nothing creates the key in lower case; directly under <c>receivers</c>,
/// <c>processors</c>, <c>exporters</c> and <c>service.pipelines</c> a part that starts with a known
/// component type and <c>_</c> becomes <c>type/name</c>;</item>
/// <item>a number indexes a list; a value for a list is split on commas.</item>
/// </list>
/// Example: <c>HUSH_EXPORTERS__OTLPHTTP_TEMPO__ENDPOINT=http://tempo:4318</c>.
/// </summary>
internal static class EnvOverrides
{
    public const string Prefix = "HUSH_";

    /// <summary>Component types a new id may start with; longest first so prefixes do not shadow.</summary>
    private static readonly string[] KnownTypes = ["otlphttp", "privacy", "traces", "batch", "debug", "otlp", "nop"];

    private static readonly string[] ComponentSections = ["receivers", "processors", "exporters", "service.pipelines"];

    public static void Apply(ConfigMap root, IEnumerable<KeyValuePair<string, string?>> environment, List<string> errors)
    {
        var overrides = new List<KeyValuePair<string, string>>();
        foreach (var (name, value) in environment)
        {
            if (value is not null && name.StartsWith(Prefix, StringComparison.OrdinalIgnoreCase) && name.Length > Prefix.Length)
            {
                overrides.Add(new(name, value));
            }
        }

        overrides.Sort((a, b) => string.CompareOrdinal(a.Key, b.Key));
        foreach (var (name, value) in overrides)
        {
            ApplyOne(root, name, value, errors);
        }
    }

    private static void ApplyOne(ConfigMap root, string name, string value, List<string> errors)
    {
        var parts = name[Prefix.Length..].Split("__");
        foreach (var part in parts)
        {
            if (part.Length == 0)
            {
                errors.Add($"environment variable {name} has an empty path segment; use '__' only between keys");
                return;
            }
        }

        ConfigNode parent = root;
        for (var i = 0; i < parts.Length; i++)
        {
            var last = i == parts.Length - 1;
            switch (parent)
            {
                case ConfigMap map:
                {
                    var key = FindKey(map, parts[i]) ?? NewKey(map.Path, parts[i]);
                    var path = ConfigNode.Join(map.Path, key);
                    var existing = map.Get(key);
                    if (last)
                    {
                        if (existing is ConfigMap)
                        {
                            errors.Add($"environment variable {name} sets '{path}', which is a section; set one of its keys instead");
                            return;
                        }

                        map.Set(key, existing is ConfigList ? SplitList(path, value, name) : new ConfigScalar(path, 0, value, name));
                        return;
                    }

                    if (existing is null || existing is ConfigScalar { IsNull: true })
                    {
                        existing = IsIndex(parts[i + 1]) ? new ConfigList(path, 0) : new ConfigMap(path, 0);
                        map.Set(key, existing);
                    }
                    else if (existing is ConfigScalar)
                    {
                        errors.Add($"environment variable {name} goes below '{path}', which is a single value");
                        return;
                    }

                    parent = existing;
                    break;
                }

                case ConfigList list:
                {
                    if (!int.TryParse(parts[i], out var index) || index < 0 || index > list.Items.Count)
                    {
                        errors.Add($"environment variable {name} indexes '{list.Path}' with '{parts[i]}'; use 0 to {list.Items.Count}");
                        return;
                    }

                    var path = $"{list.Path}[{index}]";
                    if (last)
                    {
                        var scalar = new ConfigScalar(path, 0, value, name);
                        if (index == list.Items.Count)
                        {
                            list.Items.Add(scalar);
                        }
                        else
                        {
                            list.Items[index] = scalar;
                        }

                        return;
                    }

                    if (index == list.Items.Count)
                    {
                        list.Items.Add(new ConfigMap(path, 0));
                    }

                    parent = list.Items[index];
                    if (parent is ConfigScalar)
                    {
                        errors.Add($"environment variable {name} goes below '{path}', which is a single value");
                        return;
                    }

                    break;
                }

                default:
                    return;
            }
        }
    }

    private static ConfigList SplitList(string path, string value, string source)
    {
        var list = new ConfigList(path, 0);
        var index = 0;
        foreach (var item in value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            list.Items.Add(new ConfigScalar($"{path}[{index++}]", 0, item, source));
        }

        return list;
    }

    private static bool IsIndex(string part) => part.Length > 0 && part.All(char.IsAsciiDigit);

    private static string? FindKey(ConfigMap map, string part)
    {
        foreach (var entry in map.Entries)
        {
            if (string.Equals(entry.Key.Replace('/', '_'), part, StringComparison.OrdinalIgnoreCase))
            {
                return entry.Key;
            }
        }

        return null;
    }

    private static string NewKey(string parentPath, string part)
    {
        var key = part.ToLowerInvariant();
        if (Array.IndexOf(ComponentSections, parentPath) < 0)
        {
            return key;
        }

        foreach (var type in KnownTypes)
        {
            if (key.Length > type.Length + 1 && key.StartsWith(type, StringComparison.Ordinal) && key[type.Length] == '_')
            {
                return type + "/" + key[(type.Length + 1)..];
            }
        }

        return key;
    }
}
