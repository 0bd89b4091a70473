using Hush.Gateway.Configuration;

namespace Hush.Gateway.Tests.Query;

public sealed class QueryConfigTests
{
    private const string Base = """
        receivers:
          otlp:
            protocols:
              http: { endpoint: 127.0.0.1:4318 }
        exporters:
          nop: {}
        service:
          pipelines:
            traces: { receivers: [otlp], exporters: [nop] }
          admin: { endpoint: ADMIN }
          data_dir: /tmp/hush-qcfg
        """;

    private static ConfigLoadResult Load(string query, string admin = "127.0.0.1:3200") =>
        HushConfigLoader.LoadYaml(Base.Replace("ADMIN", admin, StringComparison.Ordinal) + "\n" + query, new Dictionary<string, string?>());

    [Fact]
    public void NoQuerySection_DevModeOnLoopbackWithDefaults()
    {
        var config = Load(string.Empty).Config!;

        Assert.Equal(QueryAuthMode.Dev, config.Query.Auth.Mode);
        Assert.Equal(Path.Combine(config.DataDir, "apikeys.json"), config.Query.Auth.ApiKeyFile);
        Assert.Null(config.Query.Auth.Jwt);
        Assert.Equal("X-Scope-OrgID", config.Query.Auth.TenantHeader);
        Assert.Equal(500, config.Query.Limits.MaxSearchLimit);
        Assert.Equal(TimeSpan.FromSeconds(30), config.Query.Limits.Timeout);
    }

    [Fact]
    public void NonLoopbackAdmin_RequiredByDefault_DevIsAnError()
    {
        Assert.Equal(QueryAuthMode.Required, Load(string.Empty, "0.0.0.0:3200").Config!.Query.Auth.Mode);
        var result = Load("query: { auth: { mode: dev } }", "0.0.0.0:3200");

        Assert.Contains(result.Errors, e => e.StartsWith("'query.auth.mode' is dev", StringComparison.Ordinal));
    }

    [Fact]
    public void FullSection_Binds()
    {
        var jwks = Path.GetTempFileName();
        try
        {
            var config = Load($$"""
                query:
                  auth:
                    mode: required
                    api_key_file: /tmp/hush-qcfg/keys.json
                    tenant_header: X-Tenant
                    jwt:
                      issuer: https://idp.example/
                      audience: [grafana, cli]
                      jwks_file: {{jwks}}
                      tenant_claim: org
                      role_claim: groups
                  limits:
                    max_search_limit: 50
                    max_spans_per_spanset: 7
                    max_inspected_traces: 1000
                    timeout: 5s
                    requests_per_minute: 120
                    resolves_per_hour: 3
                    min_justification_chars: 40
                """).Config!;

            Assert.Equal(QueryAuthMode.Required, config.Query.Auth.Mode);
            Assert.Equal("/tmp/hush-qcfg/keys.json", config.Query.Auth.ApiKeyFile);
            Assert.Equal("X-Tenant", config.Query.Auth.TenantHeader);
            Assert.Equal("groups", config.Query.Auth.RoleClaim);
            Assert.Equal("org", config.Query.Auth.Jwt!.TenantClaim);
            Assert.Equal(["grafana", "cli"], config.Query.Auth.Jwt.Audiences);
            Assert.Equal(new QueryLimitsConfig { MaxSearchLimit = 50, MaxSpansPerSpanSet = 7, MaxInspectedTraces = 1000, Timeout = TimeSpan.FromSeconds(5), RequestsPerMinute = 120, ResolvesPerHour = 3, MinJustificationChars = 40 }, config.Query.Limits);
        }
        finally
        {
            File.Delete(jwks);
        }
    }

    [Fact]
    public void AuditRotation_DefaultsTo256MiB_BindsAndRangeChecks()
    {
        Assert.Equal(256L << 20, Load(string.Empty).Config!.Query.Audit.RotateBytes);
        Assert.Equal(8L << 20, Load("query: { audit: { rotate_megabytes: 8 } }").Config!.Query.Audit.RotateBytes);

        var result = Load("query: { audit: { rotate_megabytes: 0 } }");

        Assert.Contains(result.Errors, e => e.StartsWith("'query.audit.rotate_megabytes'", StringComparison.Ordinal));
    }

    [Fact]
    public void Mistakes_AllReportedWithKeys()
    {
        var result = Load("""
            query:
              audit: { enabled: false }
              auth:
                mode: sometimes
                jwt: { issuer: https://idp.example/ }
              limits:
                max_search_limit: 0
                timeout: forever
            """);

        Assert.False(result.IsValid);
        Assert.Contains(result.Errors, e => e.StartsWith("'query.audit.enabled' is not a known key", StringComparison.Ordinal));
        Assert.Contains(result.Errors, e => e.StartsWith("'query.auth.mode' must be dev or required", StringComparison.Ordinal));
        Assert.Contains(result.Errors, e => e.StartsWith("'query.auth.jwt.audience' is required", StringComparison.Ordinal));
        Assert.Contains(result.Errors, e => e.StartsWith("'query.limits.max_search_limit'", StringComparison.Ordinal));
        Assert.Contains(result.Errors, e => e.StartsWith("'query.limits.timeout'", StringComparison.Ordinal));
    }
}
