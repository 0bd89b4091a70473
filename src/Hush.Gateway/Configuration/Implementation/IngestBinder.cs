using Hush.Gateway.Limits;

namespace Hush.Gateway.Configuration.Implementation;

/// <summary>Binds <c>receivers.otlp.auth</c> and <c>receivers.otlp.limits</c>, reporting every error with its key.</summary>
internal static class IngestBinder
{
    private const long MiB = 1 << 20;

    /// <summary>Algorithms accepted by default: asymmetric only, so a public key can never be used as an HMAC secret.</summary>
    private static readonly string[] DefaultAlgorithms = ["RS256", "RS384", "RS512", "PS256", "ES256", "ES384"];

    private static readonly string[] RefusedAlgorithms = ["none", "HS256", "HS384", "HS512"];

    /// <summary>
    /// Binds <c>auth</c>. <paramref name="allLoopback"/> says whether every OTLP listener is on loopback (then the
    /// default mode is dev); <paramref name="tokenFile"/> is the default token store path.
    /// </summary>
    public static IngestAuthConfig BindAuth(MapReader auth, bool allLoopback, bool anyTls, string tokenFile)
    {
        var errors = auth.Errors;
        var modeText = auth.String("mode");
        var mode = allLoopback ? IngestAuthMode.Dev : IngestAuthMode.Required;
        switch (modeText)
        {
            case null:
                break;
            case "dev":
                mode = IngestAuthMode.Dev;
                if (!allLoopback)
                {
                    errors.Add($"'{auth.KeyPath("mode")}' is dev, which accepts unauthenticated loopback requests; it is allowed only when every OTLP listener binds a loopback address{auth.Where("mode")}");
                }

                break;
            case "required":
                mode = IngestAuthMode.Required;
                break;
            default:
                errors.Add($"'{auth.KeyPath("mode")}' must be dev or required{auth.Where("mode")}");
                break;
        }

        var tokens = auth.String("token_file") is { } file ? Path.GetFullPath(file) : tokenFile;
        var headers = auth.StringList("tenant_headers") ?? ["X-Scope-OrgID"];
        var jwt = auth.Has("jwt") ? BindJwt(auth.Map("jwt")) : null;
        MtlsAuthConfig? mtls = null;
        if (auth.Has("mtls"))
        {
            mtls = BindMtls(auth.Map("mtls"));
            if (!anyTls)
            {
                errors.Add($"'{auth.KeyPath("mtls")}' needs TLS on an OTLP listener: set 'tls.cert_file' and 'tls.key_file' under receivers.otlp.protocols.grpc or .http");
            }
        }

        auth.Finish();
        return new IngestAuthConfig(mode, tokens, jwt, mtls, headers);
    }

    /// <summary>Binds <c>limits</c>: <c>default</c> and per-tenant overrides under <c>tenants</c>.</summary>
    public static (TenantLimits Default, Dictionary<string, TenantLimits> Tenants) BindLimits(MapReader limits, int listenerMaxBytes)
    {
        var defaults = BindTenantLimits(limits.Map("default"), null, listenerMaxBytes);
        var tenants = new Dictionary<string, TenantLimits>(StringComparer.Ordinal);
        var overrides = limits.Map("tenants");
        foreach (var (tenant, _) in overrides.Entries)
        {
            tenants[tenant] = BindTenantLimits(overrides.Map(tenant), defaults, listenerMaxBytes);
        }

        overrides.Finish();
        limits.Finish();
        return (defaults, tenants);
    }

    private static TenantLimits BindTenantLimits(MapReader reader, TenantLimits? inherit, int listenerMaxBytes)
    {
        var rate = reader.Size("bytes_per_second", inherit?.BytesPerSecond ?? 0, 0, 64L << 30);
        var maxRequest = (int)reader.Size("max_request_size", inherit?.MaxRequestBytes ?? int.MaxValue, 1024, int.MaxValue);
        var effectiveMax = Math.Min(maxRequest, listenerMaxBytes);
        var burstDefault = Math.Max(rate * 2, effectiveMax);
        var burst = reader.Size("burst", inherit is { BytesPerSecond: > 0 } ? Math.Max(inherit.BurstBytes, burstDefault) : burstDefault, 1024, 128L << 30);
        var spans = reader.Int("max_spans_per_request", inherit?.MaxSpansPerRequest ?? 100_000, 1, 10_000_000);
        if (rate > 0 && burst < effectiveMax)
        {
            reader.Errors.Add($"'{reader.KeyPath("burst")}' ({burst} bytes) must be at least the largest request allowed ({effectiveMax} bytes), or such a request could never be accepted");
        }

        reader.Finish();
        return new TenantLimits(rate, burst, maxRequest, spans);
    }

    internal static JwtAuthConfig BindJwt(MapReader jwt)
    {
        var errors = jwt.Errors;
        var issuer = jwt.String("issuer");
        if (string.IsNullOrWhiteSpace(issuer))
        {
            errors.Add($"'{jwt.KeyPath("issuer")}' is required");
        }

        // One audience or a list of them.
        var audiences = jwt.Node("audience") is ConfigScalar ? (jwt.String("audience") is { } one ? [one] : null) : jwt.StringList("audience");
        if (audiences is null || audiences.Count == 0)
        {
            errors.Add($"'{jwt.KeyPath("audience")}' is required (a name or a list)");
        }

        var jwksFile = jwt.String("jwks_file");
        if (jwksFile is not null)
        {
            jwt.RequireFile("jwks_file", jwksFile);
        }

        var jwksUrl = Url(jwt, "jwks_url");
        var discovery = jwt.Bool("discovery", false);
        Uri? discoveryUrl = null;
        if (discovery && issuer is not null && Uri.TryCreate(issuer.TrimEnd('/') + "/.well-known/openid-configuration", UriKind.Absolute, out var d) && d.Scheme is "https" or "http")
        {
            discoveryUrl = d;
        }
        else if (discovery)
        {
            errors.Add($"'{jwt.KeyPath("discovery")}' needs 'issuer' to be an http(s) URL");
        }

        var sources = (jwksFile is null ? 0 : 1) + (jwksUrl is null ? 0 : 1) + (discovery ? 1 : 0);
        if (sources != 1)
        {
            errors.Add($"'{jwt.Path}' needs exactly one key source: 'jwks_file', 'jwks_url' or 'discovery: true' (found {sources})");
        }

        var algorithms = jwt.StringList("algorithms") ?? [.. DefaultAlgorithms];
        foreach (var algorithm in algorithms)
        {
            if (RefusedAlgorithms.Contains(algorithm, StringComparer.OrdinalIgnoreCase))
            {
                errors.Add($"'{jwt.KeyPath("algorithms")}' lists {algorithm}, which Hush never accepts (none and HMAC algorithms let a public key forge tokens)");
            }
        }

        var config = new JwtAuthConfig(
            issuer ?? string.Empty,
            audiences ?? [],
            jwksFile is null ? null : Path.GetFullPath(jwksFile),
            jwksUrl,
            discoveryUrl,
            jwt.String("tenant_claim") ?? "hush_tenant",
            jwt.String("services_claim") ?? "hush_services",
            jwt.String("identity_claim") ?? "sub",
            jwt.Duration("clock_skew", TimeSpan.FromSeconds(30), TimeSpan.Zero, TimeSpan.FromMinutes(10)),
            jwt.Duration("refresh_interval", TimeSpan.FromMinutes(10), TimeSpan.FromSeconds(10), TimeSpan.FromDays(1)),
            algorithms);
        jwt.Finish();
        return config;
    }

    private static Uri? Url(MapReader reader, string key)
    {
        if (reader.String(key) is not { } text)
        {
            return null;
        }

        if (Uri.TryCreate(text, UriKind.Absolute, out var uri) && uri.Scheme is "https" or "http" && uri.UserInfo.Length == 0)
        {
            return uri;
        }

        reader.Errors.Add($"'{reader.KeyPath(key)}' must be an absolute http(s) URL without user info{reader.Where(key)}");
        return null;
    }

    private static MtlsAuthConfig BindMtls(MapReader mtls)
    {
        var errors = mtls.Errors;
        var ca = mtls.String("ca_file");
        mtls.RequireFile("ca_file", ca);
        var identities = new List<MtlsIdentityConfig>();
        if (mtls.Node("identities") is ConfigList list)
        {
            for (var i = 0; i < list.Items.Count; i++)
            {
                var item = new MapReader(list.Items[i], $"{mtls.KeyPath("identities")}[{i}]", errors);
                var match = item.String("match");
                if (match is null || !(match.StartsWith("CN=", StringComparison.Ordinal) || match.StartsWith("dns:", StringComparison.Ordinal) || match.StartsWith("uri:", StringComparison.Ordinal)))
                {
                    errors.Add($"'{item.KeyPath("match")}' is required and must start with CN=, dns: or uri:");
                }

                var tenant = item.String("tenant");
                if (string.IsNullOrWhiteSpace(tenant))
                {
                    errors.Add($"'{item.KeyPath("tenant")}' is required");
                }

                var services = item.StringList("services") ?? [];
                if (services.Count == 0)
                {
                    errors.Add($"'{item.KeyPath("services")}' must list the service.name globs this certificate may emit");
                }

                item.Finish();
                identities.Add(new MtlsIdentityConfig(match ?? string.Empty, tenant ?? string.Empty, services));
            }
        }
        else
        {
            errors.Add($"'{mtls.KeyPath("identities")}' must list how certificates map to identities: [{{ match: CN=checkout, tenant: acme, services: [checkout] }}]");
        }

        mtls.Finish();
        return new MtlsAuthConfig(ca is null ? string.Empty : Path.GetFullPath(ca), identities);
    }
}
