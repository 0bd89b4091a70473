namespace Hush.Gateway.Query;

/// <summary>
/// The roles of the query API. Investigator includes everything engineer may do; admin is separate on purpose
/// (separation of duties): it reads the audit log but no trace content unless the identity is also an engineer.
/// </summary>
[Flags]
internal enum QueryRoles
{
    None = 0,

    /// <summary>Tag names, service names, counts and durations: no span attributes, no trace bodies.</summary>
    Viewer = 1,

    /// <summary>Scrubbed traces and search.</summary>
    Engineer = 2,

    /// <summary>Engineer, plus resolving a token back to its raw value with a written justification.</summary>
    Investigator = 4,

    /// <summary>Reads the audit log of its tenants.</summary>
    Admin = 8,
}

/// <summary>Who is querying: a stable, loggable id (never a credential), the tenants it may read, its roles.</summary>
/// <param name="Id">Such as <c>apikey:k3x9a1b2c4</c>, <c>jwt:https://idp/|alice</c> or <c>dev:loopback</c>.</param>
/// <param name="Tenants">At least one tenant; a request picks one with the tenant header when there are several.</param>
/// <param name="Roles">What it may do.</param>
internal sealed record QueryIdentity(string Id, IReadOnlyList<string> Tenants, QueryRoles Roles)
{
    /// <summary>Unauthenticated loopback requests in dev mode: tenant <c>dev</c>, engineer only.</summary>
    public static QueryIdentity DevLoopback { get; } = new("dev:loopback", [Hush.Pipeline.IngestContext.DevTenant], QueryRoles.Engineer);

    public bool MaySearch => (Roles & (QueryRoles.Viewer | QueryRoles.Engineer | QueryRoles.Investigator)) != 0;

    /// <summary>Trace bodies and span attributes.</summary>
    public bool MayReadContent => (Roles & (QueryRoles.Engineer | QueryRoles.Investigator)) != 0;

    public bool MayResolve => (Roles & QueryRoles.Investigator) != 0;

    public bool MayReadAudit => (Roles & QueryRoles.Admin) != 0;

    /// <summary>Parses role names (case-insensitive); unknown names are ignored. Returns <see cref="QueryRoles.None"/> when none is known.</summary>
    public static QueryRoles ParseRoles(IEnumerable<string> names)
    {
        var roles = QueryRoles.None;
        foreach (var name in names)
        {
            roles |= ParseRole(name);
        }

        return roles;
    }

    /// <summary>One role name, or <see cref="QueryRoles.None"/>.</summary>
    public static QueryRoles ParseRole(string name) => name.Trim().ToLowerInvariant() switch
    {
        "viewer" => QueryRoles.Viewer,
        "engineer" => QueryRoles.Engineer,
        "investigator" => QueryRoles.Investigator,
        "admin" => QueryRoles.Admin,
        _ => QueryRoles.None,
    };

    /// <summary>The role names, lower case, comma-separated.</summary>
    public static string Format(QueryRoles roles) =>
        roles == QueryRoles.None ? "none" : string.Join(",", Enum.GetValues<QueryRoles>().Where(r => r != QueryRoles.None && roles.HasFlag(r)).Select(r => r.ToString().ToLowerInvariant()));
}
