using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Hush.Gateway.Configuration.Implementation;

/// <summary>Parses YAML text into a <see cref="ConfigNode"/> tree, expanding <c>${env:NAME}</c> in scalars.</summary>
internal static class YamlTree
{
    /// <summary>Nesting deeper than this is not a config file (and would risk stack exhaustion).</summary>
    private const int MaxDepth = 32;

    /// <summary>
    /// Nodes visited at most: YAML aliases can make a small file expand exponentially ("billion
    /// laughs"); a real config has a few hundred nodes.
    /// </summary>
    private const int MaxNodes = 100_000;

    public static ConfigMap? Parse(string yaml, Func<string, string?> environment, List<string> errors)
    {
        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(yaml));
        }
        catch (YamlException ex)
        {
            // YamlDotNet's syntax messages are fixed templates ("did not find expected key"); they do
            // not quote scalar values, so they are safe to show.
            errors.Add($"the config is not valid YAML at line {ex.Start.Line}, column {ex.Start.Column}: {FirstSentence(ex)}");
            return null;
        }

        if (stream.Documents.Count == 0)
        {
            return new ConfigMap(string.Empty, 1);
        }

        if (stream.Documents.Count > 1)
        {
            errors.Add("the config holds more than one YAML document; write one");
            return null;
        }

        var root = stream.Documents[0].RootNode;
        if (root is YamlScalarNode s && IsNull(s))
        {
            return new ConfigMap(string.Empty, 1);
        }

        if (root is not YamlMappingNode)
        {
            errors.Add("the config must be a YAML mapping with keys such as 'receivers', 'exporters' and 'service'");
            return null;
        }

        var budget = MaxNodes;
        var tree = (ConfigMap)Convert(root, string.Empty, 0, ref budget, environment, errors);
        if (budget < 0)
        {
            errors.Add($"the config expands to more than {MaxNodes} values (check YAML aliases)");
            return null;
        }

        return tree;
    }

    private static string FirstSentence(YamlException ex)
    {
        var message = ex.InnerException is YamlException inner ? inner.Message : ex.Message;
        var close = message.IndexOf("):", StringComparison.Ordinal);
        if (message.StartsWith('(') && close > 0)
        {
            message = message[(close + 2)..].Trim();
        }

        return message.Length > 160 ? message[..160] : message;
    }

    private static ConfigNode Convert(YamlNode node, string path, int depth, ref int budget, Func<string, string?> environment, List<string> errors)
    {
        var line = (int)node.Start.Line;
        if (--budget < 0)
        {
            return new ConfigScalar(path, line, null);
        }

        if (depth > MaxDepth)
        {
            errors.Add($"'{path}' is nested more than {MaxDepth} levels deep");
            return new ConfigScalar(path, line, null);
        }

        switch (node)
        {
            case YamlMappingNode map:
                var result = new ConfigMap(path, line);
                foreach (var (keyNode, valueNode) in map.Children)
                {
                    if (keyNode is not YamlScalarNode { Value: { } key })
                    {
                        errors.Add($"'{path}' has a key that is not a plain string (line {keyNode.Start.Line})");
                        continue;
                    }

                    var childPath = ConfigNode.Join(path, key);
                    if (result.Get(key) is not null)
                    {
                        errors.Add($"'{childPath}' is defined twice (line {keyNode.Start.Line})");
                        continue;
                    }

                    result.Entries.Add(new(key, Convert(valueNode, childPath, depth + 1, ref budget, environment, errors)));
                }

                return result;

            case YamlSequenceNode seq:
                var list = new ConfigList(path, line);
                var index = 0;
                foreach (var item in seq.Children)
                {
                    list.Items.Add(Convert(item, $"{path}[{index}]", depth + 1, ref budget, environment, errors));
                    index++;
                }

                return list;

            case YamlScalarNode scalar:
                if (IsNull(scalar))
                {
                    return new ConfigScalar(path, line, null);
                }

                var expanded = EnvExpansion.Expand(scalar.Value ?? string.Empty, environment, out var error);
                if (error is not null)
                {
                    errors.Add($"'{path}' {error} (line {line})");
                    return new ConfigScalar(path, line, null);
                }

                return new ConfigScalar(path, line, expanded);

            default:
                errors.Add($"'{path}' uses a YAML feature Hush does not read (line {line})");
                return new ConfigScalar(path, line, null);
        }
    }

    private static bool IsNull(YamlScalarNode scalar) =>
        scalar.Style == ScalarStyle.Plain && scalar.Value is null or "" or "~" or "null" or "Null" or "NULL";
}

/// <summary>
/// Collector-style expansion in scalar values: <c>${env:NAME}</c>, <c>${env:NAME:-default}</c> and
/// <c>${NAME}</c>; <c>$$</c> is a literal <c>$</c>. An unset variable without a default expands to
/// an empty string, as in the Collector.
/// </summary>
internal static class EnvExpansion
{
    public static string Expand(string value, Func<string, string?> environment, out string? error)
    {
        error = null;
        if (!value.Contains('$', StringComparison.Ordinal))
        {
            return value;
        }

        var sb = new System.Text.StringBuilder(value.Length);
        var i = 0;
        while (i < value.Length)
        {
            var c = value[i];
            if (c != '$' || i + 1 >= value.Length)
            {
                sb.Append(c);
                i++;
                continue;
            }

            var next = value[i + 1];
            if (next == '$')
            {
                sb.Append('$');
                i += 2;
                continue;
            }

            if (next != '{')
            {
                sb.Append(c);
                i++;
                continue;
            }

            var close = value.IndexOf('}', i + 2);
            if (close < 0)
            {
                error = "has a '${' without a closing '}'";
                return value;
            }

            var body = value.AsSpan(i + 2, close - i - 2);
            if (body.StartsWith("env:", StringComparison.Ordinal))
            {
                body = body[4..];
            }

            string? fallback = null;
            var dash = body.IndexOf(":-", StringComparison.Ordinal);
            if (dash >= 0)
            {
                fallback = body[(dash + 2)..].ToString();
                body = body[..dash];
            }

            if (!IsVariableName(body))
            {
                error = "has a '${...}' reference that is not '${env:NAME}' or '${env:NAME:-default}' with NAME made of letters, digits and '_'";
                return value;
            }

            var resolved = environment(body.ToString());
            sb.Append(string.IsNullOrEmpty(resolved) ? fallback ?? string.Empty : resolved);
            i = close + 1;
        }

        return sb.ToString();
    }

    private static bool IsVariableName(ReadOnlySpan<char> name)
    {
        if (name.IsEmpty || char.IsAsciiDigit(name[0]))
        {
            return false;
        }

        foreach (var c in name)
        {
            if (!char.IsAsciiLetterOrDigit(c) && c != '_')
            {
                return false;
            }
        }

        return true;
    }
}
