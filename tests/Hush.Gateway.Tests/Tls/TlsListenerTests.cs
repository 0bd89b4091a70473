using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Hush.Gateway.Configuration;
using Hush.Gateway.Tests.Support;
using Hush.Gateway.Tls;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Hush.Gateway.Tests.Tls;

/// <summary>Real handshakes against a Kestrel listener on 127.0.0.1 set up by <see cref="TlsListenerOptions.Apply"/>.</summary>
public sealed class TlsListenerTests : IAsyncLifetime
{
    private const byte AlertRecord = 21;
    private const byte HandshakeRecord = 22;
    private const byte ClientHello = 1;
    private const byte ServerHello = 2;
    private const byte FatalAlert = 2;
    private const byte ProtocolVersionAlert = 70;

    private readonly TempPemDirectory _dir = new();
    private readonly TestCertificate _ca = TestCertificates.CreateCa();
    private readonly TestCertificate _intermediate;
    private readonly TestCertificate _server;
    private readonly ManualClock _clock = new();
    private CertificateReloader _reloader = null!;
    private ClientCertificateAuthenticator _authenticator = null!;
    private WebApplication _app = null!;
    private Uri _endpoint = null!;

    public TlsListenerTests()
    {
        _intermediate = TestCertificates.CreateIntermediate(_ca);
        _server = TestCertificates.CreateServer(_intermediate);
    }

    public async Task InitializeAsync()
    {
        var (cert, key) = _dir.WriteServer(_server, pkcs8: true, _intermediate);
        _reloader = new CertificateReloader(new TlsConfig(cert, key), NullLogger.Instance, _clock);
        var caFile = _dir.Write("clients-ca.pem", _ca.CertificatePem);
        _authenticator = new ClientCertificateAuthenticator(
            new MtlsAuthConfig(caFile, [new MtlsIdentityConfig("uri:spiffe://acme/checkout", "acme", ["checkout"])]),
            _clock);

        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions { ApplicationName = "Hush.Tests" });
        builder.Services.AddSingleton<ILoggerFactory>(NullLoggerFactory.Instance);
        builder.Services.AddSingleton(typeof(ILogger<>), typeof(Logger<>));
        builder.WebHost.UseKestrelCore();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0, listen =>
        {
            listen.Protocols = HttpProtocols.Http1AndHttp2;
            TlsListenerOptions.Apply(listen, _reloader, requestClientCertificate: true);
        }));
        _app = builder.Build();
        _app.Run(EchoAsync);
        await _app.StartAsync();
        var address = _app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        _endpoint = new Uri(address);
    }

    public async Task DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        _reloader.Dispose();
        _server.Dispose();
        _intermediate.Dispose();
        _ca.Dispose();
        _dir.Dispose();
    }

    [Fact]
    public async Task Request_ClientCertificate_ArrivesAndMapsToIdentity()
    {
        using var client = TestCertificates.CreateClient(_ca, name: "ignored", uri: "spiffe://acme/checkout");
        using var tls = client.ForTls();
        using var http = CreateClient(out _, tls);

        var echo = await GetAsync(http);

        Assert.Equal("mtls:uri:spiffe://acme/checkout", echo.Identity);
        Assert.Equal(client.Thumbprint, echo.ClientThumbprint);
    }

    [Fact]
    public async Task Request_NoClientCertificate_HandshakeSucceedsAndAuthenticatorSaysMissing()
    {
        using var http = CreateClient(out _);

        var echo = await GetAsync(http);

        Assert.Equal("Missing", echo.Identity);
    }

    [Fact]
    public async Task Request_ClientCertificateFromAnotherCa_HandshakeSucceedsAndAuthenticatorRefuses()
    {
        using var otherCa = TestCertificates.CreateCa(name: "Other CA");
        using var client = TestCertificates.CreateClient(otherCa, name: "ignored", uri: "spiffe://acme/checkout");
        using var tls = client.ForTls();
        using var http = CreateClient(out _, tls);

        var echo = await GetAsync(http);

        Assert.Equal("BadCertificate", echo.Identity);
    }

    [Fact]
    public async Task Request_Http2_NegotiatedOverTlsWithAlpn()
    {
        using var http = CreateClient(out _);
        using var request = new HttpRequestMessage(HttpMethod.Get, _endpoint) { Version = HttpVersion.Version20, VersionPolicy = HttpVersionPolicy.RequestVersionExact };

        using var response = await http.SendAsync(request);
        var echo = Echo.Parse(await response.Content.ReadAsStringAsync());

        Assert.Equal(HttpVersion.Version20, response.Version);
        Assert.Equal("HTTP/2", echo.Protocol);
    }

    [Fact]
    public async Task Request_DefaultClient_NegotiatesAtLeastTls12()
    {
        using var http = CreateClient(out _);

        var echo = await GetAsync(http);

        Assert.True(echo.Tls >= SslProtocols.Tls12, echo.Tls.ToString());
    }

    [Fact]
    public async Task Request_Tls12OnlyClient_IsServedWithTls12()
    {
        using var http = CreateClient(out _, protocols: SslProtocols.Tls12);

        var echo = await GetAsync(http);

        Assert.Equal(SslProtocols.Tls12, echo.Tls);
    }

    [Fact]
    public async Task Handshake_Tls11ClientHello_RefusedWithProtocolVersionAlert()
    {
        // A hand-made ClientHello, so the refusal is the server's: this OS's own TLS client may refuse to even
        // offer TLS 1.1 (OpenSSL 3 at its default security level does), which would prove nothing.
        var answer = await SendClientHelloAsync(0x0302);

        Assert.Equal(AlertRecord, answer[0]);
        Assert.Equal(FatalAlert, answer[5]);
        Assert.Equal(ProtocolVersionAlert, answer[6]);
    }

    [Fact]
    public async Task Handshake_Tls12ClientHello_AnsweredWithServerHello()
    {
        // The control for the test above: the same hand-made hello, as TLS 1.2, is accepted.
        var answer = await SendClientHelloAsync(0x0303);

        Assert.Equal(HandshakeRecord, answer[0]);
        Assert.Equal(ServerHello, answer[5]);
    }

    [Fact]
    public async Task Handshake_CertificateFileWithIntermediate_ServesTheChain()
    {
        // The client trusts only the root: the handshake verifies only when the server sends the intermediate.
        using var http = CreateClient(out var seen);

        await GetAsync(http);

        Assert.Equal(_server.Thumbprint, seen.ServerThumbprint);
        Assert.True(seen.ChainVerified);
        Assert.Contains(_intermediate.Thumbprint, seen.SentThumbprints);
    }

    [Fact]
    public async Task Handshake_CertificateSwappedOnDisk_NewConnectionGetsNewCertificate()
    {
        using var renewed = TestCertificates.CreateServer(_intermediate, KeyKind.Rsa);
        using (var before = CreateClient(out var first))
        {
            await GetAsync(before);
            Assert.Equal(_server.Thumbprint, first.ServerThumbprint);
        }

        _dir.WriteServer(renewed, pkcs8: false, _intermediate);
        _clock.Advance(CertificateReloader.CheckInterval);

        using var after = CreateClient(out var second);
        await GetAsync(after);

        Assert.Equal(renewed.Thumbprint, second.ServerThumbprint);
        Assert.True(second.ChainVerified);
    }

    private async Task EchoAsync(HttpContext context)
    {
        var result = _authenticator.Authenticate(context.Connection.ClientCertificate);
        var tls = context.Features.Get<ITlsHandshakeFeature>();
        var identity = result.Identity?.Id ?? result.Failure.ToString();
        await context.Response.WriteAsync(string.Join('\n', context.Request.Protocol, tls?.Protocol.ToString() ?? "none", identity, context.Connection.ClientCertificate?.Thumbprint ?? "-"));
    }

    private async Task<Echo> GetAsync(HttpClient http)
    {
        using var response = await http.GetAsync(_endpoint);
        response.EnsureSuccessStatusCode();
        return Echo.Parse(await response.Content.ReadAsStringAsync());
    }

    /// <summary>A client that trusts only the test root and records what the server presented.</summary>
    private HttpClient CreateClient(out ServerSeen seen, X509Certificate2? clientCertificate = null, SslProtocols protocols = SslProtocols.None)
    {
        var observed = new ServerSeen();
        seen = observed;
        var root = _ca.Certificate;
        var handler = new SocketsHttpHandler
        {
            PooledConnectionLifetime = TimeSpan.Zero,
            SslOptions = new SslClientAuthenticationOptions
            {
                EnabledSslProtocols = protocols,
                ClientCertificates = clientCertificate is null ? null : [clientCertificate],
                RemoteCertificateValidationCallback = (_, certificate, chain, errors) =>
                {
                    if (certificate is not X509Certificate2 presented || chain is null)
                    {
                        return false;
                    }

                    observed.ServerThumbprint = presented.Thumbprint;
                    foreach (var sent in chain.ChainPolicy.ExtraStore)
                    {
                        observed.SentThumbprints.Add(sent.Thumbprint);
                    }

                    using var verify = new X509Chain();
                    verify.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
                    verify.ChainPolicy.CustomTrustStore.Add(root);
                    verify.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
                    verify.ChainPolicy.DisableCertificateDownloads = true;
                    verify.ChainPolicy.ExtraStore.AddRange(chain.ChainPolicy.ExtraStore);
                    observed.ChainVerified = verify.Build(presented);
                    return observed.ChainVerified && (errors & SslPolicyErrors.RemoteCertificateNameMismatch) == 0;
                },
            },
        };
        return new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(20) };
    }

    /// <summary>
    /// Sends a minimal ClientHello offering <paramref name="version"/> (no supported_versions extension, so this is
    /// the only version offered) and ECDHE suites for the test's ECDSA certificate; returns the answer's first 7 bytes.
    /// </summary>
    private async Task<byte[]> SendClientHelloAsync(ushort version)
    {
        byte[] suites = [0xC0, 0x2B, 0xC0, 0x2F, 0xC0, 0x09, 0xC0, 0x13];
        byte[] extensions =
        [
            0x00, 0x0A, 0x00, 0x06, 0x00, 0x04, 0x00, 0x1D, 0x00, 0x17, // supported_groups: x25519, secp256r1
            0x00, 0x0B, 0x00, 0x02, 0x01, 0x00, // ec_point_formats: uncompressed
            0x00, 0x0D, 0x00, 0x08, 0x00, 0x06, 0x04, 0x03, 0x08, 0x04, 0x04, 0x01, // signature_algorithms
        ];
        var body = new List<byte> { (byte)(version >> 8), (byte)version };
        body.AddRange(RandomNumberGenerator.GetBytes(32));
        body.Add(0); // session id
        body.AddRange([(byte)(suites.Length >> 8), (byte)suites.Length, .. suites]);
        body.AddRange([1, 0]); // compression: null
        body.AddRange([(byte)(extensions.Length >> 8), (byte)extensions.Length, .. extensions]);
        byte[] handshake = [ClientHello, 0, (byte)(body.Count >> 8), (byte)body.Count, .. body];
        byte[] record = [HandshakeRecord, 0x03, 0x01, (byte)(handshake.Length >> 8), (byte)handshake.Length, .. handshake];

        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        using var socket = new TcpClient();
        await socket.ConnectAsync(IPAddress.Loopback, _endpoint.Port, timeout.Token);
        var stream = socket.GetStream();
        await stream.WriteAsync(record, timeout.Token);
        var answer = new byte[7];
        await stream.ReadExactlyAsync(answer, timeout.Token);
        return answer;
    }

    private sealed class ServerSeen
    {
        public string? ServerThumbprint { get; set; }

        public HashSet<string> SentThumbprints { get; } = new(StringComparer.OrdinalIgnoreCase);

        public bool ChainVerified { get; set; }
    }

    private sealed record Echo(string Protocol, SslProtocols Tls, string Identity, string ClientThumbprint)
    {
        public static Echo Parse(string body)
        {
            var parts = body.Split('\n');
            return new Echo(parts[0], Enum.Parse<SslProtocols>(parts[1]), parts[2], parts[3]);
        }
    }
}
