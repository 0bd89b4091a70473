using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using Hush.Gateway.Configuration;
using Hush.Gateway.Receivers;
using Hush.Gateway.Tests.Support;
using Hush.Gateway.Tests.Tls;
using Hush.Otlp;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;
using OpenTelemetry;
using OpenTelemetry.Exporter;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace Hush.Gateway.Tests.Authentication;

/// <summary>JWT bearer tokens and client certificates, through a running gateway.</summary>
public sealed class GatewayJwtAndMtlsTests : IDisposable
{
    private const string Issuer = "https://idp.example.test";
    private readonly TempPemDirectory _dir = new();
    private readonly RSA _key = RSA.Create(2048);

    public void Dispose()
    {
        _key.Dispose();
        _dir.Dispose();
    }

    [Fact]
    public async Task Export_OpenTelemetrySdkWithJwt_ArrivesInTheClaimedTenantAndExpiredTokensAreRefused()
    {
        var p = _key.ExportParameters(false);
        var jwks = _dir.Write("jwks.json", JsonSerializer.Serialize(new
        {
            keys = new[] { new { kty = "RSA", use = "sig", kid = "k1", n = Base64Url(p.Modulus!), e = Base64Url(p.Exponent!) } },
        }));
        var sink = new SinkExporter();
        await using var server = await StartAsync($$"""
            receivers:
              otlp:
                protocols: { http: { endpoint: 127.0.0.1:0 }, grpc: { endpoint: 127.0.0.1:0 } }
                auth:
                  mode: required
                  jwt: { issuer: "{{Issuer}}", audience: hush-ingest, jwks_file: {{jwks}} }
            """, sink);
        var token = Sign(DateTime.UtcNow.AddMinutes(10));

        using var source = new ActivitySource("Hush.Tests.Jwt");
        using (var sdk = Sdk.CreateTracerProviderBuilder()
            .SetResourceBuilder(ResourceBuilder.CreateEmpty().AddService("checkout"))
            .AddSource(source.Name)
            .AddOtlpExporter(o =>
            {
                o.Endpoint = new Uri(server.HttpEndpoint!, "v1/traces");
                o.Protocol = OtlpExportProtocol.HttpProtobuf;
                o.ExportProcessorType = ExportProcessorType.Simple;
                o.Headers = "Authorization=Bearer " + token;
            })
            .Build())
        {
            using (source.StartActivity("pay", ActivityKind.Server))
            {
            }

            Assert.True(sdk.ForceFlush(10_000));
        }

        await sink.WaitForAsync(1);
        var (tenant, resource, _) = Assert.Single(sink.Spans);
        Assert.Equal("acme", tenant);
        Assert.Equal($"jwt:{Issuer}|svc-checkout", resource.Resource.Attributes.Single(a => a.Key == IngestGate.IdentityAttribute).Value.StringValue);

        using var http = new HttpClient { BaseAddress = server.HttpEndpoint };
        using var expired = await PostAsync(http, Sign(DateTime.UtcNow.AddMinutes(-10)));
        Assert.Equal(HttpStatusCode.Unauthorized, expired.StatusCode);
        Assert.Equal("authentication failed: expired", OtlpProtobuf.DecodeRpcStatus(await expired.Content.ReadAsByteArrayAsync()).Message);
        using var admin = new HttpClient { BaseAddress = server.AdminEndpoint };
        Assert.Contains("hush_auth_failures_total{transport=\"http\",reason=\"expired\"} 1", await admin.GetStringAsync("metrics"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Post_WithClientCertificate_MapsToItsIdentityAndWithoutOneIsRefused()
    {
        using var ca = TestCertificates.CreateCa();
        using var serverCert = TestCertificates.CreateServer(ca, name: "localhost");
        using var client = TestCertificates.CreateClient(ca, name: "checkout");
        using var stranger = TestCertificates.CreateClient(TestCertificates.CreateCa("Other CA"), name: "checkout");
        var (cert, key) = _dir.WriteServer(serverCert);
        var caFile = _dir.Write("ca.pem", TestCertificates.Pem(ca));
        var sink = new SinkExporter();
        await using var server = await StartAsync($$"""
            receivers:
              otlp:
                protocols: { http: { endpoint: 127.0.0.1:0, tls: { cert_file: {{cert}}, key_file: {{key}} } } }
                auth:
                  mode: required
                  mtls:
                    ca_file: {{caFile}}
                    identities: [ { match: CN=checkout, tenant: acme, services: [checkout] } ]
            """, sink);

        using var withCert = Client(ca, client);
        using var accepted = await PostAsync(withCert, null, new Uri(server.HttpEndpoint!, "v1/traces"));
        using var withoutCert = Client(ca, null);
        using var missing = await PostAsync(withoutCert, null, new Uri(server.HttpEndpoint!, "v1/traces"));
        using var withStranger = Client(ca, stranger);
        using var untrusted = await PostAsync(withStranger, null, new Uri(server.HttpEndpoint!, "v1/traces"));

        Assert.Equal(HttpStatusCode.OK, accepted.StatusCode);
        await sink.WaitForAsync(1);
        var (tenant, resource, _) = Assert.Single(sink.Spans);
        Assert.Equal("acme", tenant);
        Assert.Equal("mtls:CN=checkout", resource.Resource.Attributes.Single(a => a.Key == IngestGate.IdentityAttribute).Value.StringValue);
        Assert.Equal(HttpStatusCode.Unauthorized, missing.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, untrusted.StatusCode);
        Assert.Contains("bad_certificate", OtlpProtobuf.DecodeRpcStatus(await untrusted.Content.ReadAsByteArrayAsync()).Message, StringComparison.Ordinal);
    }

    private static HttpClient Client(TestCertificate ca, TestCertificate? clientCertificate)
    {
        var handler = new SocketsHttpHandler();
        handler.SslOptions.RemoteCertificateValidationCallback = (_, presented, _, _) =>
        {
            using var chain = new X509Chain();
            chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            chain.ChainPolicy.CustomTrustStore.Add(ca.Certificate);
            chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
            return presented is X509Certificate2 c && chain.Build(c);
        };
        if (clientCertificate is not null)
        {
            handler.SslOptions.ClientCertificates = [clientCertificate.ForTls()];
        }

        return new HttpClient(handler);
    }

    private static async Task<HttpResponseMessage> PostAsync(HttpClient client, string? bearer, Uri? url = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, url ?? new Uri("v1/traces", UriKind.Relative))
        {
            Content = new ByteArrayContent(OtlpProtobuf.Encode(GatewayFixture.Request("auth"))),
        };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/x-protobuf");
        if (bearer is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", bearer);
        }

        return await client.SendAsync(request);
    }

    private string Sign(DateTime expires) => new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
    {
        Issuer = Issuer,
        Audience = "hush-ingest",
        NotBefore = expires.AddMinutes(-30),
        IssuedAt = expires.AddMinutes(-30),
        Expires = expires,
        Claims = new Dictionary<string, object> { ["sub"] = "svc-checkout", ["hush_tenant"] = "acme", ["hush_services"] = new[] { "checkout" } },
        SigningCredentials = new SigningCredentials(new RsaSecurityKey(_key) { KeyId = "k1" }, SecurityAlgorithms.RsaSha256),
    });

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private async Task<HushServer> StartAsync(string receivers, SinkExporter sink)
    {
        var loaded = HushConfigLoader.LoadYaml(receivers + $$"""

            processors: { batch: { timeout: 5ms } }
            exporters: { nop: {} }
            service:
              pipelines: { traces: { receivers: [otlp], processors: [batch], exporters: [nop] } }
              admin: { endpoint: 127.0.0.1:0 }
              data_dir: {{_dir.Path}}
            """, new Dictionary<string, string?>());
        Assert.True(loaded.IsValid, string.Join("\n", loaded.Errors));
        return await HushServer.StartAsync(loaded.Config!, new HushServerOptions { AdditionalExporters = [sink] });
    }
}
