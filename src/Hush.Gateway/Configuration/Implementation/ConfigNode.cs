namespace Hush.Gateway.Configuration.Implementation;

/// <summary>
/// A parsed config document: maps, lists and scalars with their key path, independent of YAML so
/// environment overrides can edit it before it is bound to the typed config.
/// </summary>
internal abstract class ConfigNode
{
    protected ConfigNode(string path, int line)
    {
        Path = path;
        Line = line;
    }

    /// <summary>The dotted key path, such as <c>exporters.otlphttp/tempo.endpoint</c>.</summary>
    public string Path { get; }

    /// <summary>1-based line in the file, or 0 when the value came from an environment variable.</summary>
    public int Line { get; }

    public string Where => Line > 0 ? $" (line {Line})" : string.Empty;

    public static string Join(string parent, string key) => parent.Length == 0 ? key : parent + "." + key;
}

internal sealed class ConfigMap(string path, int line) : ConfigNode(path, line)
{
    /// <summary>Keys in document order; lookups are exact (YAML keys are case-sensitive).</summary>
    public List<KeyValuePair<string, ConfigNode>> Entries { get; } = [];

    public ConfigNode? Get(string key)
    {
        foreach (var entry in Entries)
        {
            if (entry.Key == key)
            {
                return entry.Value;
            }
        }

        return null;
    }

    public void Set(string key, ConfigNode value)
    {
        for (var i = 0; i < Entries.Count; i++)
        {
            if (Entries[i].Key == key)
            {
                Entries[i] = new(key, value);
                return;
            }
        }

        Entries.Add(new(key, value));
    }
}

internal sealed class ConfigList(string path, int line) : ConfigNode(path, line)
{
    public List<ConfigNode> Items { get; } = [];
}

/// <summary>A scalar; <see cref="Value"/> is null for YAML null (<c>~</c>, <c>null</c> or nothing).</summary>
internal sealed class ConfigScalar(string path, int line, string? value, string? source = null) : ConfigNode(path, line)
{
    public string? Value { get; } = value;

    /// <summary>The environment variable that set this value, for error messages; null when from the file.</summary>
    public string? Source { get; } = source;

    public bool IsNull => Value is null;
}
