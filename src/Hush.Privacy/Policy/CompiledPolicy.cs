using System.Collections.Concurrent;
using System.Collections.Frozen;
using Hush.Privacy.Detection;

namespace Hush.Privacy;

/// <summary>
/// An immutable, compiled policy snapshot. The provider swaps whole snapshots atomically, so a
/// scrub that started on one snapshot finishes on it. Exact keys sit in a case-insensitive
/// dictionary; glob results are cached per key string (bounded).
/// </summary>
public sealed class CompiledPolicy
{
    private readonly FrozenDictionary<string, int> _exact;
    private readonly (string Pattern, int Rule)[] _globs;
    private readonly FrozenDictionary<string, PolicyAction> _onDetect;
    /// <summary>
    /// Slots of the identity cache in front of <see cref="_keyCache"/> (power of two; 8 KiB of references). Decoders
    /// intern attribute keys, so the same key instance comes back on every span: a reference compare on a slot picked
    /// from the length and four chars replaces hashing the whole key (~25 attributes per span). A collision only
    /// costs the dictionary lookup.
    /// </summary>
    private const int RecentKeySlots = 1024;

    private readonly ConcurrentDictionary<string, KeyEntry> _keyCache = new(StringComparer.Ordinal);
    private readonly KeyEntry?[] _recentKeys = new KeyEntry?[RecentKeySlots];
    private readonly ConcurrentDictionary<string, byte> _cleanSpanNames = new(StringComparer.Ordinal);

    private CompiledPolicy(PolicyDocument document, string source, string fingerprint, CompiledRule[] rules,
        Dictionary<string, int> exact, List<(string, int)> globs, DetectorSet detectors, int detectorCount)
    {
        Document = document;
        Source = source;
        Fingerprint = fingerprint;
        Rules = rules;
        _exact = exact.ToFrozenDictionary(StringComparer.OrdinalIgnoreCase);
        _globs = [.. globs];
        _onDetect = document.OnDetect.ToFrozenDictionary(StringComparer.Ordinal);
        Detectors = detectors;
        HasDetectors = detectorCount > 0;
        OnlyLimitsApply = !HasDetectors && rules.Length == 0 && document.Mode == PolicyMode.Detect;
        UnknownKeyRule = new CompiledRule("unknown_keys", "unlisted", document.UnknownKeys, 0, 0, false);
    }

    /// <summary>The file format version.</summary>
    public int Version => Document.Version;

    /// <summary>Where the policy came from (a path, or a name for text and the default).</summary>
    public string Source { get; }

    /// <summary>Lower-case hex SHA-256 of the policy file's bytes.</summary>
    public string Fingerprint { get; }

    /// <summary>The parsed document this snapshot was compiled from.</summary>
    public PolicyDocument Document { get; }

    /// <summary>Detect or allowlist.</summary>
    public PolicyMode Mode => Document.Mode;

    internal CompiledRule[] Rules { get; }

    internal DetectorSet Detectors { get; }

    internal bool HasDetectors { get; }

    /// <summary>
    /// True when no detector, no rule and no allowlist can change a value: only schema URLs, span names (when
    /// <c>span_names: url</c>) and the depth limit can, so the scrubber skips resolving keys and values.
    /// </summary>
    internal bool OnlyLimitsApply { get; }

    /// <summary>The synthetic rule applied to unlisted keys in allowlist mode.</summary>
    internal CompiledRule UnknownKeyRule { get; }

    /// <summary>Name of the first rule whose keys match <paramref name="key"/>, or null.</summary>
    public string? FindRuleName(string key)
    {
        var index = FindRule(key);
        return index < 0 ? null : Rules[index].Name;
    }

    /// <summary>The index of the first rule (in file order) whose keys match, or -1.</summary>
    internal int FindRule(string key)
    {
        var best = _exact.TryGetValue(key, out var exact) ? exact : int.MaxValue;
        foreach (var (pattern, rule) in _globs)
        {
            if (rule >= best)
            {
                break;
            }

            if (Glob.IsMatch(pattern, key))
            {
                best = rule;
                break;
            }
        }

        return best == int.MaxValue ? -1 : best;
    }

    internal bool TryGetCachedKey(string key, out KeyInfo info)
    {
        ref KeyEntry? slot = ref _recentKeys[KeySlot(key)];
        var recent = Volatile.Read(ref slot);
        if (recent is not null && (ReferenceEquals(recent.Key, key) || string.Equals(recent.Key, key, StringComparison.Ordinal)))
        {
            info = recent.Info;
            return true;
        }

        if (_keyCache.TryGetValue(key, out var entry))
        {
            // Entries are immutable and allocated once per cached key: refilling a slot allocates nothing.
            Volatile.Write(ref slot, entry);
            info = entry.Info;
            return true;
        }

        info = default;
        return false;
    }

    internal void CacheKey(string key, KeyInfo info)
    {
        if (key.Length <= PolicyLimits.MaxCachedKeyLength && _keyCache.Count < PolicyLimits.KeyCacheCapacity)
        {
            _keyCache.TryAdd(key, new KeyEntry(key, info));
        }
    }

    private static int KeySlot(string key)
    {
        var n = key.Length;
        if (n == 0)
        {
            return 0;
        }

        var h = ((uint)n * 0x9E3779B1u) ^ key[n - 1];
        h = (h * 31u) + key[n / 2];
        h = (h * 31u) + key[n / 4];
        h = (h * 31u) + key[3 * n / 4];
        h ^= h >> 15;
        h *= 0x2C1B3C6Du;
        h ^= h >> 12;
        return (int)(h & (RecentKeySlots - 1));
    }

    /// <summary>True when <paramref name="name"/> was scrubbed before under this snapshot and came out unchanged.</summary>
    internal bool IsKnownCleanSpanName(string name) => _cleanSpanNames.ContainsKey(name);

    /// <summary>
    /// Remembers a span name that passed unchanged. Only clean names are cached, so the cache never
    /// holds personal data; span names are low-cardinality by convention (route templates).
    /// </summary>
    internal void AddCleanSpanName(string name)
    {
        if (name.Length <= PolicyLimits.MaxCachedKeyLength && _cleanSpanNames.Count < PolicyLimits.SpanNameCacheCapacity)
        {
            _cleanSpanNames.TryAdd(name, 0);
        }
    }

    internal PolicyAction InlineActionFor(string dataClass) =>
        _onDetect.TryGetValue(dataClass, out var action) ? action : Document.OnDetectDefault;

    internal static CompiledPolicy? Compile(PolicyDocument document, string source, string fingerprint, List<string> errors, List<string> warnings)
    {
        var detectors = new List<IValueDetector>();
        var classes = new HashSet<string>(StringComparer.Ordinal);
        foreach (var name in document.BuiltInDetectors)
        {
            if (BuiltInDetectors.TryCreate(name, out var detector) && detector is not null)
            {
                detectors.Add(detector);
                classes.Add(detector.DataClass);
            }
            else
            {
                errors.Add($"'detectors.builtin': detector '{name}' is not available in this build");
            }
        }

        for (var i = 0; i < document.CustomDetectors.Count; i++)
        {
            var spec = document.CustomDetectors[i];
            try
            {
                detectors.Add(new RegexDetector(spec.Name, spec.DataClass, spec.Pattern, spec.IgnoreCase));
                classes.Add(spec.DataClass);
            }
            catch (ArgumentException)
            {
                errors.Add($"'detectors.custom[{spec.SourceIndex}].pattern': cannot be compiled for linear-time matching (RegexOptions.NonBacktracking: no backreferences, lookarounds or atomic groups), or is not a valid regex");
            }
        }

        foreach (var cls in document.OnDetect.Keys)
        {
            if (!classes.Contains(cls))
            {
                warnings.Add($"'on_detect.{cls}': no enabled detector reports data class '{cls}'");
            }
        }

        var rules = new CompiledRule[document.Rules.Count];
        var exact = new Dictionary<string, int>(StringComparer.OrdinalIgnoreCase);
        var globs = new List<(string, int)>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < rules.Length; i++)
        {
            var rule = document.Rules[i];
            rules[i] = new CompiledRule(rule.Name, rule.DataClass, rule.Action, rule.KeepLast, rule.MaxChars, rule.Detect);
            var path = $"rules[{rule.SourceIndex}]";
            if (!names.Add(rule.Name))
            {
                errors.Add($"'{path}.name': duplicate rule name '{rule.Name}'");
            }

            for (var k = 0; k < rule.Keys.Count; k++)
            {
                var key = rule.Keys[k];
                if (Glob.HasWildcards(key))
                {
                    globs.Add((key, i));
                    if (Glob.MatchesEverything(key))
                    {
                        warnings.Add(rule.Action == PolicyAction.Keep
                            ? $"'{path}.keys[{k}]': '{key}' allowlists every key; allowlist mode then protects nothing"
                            : $"'{path}.keys[{k}]': '{key}' matches every key; later rules never apply");
                    }
                }
                else if (!exact.TryAdd(key, i))
                {
                    warnings.Add($"'{path}.keys[{k}]': '{key}' is already listed by {rules[exact[key]].Name}; this entry never applies");
                }
            }

            if (rule.Action == PolicyAction.Keep && rule.DetectExplicit && !rule.Detect)
            {
                warnings.Add($"'{path}.detect': false disables the detectors for these keys; a secret in their values passes unchanged");
            }

            if (rule.Action is PolicyAction.Keep or PolicyAction.Truncate)
            {
                foreach (var key in rule.Keys)
                {
                    if (SensitiveKeyHints.LooksSensitive(key))
                    {
                        warnings.Add($"'{path}': action '{rule.Action.ToString().ToLowerInvariant()}' on '{key}', which looks sensitive; consider drop, redact or pseudonymize");
                    }
                }
            }
        }

        if (errors.Count > 0)
        {
            return null;
        }

        var policy = new CompiledPolicy(document, source, fingerprint, rules, exact, globs, new DetectorSet(detectors), detectors.Count);
        if (document.Mode == PolicyMode.Allowlist)
        {
            var serviceRule = policy.FindRule("service.name");
            if (serviceRule < 0 || rules[serviceRule].Action != PolicyAction.Keep)
            {
                warnings.Add("'rules': allowlist mode does not keep 'service.name'; spans lose their service and cannot be routed or searched");
            }
        }

        return policy;
    }
}

/// <summary>A compiled rule; counter labels come from here (policy names, never values).</summary>
internal sealed record CompiledRule(string Name, string DataClass, PolicyAction Action, int KeepLast, int MaxChars, bool Detect)
{
    public string ActionLabel { get; } = Action.ToString().ToLowerInvariant();

    /// <summary>True when what the action leaves can still carry sensitive text.</summary>
    public bool ScanResult => Detect && Action is PolicyAction.Keep or PolicyAction.Sql or PolicyAction.Url or PolicyAction.Truncate;
}

/// <summary>What the policy knows about one attribute key.</summary>
/// <param name="Rule">Index of the first matching rule, or -1.</param>
internal readonly record struct KeyInfo(int Rule);

/// <summary>A cached key and what the policy knows about it.</summary>
internal sealed record KeyEntry(string Key, KeyInfo Info);

/// <summary>Words that make a key look sensitive (lint).</summary>
internal static class SensitiveKeyHints
{
    private static readonly string[] Hints =
        ["password", "passwd", "secret", "token", "authorization", "cookie", "api_key", "apikey", "api-key", "credential",
         "private_key", "ssn", "email", "phone", "card", "iban", "session"];

    /// <summary>"token" followed by these is a usage count or a type name, not a credential (gen_ai.usage.input_tokens).</summary>
    private static readonly string[] TokenCountSuffixes = ["s", "_count", "_type", "izer"];

    public static bool LooksSensitive(string key)
    {
        foreach (var hint in Hints)
        {
            var at = key.IndexOf(hint, StringComparison.OrdinalIgnoreCase);
            while (at >= 0)
            {
                if (hint != "token" || !IsTokenCount(key.AsSpan(at + hint.Length)))
                {
                    return true;
                }

                at = key.IndexOf(hint, at + 1, StringComparison.OrdinalIgnoreCase);
            }
        }

        return false;
    }

    private static bool IsTokenCount(ReadOnlySpan<char> rest)
    {
        foreach (var suffix in TokenCountSuffixes)
        {
            if (rest.StartsWith(suffix, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }

        return false;
    }
}

/// <summary>
/// Case-insensitive globs with <c>*</c> (any run) and <c>?</c> (one character): policy keys here, and the
/// service names an ingest identity may emit in the gateway.
/// </summary>
public static class Glob
{
    /// <summary>True when <paramref name="pattern"/> has a <c>*</c> or <c>?</c>.</summary>
    public static bool HasWildcards(string pattern) => pattern.AsSpan().IndexOfAny('*', '?') >= 0;

    /// <summary>True when <paramref name="pattern"/> is only stars.</summary>
    public static bool MatchesEverything(string pattern)
    {
        foreach (var c in pattern)
        {
            if (c != '*')
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Greedy match with single-star backtracking: O(pattern × text) worst case, no recursion.</summary>
    public static bool IsMatch(ReadOnlySpan<char> pattern, ReadOnlySpan<char> text)
    {
        int p = 0, t = 0, starP = -1, starT = 0;
        while (t < text.Length)
        {
            if (p < pattern.Length && (pattern[p] == '?' || EqualsIgnoreCase(pattern[p], text[t])))
            {
                p++;
                t++;
            }
            else if (p < pattern.Length && pattern[p] == '*')
            {
                starP = p++;
                starT = t;
            }
            else if (starP >= 0)
            {
                p = starP + 1;
                t = ++starT;
            }
            else
            {
                return false;
            }
        }

        while (p < pattern.Length && pattern[p] == '*')
        {
            p++;
        }

        return p == pattern.Length;
    }

    private static bool EqualsIgnoreCase(char a, char b) =>
        a == b || (char.IsAscii(a) && char.IsAscii(b) ? (a | 0x20) == (b | 0x20) && char.IsAsciiLetter(a) : char.ToLowerInvariant(a) == char.ToLowerInvariant(b));
}
