using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Hush.Gateway.Authentication;
using Hush.Gateway.Configuration;
using Hush.Gateway.Tests.Support;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace Hush.Gateway.Tests.Query;

/// <summary>JWT bearer on the query API: tenants and roles from claims, and every refusal.</summary>
public sealed class QueryJwtTests : IDisposable
{
    private const string Issuer = "https://idp.example/";
    private const string Audience = "hush-query";
    private static readonly DateTimeOffset Now = new(2031, 1, 2, 3, 4, 5, TimeSpan.Zero);
    private static readonly RSA Key = RSA.Create(2048);
    private static readonly RSA OtherKey = RSA.Create(2048);

    private readonly string _dir = Directory.CreateTempSubdirectory("hush-qjwt-").FullName;
    private readonly QueryHarness _h;

    public QueryJwtTests()
    {
        var p = Key.ExportParameters(false);
        var jwks = Path.Combine(_dir, "jwks.json");
        File.WriteAllText(jwks, JsonSerializer.Serialize(new { keys = new[] { new { kty = "RSA", use = "sig", kid = "k1", n = Base64UrlEncoder.Encode(p.Modulus), e = Base64UrlEncoder.Encode(p.Exponent) } } }));
        var jwt = new JwtAuthConfig(Issuer, [Audience], jwks, null, null, "hush_tenant", "hush_services", "sub", TimeSpan.FromSeconds(30), TimeSpan.FromMinutes(10), ["RS256"]);
        var clock = new ManualClock(Now);
        var config = QueryConfig.Default with { Auth = new QueryAuthConfig { Mode = QueryAuthMode.Required, Jwt = jwt, RoleClaim = "hush_roles" } };
        _h = new QueryHarness(config, jwt: new JwtValidator(jwt, clock, NullLogger.Instance), time: clock);
        _h.Reader.Add("acme", QueryTestData.Trace(1));
        _h.Reader.Add("globex", QueryTestData.Trace(9, service: "globex-svc"));
    }

    public void Dispose()
    {
        _h.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    private static Dictionary<string, object> Claims(object? tenants = null, object? roles = null, long exp = 600) => new()
    {
        ["iss"] = Issuer,
        ["aud"] = Audience,
        ["sub"] = "alice",
        ["nbf"] = Now.AddMinutes(-1).ToUnixTimeSeconds(),
        ["exp"] = Now.AddSeconds(exp).ToUnixTimeSeconds(),
        ["hush_tenant"] = tenants ?? "acme",
        ["hush_roles"] = roles ?? new[] { "engineer" },
    };

    private static string Token(Dictionary<string, object> claims, RSA? key = null, string kid = "k1") =>
        new JsonWebTokenHandler { SetDefaultTimesOnTokenCreation = false }.CreateToken(new SecurityTokenDescriptor
        {
            Claims = claims,
            SigningCredentials = new SigningCredentials(new RsaSecurityKey(key ?? Key) { KeyId = kid }, SecurityAlgorithms.RsaSha256),
        });

    [Fact]
    public async Task ValidToken_EngineerOfItsTenant()
    {
        var r = await _h.SendAsync("/api/search?q=%7B%7D", Token(Claims()));

        Assert.Equal(200, r.Status);
        Assert.Contains(QueryTestData.Id(1).ToString(), r.Text, StringComparison.Ordinal);
        Assert.DoesNotContain(QueryTestData.Id(9).ToString(), r.Text, StringComparison.Ordinal);
        Assert.Contains("\"identity\":\"jwt:https://idp.example/|alice\"", _h.AuditText, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RolesAsSeparatedString_Accepted()
    {
        var token = Token(Claims(roles: "viewer, admin"));

        Assert.Equal(200, (await _h.SendAsync("/api/hush/audit", token)).Status);
        Assert.Equal(403, (await _h.SendAsync("/api/traces/" + QueryTestData.Id(1), token)).Status);
    }

    [Fact]
    public async Task MultiTenantIdentity_MustNameOneOfItsTenants()
    {
        var token = Token(Claims(tenants: new[] { "acme", "globex" }));

        var unnamed = await _h.SendAsync("/api/search?q=%7B%7D", token);
        var globex = await _h.SendAsync("/api/search?q=%7B%7D", token, tenant: "globex");
        var foreign = await _h.SendAsync("/api/search?q=%7B%7D", token, tenant: "initech");

        Assert.Equal(400, unnamed.Status);
        Assert.Contains("X-Scope-OrgID", unnamed.Text, StringComparison.Ordinal);
        Assert.Equal(200, globex.Status);
        Assert.Contains(QueryTestData.Id(9).ToString(), globex.Text, StringComparison.Ordinal);
        Assert.DoesNotContain(QueryTestData.Id(1).ToString(), globex.Text, StringComparison.Ordinal);
        Assert.Equal(403, foreign.Status);
    }

    public static TheoryData<string, string> Refused => new()
    {
        { "expired", Token(Claims(exp: -120)) },
        { "wrong audience", Token(new Dictionary<string, object>(Claims()) { ["aud"] = "someone-else" }) },
        { "wrong issuer", Token(new Dictionary<string, object>(Claims()) { ["iss"] = "https://evil.example/" }) },
        { "other key", Token(Claims(), OtherKey) },
        { "unknown kid", Token(Claims(), kid: "k9") },
        { "no roles", Token(Without(Claims(), "hush_roles")) },
        { "unknown role", Token(Claims(roles: new[] { "root" })) },
        { "no tenant", Token(Without(Claims(), "hush_tenant")) },
        { "tenant is a number", Token(Claims(tenants: 42)) },
        { "alg none", UnsignedToken() },
        { "garbage", "not.a.jwt" },
    };

    [Theory]
    [MemberData(nameof(Refused))]
    public async Task BadToken_401(string why, string token)
    {
        var r = await _h.SendAsync("/api/search?q=%7B%7D", token);

        Assert.True(r.Status == 401, $"{why}: {r.Status} {r.Text}");
        Assert.DoesNotContain(token, r.Text + _h.AuditText + _h.Logs.AllText, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RequiredMode_NoCredentialFromLoopback_401()
    {
        Assert.Equal(401, (await _h.SendAsync("/api/search", loopback: true)).Status);
    }

    private static Dictionary<string, object> Without(Dictionary<string, object> claims, string name)
    {
        claims.Remove(name);
        return claims;
    }

    private static string UnsignedToken()
    {
        static string B64(string json) => Base64UrlEncoder.Encode(Encoding.UTF8.GetBytes(json));
        return B64("{\"alg\":\"none\",\"typ\":\"JWT\"}") + "." + B64(JsonSerializer.Serialize(Claims())) + ".";
    }
}
