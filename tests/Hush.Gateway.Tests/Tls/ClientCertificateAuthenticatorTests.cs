using Hush.Gateway.Authentication;
using Hush.Gateway.Configuration;
using Hush.Gateway.Tests.Support;
using Hush.Gateway.Tls;

namespace Hush.Gateway.Tests.Tls;

public sealed class ClientCertificateAuthenticatorTests : IDisposable
{
    private readonly TempPemDirectory _dir = new();
    private readonly TestCertificate _ca = TestCertificates.CreateCa();
    private readonly ManualClock _clock = new();

    public void Dispose()
    {
        _ca.Dispose();
        _dir.Dispose();
    }

    [Fact]
    public void Authenticate_CommonNameMatch_ReturnsIdentity()
    {
        using var client = TestCertificates.CreateClient(_ca, name: "checkout");
        var authenticator = Create(Identity("CN=checkout", "acme", "checkout*"));

        var result = authenticator.Authenticate(client.Certificate);

        Assert.True(result.Succeeded);
        Assert.Equal(new IngestIdentity("mtls:CN=checkout", "acme", ["checkout*"]).Id, result.Identity!.Id);
        Assert.Equal("acme", result.Identity.Tenant);
        Assert.Equal(["checkout*"], result.Identity.Services);
    }

    [Fact]
    public void Authenticate_CommonNameOtherCase_Matches()
    {
        using var client = TestCertificates.CreateClient(_ca, name: "Checkout");
        var authenticator = Create(Identity("cn=CHECKOUT", "acme"));

        Assert.Equal("mtls:cn=CHECKOUT", authenticator.Authenticate(client.Certificate).Identity?.Id);
    }

    [Fact]
    public void Authenticate_DnsSanMatch_ReturnsIdentity()
    {
        using var client = TestCertificates.CreateClient(_ca, name: "ignored", dns: "checkout.acme.internal");
        var authenticator = Create(Identity("CN=billing", "acme"), Identity("dns:Checkout.Acme.Internal", "acme"));

        var result = authenticator.Authenticate(client.Certificate);

        Assert.Equal("mtls:dns:Checkout.Acme.Internal", result.Identity?.Id);
    }

    [Fact]
    public void Authenticate_SpiffeUriSanMatch_ReturnsIdentity()
    {
        using var client = TestCertificates.CreateClient(_ca, name: "ignored", dns: "x.acme.internal", uri: "spiffe://acme/checkout");
        var authenticator = Create(Identity("uri:spiffe://acme/billing", "acme"), Identity("uri:spiffe://acme/checkout", "acme-prod", "checkout"));

        var result = authenticator.Authenticate(client.Certificate);

        Assert.Equal("mtls:uri:spiffe://acme/checkout", result.Identity?.Id);
        Assert.Equal("acme-prod", result.Identity?.Tenant);
    }

    [Fact]
    public void Authenticate_UriSanOtherCase_DoesNotMatch()
    {
        using var client = TestCertificates.CreateClient(_ca, name: "ignored", uri: "spiffe://acme/checkout");
        var authenticator = Create(Identity("uri:spiffe://acme/Checkout", "acme"));

        Assert.Equal(AuthFailure.BadCertificate, authenticator.Authenticate(client.Certificate).Failure);
    }

    [Fact]
    public void Authenticate_SeveralMappingsMatch_FirstWins()
    {
        using var client = TestCertificates.CreateClient(_ca, name: "checkout", uri: "spiffe://acme/checkout");
        var authenticator = Create(Identity("uri:spiffe://acme/checkout", "first"), Identity("CN=checkout", "second"));

        Assert.Equal("first", authenticator.Authenticate(client.Certificate).Identity?.Tenant);
    }

    [Fact]
    public void Authenticate_CertificateFromAnotherCaWithTheSameName_BadCertificate()
    {
        using var impostorCa = TestCertificates.CreateCa(name: "Hush Test CA");
        using var client = TestCertificates.CreateClient(impostorCa, name: "checkout");
        var authenticator = Create(Identity("CN=checkout", "acme"));

        Assert.Equal(AuthResult.Fail(AuthFailure.BadCertificate), authenticator.Authenticate(client.Certificate));
    }

    [Fact]
    public void Authenticate_SelfSignedCertificate_BadCertificate()
    {
        using var selfSigned = TestCertificates.CreateCa(name: "checkout");
        var authenticator = Create(Identity("CN=checkout", "acme"));

        Assert.Equal(AuthFailure.BadCertificate, authenticator.Authenticate(selfSigned.Certificate).Failure);
    }

    [Fact]
    public void Authenticate_CaFileWithSeveralCas_TrustsEach()
    {
        using var second = TestCertificates.CreateCa(name: "Second CA", kind: KeyKind.Rsa);
        using var client = TestCertificates.CreateClient(second, name: "checkout");
        var caFile = _dir.Write("bundle.pem", TestCertificates.Pem(_ca, second));
        var authenticator = new ClientCertificateAuthenticator(new MtlsAuthConfig(caFile, [Identity("CN=checkout", "acme")]), _clock);

        Assert.True(authenticator.Authenticate(client.Certificate).Succeeded);
    }

    [Fact]
    public void Authenticate_ExpiredByTheClock_BadCertificate()
    {
        var now = _clock.GetUtcNow();
        using var client = TestCertificates.CreateClient(_ca, notBefore: now.AddDays(-2), notAfter: now.AddHours(1));
        var authenticator = Create(Identity("CN=checkout", "acme"));
        var whileValid = authenticator.Authenticate(client.Certificate);

        _clock.Advance(TimeSpan.FromHours(2));

        Assert.True(whileValid.Succeeded);
        Assert.Equal(AuthFailure.BadCertificate, authenticator.Authenticate(client.Certificate).Failure);
    }

    [Fact]
    public void Authenticate_ExpiresWithinCacheLifetime_CachedSuccessEndsAtNotAfter()
    {
        var now = _clock.GetUtcNow();
        using var client = TestCertificates.CreateClient(_ca, notBefore: now.AddDays(-2), notAfter: now.AddSeconds(10));
        var authenticator = Create(Identity("CN=checkout", "acme"));
        Assert.True(authenticator.Authenticate(client.Certificate).Succeeded);

        _clock.Advance(TimeSpan.FromSeconds(11));

        Assert.Equal(AuthFailure.BadCertificate, authenticator.Authenticate(client.Certificate).Failure);
    }

    [Fact]
    public void Authenticate_NotYetValid_BadCertificate()
    {
        var now = _clock.GetUtcNow();
        using var client = TestCertificates.CreateClient(_ca, notBefore: now.AddHours(1), notAfter: now.AddDays(1));
        var authenticator = Create(Identity("CN=checkout", "acme"));

        Assert.Equal(AuthFailure.BadCertificate, authenticator.Authenticate(client.Certificate).Failure);
    }

    [Fact]
    public void Authenticate_ServerAuthOnlyEku_BadCertificate()
    {
        using var client = TestCertificates.CreateClient(_ca, name: "checkout", eku: TestCertificates.ServerAuth);
        var authenticator = Create(Identity("CN=checkout", "acme"));

        Assert.Equal(AuthFailure.BadCertificate, authenticator.Authenticate(client.Certificate).Failure);
    }

    [Fact]
    public void Authenticate_NoEkuExtension_IsAccepted()
    {
        using var client = TestCertificates.CreateClient(_ca, name: "checkout", eku: null);
        var authenticator = Create(Identity("CN=checkout", "acme"));

        Assert.True(authenticator.Authenticate(client.Certificate).Succeeded);
    }

    [Fact]
    public void Authenticate_ValidCertificateThatMapsToNothing_BadCertificate()
    {
        using var client = TestCertificates.CreateClient(_ca, name: "billing", dns: "billing.acme.internal", uri: "spiffe://acme/billing");
        var authenticator = Create(Identity("CN=checkout", "acme"), Identity("dns:checkout.acme.internal", "acme"), Identity("uri:spiffe://acme/checkout", "acme"));

        Assert.Equal(AuthFailure.BadCertificate, authenticator.Authenticate(client.Certificate).Failure);
    }

    [Fact]
    public void Authenticate_OrganizationOnlyResemblesMatch_BadCertificate()
    {
        // The subject is "CN=billing, O=Acme": only CN attributes count, not other parts of the name.
        using var client = TestCertificates.CreateClient(_ca, name: "billing");
        var authenticator = Create(Identity("CN=Acme", "acme"));

        Assert.Equal(AuthFailure.BadCertificate, authenticator.Authenticate(client.Certificate).Failure);
    }

    [Fact]
    public void Authenticate_Null_Missing()
    {
        var authenticator = Create(Identity("CN=checkout", "acme"));

        Assert.Equal(AuthResult.Fail(AuthFailure.Missing), authenticator.Authenticate(null));
    }

    [Fact]
    public void Authenticate_SameCertificateTwice_SameResult()
    {
        using var client = TestCertificates.CreateClient(_ca, name: "checkout");
        using var other = TestCertificates.CreateClient(_ca, name: "billing");
        var authenticator = Create(Identity("CN=checkout", "acme"));

        var first = authenticator.Authenticate(client.Certificate);
        var refused = authenticator.Authenticate(other.Certificate);
        var second = authenticator.Authenticate(client.Certificate);

        Assert.Same(first.Identity, second.Identity);
        Assert.False(refused.Succeeded);
    }

    [Fact]
    public void Authenticate_MoreCertificatesThanTheCacheHolds_StillCorrect()
    {
        using var client = TestCertificates.CreateClient(_ca, name: "checkout");
        using var other = TestCertificates.CreateClient(_ca, name: "billing");
        var authenticator = Create(Identity("CN=checkout", "acme"));

        for (var i = 0; i < ClientCertificateAuthenticator.MaxCachedResults + 5; i++)
        {
            // Distinct certificates each fill a cache slot; a fresh self-signed one is cheap to make.
            using var filler = TestCertificates.CreateCa(name: "filler" + i);
            Assert.False(authenticator.Authenticate(filler.Certificate).Succeeded);
        }

        Assert.True(authenticator.Authenticate(client.Certificate).Succeeded);
        Assert.False(authenticator.Authenticate(other.Certificate).Succeeded);
    }

    [Fact]
    public void Constructor_InvalidMatches_ListsEveryError()
    {
        var caFile = _dir.Write("ca.pem", _ca.CertificatePem);
        var config = new MtlsAuthConfig(caFile, [Identity("checkout", "acme"), Identity("CN=ok", "acme"), Identity("dns:", "acme")]);

        var e = Assert.Throws<InvalidOperationException>(() => new ClientCertificateAuthenticator(config, _clock));

        Assert.Contains("identities[0].match", e.Message, StringComparison.Ordinal);
        Assert.Contains("identities[2].match", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("identities[1]", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Constructor_CaFileWithoutCertificate_ThrowsNamingTheFile()
    {
        var caFile = _dir.Write("ca.pem", "no certificate here\n");

        var e = Assert.Throws<InvalidOperationException>(() => new ClientCertificateAuthenticator(new MtlsAuthConfig(caFile, [Identity("CN=x", "acme")]), _clock));

        Assert.Contains(caFile, e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("no certificate here", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Constructor_MissingCaFile_ThrowsNamingTheFile()
    {
        var caFile = _dir.File("absent.pem");

        var e = Assert.Throws<InvalidOperationException>(() => new ClientCertificateAuthenticator(new MtlsAuthConfig(caFile, [Identity("CN=x", "acme")]), _clock));

        Assert.Contains(caFile, e.Message, StringComparison.Ordinal);
    }

    private ClientCertificateAuthenticator Create(params MtlsIdentityConfig[] identities)
    {
        var caFile = _dir.Write("ca.pem", _ca.CertificatePem);
        return new ClientCertificateAuthenticator(new MtlsAuthConfig(caFile, identities), _clock);
    }

    private static MtlsIdentityConfig Identity(string match, string tenant, params string[] services) =>
        new(match, tenant, services.Length == 0 ? ["*"] : services);
}
