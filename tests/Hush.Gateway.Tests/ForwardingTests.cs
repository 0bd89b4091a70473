using System.Collections.Concurrent;
using System.Diagnostics;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Hush.Gateway.Configuration;
using Hush.Gateway.Tests.Support;
using Hush.Otlp;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using OpenTelemetry;
using OpenTelemetry.Exporter;
using OpenTelemetry.Trace;

namespace Hush.Gateway.Tests;

/// <summary>The whole path: the OpenTelemetry SDK → Hush → the otlphttp exporter → a fake backend on Kestrel.</summary>
public sealed class ForwardingTests
{
    /// <param name="policyThatChangesNothing">Under such a policy the request is forwarded as the bytes it came in (wire form), stamped.</param>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Export_ThroughOtlpHttpExporter_ReachesBackendWithTheSendersTenantHeader(bool policyThatChangesNothing)
    {
        var dataDir = Directory.CreateTempSubdirectory("hush-fwd-").FullName;
        try
        {
            var privacy = string.Empty;
            if (policyThatChangesNothing)
            {
                var policy = Path.Combine(dataDir, "policy.yaml");
                File.WriteAllText(policy, GatewayFixture.MinimalPolicy);
                privacy = $"privacy: {{ policy: {policy}, watch: false }}, ";
            }

            var received = new ConcurrentQueue<(TraceRequest Traces, string? Tenant)>();
            var arrived = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            await using var backend = await StartBackendAsync(async context =>
            {
                Stream body = context.Request.Body;
                if (context.Request.Headers.ContentEncoding == "gzip")
                {
                    body = new GZipStream(body, CompressionMode.Decompress);
                }

                using var buffer = new MemoryStream();
                await body.CopyToAsync(buffer);
                received.Enqueue((OtlpProtobuf.DecodeTraceRequest(buffer.ToArray()), context.Request.Headers["X-Scope-OrgID"]));
                context.Response.ContentType = "application/x-protobuf";
                await context.Response.Body.WriteAsync(OtlpProtobuf.EncodeExportResponse(new TraceExportResponse()));
                arrived.TrySetResult();
            });
            var yaml = $$"""
                receivers: { otlp: { protocols: { http: { endpoint: 127.0.0.1:0 } } } }
                exporters:
                  otlphttp/backend:
                    endpoint: {{backend.Urls.First()}}
                    headers: { X-Extra: kept }
                    retry_on_failure: { enabled: false }
                processors: { {{privacy}}batch: { timeout: 5ms } }
                service:
                  pipelines: { traces: { receivers: [otlp], processors: [batch], exporters: [otlphttp/backend] } }
                  admin: { endpoint: 127.0.0.1:0 }
                  data_dir: {{dataDir}}
                """;
            var loaded = HushConfigLoader.LoadYaml(yaml, new Dictionary<string, string?>());
            Assert.True(loaded.IsValid, string.Join("\n", loaded.Errors));
            var (token, info) = HushServer.OpenTokenStore(loaded.Config!).Create("acme", ["*"]);
            await using var server = await HushServer.StartAsync(loaded.Config!);
            Assert.Null(server.GrpcEndpoint);

            using var source = new ActivitySource("Hush.Tests.Forwarding");
            using (var provider = Sdk.CreateTracerProviderBuilder()
                .AddSource(source.Name)
                .AddOtlpExporter(o =>
                {
                    o.Endpoint = new Uri(server.HttpEndpoint!, "v1/traces");
                    o.Protocol = OtlpExportProtocol.HttpProtobuf;
                    o.ExportProcessorType = ExportProcessorType.Simple;
                    o.Headers = "Authorization=Bearer " + token + ",X-Scope-OrgID=acme";
                })
                .Build())
            {
                using (source.StartActivity("forwarded", ActivityKind.Consumer))
                {
                }

                Assert.True(provider.ForceFlush(10_000));
            }

            await arrived.Task.WaitAsync(TimeSpan.FromSeconds(10));
            var (traces, tenant) = Assert.Single(received);
            Assert.Equal("acme", tenant);
            var resource = Assert.Single(traces.ResourceSpans);
            var span = Assert.Single(Assert.Single(resource.ScopeSpans).Spans);
            Assert.Equal("forwarded", span.Name);
            Assert.Equal("token:" + info.Id, Assert.Single(resource.Resource.Attributes, a => a.Key == Hush.Gateway.Receivers.IngestGate.IdentityAttribute).Value.StringValue);
            Assert.Equal(Hush.Otlp.SpanKind.Consumer, span.Kind);
        }
        finally
        {
            // Also when an assertion failed: the directory holds keys and spans.
            Directory.Delete(dataDir, recursive: true);
        }
    }

    [Fact]
    public async Task Export_OverTls_AcceptedOnGrpcAndHttp()
    {
        var directory = Directory.CreateTempSubdirectory("hush-tls-");
        try
        {
            var (cert, key, thumbprint) = WriteSelfSignedPem(directory.FullName);
            var yaml = $$"""
                receivers:
                  otlp:
                    protocols:
                      grpc: { endpoint: 127.0.0.1:0, tls: { cert_file: {{cert}}, key_file: {{key}} } }
                      http: { endpoint: 127.0.0.1:0, tls: { cert_file: {{cert}}, key_file: {{key}} } }
                processors: { batch: { timeout: 5ms } }
                exporters: { nop: {} }
                service:
                  pipelines: { traces: { receivers: [otlp], processors: [batch], exporters: [nop] } }
                  admin: { endpoint: 127.0.0.1:0 }
                """;
            var loaded = HushConfigLoader.LoadYaml(yaml, new Dictionary<string, string?>());
            Assert.True(loaded.IsValid, string.Join("\n", loaded.Errors));
            var sink = new SinkExporter();
            await using var server = await HushServer.StartAsync(loaded.Config!, new HushServerOptions { AdditionalExporters = [sink] });
            Assert.Equal("https", server.GrpcEndpoint!.Scheme);
            using var handler = new SocketsHttpHandler();
            // Trust exactly the certificate this test made.
            handler.SslOptions.RemoteCertificateValidationCallback = (_, presented, _, _) => presented?.GetCertHashString() == thumbprint;
            using var client = new HttpClient(handler);

            var http = await Receivers.OtlpHttpReceiverTests.PostAsync(
                client, new Uri(server.HttpEndpoint!, "v1/traces").ToString(), "application/x-protobuf", OtlpProtobuf.Encode(GatewayFixture.Request("tls-http")));
            var body = Hush.Gateway.Receivers.GrpcFraming.Frame(OtlpProtobuf.Encode(GatewayFixture.Request("tls-grpc")));
            using var grpc = await Receivers.OtlpGrpcReceiverTests.CallAsync(client, new Uri(server.GrpcEndpoint, Receivers.OtlpGrpcReceiverTests.ExportPath).ToString(), body);

            Assert.Equal(System.Net.HttpStatusCode.OK, http.StatusCode);
            Assert.Equal("0", Receivers.OtlpGrpcReceiverTests.Trailer(grpc, "grpc-status"));
            await sink.WaitForAsync(2);
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    private static (string Cert, string Key, string Thumbprint) WriteSelfSignedPem(string directory)
    {
        using var rsa = RSA.Create(2048);
        var request = new CertificateRequest("CN=localhost", rsa, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var san = new SubjectAlternativeNameBuilder();
        san.AddIpAddress(System.Net.IPAddress.Loopback);
        request.CertificateExtensions.Add(san.Build());
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
        var cert = Path.Combine(directory, "cert.pem");
        var key = Path.Combine(directory, "key.pem");
        File.WriteAllText(cert, certificate.ExportCertificatePem());
        File.WriteAllText(key, rsa.ExportPkcs8PrivateKeyPem());
        return (cert, key, certificate.GetCertHashString());
    }

    private static async Task<WebApplication> StartBackendAsync(RequestDelegate handler)
    {
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.WebHost.UseKestrelCore().UseUrls("http://127.0.0.1:0");
        var app = builder.Build();
        app.Run(handler);
        await app.StartAsync();
        return app;
    }
}
