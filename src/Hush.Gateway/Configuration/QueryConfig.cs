namespace Hush.Gateway.Configuration;

/// <summary>How unauthenticated query requests are treated (<c>query.auth.mode</c>).</summary>
public enum QueryAuthMode
{
    /// <summary>Requests without credentials from a loopback peer are tenant <c>dev</c>, role engineer; credentials sent are still checked.</summary>
    Dev,

    /// <summary>Every query request (but <c>/ready</c> and <c>/api/echo</c>) must carry a valid credential.</summary>
    Required,
}

/// <summary>
/// <c>query</c>: the Tempo-compatible query API on the admin port: who may read (<see cref="Auth"/>) and how much
/// one request may cost (<see cref="Limits"/>). Auditing has no switch: every query is audited.
/// </summary>
public sealed record QueryConfig
{
    /// <summary>The defaults: dev mode, keys in <c>{data_dir}/apikeys.json</c>, no JWT.</summary>
    public static QueryConfig Default { get; } = new();

    /// <summary><c>query.auth</c>.</summary>
    public QueryAuthConfig Auth { get; init; } = new();

    /// <summary><c>query.limits</c>.</summary>
    public QueryLimitsConfig Limits { get; init; } = new();

    /// <summary><c>query.audit</c>.</summary>
    public QueryAuditConfig Audit { get; init; } = new();
}

/// <summary><c>query.audit</c>: how the audit log's files are kept (what is audited has no switch).</summary>
public sealed record QueryAuditConfig
{
    /// <summary>
    /// <c>rotate_megabytes</c>: the live <c>audit.log</c> is renamed <c>audit.{first}-{last}.log</c> once it reaches this
    /// size, and the chain goes on in a new file (default 256 MiB). Hush never deletes a rotated file: archiving them is
    /// the operator's job, and <c>hush audit verify</c> reports records missing from the start of the chain.
    /// </summary>
    public long RotateBytes { get; init; } = Query.Audit.AuditLog.DefaultRotateBytes;
}

/// <summary><c>query.auth</c>: API keys (always), JWT bearer (when configured), dev mode on loopback.</summary>
public sealed record QueryAuthConfig
{
    /// <summary><c>mode</c>: dev by default when the admin listener is loopback, else required.</summary>
    public QueryAuthMode Mode { get; init; } = QueryAuthMode.Dev;

    /// <summary><c>api_key_file</c>: the API key store (default <c>{data_dir}/apikeys.json</c>; empty means that default).</summary>
    public string ApiKeyFile { get; init; } = string.Empty;

    /// <summary><c>jwt</c>: OIDC/JWT bearer tokens, or null. Its tenant claim holds one tenant or several (an array, or separated by commas or spaces).</summary>
    public JwtAuthConfig? Jwt { get; init; }

    /// <summary><c>jwt.role_claim</c>: the claim listing the roles (string or array; default <c>hush_roles</c>).</summary>
    public string RoleClaim { get; init; } = "hush_roles";

    /// <summary><c>tenant_header</c>: the header that picks one of a multi-tenant identity's tenants (default <c>X-Scope-OrgID</c>).</summary>
    public string TenantHeader { get; init; } = "X-Scope-OrgID";
}

/// <summary><c>query.limits</c>: what one request and one identity may cost.</summary>
public sealed record QueryLimitsConfig
{
    /// <summary><c>max_search_limit</c>: the most traces one search returns, whatever <c>limit</c> asks (default 500).</summary>
    public int MaxSearchLimit { get; init; } = 500;

    /// <summary><c>max_spans_per_spanset</c>: the cap on <c>spss</c> (default 100).</summary>
    public int MaxSpansPerSpanSet { get; init; } = 100;

    /// <summary><c>max_inspected_traces</c>: a search or tag scan stops after this many candidate traces (default 200,000).</summary>
    public int MaxInspectedTraces { get; init; } = 200_000;

    /// <summary><c>timeout</c>: a request's deadline; a search past it answers what it found (default 30 s).</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary><c>requests_per_minute</c>: per identity, with a burst of a tenth of it (default 600).</summary>
    public int RequestsPerMinute { get; init; } = 600;

    /// <summary><c>resolves_per_hour</c>: pseudonym/token resolutions per investigator (default 20).</summary>
    public int ResolvesPerHour { get; init; } = 20;

    /// <summary><c>min_justification_chars</c>: how long a resolution's written justification must be (default 20).</summary>
    public int MinJustificationChars { get; init; } = 20;
}
