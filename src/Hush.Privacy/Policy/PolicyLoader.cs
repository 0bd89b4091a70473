using System.Globalization;
using System.Reflection;
using System.Security.Cryptography;
using System.Text;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Hush.Privacy;

/// <summary>The result of loading a policy: the compiled snapshot, or every error found.</summary>
public sealed class PolicyLoadResult
{
    internal PolicyLoadResult(CompiledPolicy? policy, IReadOnlyList<string> errors, IReadOnlyList<string> warnings)
    {
        Policy = policy;
        Errors = errors;
        Warnings = warnings;
    }

    /// <summary>True when the policy compiled without errors.</summary>
    public bool Success => Policy is not null && Errors.Count == 0;

    /// <summary>The compiled policy, or null on any error.</summary>
    public CompiledPolicy? Policy { get; }

    /// <summary>Every error, each quoting its key path (<c>'rules[3].action': ...</c>).</summary>
    public IReadOnlyList<string> Errors { get; }

    /// <summary>Risky but valid choices (lint prints these).</summary>
    public IReadOnlyList<string> Warnings { get; }
}

/// <summary>Parses, validates and compiles policy files.</summary>
public static class PolicyLoader
{
    /// <summary>Name of the embedded default policy resource.</summary>
    public const string DefaultPolicyResource = "Hush.Privacy.default-policy.yaml";

    private const string DefaultSourceName = "default-policy.yaml";

    private static readonly string[] TopLevelKeys =
        ["version", "mode", "unknown_keys", "detectors", "on_detect", "span_names", "accounting", "limits", "rules"];

    private static readonly string[] RuleKeys = ["name", "keys", "class", "action", "keep_last", "max_chars", "detect"];

    private static readonly string[] CustomDetectorKeys = ["name", "class", "pattern", "ignore_case"];

    private static readonly string ActionList = string.Join(", ", Enum.GetNames<PolicyAction>().Select(n => n.ToLowerInvariant()));

    /// <summary>Loads and compiles a policy file. Never throws for a bad file: errors are in the result.</summary>
    public static PolicyLoadResult LoadFile(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        byte[] bytes;
        try
        {
            var info = new FileInfo(path);
            if (!info.Exists)
            {
                return Failed($"'{path}': file not found");
            }

            if (info.Length > PolicyLimits.MaxPolicyBytes)
            {
                return Failed($"'{path}': file is {info.Length} bytes; the limit is {PolicyLimits.MaxPolicyBytes}");
            }

            bytes = File.ReadAllBytes(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            return Failed($"'{path}': cannot read the file ({ex.GetType().Name})");
        }

        string text;
        try
        {
            text = new UTF8Encoding(false, true).GetString(bytes);
        }
        catch (DecoderFallbackException)
        {
            return Failed($"'{path}': the file is not valid UTF-8");
        }

        return Load(text, path, Convert.ToHexStringLower(SHA256.HashData(bytes)));
    }

    /// <summary>Loads and compiles policy text; <paramref name="sourceName"/> names it in errors.</summary>
    public static PolicyLoadResult LoadYaml(string yaml, string sourceName)
    {
        ArgumentNullException.ThrowIfNull(yaml);
        ArgumentNullException.ThrowIfNull(sourceName);
        return Load(yaml, sourceName, Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(yaml))));
    }

    /// <summary>Loads the shipped default policy (embedded <c>default-policy.yaml</c>).</summary>
    public static PolicyLoadResult LoadDefault() => LoadYaml(ReadDefaultYaml(), DefaultSourceName);

    /// <summary>The text of the shipped default policy, for users who want a starting point.</summary>
    public static string ReadDefaultYaml()
    {
        using var stream = typeof(PolicyLoader).Assembly.GetManifestResourceStream(DefaultPolicyResource)
            ?? throw new InvalidOperationException($"The embedded resource '{DefaultPolicyResource}' is missing from the build.");
        using var reader = new StreamReader(stream, Encoding.UTF8);
        return reader.ReadToEnd();
    }

    private static PolicyLoadResult Failed(string error) => new(null, [error], []);

    private static PolicyLoadResult Load(string yaml, string source, string fingerprint)
    {
        var errors = new List<string>();
        var warnings = new List<string>();
        if (yaml.Length > PolicyLimits.MaxPolicyBytes)
        {
            return Failed($"'{source}': policy is {yaml.Length} characters; the limit is {PolicyLimits.MaxPolicyBytes}");
        }

        YamlMappingNode? root;
        try
        {
            var stream = new YamlStream();
            stream.Load(new StringReader(yaml));
            root = stream.Documents.Count == 0 ? null : stream.Documents[0].RootNode as YamlMappingNode;
        }
        catch (YamlException ex)
        {
            return Failed($"'{source}': YAML syntax error at line {ex.Start.Line}, column {ex.Start.Column}");
        }

        if (root is null)
        {
            return Failed($"'{source}': the policy must be a YAML mapping with at least 'version: 1'");
        }

        // Compile even when parsing found errors: pattern and duplicate-name errors are then reported in the same pass.
        var document = Parse(root, errors, warnings);
        var policy = CompiledPolicy.Compile(document, source, fingerprint, errors, warnings);
        return errors.Count > 0 ? new PolicyLoadResult(null, errors, warnings) : new PolicyLoadResult(policy, [], warnings);
    }

    private static PolicyDocument Parse(YamlMappingNode root, List<string> errors, List<string> warnings)
    {
        CheckKeys(root, "", TopLevelKeys, errors);

        var version = 0;
        var versionNode = Get(root, "version");
        if (versionNode is null)
        {
            errors.Add("'version': required; this build understands version 1");
        }
        else if (!TryInt(versionNode, out version) || version != 1)
        {
            errors.Add("'version': unsupported version; this build understands version 1");
        }

        var mode = ParseEnum(root, "mode", "mode", PolicyMode.Detect, errors);
        var unknownKeys = PolicyAction.Drop;
        var unknownNode = Get(root, "unknown_keys");
        if (unknownNode is not null)
        {
            var text = Scalar(unknownNode);
            if (text == "drop")
            {
                unknownKeys = PolicyAction.Drop;
            }
            else if (text == "pseudonymize")
            {
                unknownKeys = PolicyAction.Pseudonymize;
            }
            else
            {
                errors.Add($"'unknown_keys': unknown value '{text}'; expected one of drop, pseudonymize");
            }

            if (mode != PolicyMode.Allowlist)
            {
                warnings.Add("'unknown_keys': only used in allowlist mode; ignored in detect mode");
            }
        }

        var builtIns = new List<string>();
        var customs = new List<CustomDetectorSpec>();
        var detectorsNode = Get(root, "detectors");
        if (detectorsNode is null)
        {
            builtIns.AddRange(Detection.BuiltInDetectors.Names);
        }
        else if (detectorsNode is not YamlMappingNode detectors)
        {
            errors.Add("'detectors': must be a mapping with 'builtin' and 'custom'");
        }
        else
        {
            CheckKeys(detectors, "detectors", ["builtin", "custom"], errors);
            ParseBuiltIns(Get(detectors, "builtin"), builtIns, errors, warnings);
            ParseCustom(Get(detectors, "custom"), customs, errors);
        }

        var onDetect = new Dictionary<string, PolicyAction>(StringComparer.Ordinal);
        var onDetectDefault = PolicyAction.Redact;
        var onDetectNode = Get(root, "on_detect");
        if (onDetectNode is YamlMappingNode onDetectMap)
        {
            foreach (var (k, v) in onDetectMap.Children)
            {
                var cls = Scalar(k) ?? string.Empty;
                var path = $"on_detect.{cls}";
                var text = Scalar(v);
                if (!TryParseAction(text, out var action) || !IsInlineAction(action))
                {
                    errors.Add($"'{path}': unknown inline action '{text}'; expected one of drop, redact, mask, pseudonymize, tokenize, generalize");
                    continue;
                }

                if (cls == "default")
                {
                    onDetectDefault = action;
                }
                else if (!IsValidName(cls))
                {
                    errors.Add($"'{path}': a data class is letters, digits, '_', '-' or '.' (1-64 characters)");
                }
                else
                {
                    onDetect[cls] = action;
                }
            }
        }
        else if (onDetectNode is not null)
        {
            errors.Add("'on_detect': must be a mapping of data class to action");
        }

        var spanNames = ParseEnum(root, "span_names", "span_names", SpanNameTreatment.Url, errors);

        var accounting = false;
        if (Get(root, "accounting") is { } accountingNode)
        {
            if (accountingNode is YamlMappingNode accountingMap)
            {
                CheckKeys(accountingMap, "accounting", ["span_attribute"], errors);
                if (Get(accountingMap, "span_attribute") is { } sa && !TryBool(sa, out accounting))
                {
                    errors.Add("'accounting.span_attribute': must be true or false");
                }
            }
            else
            {
                errors.Add("'accounting': must be a mapping");
            }
        }

        var oversized = OversizedValueAction.Truncate;
        var maxDepth = PolicyLimits.DefaultMaxDepth;
        if (Get(root, "limits") is { } limitsNode)
        {
            if (limitsNode is YamlMappingNode limits)
            {
                CheckKeys(limits, "limits", ["oversized_value", "max_depth"], errors);
                oversized = ParseEnum(limits, "oversized_value", "limits.oversized_value", OversizedValueAction.Truncate, errors);
                if (Get(limits, "max_depth") is { } md && (!TryInt(md, out maxDepth) || maxDepth < 1 || maxDepth > PolicyLimits.MaxAllowedDepth))
                {
                    errors.Add($"'limits.max_depth': must be an integer from 1 to {PolicyLimits.MaxAllowedDepth}");
                }
            }
            else
            {
                errors.Add("'limits': must be a mapping");
            }
        }

        var rules = new List<PolicyRule>();
        var rulesNode = Get(root, "rules");
        if (rulesNode is YamlSequenceNode rulesSeq)
        {
            var i = 0;
            foreach (var node in rulesSeq.Children)
            {
                var rule = ParseRule(node, i, errors);
                if (rule is not null)
                {
                    rules.Add(rule);
                }

                i++;
            }
        }
        else if (rulesNode is not null && !IsNull(rulesNode))
        {
            errors.Add("'rules': must be a list of rules");
        }

        if (mode == PolicyMode.Allowlist && rules.Count == 0)
        {
            warnings.Add("'rules': allowlist mode with no rules drops every attribute");
        }

        return new PolicyDocument
        {
            Version = version,
            Mode = mode,
            UnknownKeys = unknownKeys,
            BuiltInDetectors = builtIns,
            CustomDetectors = customs,
            OnDetect = onDetect,
            OnDetectDefault = onDetectDefault,
            Rules = rules,
            SpanNames = spanNames,
            AccountingSpanAttribute = accounting,
            OversizedValue = oversized,
            MaxDepth = maxDepth,
        };
    }

    private static void ParseBuiltIns(YamlNode? node, List<string> builtIns, List<string> errors, List<string> warnings)
    {
        if (node is null || Scalar(node) == "all")
        {
            builtIns.AddRange(Detection.BuiltInDetectors.Names);
            return;
        }

        if (Scalar(node) == "none" || (node is YamlSequenceNode { Children.Count: 0 }))
        {
            warnings.Add("'detectors.builtin': every built-in detector is disabled; values of unlisted keys pass unchecked");
            return;
        }

        if (node is not YamlSequenceNode seq)
        {
            errors.Add("'detectors.builtin': must be 'all', 'none' or a list of detector names");
            return;
        }

        var i = 0;
        foreach (var item in seq.Children)
        {
            var name = Scalar(item);
            if (name is null || !Detection.BuiltInDetectors.Names.Contains(name))
            {
                errors.Add($"'detectors.builtin[{i}]': unknown detector '{name}'; expected one of {string.Join(", ", Detection.BuiltInDetectors.Names)}");
            }
            else if (!builtIns.Contains(name))
            {
                builtIns.Add(name);
            }

            i++;
        }

        var missing = Detection.BuiltInDetectors.Names.Where(n => !builtIns.Contains(n)).ToList();
        if (missing.Count > 0)
        {
            warnings.Add($"'detectors.builtin': built-in detectors disabled: {string.Join(", ", missing)}");
        }
    }

    private static void ParseCustom(YamlNode? node, List<CustomDetectorSpec> customs, List<string> errors)
    {
        if (node is null || IsNull(node))
        {
            return;
        }

        if (node is not YamlSequenceNode seq)
        {
            errors.Add("'detectors.custom': must be a list");
            return;
        }

        var i = 0;
        foreach (var item in seq.Children)
        {
            var path = $"detectors.custom[{i++}]";
            if (item is not YamlMappingNode map)
            {
                errors.Add($"'{path}': must be a mapping with name, class and pattern");
                continue;
            }

            CheckKeys(map, path, CustomDetectorKeys, errors);
            var name = RequiredName(map, "name", path, errors);
            var cls = RequiredName(map, "class", path, errors);
            var pattern = Get(map, "pattern") is { } p ? Scalar(p) : null;
            if (string.IsNullOrEmpty(pattern))
            {
                errors.Add($"'{path}.pattern': required; a regular expression");
            }

            var ignoreCase = false;
            if (Get(map, "ignore_case") is { } ic && !TryBool(ic, out ignoreCase))
            {
                errors.Add($"'{path}.ignore_case': must be true or false");
            }

            if (name is not null && Detection.BuiltInDetectors.Names.Contains(name))
            {
                errors.Add($"'{path}.name': '{name}' is the name of a built-in detector");
            }
            else if (name is not null && customs.Exists(c => c.Name == name))
            {
                errors.Add($"'{path}.name': duplicate detector name '{name}'");
            }

            if (name is not null && cls is not null && !string.IsNullOrEmpty(pattern))
            {
                customs.Add(new CustomDetectorSpec { Name = name, DataClass = cls, Pattern = pattern, IgnoreCase = ignoreCase, SourceIndex = i - 1 });
            }
        }
    }

    private static PolicyRule? ParseRule(YamlNode node, int index, List<string> errors)
    {
        var path = $"rules[{index}]";
        if (node is not YamlMappingNode map)
        {
            errors.Add($"'{path}': must be a mapping with keys and action");
            return null;
        }

        var before = errors.Count;
        CheckKeys(map, path, RuleKeys, errors);

        var name = path;
        if (Get(map, "name") is { } nameNode)
        {
            var n = Scalar(nameNode);
            if (n is null || !IsValidName(n))
            {
                errors.Add($"'{path}.name': a rule name is letters, digits, '_', '-' or '.' (1-64 characters)");
            }
            else
            {
                name = n;
            }
        }

        var keys = new List<string>();
        var keysNode = Get(map, "keys");
        if (keysNode is YamlSequenceNode keySeq && keySeq.Children.Count > 0)
        {
            var k = 0;
            foreach (var keyNode in keySeq.Children)
            {
                var key = Scalar(keyNode);
                if (string.IsNullOrEmpty(key))
                {
                    errors.Add($"'{path}.keys[{k}]': must be a non-empty key or glob");
                }
                else
                {
                    keys.Add(key);
                }

                k++;
            }
        }
        else if (keysNode is YamlScalarNode { Value: { Length: > 0 } single })
        {
            keys.Add(single);
        }
        else
        {
            errors.Add($"'{path}.keys': required; a non-empty list of keys or globs");
        }

        var actionText = Get(map, "action") is { } an ? Scalar(an) : null;
        var action = PolicyAction.Keep;
        if (actionText is null)
        {
            errors.Add($"'{path}.action': required; expected one of {ActionList}");
        }
        else if (!TryParseAction(actionText, out action))
        {
            errors.Add($"'{path}.action': unknown action '{actionText}'; expected one of {ActionList}");
        }

        var dataClass = "sensitive";
        if (Get(map, "class") is { } classNode)
        {
            var c = Scalar(classNode);
            if (c is null || !IsValidName(c))
            {
                errors.Add($"'{path}.class': a data class is letters, digits, '_', '-' or '.' (1-64 characters)");
            }
            else
            {
                dataClass = c;
            }
        }
        else if (action is PolicyAction.Pseudonymize or PolicyAction.Tokenize)
        {
            errors.Add($"'{path}.class': required for action '{actionText}': the class is the pseudonym domain");
        }

        var keepLast = 4;
        var keepLastNode = Get(map, "keep_last");
        if (keepLastNode is not null)
        {
            if (action != PolicyAction.Mask)
            {
                errors.Add($"'{path}.keep_last': only valid with action 'mask'");
            }
            else if (!TryInt(keepLastNode, out keepLast) || keepLast < 0 || keepLast > 64)
            {
                errors.Add($"'{path}.keep_last': must be an integer from 0 to 64");
            }
        }

        var maxChars = 0;
        var maxCharsNode = Get(map, "max_chars");
        if (maxCharsNode is not null && action != PolicyAction.Truncate)
        {
            errors.Add($"'{path}.max_chars': only valid with action 'truncate'");
        }
        else if (action == PolicyAction.Truncate && (maxCharsNode is null || !TryInt(maxCharsNode, out maxChars) || maxChars < 1 || maxChars > 1_000_000))
        {
            errors.Add($"'{path}.max_chars': required for action 'truncate'; an integer from 1 to 1000000");
        }

        var detect = true;
        var detectNode = Get(map, "detect");
        if (detectNode is not null && !TryBool(detectNode, out detect))
        {
            errors.Add($"'{path}.detect': must be true or false");
        }

        return errors.Count > before ? null : new PolicyRule
        {
            Name = name,
            Keys = keys,
            DataClass = dataClass,
            Action = action,
            KeepLast = keepLast,
            MaxChars = maxChars,
            Detect = detect,
            DetectExplicit = detectNode is not null,
            SourceIndex = index,
        };
    }

    internal static bool TryParseAction(string? text, out PolicyAction action)
    {
        action = default;
        return text is not null && text.Length > 0 && char.IsLower(text[0]) && Enum.TryParse(text, ignoreCase: true, out action)
            && Enum.IsDefined(action) && !char.IsDigit(text[0]);
    }

    internal static bool IsInlineAction(PolicyAction action) =>
        action is PolicyAction.Drop or PolicyAction.Redact or PolicyAction.Mask or PolicyAction.Pseudonymize
            or PolicyAction.Tokenize or PolicyAction.Generalize;

    private static string? RequiredName(YamlMappingNode map, string key, string path, List<string> errors)
    {
        var value = Get(map, key) is { } node ? Scalar(node) : null;
        if (value is null || !IsValidName(value))
        {
            errors.Add($"'{path}.{key}': required; letters, digits, '_', '-' or '.' (1-64 characters)");
            return null;
        }

        return value;
    }

    internal static bool IsValidName(string name)
    {
        if (name.Length is 0 or > 64)
        {
            return false;
        }

        foreach (var c in name)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '_' or '-' or '.'))
            {
                return false;
            }
        }

        return true;
    }

    private static T ParseEnum<T>(YamlMappingNode map, string key, string path, T fallback, List<string> errors)
        where T : struct, Enum
    {
        if (Get(map, key) is not { } node)
        {
            return fallback;
        }

        var text = Scalar(node);
        if (text is not null && text.Length > 0 && char.IsAsciiLetterLower(text[0]) && Enum.TryParse<T>(text, true, out var value) && Enum.IsDefined(value))
        {
            return value;
        }

        var expected = string.Join(", ", Enum.GetNames<T>().Select(n => n.ToLowerInvariant()));
        errors.Add($"'{path}': unknown value '{text}'; expected one of {expected}");
        return fallback;
    }

    private static void CheckKeys(YamlMappingNode map, string path, string[] known, List<string> errors)
    {
        foreach (var key in map.Children.Keys)
        {
            var name = Scalar(key);
            if (name is null || Array.IndexOf(known, name) < 0)
            {
                var full = path.Length == 0 ? name : $"{path}.{name}";
                errors.Add($"'{full}': unknown key; expected one of {string.Join(", ", known)}");
            }
        }
    }

    private static YamlNode? Get(YamlMappingNode map, string key) =>
        map.Children.TryGetValue(new YamlScalarNode(key), out var node) ? node : null;

    private static string? Scalar(YamlNode node) => node is YamlScalarNode scalar ? scalar.Value : null;

    private static bool IsNull(YamlNode node) =>
        node is YamlScalarNode { Style: ScalarStyle.Plain } s && (string.IsNullOrEmpty(s.Value) || s.Value is "~" or "null");

    private static bool TryInt(YamlNode node, out int value)
    {
        value = 0;
        return node is YamlScalarNode { Style: ScalarStyle.Plain } s
            && int.TryParse(s.Value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out value);
    }

    private static bool TryBool(YamlNode node, out bool value)
    {
        value = false;
        if (node is not YamlScalarNode { Style: ScalarStyle.Plain } s)
        {
            return false;
        }

        switch (s.Value)
        {
            case "true":
                value = true;
                return true;
            case "false":
                return true;
            default:
                return false;
        }
    }
}
