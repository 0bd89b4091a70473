namespace Hush.Gateway.Configuration.Implementation;

/// <summary>Binds the <c>query</c> section (auth and limits of the query API), reporting every error with its key.</summary>
internal static class QueryBinder
{
    /// <summary>
    /// Binds <c>query</c>. The query API shares the admin listener (<paramref name="admin"/>), so dev mode is the
    /// default only while that listener is loopback.
    /// </summary>
    public static QueryConfig Bind(MapReader query, ListenerConfig admin, string dataDir)
    {
        var errors = query.Errors;
        var auth = query.Map("auth");
        var mode = admin.IsLoopback ? QueryAuthMode.Dev : QueryAuthMode.Required;
        switch (auth.String("mode"))
        {
            case null:
                break;
            case "dev":
                mode = QueryAuthMode.Dev;
                if (!admin.IsLoopback)
                {
                    errors.Add($"'{auth.KeyPath("mode")}' is dev, which accepts unauthenticated loopback requests; it is allowed only when '{admin.Key}' binds a loopback address{auth.Where("mode")}");
                }

                break;
            case "required":
                mode = QueryAuthMode.Required;
                break;
            default:
                errors.Add($"'{auth.KeyPath("mode")}' must be dev or required{auth.Where("mode")}");
                break;
        }

        var keyFile = auth.String("api_key_file") is { Length: > 0 } file ? Path.GetFullPath(file) : Path.Combine(dataDir, "apikeys.json");
        var header = auth.String("tenant_header") ?? "X-Scope-OrgID";
        if (header.Trim().Length == 0)
        {
            errors.Add($"'{auth.KeyPath("tenant_header")}' must not be empty");
        }

        JwtAuthConfig? jwt = null;
        var roleClaim = "hush_roles";
        if (auth.Has("jwt"))
        {
            var jwtReader = auth.Map("jwt");

            // Read before the shared binder, which reports keys it does not know.
            roleClaim = jwtReader.String("role_claim") ?? roleClaim;
            jwt = IngestBinder.BindJwt(jwtReader);
        }

        auth.Finish();

        var limits = query.Map("limits");
        var bound = new QueryLimitsConfig
        {
            MaxSearchLimit = limits.Int("max_search_limit", 500, 1, 100_000),
            MaxSpansPerSpanSet = limits.Int("max_spans_per_spanset", 100, 1, 10_000),
            MaxInspectedTraces = limits.Int("max_inspected_traces", 200_000, 1, 100_000_000),
            Timeout = limits.Duration("timeout", TimeSpan.FromSeconds(30), TimeSpan.FromMilliseconds(100), TimeSpan.FromMinutes(10)),
            RequestsPerMinute = limits.Int("requests_per_minute", 600, 1, 1_000_000),
            ResolvesPerHour = limits.Int("resolves_per_hour", 20, 1, 10_000),
            MinJustificationChars = limits.Int("min_justification_chars", 20, 1, 1_000),
        };
        limits.Finish();
        var audit = query.Map("audit");
        var rotateMegabytes = audit.Int("rotate_megabytes", (int)(Query.Audit.AuditLog.DefaultRotateBytes >> 20), 1, 1_048_576);
        audit.Finish();
        query.Finish();
        return new QueryConfig
        {
            Auth = new QueryAuthConfig { Mode = mode, ApiKeyFile = keyFile, Jwt = jwt, RoleClaim = roleClaim, TenantHeader = header.Trim() },
            Limits = bound,
            Audit = new QueryAuditConfig { RotateBytes = (long)rotateMegabytes << 20 },
        };
    }
}
