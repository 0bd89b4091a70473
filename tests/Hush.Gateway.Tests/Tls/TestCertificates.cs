using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Hush.Gateway.Tests.Tls;

public enum KeyKind
{
    Rsa,
    Ecdsa,
}

/// <summary>A certificate and its private key, made at test time (no key is checked in).</summary>
internal sealed class TestCertificate(X509Certificate2 certificate, AsymmetricAlgorithm key) : IDisposable
{
    public X509Certificate2 Certificate { get; } = certificate;

    public AsymmetricAlgorithm Key { get; } = key;

    public string Thumbprint => Certificate.Thumbprint;

    public string CertificatePem => Certificate.ExportCertificatePem();

    /// <summary>PKCS#8 (<c>PRIVATE KEY</c>) or the algorithm's own form: PKCS#1 <c>RSA PRIVATE KEY</c>, SEC1 <c>EC PRIVATE KEY</c>.</summary>
    public string KeyPem(bool pkcs8) => (Key, pkcs8) switch
    {
        (_, true) => Key.ExportPkcs8PrivateKeyPem(),
        (RSA rsa, false) => rsa.ExportRSAPrivateKeyPem(),
        (ECDsa ecdsa, false) => ecdsa.ExportECPrivateKeyPem(),
        _ => throw new NotSupportedException(),
    };

    /// <summary>The certificate with a key SslStream can use on every platform (PEM-made keys are ephemeral on Windows).</summary>
    public X509Certificate2 ForTls() => X509CertificateLoader.LoadPkcs12(Certificate.Export(X509ContentType.Pfx), null);

    public void Dispose()
    {
        Certificate.Dispose();
        Key.Dispose();
    }
}

/// <summary>Makes CAs, server and client certificates with <see cref="CertificateRequest"/>.</summary>
internal static class TestCertificates
{
    public const string ServerAuth = "1.3.6.1.5.5.7.3.1";
    public const string ClientAuth = "1.3.6.1.5.5.7.3.2";

    public static TestCertificate CreateCa(string name = "Hush Test CA", KeyKind kind = KeyKind.Ecdsa)
    {
        var key = CreateKey(kind);
        var request = CreateRequest("CN=" + name, key);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(certificateAuthority: true, hasPathLengthConstraint: false, pathLengthConstraint: 0, critical: true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, critical: true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, critical: false));
        var now = DateTimeOffset.UtcNow;
        var certificate = request.CreateSelfSigned(now.AddDays(-1), now.AddYears(5));
        return new TestCertificate(certificate, key);
    }

    public static TestCertificate CreateIntermediate(TestCertificate issuer, string name = "Hush Test Intermediate")
    {
        var key = CreateKey(KeyKind.Ecdsa);
        var request = CreateRequest("CN=" + name, key);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(certificateAuthority: true, hasPathLengthConstraint: true, pathLengthConstraint: 0, critical: true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, critical: true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, critical: false));
        var now = DateTimeOffset.UtcNow;
        return Issue(issuer, request, key, now.AddDays(-1), now.AddYears(2));
    }

    /// <summary>A server certificate for <c>localhost</c> and 127.0.0.1.</summary>
    public static TestCertificate CreateServer(TestCertificate issuer, KeyKind kind = KeyKind.Ecdsa, string name = "hush.test", string? eku = ServerAuth)
    {
        var key = CreateKey(kind);
        var request = CreateRequest("CN=" + name, key);
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName("localhost");
        san.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(san.Build());
        AddLeafExtensions(request, eku);
        var now = DateTimeOffset.UtcNow;
        return Issue(issuer, request, key, now.AddHours(-1), now.AddDays(30));
    }

    /// <summary>A client certificate; <paramref name="eku"/> null leaves the EKU extension out.</summary>
    public static TestCertificate CreateClient(
        TestCertificate issuer,
        string name = "checkout",
        string? dns = null,
        string? uri = null,
        string? eku = ClientAuth,
        DateTimeOffset? notBefore = null,
        DateTimeOffset? notAfter = null)
    {
        var key = CreateKey(KeyKind.Ecdsa);
        var request = CreateRequest("CN=" + name + ", O=Acme", key);
        if (dns is not null || uri is not null)
        {
            var san = new SubjectAlternativeNameBuilder();
            if (dns is not null)
            {
                san.AddDnsName(dns);
            }

            if (uri is not null)
            {
                san.AddUri(new Uri(uri));
            }

            request.CertificateExtensions.Add(san.Build());
        }

        AddLeafExtensions(request, eku);
        var now = DateTimeOffset.UtcNow;
        return Issue(issuer, request, key, notBefore ?? now.AddHours(-1), notAfter ?? now.AddDays(30));
    }

    /// <summary>Concatenated PEM certificates, as a chain file or a CA bundle holds them.</summary>
    public static string Pem(params TestCertificate[] certificates) => string.Join("\n", certificates.Select(c => c.CertificatePem)) + "\n";

    private static void AddLeafExtensions(CertificateRequest request, string? eku)
    {
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(certificateAuthority: false, hasPathLengthConstraint: false, pathLengthConstraint: 0, critical: true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyEncipherment, critical: true));
        if (eku is not null)
        {
            request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid(eku)], critical: false));
        }
    }

    private static TestCertificate Issue(TestCertificate issuer, CertificateRequest request, AsymmetricAlgorithm key, DateTimeOffset notBefore, DateTimeOffset notAfter)
    {
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(issuer.Certificate, true, false));
        var generator = issuer.Key switch
        {
            RSA rsa => X509SignatureGenerator.CreateForRSA(rsa, RSASignaturePadding.Pkcs1),
            ECDsa ecdsa => X509SignatureGenerator.CreateForECDsa(ecdsa),
            _ => throw new NotSupportedException(),
        };
        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7F;
        var issued = request.Create(issuer.Certificate.SubjectName, generator, notBefore, notAfter, serial);
        var withKey = key switch
        {
            RSA rsa => issued.CopyWithPrivateKey(rsa),
            ECDsa ecdsa => issued.CopyWithPrivateKey(ecdsa),
            _ => throw new NotSupportedException(),
        };
        issued.Dispose();
        return new TestCertificate(withKey, key);
    }

    private static AsymmetricAlgorithm CreateKey(KeyKind kind) => kind == KeyKind.Rsa ? RSA.Create(2048) : ECDsa.Create(ECCurve.NamedCurves.nistP256);

    private static CertificateRequest CreateRequest(string subject, AsymmetricAlgorithm key) => key switch
    {
        RSA rsa => new CertificateRequest(subject, rsa, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1),
        ECDsa ecdsa => new CertificateRequest(subject, ecdsa, HashAlgorithmName.SHA256),
        _ => throw new NotSupportedException(),
    };
}

/// <summary>A temporary directory for PEM files, deleted afterwards.</summary>
internal sealed class TempPemDirectory : IDisposable
{
    private static long _touch;

    public string Path { get; } = Directory.CreateTempSubdirectory("hush-tls-").FullName;

    public string File(string name) => System.IO.Path.Combine(Path, name);

    /// <summary>
    /// Writes <paramref name="content"/> and moves the file's write time forward: kernels stamp files with a
    /// coarse clock, so two writes within a few milliseconds can otherwise carry the same time.
    /// </summary>
    public string Write(string name, string content)
    {
        var path = File(name);
        System.IO.File.WriteAllText(path, content);
        var tick = Interlocked.Increment(ref _touch);
        System.IO.File.SetLastWriteTimeUtc(path, DateTime.UtcNow.AddSeconds(10 + tick));
        return path;
    }

    /// <summary>Writes a server certificate (its PEM, then <paramref name="chain"/>) and its key as <c>server.crt</c> and <c>server.key</c>.</summary>
    public (string CertFile, string KeyFile) WriteServer(TestCertificate server, bool pkcs8 = true, params TestCertificate[] chain) =>
        (Write("server.crt", TestCertificates.Pem([server, .. chain])), Write("server.key", server.KeyPem(pkcs8)));

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
