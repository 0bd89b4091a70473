namespace Hush.Privacy;

/// <summary>What happens to a value. Names are the policy file's spelling in lower case.</summary>
public enum PolicyAction
{
    /// <summary>Remove the attribute (or array element) entirely.</summary>
    Drop,

    /// <summary>Replace the whole value with a typed placeholder such as <c>{email}</c>; for detector findings only the matched text.</summary>
    Redact,

    /// <summary>Keep the last N characters, mask the rest.</summary>
    Mask,

    /// <summary>Keyed HMAC-SHA256 per tenant: same raw value and class, same pseudonym.</summary>
    Pseudonymize,

    /// <summary>Reversible token through the vault.</summary>
    Tokenize,

    /// <summary>IP address to its prefix, date to its year; anything else is redacted (fail closed).</summary>
    Generalize,

    /// <summary>SQL literals to <c>?</c>: the statement shape is kept.</summary>
    Sql,

    /// <summary>URL userinfo, query values and identifier path segments removed.</summary>
    Url,

    /// <summary>Cut to <c>max_chars</c>.</summary>
    Truncate,

    /// <summary>Keep the value (detectors still run unless <c>detect: false</c>).</summary>
    Keep,
}

/// <summary>How keys that no rule lists are treated.</summary>
public enum PolicyMode
{
    /// <summary>Keep the key, run the detectors on its value (the default).</summary>
    Detect,

    /// <summary>Default-deny: a key not listed is dropped or pseudonymized (<c>unknown_keys</c>).</summary>
    Allowlist,
}

/// <summary>What to do with a value longer than the detectors scan.</summary>
public enum OversizedValueAction
{
    /// <summary>Cut the value to the scanned prefix (after scrubbing that prefix).</summary>
    Truncate,

    /// <summary>Replace the whole value with <c>{oversized}</c>.</summary>
    Redact,
}

/// <summary>How span names are treated.</summary>
public enum SpanNameTreatment
{
    /// <summary>Sanitize URL-like words (paths, queries), then run the detectors.</summary>
    Url,

    /// <summary>Run the detectors only.</summary>
    Detect,
}

/// <summary>One rule of the data catalog: key globs mapped to a data class and an action.</summary>
public sealed class PolicyRule
{
    /// <summary>Name used as the counter label; defaults to <c>rules[i]</c>.</summary>
    public required string Name { get; init; }

    /// <summary>Exact keys or globs (<c>*</c>, <c>?</c>), matched case-insensitively.</summary>
    public required IReadOnlyList<string> Keys { get; init; }

    /// <summary>The data class (placeholder name, pseudonym domain, counter label).</summary>
    public required string DataClass { get; init; }

    public required PolicyAction Action { get; init; }

    /// <summary>For <see cref="PolicyAction.Mask"/>: how many trailing characters stay visible.</summary>
    public int KeepLast { get; init; }

    /// <summary>For <see cref="PolicyAction.Truncate"/>: the maximum length kept.</summary>
    public int MaxChars { get; init; }

    /// <summary>Whether detectors run on what the action leaves. False only when set explicitly.</summary>
    public bool Detect { get; init; } = true;

    /// <summary>True when the file set <c>detect</c> explicitly (lint reports <c>detect: false</c>).</summary>
    public bool DetectExplicit { get; init; }

    /// <summary>Position of the rule in the file's <c>rules</c> list (for key paths in messages).</summary>
    public int SourceIndex { get; init; }
}

/// <summary>A custom detector from the policy file: a regex compiled with NonBacktracking.</summary>
public sealed class CustomDetectorSpec
{
    public required string Name { get; init; }

    public required string DataClass { get; init; }

    public required string Pattern { get; init; }

    public bool IgnoreCase { get; init; }

    /// <summary>Position in the file's <c>detectors.custom</c> list (for key paths in messages).</summary>
    public int SourceIndex { get; init; }
}

/// <summary>The parsed and validated policy file, before compilation.</summary>
public sealed class PolicyDocument
{
    /// <summary>The file format version (<c>version:</c>); only 1 exists.</summary>
    public int Version { get; init; } = 1;

    public PolicyMode Mode { get; init; } = PolicyMode.Detect;

    /// <summary>Allowlist mode: action for keys no rule lists (drop or pseudonymize).</summary>
    public PolicyAction UnknownKeys { get; init; } = PolicyAction.Drop;

    /// <summary>Names of the built-in detectors that run.</summary>
    public IReadOnlyList<string> BuiltInDetectors { get; init; } = [];

    public IReadOnlyList<CustomDetectorSpec> CustomDetectors { get; init; } = [];

    /// <summary>Inline action per data class for detector findings in values without a stronger rule.</summary>
    public IReadOnlyDictionary<string, PolicyAction> OnDetect { get; init; } = new Dictionary<string, PolicyAction>();

    /// <summary>Inline action for classes not listed in <see cref="OnDetect"/>.</summary>
    public PolicyAction OnDetectDefault { get; init; } = PolicyAction.Redact;

    public IReadOnlyList<PolicyRule> Rules { get; init; } = [];

    public SpanNameTreatment SpanNames { get; init; } = SpanNameTreatment.Url;

    /// <summary>When true, each span that had values changed gets <c>hush.redacted</c> = "class:count,...". Off by default.</summary>
    public bool AccountingSpanAttribute { get; init; }

    public OversizedValueAction OversizedValue { get; init; } = OversizedValueAction.Truncate;

    /// <summary>Maximum nesting of arrays and maps; deeper content is dropped and counted.</summary>
    public int MaxDepth { get; init; } = PolicyLimits.DefaultMaxDepth;
}

/// <summary>Fixed limits of the policy engine.</summary>
public static class PolicyLimits
{
    /// <summary>Default nesting depth of arrays/maps: real instrumentation nests 2-3 levels; 8 leaves room without letting a hostile body recurse.</summary>
    public const int DefaultMaxDepth = 8;

    /// <summary>Upper bound for <c>limits.max_depth</c>: 64 keeps recursion far from the stack limit.</summary>
    public const int MaxAllowedDepth = 64;

    /// <summary>Policy files above 1 MiB are refused: a data catalog is a few KB.</summary>
    public const int MaxPolicyBytes = 1024 * 1024;

    /// <summary>Distinct attribute keys whose rule lookup is cached per policy (about 2 MB at most).</summary>
    public const int KeyCacheCapacity = 16_384;

    /// <summary>Distinct clean span names cached per policy: services emit tens to hundreds of route-template names.</summary>
    public const int SpanNameCacheCapacity = 4_096;

    /// <summary>Keys longer than this are not cached: real keys are under 100 characters.</summary>
    public const int MaxCachedKeyLength = 256;
}
