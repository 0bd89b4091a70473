using System.Buffers.Text;
using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Hush.Gateway.Authentication;
using Hush.Gateway.Configuration;
using Microsoft.Extensions.Logging;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace Hush.Gateway.Tests.Authentication;

public sealed class JwtValidatorTests : IDisposable
{
    private const string Issuer = "https://idp.example/";
    private const string Audience = "hush-ingest";
    private const string Subject = "svc-checkout-7f3a";
    private const string Tenant = "acme";

    private static readonly Uri JwksUrl = new("https://idp.example/keys");
    private static readonly Uri DiscoveryUrl = new("https://idp.example/.well-known/openid-configuration");

    // Far from the real clock: a code path that read the system time would fail these tests.
    private static readonly DateTimeOffset Start = new(2031, 3, 4, 5, 6, 7, TimeSpan.Zero);

    private static readonly RSA Rsa1 = RSA.Create(2048);
    private static readonly RSA Rsa2 = RSA.Create(2048);
    private static readonly ECDsa Ec1 = ECDsa.Create(ECCurve.NamedCurves.nistP256);

    private readonly FakeTime _time = new(Start);
    private readonly FakeIdp _idp = new();
    private readonly CapturingLogger _log = new();
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "hush-jwt-" + Guid.NewGuid().ToString("N"));

    public JwtValidatorTests()
    {
        _idp.Documents["/keys"] = Jwks(("rsa-1", Rsa1), ("ec-1", Ec1));
        _idp.Documents["/.well-known/openid-configuration"] = JsonSerializer.Serialize(new { issuer = Issuer, jwks_uri = "https://idp.example/oidc/jwks" });
        _idp.Documents["/oidc/jwks"] = Jwks(("rsa-1", Rsa1));
        Directory.CreateDirectory(_dir);
    }

    public void Dispose()
    {
        // No test may reach the validator's catch-all: every refusal must come from a deliberate check.
        Assert.DoesNotContain("[4104]", _log.Text, StringComparison.Ordinal);
        _idp.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    // ---- valid tokens ----

    [Fact]
    public async Task ValidateAsync_Rs256WithServicesArray_ReturnsIdentity()
    {
        using var validator = Validator();

        var result = await validator.ValidateAsync(Create(Claims(), RsaCredentials("rsa-1")), default);

        Assert.True(result.Succeeded, result.Failure.ToString());
        Assert.Equal("jwt:" + Issuer + "|" + Subject, result.Identity!.Id);
        Assert.Equal(Tenant, result.Identity.Tenant);
        Assert.Equal(["checkout", "cart-*"], result.Identity.Services);
    }

    [Fact]
    public async Task ValidateAsync_ServicesAsSeparatedString_SplitsOnCommasAndSpaces()
    {
        using var validator = Validator();
        var claims = Claims();
        claims["hush_services"] = "checkout, cart-*  billing";

        var result = await validator.ValidateAsync(Create(claims, RsaCredentials("rsa-1")), default);

        Assert.Equal(["checkout", "cart-*", "billing"], result.Identity!.Services);
    }

    [Fact]
    public async Task ValidateAsync_NoServicesClaim_ReturnsIdentityWithNoServices()
    {
        using var validator = Validator();
        var claims = Claims();
        claims.Remove("hush_services");

        var result = await validator.ValidateAsync(Sign(claims), default);

        Assert.True(result.Succeeded);
        Assert.Empty(result.Identity!.Services);
    }

    [Fact]
    public async Task ValidateAsync_Es256_ReturnsIdentity()
    {
        using var validator = Validator();
        var credentials = new SigningCredentials(new ECDsaSecurityKey(Ec1) { KeyId = "ec-1" }, SecurityAlgorithms.EcdsaSha256);

        var result = await validator.ValidateAsync(Create(Claims(), credentials), default);

        Assert.True(result.Succeeded, result.Failure.ToString());
        Assert.Equal(Tenant, result.Identity!.Tenant);
    }

    [Fact]
    public async Task ValidateAsync_ConfiguredIdentityClaim_UsesItForTheId()
    {
        using var validator = Validator(Config(identityClaim: "client_id"));
        var claims = Claims();
        claims["client_id"] = "checkout-prod";

        var result = await validator.ValidateAsync(Sign(claims), default);

        Assert.Equal("jwt:" + Issuer + "|checkout-prod", result.Identity!.Id);
    }

    [Fact]
    public async Task ValidateAsync_IdentityClaimAbsent_FallsBackToSub()
    {
        using var validator = Validator(Config(identityClaim: "client_id"));

        var result = await validator.ValidateAsync(Sign(Claims()), default);

        Assert.Equal("jwt:" + Issuer + "|" + Subject, result.Identity!.Id);
    }

    [Fact]
    public async Task ValidateAsync_SecondAudience_Succeeds()
    {
        using var validator = Validator();
        var claims = Claims();
        claims["aud"] = "hush-second";

        Assert.True((await validator.ValidateAsync(Sign(claims), default)).Succeeded);
    }

    [Fact]
    public async Task ValidateAsync_ExpiredWithinClockSkew_Succeeds()
    {
        using var validator = Validator();
        var claims = Claims();
        claims["exp"] = Start.AddSeconds(-20).ToUnixTimeSeconds();

        Assert.True((await validator.ValidateAsync(Sign(claims), default)).Succeeded);
    }

    // ---- refusals ----

    [Fact]
    public async Task ValidateAsync_Expired_Expired()
    {
        using var validator = Validator();
        var claims = Claims();
        claims["nbf"] = Start.AddHours(-2).ToUnixTimeSeconds();
        claims["exp"] = Start.AddMinutes(-5).ToUnixTimeSeconds();

        Assert.Equal(AuthFailure.Expired, (await validator.ValidateAsync(Sign(claims), default)).Failure);
    }

    [Fact]
    public async Task ValidateAsync_NotBeforeInTheFuture_NotYetValid()
    {
        using var validator = Validator();
        var claims = Claims();
        claims["nbf"] = Start.AddMinutes(5).ToUnixTimeSeconds();

        Assert.Equal(AuthFailure.NotYetValid, (await validator.ValidateAsync(Sign(claims), default)).Failure);
    }

    [Fact]
    public async Task ValidateAsync_NoExp_MissingClaim()
    {
        using var validator = Validator();
        var claims = Claims();
        claims.Remove("exp");

        Assert.Equal(AuthFailure.MissingClaim, (await validator.ValidateAsync(Sign(claims), default)).Failure);
    }

    [Fact]
    public async Task ValidateAsync_WrongIssuer_WrongIssuer()
    {
        using var validator = Validator();
        var claims = Claims();
        claims["iss"] = "https://evil.example/";

        Assert.Equal(AuthFailure.WrongIssuer, (await validator.ValidateAsync(Sign(claims), default)).Failure);
    }

    [Fact]
    public async Task ValidateAsync_WrongAudience_WrongAudience()
    {
        using var validator = Validator();
        var claims = Claims();
        claims["aud"] = "some-other-api";

        Assert.Equal(AuthFailure.WrongAudience, (await validator.ValidateAsync(Sign(claims), default)).Failure);
    }

    [Fact]
    public async Task ValidateAsync_AlgNone_BadSignature()
    {
        // "none" is listed in config on purpose: it must be filtered out anyway.
        using var validator = Validator(Config(algorithms: ["RS256", "none", "HS256"]));
        var token = B64(Json(new { alg = "none", typ = "JWT" })) + "." + B64(Json(Claims())) + ".";

        Assert.Equal(AuthFailure.BadSignature, (await validator.ValidateAsync(token, default)).Failure);
    }

    [Theory]
    [InlineData("pem")]
    [InlineData("modulus")]
    public async Task ValidateAsync_Hs256SignedWithRsaPublicKey_BadSignature(string secretForm)
    {
        // The key-confusion attack: a verifier that took the published RSA key as an HMAC secret would accept this.
        using var validator = Validator(Config(algorithms: ["RS256", "HS256"]));
        var secret = secretForm == "pem" ? Encoding.ASCII.GetBytes(Rsa1.ExportSubjectPublicKeyInfoPem()) : Rsa1.ExportParameters(false).Modulus!;
        var input = B64(Json(new { alg = "HS256", typ = "JWT", kid = "rsa-1" })) + "." + B64(Json(Claims()));
        var token = input + "." + B64(HMACSHA256.HashData(secret, Encoding.ASCII.GetBytes(input)));

        Assert.Equal(AuthFailure.BadSignature, (await validator.ValidateAsync(token, default)).Failure);
    }

    [Fact]
    public async Task ValidateAsync_Hs256WithSymmetricKeyPublishedInJwks_BadSignature()
    {
        var secret = RandomNumberGenerator.GetBytes(32);
        _idp.Documents["/keys"] = $$"""{"keys":[{"kty":"oct","kid":"hmac-1","k":"{{B64(secret)}}"},{{Jwk("rsa-1", Rsa1)}}]}""";
        using var validator = Validator(Config(algorithms: ["RS256", "HS256"]));
        var credentials = new SigningCredentials(new SymmetricSecurityKey(secret) { KeyId = "hmac-1" }, SecurityAlgorithms.HmacSha256);

        Assert.Equal(AuthFailure.BadSignature, (await validator.ValidateAsync(Create(Claims(), credentials), default)).Failure);
    }

    [Fact]
    public async Task ValidateAsync_AlgorithmNotConfigured_BadSignature()
    {
        using var validator = Validator(Config(algorithms: ["RS256"]));
        var credentials = new SigningCredentials(new ECDsaSecurityKey(Ec1) { KeyId = "ec-1" }, SecurityAlgorithms.EcdsaSha256);

        Assert.Equal(AuthFailure.BadSignature, (await validator.ValidateAsync(Create(Claims(), credentials), default)).Failure);
    }

    [Fact]
    public async Task ValidateAsync_SignedByAnotherKeyUnderAKnownKid_BadSignature()
    {
        using var validator = Validator();

        Assert.Equal(AuthFailure.BadSignature, (await validator.ValidateAsync(Sign(Claims(), "rsa-1", Rsa2), default)).Failure);
    }

    [Fact]
    public async Task ValidateAsync_EmptySignature_BadSignature()
    {
        using var validator = Validator();
        var token = Sign(Claims());

        Assert.Equal(AuthFailure.BadSignature, (await validator.ValidateAsync(token[..(token.LastIndexOf('.') + 1)], default)).Failure);
    }

    [Fact]
    public async Task ValidateAsync_KidNotInJwks_UnknownKey()
    {
        using var validator = Validator();

        Assert.Equal(AuthFailure.UnknownKey, (await validator.ValidateAsync(Sign(Claims(), "rsa-9"), default)).Failure);
    }

    [Fact]
    public async Task ValidateAsync_TamperedPayload_BadSignature()
    {
        using var validator = Validator();
        var parts = Sign(Claims()).Split('.');
        var payload = Encoding.UTF8.GetString(Base64Url.DecodeFromChars(parts[1])).Replace("\"acme\"", "\"globex\"", StringComparison.Ordinal);
        var tampered = parts[0] + "." + B64(Encoding.UTF8.GetBytes(payload)) + "." + parts[2];

        Assert.NotEqual(parts[1], tampered.Split('.')[1]);
        Assert.Equal(AuthFailure.BadSignature, (await validator.ValidateAsync(tampered, default)).Failure);
    }

    public static TheoryData<string> Garbage => new()
    {
        "",
        "abc",
        "a.b.c",
        new string('.', 10 * 1024),
        "Bearer abc.def.ghi",
        "eyJ.eyJ.",
        "..",
        B64(Json(new { alg = "RS256" })) + ".bm90IGpzb24." + B64([1, 2, 3]),
        "x." + new string('A', 20 * 1024) + ".y",
        "a.b.c.d.e",
    };

    [Theory]
    [MemberData(nameof(Garbage))]
    public async Task ValidateAsync_NotAJwt_Malformed(string token)
    {
        using var validator = Validator();

        Assert.Equal(AuthFailure.Malformed, (await validator.ValidateAsync(token, default)).Failure);
        Assert.DoesNotContain("[4104]", _log.Text, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("\"\"")]
    [InlineData("42")]
    [InlineData("[\"acme\"]")]
    [InlineData("{\"name\":\"acme\"}")]
    [InlineData("null")]
    public async Task ValidateAsync_TenantAbsentEmptyOrNotAString_MissingClaim(string? tenantJson)
    {
        using var validator = Validator();
        var claims = Claims();
        claims.Remove("hush_tenant");
        if (tenantJson is not null)
        {
            claims["hush_tenant"] = JsonDocument.Parse(tenantJson).RootElement;
        }

        Assert.Equal(AuthFailure.MissingClaim, (await validator.ValidateAsync(Sign(claims), default)).Failure);
    }

    [Fact]
    public async Task ValidateAsync_NoSubAndNoIdentityClaim_MissingClaim()
    {
        using var validator = Validator(Config(identityClaim: "client_id"));
        var claims = Claims();
        claims.Remove("sub");

        Assert.Equal(AuthFailure.MissingClaim, (await validator.ValidateAsync(Sign(claims), default)).Failure);
    }

    [Theory]
    [InlineData("42")]
    [InlineData("[\"checkout\", 7]")]
    [InlineData("{\"a\":1}")]
    public async Task ValidateAsync_ServicesNotStrings_MissingClaim(string servicesJson)
    {
        using var validator = Validator();
        var claims = Claims();
        claims["hush_services"] = JsonDocument.Parse(servicesJson).RootElement;

        Assert.Equal(AuthFailure.MissingClaim, (await validator.ValidateAsync(Sign(claims), default)).Failure);
    }

    [Fact]
    public void Constructor_OnlyRefusedAlgorithms_Throws()
    {
        var e = Assert.Throws<ArgumentException>(() => Validator(Config(algorithms: ["HS256", "none"])));

        Assert.Contains("algorithms", e.Message, StringComparison.Ordinal);
    }

    // ---- key sources ----

    [Fact]
    public async Task ValidateAsync_LocalJwksFileReplaced_NewKidValidAfterTheNextCheck()
    {
        var path = WriteJwks(Jwks(("rsa-1", Rsa1)));
        using var validator = Validator(Config(file: path));
        var oldToken = Sign(Claims(), "rsa-1");
        var newToken = Sign(Claims(), "rsa-2", Rsa2);
        Assert.True((await validator.ValidateAsync(oldToken, default)).Succeeded);
        Assert.Equal(AuthFailure.UnknownKey, (await validator.ValidateAsync(newToken, default)).Failure);

        WriteJwks(Jwks(("rsa-2", Rsa2)), path);
        File.SetLastWriteTimeUtc(path, DateTime.UtcNow.AddMinutes(1));
        _time.Advance(TimeSpan.FromSeconds(6));

        Assert.True((await validator.ValidateAsync(newToken, default)).Succeeded);
        Assert.Equal(AuthFailure.UnknownKey, (await validator.ValidateAsync(oldToken, default)).Failure);
    }

    [Fact]
    public async Task ValidateAsync_LocalJwksFileBroken_KeepsTheKeysReadBefore()
    {
        var path = WriteJwks(Jwks(("rsa-1", Rsa1)));
        using var validator = Validator(Config(file: path));

        File.WriteAllText(path, "{ not json");
        File.SetLastWriteTimeUtc(path, DateTime.UtcNow.AddMinutes(1));
        _time.Advance(TimeSpan.FromSeconds(6));

        Assert.True((await validator.ValidateAsync(Sign(Claims()), default)).Succeeded);
        Assert.Contains("[4102]", _log.Text, StringComparison.Ordinal);
    }

    [Fact]
    public void Constructor_LocalJwksFileMissing_ThrowsNamingThePath()
    {
        var path = Path.Combine(_dir, "missing.json");

        var e = Assert.Throws<InvalidOperationException>(() => Validator(Config(file: path)));

        Assert.Contains(path, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ValidateAsync_JwksUrl_FetchesKeysOnce()
    {
        using var validator = Validator();

        Assert.True((await validator.ValidateAsync(Sign(Claims()), default)).Succeeded);
        Assert.True((await validator.ValidateAsync(Sign(Claims(), exp: 300), default)).Succeeded);
        Assert.Equal(1, _idp.Calls("/keys"));
    }

    [Fact]
    public async Task ValidateAsync_DiscoveryDocument_UsesItsJwksUri()
    {
        using var validator = Validator(Config(discovery: DiscoveryUrl));

        var result = await validator.ValidateAsync(Sign(Claims()), default);

        Assert.True(result.Succeeded, result.Failure.ToString());
        Assert.Equal(1, _idp.Calls("/.well-known/openid-configuration"));
        Assert.Equal(1, _idp.Calls("/oidc/jwks"));
        Assert.Equal(0, _idp.Calls("/keys"));
    }

    [Fact]
    public async Task ValidateAsync_DiscoveryPointsToPlainHttp_Unavailable()
    {
        _idp.Documents["/.well-known/openid-configuration"] = JsonSerializer.Serialize(new { issuer = Issuer, jwks_uri = "http://idp.example/oidc/jwks" });
        using var validator = Validator(Config(discovery: DiscoveryUrl));

        Assert.Equal(AuthFailure.Unavailable, (await validator.ValidateAsync(Sign(Claims()), default)).Failure);
        Assert.Equal(0, _idp.Calls("/oidc/jwks"));
    }

    [Theory]
    [InlineData(HttpStatusCode.InternalServerError)]
    [InlineData(HttpStatusCode.NotFound)]
    [InlineData(null)]
    public async Task ValidateAsync_FetchFails_Unavailable(HttpStatusCode? status)
    {
        _idp.FailWith = status;
        _idp.Throw = status is null;
        using var validator = Validator();

        Assert.Equal(AuthFailure.Unavailable, (await validator.ValidateAsync(Sign(Claims()), default)).Failure);
        Assert.Contains("[4102]", _log.Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ValidateAsync_NotJwksDocument_Unavailable()
    {
        _idp.Documents["/keys"] = "<html>login</html>";
        using var validator = Validator();

        Assert.Equal(AuthFailure.Unavailable, (await validator.ValidateAsync(Sign(Claims()), default)).Failure);
    }

    [Fact]
    public async Task ValidateAsync_FetchFailedThenRecovers_RetriesAfterTheBackoffOnly()
    {
        _idp.FailWith = HttpStatusCode.ServiceUnavailable;
        using var validator = Validator();
        var token = Sign(Claims());
        Assert.Equal(AuthFailure.Unavailable, (await validator.ValidateAsync(token, default)).Failure);

        _idp.FailWith = null;
        Assert.Equal(AuthFailure.Unavailable, (await validator.ValidateAsync(token, default)).Failure);
        Assert.Equal(1, _idp.Calls("/keys"));

        _time.Advance(TimeSpan.FromSeconds(11));
        Assert.True((await validator.ValidateAsync(token, default)).Succeeded);
        Assert.Equal(2, _idp.Calls("/keys"));
    }

    [Fact]
    public async Task ValidateAsync_RefreshFails_KeepsTheKeysFetchedBefore()
    {
        using var validator = Validator();
        Assert.True((await validator.ValidateAsync(Sign(Claims()), default)).Succeeded);

        _idp.FailWith = HttpStatusCode.BadGateway;
        _time.Advance(TimeSpan.FromMinutes(11));
        var result = await validator.ValidateAsync(Sign(Claims(), exp: 3600), default);

        Assert.True(result.Succeeded, result.Failure.ToString());
        Assert.Equal(2, _idp.Calls("/keys"));
    }

    [Fact]
    public async Task ValidateAsync_RefreshIntervalPassed_RefetchesKeys()
    {
        using var validator = Validator();
        var token = Sign(Claims(), exp: 3600);
        await validator.ValidateAsync(token, default);

        _time.Advance(TimeSpan.FromMinutes(9));
        await validator.ValidateAsync(token, default);
        Assert.Equal(1, _idp.Calls("/keys"));

        _time.Advance(TimeSpan.FromMinutes(2));
        Assert.True((await validator.ValidateAsync(token, default)).Succeeded);
        Assert.Equal(2, _idp.Calls("/keys"));
    }

    [Fact]
    public async Task ValidateAsync_UnknownKid_RefreshesAtMostOncePerMinute()
    {
        using var validator = Validator();
        Assert.True((await validator.ValidateAsync(Sign(Claims()), default)).Succeeded);

        // The IdP rotates in rsa-2: the first token that names it triggers a refresh.
        _idp.Documents["/keys"] = Jwks(("rsa-1", Rsa1), ("rsa-2", Rsa2));
        _time.Advance(TimeSpan.FromMinutes(2));
        Assert.True((await validator.ValidateAsync(Sign(Claims(), "rsa-2", Rsa2), default)).Succeeded);
        Assert.Equal(2, _idp.Calls("/keys"));

        // Forged kids: one refresh, then none for a minute.
        Assert.Equal(AuthFailure.UnknownKey, (await validator.ValidateAsync(Sign(Claims(), "forged-1"), default)).Failure);
        Assert.Equal(2, _idp.Calls("/keys"));
        _time.Advance(TimeSpan.FromSeconds(61));
        Assert.Equal(AuthFailure.UnknownKey, (await validator.ValidateAsync(Sign(Claims(), "forged-2"), default)).Failure);
        Assert.Equal(AuthFailure.UnknownKey, (await validator.ValidateAsync(Sign(Claims(), "forged-3"), default)).Failure);
        Assert.Equal(3, _idp.Calls("/keys"));
    }

    [Fact]
    public async Task ValidateAsync_ConcurrentFirstCalls_FetchOnceAndAllSucceed()
    {
        using var validator = Validator();
        var token = Sign(Claims());

        var results = await Task.WhenAll(Enumerable.Range(0, 32).Select(_ => validator.ValidateAsync(token, default).AsTask()));

        Assert.All(results, r => Assert.True(r.Succeeded));
        Assert.Equal(1, _idp.Calls("/keys"));
    }

    // ---- cache ----

    [Fact]
    public async Task ValidateAsync_SameTokenTwice_ValidatesOnceAndFetchesOnce()
    {
        using var validator = Validator();
        var token = Sign(Claims());

        var first = await validator.ValidateAsync(token, default);
        var second = await validator.ValidateAsync(token, default);

        Assert.Same(first.Identity, second.Identity);
        Assert.Equal(1, _idp.Calls("/keys"));
    }

    [Fact]
    public async Task ValidateAsync_CachedTokenPastExp_Expired()
    {
        var path = WriteJwks(Jwks(("rsa-1", Rsa1)));
        using var validator = Validator(Config(file: path));
        var token = Sign(Claims(), exp: 60);
        var first = await validator.ValidateAsync(token, default);

        _time.Advance(TimeSpan.FromSeconds(60 + 29));
        Assert.Same(first.Identity, (await validator.ValidateAsync(token, default)).Identity);

        _time.Advance(TimeSpan.FromSeconds(2));
        Assert.Equal(AuthFailure.Expired, (await validator.ValidateAsync(token, default)).Failure);
    }

    [Fact]
    public async Task ValidateAsync_FailedToken_IsNotCached()
    {
        using var validator = Validator();
        var token = Sign(Claims(), "rsa-2", Rsa2);
        Assert.Equal(AuthFailure.UnknownKey, (await validator.ValidateAsync(token, default)).Failure);

        _idp.Documents["/keys"] = Jwks(("rsa-1", Rsa1), ("rsa-2", Rsa2));
        _time.Advance(TimeSpan.FromSeconds(61));

        Assert.True((await validator.ValidateAsync(token, default)).Succeeded);
    }

    // ---- secrecy ----

    [Fact]
    public async Task ValidateAsync_AnyOutcome_LogsNeitherTokenNorClaims()
    {
        using var validator = Validator(Config(algorithms: ["RS256", "ES256", "HS256"]));
        var expired = Claims();
        expired["exp"] = Start.AddHours(-1).ToUnixTimeSeconds();
        var wrongIssuer = Claims();
        wrongIssuer["iss"] = "https://evil.example/";
        var noTenant = Claims();
        noTenant.Remove("hush_tenant");
        var hs256Input = B64(Json(new { alg = "HS256", kid = "rsa-1" })) + "." + B64(Json(Claims()));
        string[] tokens =
        [
            Sign(Claims()),
            Sign(expired),
            Sign(wrongIssuer),
            Sign(noTenant),
            Sign(Claims(), "rsa-9"),
            Sign(Claims(), "rsa-1", Rsa2),
            hs256Input + "." + B64(HMACSHA256.HashData(Rsa1.ExportParameters(false).Modulus!, Encoding.ASCII.GetBytes(hs256Input))),
            Sign(Claims())[..^3] + "AAA",
        ];

        var results = new List<AuthResult>();
        foreach (var token in tokens)
        {
            results.Add(await validator.ValidateAsync(token, default));
        }

        _idp.FailWith = HttpStatusCode.InternalServerError;
        _time.Advance(TimeSpan.FromMinutes(11));
        results.Add(await validator.ValidateAsync(tokens[0], default));

        Assert.Contains("BadSignature", _log.Text, StringComparison.Ordinal);
        Assert.Contains("[4102]", _log.Text, StringComparison.Ordinal);
        foreach (var token in tokens)
        {
            foreach (var part in token.Split('.').Where(p => p.Length > 0))
            {
                Assert.DoesNotContain(part, _log.Text, StringComparison.Ordinal);
            }

            Assert.All(results, r => Assert.DoesNotContain(token, r.ToString(), StringComparison.Ordinal));
        }

        Assert.DoesNotContain(Subject, _log.Text, StringComparison.Ordinal);
    }

    // ---- helpers ----

    private JwtValidator Validator(JwtAuthConfig? config = null) => new(config ?? Config(), _time, _log, _idp);

    private static JwtAuthConfig Config(
        string? file = null, Uri? discovery = null, string identityClaim = "sub", IReadOnlyList<string>? algorithms = null) =>
        new(
            Issuer,
            [Audience, "hush-second"],
            file,
            file is null && discovery is null ? JwksUrl : null,
            discovery,
            TenantClaim: "hush_tenant",
            ServicesClaim: "hush_services",
            IdentityClaim: identityClaim,
            ClockSkew: TimeSpan.FromSeconds(30),
            RefreshInterval: TimeSpan.FromMinutes(10),
            Algorithms: algorithms ?? ["RS256", "RS384", "PS256", "ES256"]);

    private static Dictionary<string, object> Claims(long exp = 600) => new()
    {
        ["iss"] = Issuer,
        ["aud"] = Audience,
        ["sub"] = Subject,
        ["iat"] = Start.AddMinutes(-1).ToUnixTimeSeconds(),
        ["nbf"] = Start.AddMinutes(-1).ToUnixTimeSeconds(),
        ["exp"] = Start.AddSeconds(exp).ToUnixTimeSeconds(),
        ["hush_tenant"] = Tenant,
        ["hush_services"] = new[] { "checkout", "cart-*" },
    };

    private static SigningCredentials RsaCredentials(string kid) => new(new RsaSecurityKey(Rsa1) { KeyId = kid }, SecurityAlgorithms.RsaSha256);

    /// <summary>A token made by the library, from exactly these claims (no default times).</summary>
    private static string Create(Dictionary<string, object> claims, SigningCredentials credentials) =>
        new JsonWebTokenHandler { SetDefaultTimesOnTokenCreation = false }.CreateToken(
            new SecurityTokenDescriptor { Claims = claims, SigningCredentials = credentials });

    /// <summary>A hand-built RS256 token: any payload shape, any kid, any key.</summary>
    private static string Sign(Dictionary<string, object> claims, string kid = "rsa-1", RSA? key = null, long? exp = null)
    {
        if (exp is { } seconds)
        {
            claims["exp"] = Start.AddSeconds(seconds).ToUnixTimeSeconds();
            claims["jti"] = Guid.NewGuid().ToString("N");
        }

        var input = B64(Json(new { alg = "RS256", typ = "JWT", kid })) + "." + B64(Json(claims));
        var signature = (key ?? Rsa1).SignData(Encoding.ASCII.GetBytes(input), HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        return input + "." + B64(signature);
    }

    private static string Jwks(params (string Kid, AsymmetricAlgorithm Key)[] keys) =>
        "{\"keys\":[" + string.Join(",", keys.Select(k => Jwk(k.Kid, k.Key))) + "]}";

    private static string Jwk(string kid, AsymmetricAlgorithm key) => key switch
    {
        RSA rsa when rsa.ExportParameters(false) is var p =>
            JsonSerializer.Serialize(new { kty = "RSA", use = "sig", kid, n = B64(p.Modulus!), e = B64(p.Exponent!) }),
        ECDsa ec when ec.ExportParameters(false) is var p =>
            JsonSerializer.Serialize(new { kty = "EC", use = "sig", kid, crv = "P-256", x = B64(p.Q.X!), y = B64(p.Q.Y!) }),
        _ => throw new ArgumentException("unsupported key", nameof(key)),
    };

    private string WriteJwks(string json, string? path = null)
    {
        path ??= Path.Combine(_dir, "jwks.json");
        File.WriteAllText(path, json);
        return path;
    }

    private static byte[] Json(object value) => JsonSerializer.SerializeToUtf8Bytes(value);

    private static string B64(byte[] bytes) => Base64Url.EncodeToString(bytes);

    private sealed class FakeTime(DateTimeOffset start) : TimeProvider
    {
        private DateTimeOffset _now = start;

        public override DateTimeOffset GetUtcNow() => _now;

        public void Advance(TimeSpan by) => _now += by;
    }

    /// <summary>An in-process IdP: serves documents by path and counts requests; no socket is opened.</summary>
    private sealed class FakeIdp : HttpMessageHandler
    {
        private readonly ConcurrentDictionary<string, int> _calls = new();

        public ConcurrentDictionary<string, string> Documents { get; } = new();

        public HttpStatusCode? FailWith { get; set; }

        public bool Throw { get; set; }

        public int Calls(string path) => _calls.GetValueOrDefault(path);

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var path = request.RequestUri!.AbsolutePath;
            _calls.AddOrUpdate(path, 1, (_, n) => n + 1);
            if (Throw)
            {
                throw new HttpRequestException("connection refused");
            }

            if (FailWith is { } status)
            {
                return Task.FromResult(new HttpResponseMessage(status));
            }

            return Task.FromResult(Documents.TryGetValue(path, out var body)
                ? new HttpResponseMessage(HttpStatusCode.OK) { Content = new StringContent(body, Encoding.UTF8, "application/json") }
                : new HttpResponseMessage(HttpStatusCode.NotFound));
        }
    }

    /// <summary>Keeps every line at every level, with exception text, so the test sees all a sink could.</summary>
    private sealed class CapturingLogger : ILogger
    {
        private readonly ConcurrentQueue<string> _lines = new();

        public string Text => string.Join("\n", _lines);

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            _lines.Enqueue($"{logLevel} [{eventId.Id}] {formatter(state, exception)} {exception}");
    }
}
