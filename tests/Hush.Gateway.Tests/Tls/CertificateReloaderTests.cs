using Hush.Gateway.Configuration;
using Hush.Gateway.Tests.Support;
using Hush.Gateway.Tls;
using Microsoft.Extensions.Logging;

namespace Hush.Gateway.Tests.Tls;

public sealed class CertificateReloaderTests : IDisposable
{
    private readonly TempPemDirectory _dir = new();
    private readonly TestCertificate _ca = TestCertificates.CreateCa();
    private readonly ManualClock _clock = new();
    private readonly CapturingLoggerProvider _logs = new();
    private readonly ILoggerFactory _loggerFactory;

    public CertificateReloaderTests()
    {
        _loggerFactory = LoggerFactory.Create(b => b.SetMinimumLevel(LogLevel.Trace).AddProvider(_logs));
    }

    public void Dispose()
    {
        _loggerFactory.Dispose();
        _ca.Dispose();
        _dir.Dispose();
    }

    [Theory]
    [InlineData(KeyKind.Rsa, true)]
    [InlineData(KeyKind.Rsa, false)]
    [InlineData(KeyKind.Ecdsa, true)]
    [InlineData(KeyKind.Ecdsa, false)]
    public void Constructor_PemPair_LoadsCertificateWithPrivateKey(KeyKind kind, bool pkcs8)
    {
        using var server = TestCertificates.CreateServer(_ca, kind);
        var (cert, key) = _dir.WriteServer(server, pkcs8);

        using var reloader = Create(cert, key);

        Assert.Equal(server.Thumbprint, reloader.Current.Thumbprint);
        Assert.True(reloader.Current.HasPrivateKey);
        Assert.Equal(server.Thumbprint, reloader.CurrentContext.TargetCertificate.Thumbprint);
        Assert.Empty(reloader.CurrentContext.IntermediateCertificates);
    }

    [Fact]
    public void Constructor_CertificateFileWithChain_FirstIsLeafRestAreIntermediates()
    {
        using var intermediate = TestCertificates.CreateIntermediate(_ca);
        using var server = TestCertificates.CreateServer(intermediate);
        var (cert, key) = _dir.WriteServer(server, pkcs8: true, intermediate);

        using var reloader = Create(cert, key);

        Assert.Equal(server.Thumbprint, reloader.Current.Thumbprint);
        var sent = Assert.Single(reloader.CurrentContext.IntermediateCertificates);
        Assert.Equal(intermediate.Thumbprint, sent.Thumbprint);
    }

    [Fact]
    public void Constructor_CertificateAndKeyInOneFile_Loads()
    {
        using var server = TestCertificates.CreateServer(_ca, KeyKind.Rsa);
        var both = _dir.Write("server.pem", server.CertificatePem + "\n" + server.KeyPem(pkcs8: false));

        using var reloader = Create(both, both);

        Assert.Equal(server.Thumbprint, reloader.Current.Thumbprint);
    }

    [Fact]
    public void Current_FilesReplaced_NewCertificateAfterCheckInterval()
    {
        using var first = TestCertificates.CreateServer(_ca, KeyKind.Rsa);
        using var second = TestCertificates.CreateServer(_ca, KeyKind.Ecdsa);
        var (cert, key) = _dir.WriteServer(first);
        using var reloader = Create(cert, key);

        _dir.WriteServer(second);
        var beforeInterval = reloader.Current.Thumbprint;
        _clock.Advance(CertificateReloader.CheckInterval);

        Assert.Equal(first.Thumbprint, beforeInterval);
        Assert.Equal(second.Thumbprint, reloader.Current.Thumbprint);
        Assert.Equal(second.Thumbprint, reloader.CurrentContext.TargetCertificate.Thumbprint);
        Assert.Contains("[4121]", _logs.AllText, StringComparison.Ordinal);
    }

    [Fact]
    public void Current_FilesUnchanged_DoesNotReload()
    {
        using var server = TestCertificates.CreateServer(_ca);
        var (cert, key) = _dir.WriteServer(server);
        using var reloader = Create(cert, key);
        var loaded = reloader.Current;

        _clock.Advance(TimeSpan.FromSeconds(5));

        Assert.Same(loaded, reloader.Current);
        Assert.DoesNotContain("[4121]", _logs.AllText, StringComparison.Ordinal);
    }

    [Fact]
    public void Current_KeyReplacedByAnotherKey_KeepsOldCertificateAndWarnsWithoutKeyMaterial()
    {
        using var first = TestCertificates.CreateServer(_ca);
        using var second = TestCertificates.CreateServer(_ca);
        var (cert, key) = _dir.WriteServer(first);
        using var reloader = Create(cert, key);

        // The certificate of one pair with the key of another: a rotation caught between its two writes.
        _dir.Write("server.crt", second.CertificatePem);
        _clock.Advance(CertificateReloader.CheckInterval);

        Assert.Equal(first.Thumbprint, reloader.Current.Thumbprint);
        Assert.Contains("[4122]", _logs.AllText, StringComparison.Ordinal);
        Assert.Contains(cert, _logs.AllText, StringComparison.Ordinal);
        AssertNoPem(_logs.AllText, first, second);
    }

    [Fact]
    public void Current_HalfWrittenCertificate_KeepsOldThenPicksUpCompletedFile()
    {
        using var first = TestCertificates.CreateServer(_ca);
        using var second = TestCertificates.CreateServer(_ca, KeyKind.Rsa);
        var (cert, key) = _dir.WriteServer(first);
        using var reloader = Create(cert, key);

        var pem = second.CertificatePem;
        _dir.Write("server.crt", pem[..(pem.Length / 2)]);
        _dir.Write("server.key", second.KeyPem(pkcs8: true));
        _clock.Advance(CertificateReloader.CheckInterval);
        var whileBroken = reloader.Current.Thumbprint;
        _clock.Advance(CertificateReloader.CheckInterval);
        var stillBroken = reloader.Current.Thumbprint;

        _dir.Write("server.crt", pem);
        _clock.Advance(CertificateReloader.CheckInterval);

        Assert.Equal(first.Thumbprint, whileBroken);
        Assert.Equal(first.Thumbprint, stillBroken);
        Assert.Equal(second.Thumbprint, reloader.Current.Thumbprint);
        Assert.Equal(1, CountOccurrences(_logs.AllText, "[4122]"));
        AssertNoPem(_logs.AllText, first, second);
    }

    [Fact]
    public void Current_CertificateFileDeleted_KeepsOldCertificate()
    {
        using var server = TestCertificates.CreateServer(_ca);
        var (cert, key) = _dir.WriteServer(server);
        using var reloader = Create(cert, key);

        File.Delete(cert);
        _clock.Advance(CertificateReloader.CheckInterval);

        Assert.Equal(server.Thumbprint, reloader.Current.Thumbprint);
        Assert.Contains("[4122]", _logs.AllText, StringComparison.Ordinal);
    }

    [Fact]
    public void TryReload_GoodFiles_ReloadsWithoutWaitingForInterval()
    {
        using var first = TestCertificates.CreateServer(_ca);
        using var second = TestCertificates.CreateServer(_ca);
        var (cert, key) = _dir.WriteServer(first);
        using var reloader = Create(cert, key);
        _dir.WriteServer(second);

        Assert.True(reloader.TryReload());
        Assert.Equal(second.Thumbprint, reloader.Current.Thumbprint);
    }

    [Fact]
    public void TryReload_BrokenFiles_ReturnsFalseAndKeepsCertificate()
    {
        using var first = TestCertificates.CreateServer(_ca);
        var (cert, key) = _dir.WriteServer(first);
        using var reloader = Create(cert, key);
        _dir.Write("server.key", "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n");

        Assert.False(reloader.TryReload());
        Assert.Equal(first.Thumbprint, reloader.Current.Thumbprint);
    }

    [Fact]
    public void Constructor_MissingCertificateFile_ThrowsNamingThePath()
    {
        var missing = _dir.File("absent.crt");
        var key = _dir.Write("server.key", "irrelevant");

        var e = Assert.Throws<InvalidOperationException>(() => Create(missing, key));

        Assert.Contains(missing, e.Message, StringComparison.Ordinal);
        Assert.Contains("does not exist", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Constructor_KeyDoesNotMatchCertificate_ThrowsNamingPathsWithoutPemText()
    {
        using var server = TestCertificates.CreateServer(_ca);
        using var other = TestCertificates.CreateServer(_ca);
        var cert = _dir.Write("server.crt", server.CertificatePem);
        var key = _dir.Write("server.key", other.KeyPem(pkcs8: true));

        var e = Assert.Throws<InvalidOperationException>(() => Create(cert, key));

        Assert.Contains(cert, e.Message, StringComparison.Ordinal);
        Assert.Contains(key, e.Message, StringComparison.Ordinal);
        AssertNoPem(e.ToString(), server, other);
    }

    [Fact]
    public void Constructor_GarbageFiles_ThrowsWithoutTheirContent()
    {
        const string Garbage = "-----BEGIN CERTIFICATE-----\nU0VDUkVULWNvbnRlbnQtNzc3\n-----END CERTIFICATE-----\n";
        var cert = _dir.Write("server.crt", Garbage);
        var key = _dir.Write("server.key", "SECRET-content-777");

        var e = Assert.Throws<InvalidOperationException>(() => Create(cert, key));

        Assert.Contains(cert, e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("BEGIN", e.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("U0VDUkVU", e.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("SECRET-content", e.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Constructor_ClientOnlyCertificate_ThrowsBecauseItCannotServe()
    {
        using var client = TestCertificates.CreateClient(_ca);
        var (cert, key) = _dir.WriteServer(client);

        var e = Assert.Throws<InvalidOperationException>(() => Create(cert, key));

        Assert.Contains("server authentication", e.Message, StringComparison.Ordinal);
    }

    private CertificateReloader Create(string cert, string key) =>
        new(new TlsConfig(cert, key), _loggerFactory.CreateLogger<CertificateReloader>(), _clock);

    private static void AssertNoPem(string text, params TestCertificate[] certificates)
    {
        Assert.DoesNotContain("-----BEGIN", text, StringComparison.Ordinal);
        foreach (var certificate in certificates)
        {
            // A line from the middle of each PEM body: no log or error quotes any part of a key or certificate.
            foreach (var pem in new[] { certificate.CertificatePem, certificate.KeyPem(pkcs8: true), certificate.KeyPem(pkcs8: false) })
            {
                var line = pem.Split('\n')[2];
                Assert.DoesNotContain(line, text, StringComparison.Ordinal);
            }
        }
    }

    private static int CountOccurrences(string text, string value)
    {
        var count = 0;
        for (var i = text.IndexOf(value, StringComparison.Ordinal); i >= 0; i = text.IndexOf(value, i + value.Length, StringComparison.Ordinal))
        {
            count++;
        }

        return count;
    }
}
