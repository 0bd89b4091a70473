using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using Hush.Gateway.Configuration;
using Hush.Gateway.Receivers;
using Hush.Gateway.Tests.Receivers;
using Hush.Gateway.Tests.Support;
using Hush.Otlp;
using OpenTelemetry;
using OpenTelemetry.Exporter;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace Hush.Gateway.Tests.Authentication;

/// <summary>Authenticated, tenant-bound ingest, end to end over both transports.</summary>
public sealed class IngestAuthTests
{
    private const string Yaml = """
        receivers:
          otlp:
            protocols:
              grpc: { endpoint: 127.0.0.1:0 }
              http: { endpoint: 127.0.0.1:0 }
            auth: { mode: required }
            limits:
              tenants:
                noisy: { bytes_per_second: 1KiB, burst: 64KiB, max_request_size: 64KiB }
                small: { max_spans_per_request: 2 }
        processors:
          batch: { send_batch_size: 100, timeout: 5ms }
        exporters:
          nop: {}
        service:
          pipelines:
            traces: { receivers: [otlp], processors: [batch], exporters: [nop] }
          admin: { endpoint: 127.0.0.1:0 }
          queue: { workers: 1 }
          data_dir: DATADIR
        """;

    [Theory]
    [InlineData(OtlpExportProtocol.HttpProtobuf)]
    [InlineData(OtlpExportProtocol.Grpc)]
    public async Task Export_OpenTelemetrySdkWithToken_ArrivesInTheTokensTenantWithProvenance(OtlpExportProtocol protocol)
    {
        await using var hush = await StartAsync();
        var (token, info) = hush.Server.Tokens.Create("acme", ["checkout"]);

        var exported = ExportWithSdk(hush.Server, protocol, "checkout", "Authorization=Bearer " + token);

        Assert.Equal(ExportResult.Success, exported);
        await hush.Sink.WaitForAsync(1);
        var (tenant, resource, _) = Assert.Single(hush.Sink.Spans);
        Assert.Equal("acme", tenant);
        Assert.Equal("token:" + info.Id, resource.Resource.Attributes.Single(a => a.Key == IngestGate.IdentityAttribute).Value.StringValue);
        Assert.DoesNotContain(token, hush.Logs.AllText, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(OtlpExportProtocol.HttpProtobuf, null)]
    [InlineData(OtlpExportProtocol.Grpc, null)]
    [InlineData(OtlpExportProtocol.HttpProtobuf, "Authorization=Bearer hush_abcdefghij_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")]
    [InlineData(OtlpExportProtocol.Grpc, "Authorization=Bearer not-a-token")]
    public async Task Export_OpenTelemetrySdkWithoutOrWithBadToken_IsRefusedAndNothingArrives(OtlpExportProtocol protocol, string? headers)
    {
        await using var hush = await StartAsync();
        hush.Server.Tokens.Create("acme", ["*"]);

        var exported = ExportWithSdk(hush.Server, protocol, "checkout", headers);

        Assert.Equal(ExportResult.Failure, exported);
        var metrics = await hush.Admin.GetStringAsync("metrics");
        var transport = protocol == OtlpExportProtocol.Grpc ? "grpc" : "http";
        var reason = headers is null ? "missing" : "unknown_token";
        Assert.Contains($"hush_auth_failures_total{{transport=\"{transport}\",reason=\"{reason}\"}} 1", metrics, StringComparison.Ordinal);
        Assert.Equal(0, hush.Sink.Count);
    }

    [Fact]
    public async Task Post_WithoutCredential_401WithWwwAuthenticateAndStatusBody()
    {
        await using var hush = await StartAsync();
        hush.Server.Tokens.Create("acme", ["*"]);

        using var response = await PostAsync(hush, GatewayFixture.Request("anon"), token: null);

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("Bearer", response.Headers.WwwAuthenticate.Single().Scheme);
        var (code, message) = OtlpProtobuf.DecodeRpcStatus(await response.Content.ReadAsByteArrayAsync());
        Assert.Equal(16, code);
        Assert.Contains("hush token create", message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Post_RevokedToken_401Revoked()
    {
        await using var hush = await StartAsync();
        var (token, info) = hush.Server.Tokens.Create("acme", ["*"]);
        hush.Server.Tokens.Revoke(info.Id);

        using var response = await PostAsync(hush, GatewayFixture.Request("revoked"), token);

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Contains("revoked", OtlpProtobuf.DecodeRpcStatus(await response.Content.ReadAsByteArrayAsync()).Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Basic dXNlcjpwYXNz")]
    [InlineData("Bearer")]
    [InlineData("hush_abcdefghij_aaaa")]
    public async Task Post_MalformedAuthorization_401Malformed(string header)
    {
        await using var hush = await StartAsync();
        hush.Server.Tokens.Create("acme", ["*"]);
        using var request = Request(GatewayFixture.Request("bad"), token: null);
        request.Headers.TryAddWithoutValidation("Authorization", header);

        using var response = await hush.Http.SendAsync(request);

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Contains("malformed", OtlpProtobuf.DecodeRpcStatus(await response.Content.ReadAsByteArrayAsync()).Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Post_TenantHeaderNamingAnotherTenant_403OverHttpAndPermissionDeniedOverGrpc()
    {
        await using var hush = await StartAsync();
        var (token, _) = hush.Server.Tokens.Create("tenant-a", ["*"]);

        using var http = Request(GatewayFixture.Request("cross"), token);
        http.Headers.Add("X-Scope-OrgID", "tenant-b");
        using var refused = await hush.Http.SendAsync(http);
        using var same = Request(GatewayFixture.Request("same"), token);
        same.Headers.Add("X-Scope-OrgID", "tenant-a");
        using var accepted = await hush.Http.SendAsync(same);

        using var grpc = new HttpRequestMessage(HttpMethod.Post, OtlpGrpcReceiverTests.ExportPath)
        {
            Content = GrpcContent(GatewayFixture.Request("cross-grpc")),
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
        };
        grpc.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        grpc.Headers.Add("x-scope-orgid", "tenant-b");
        grpc.Headers.TryAddWithoutValidation("te", "trailers");
        using var grpcResponse = await hush.Grpc.SendAsync(grpc);
        await grpcResponse.Content.ReadAsByteArrayAsync();

        Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
        Assert.Equal(7, OtlpProtobuf.DecodeRpcStatus(await refused.Content.ReadAsByteArrayAsync()).Code);
        Assert.Equal(HttpStatusCode.OK, accepted.StatusCode);
        Assert.Equal("7", OtlpGrpcReceiverTests.Trailer(grpcResponse, "grpc-status"));
        await hush.Sink.WaitForAsync(1);
        Assert.All(hush.Sink.Spans, s => Assert.Equal("tenant-a", s.Tenant));
        Assert.Single(hush.Sink.Spans);
        var metrics = await hush.Admin.GetStringAsync("metrics");
        Assert.Contains("hush_auth_failures_total{transport=\"http\",reason=\"tenant_mismatch\"} 1", metrics, StringComparison.Ordinal);
        Assert.Contains("hush_auth_failures_total{transport=\"grpc\",reason=\"tenant_mismatch\"} 1", metrics, StringComparison.Ordinal);
    }

    /// <summary>A policy that changes nothing lets requests travel undecoded, but never past the service binding.</summary>
    [Fact]
    public async Task Post_SpansOfAServiceNotAllowed_AreRejectedAlsoUnderAPolicyThatChangesNothing()
    {
        var hush = await GatewayFixture.StartWithPolicyAsync(
            GatewayFixture.MinimalPolicy, Yaml, config => HushServer.OpenTokenStore(config).Create("seed", ["*"]));
        await using (hush)
        {
            var (token, info) = hush.Server.Tokens.Create("acme", ["checkout*"]);
            var payments = GatewayFixture.Request("payments", 3);
            payments.ResourceSpans[0].Resource.Attributes[0] = new KeyValue("service.name", AnyValue.Of("payments"));

            using var refused = await PostAsync(hush, payments, token);
            using var accepted = await PostAsync(hush, GatewayFixture.Request("checkout", 2), token);

            Assert.Equal(3, OtlpProtobuf.DecodeExportResponse(await refused.Content.ReadAsByteArrayAsync()).PartialSuccess!.RejectedSpans);
            Assert.Equal(HttpStatusCode.OK, accepted.StatusCode);
            await hush.Sink.WaitForAsync(2);
            Assert.All(hush.Sink.Spans, s =>
            {
                Assert.Equal("checkout", s.Resource.Resource.Attributes.Single(a => a.Key == "service.name").Value.StringValue);
                Assert.Equal("token:" + info.Id, Assert.Single(s.Resource.Resource.Attributes, a => a.Key == IngestGate.IdentityAttribute).Value.StringValue);
            });
            Assert.Equal(2, hush.Sink.Count);
        }
    }

    [Fact]
    public async Task Post_SpansOfAServiceNotAllowed_RejectedAsPartialSuccessWhileAllowedOnesArrive()
    {
        await using var hush = await StartAsync();
        var (token, info) = hush.Server.Tokens.Create("acme", ["checkout*"]);
        var request = GatewayFixture.Request("mixed", 2);
        var forged = GatewayFixture.Request("forged", 3).ResourceSpans[0];
        forged.Resource.Attributes[0] = new KeyValue("service.name", AnyValue.Of("payments"));
        forged.Resource.Attributes.Add(new KeyValue(IngestGate.IdentityAttribute, AnyValue.Of("token:someone-else")));
        request.ResourceSpans.Add(forged);
        request.ResourceSpans[0].Resource.Attributes.Add(new KeyValue(IngestGate.IdentityAttribute, AnyValue.Of("token:forged")));

        using var response = await PostAsync(hush, request, token);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var partial = OtlpProtobuf.DecodeExportResponse(await response.Content.ReadAsByteArrayAsync()).PartialSuccess!;
        Assert.Equal(3, partial.RejectedSpans);
        Assert.Equal($"3 spans rejected: identity 'token:{info.Id}' may not emit service 'payments'", partial.ErrorMessage);
        await hush.Sink.WaitForAsync(2);
        Assert.All(hush.Sink.Spans, s =>
        {
            Assert.Equal("checkout", s.Resource.Resource.Attributes.Single(a => a.Key == "service.name").Value.StringValue);
            Assert.Equal("token:" + info.Id, Assert.Single(s.Resource.Resource.Attributes, a => a.Key == IngestGate.IdentityAttribute).Value.StringValue);
        });
        var metrics = await hush.Admin.GetStringAsync("metrics");
        Assert.Contains("hush_auth_failures_total{transport=\"http\",reason=\"service_not_allowed\"} 3", metrics, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Post_NoisyTenantOverItsRate_429WithRetryAfterWhileAnotherTenantFlows()
    {
        await using var hush = await StartAsync();
        var (noisy, _) = hush.Server.Tokens.Create("noisy", ["*"]);
        var (quiet, _) = hush.Server.Tokens.Create("quiet", ["*"]);
        var big = GatewayFixture.Request("big", 150); // ~20 KiB: three fill the 64 KiB burst.

        var codes = new List<HttpStatusCode>();
        HttpResponseMessage? throttled = null;
        for (var i = 0; i < 6 && throttled is null; i++)
        {
            var response = await PostAsync(hush, big, noisy);
            codes.Add(response.StatusCode);
            if (response.StatusCode == HttpStatusCode.TooManyRequests)
            {
                throttled = response;
            }
            else
            {
                response.Dispose();
            }
        }

        using var quietResponse = await PostAsync(hush, big, quiet);

        Assert.NotNull(throttled);
        using (throttled)
        {
            Assert.True(codes.Count >= 3, string.Join(",", codes));
            Assert.True(throttled.Headers.RetryAfter?.Delta >= TimeSpan.FromSeconds(1));
            Assert.Equal(8, OtlpProtobuf.DecodeRpcStatus(await throttled.Content.ReadAsByteArrayAsync()).Code);
        }

        Assert.Equal(HttpStatusCode.OK, quietResponse.StatusCode);
        using var grpc = new HttpRequestMessage(HttpMethod.Post, OtlpGrpcReceiverTests.ExportPath) { Content = GrpcContent(big), Version = HttpVersion.Version20, VersionPolicy = HttpVersionPolicy.RequestVersionExact };
        grpc.Headers.Authorization = new AuthenticationHeaderValue("Bearer", noisy);
        grpc.Headers.TryAddWithoutValidation("te", "trailers");
        using var grpcResponse = await hush.Grpc.SendAsync(grpc);
        await grpcResponse.Content.ReadAsByteArrayAsync();
        Assert.Equal("14", OtlpGrpcReceiverTests.Trailer(grpcResponse, "grpc-status"));
        Assert.NotNull(OtlpGrpcReceiverTests.Trailer(grpcResponse, "grpc-retry-pushback-ms"));
    }

    [Theory]
    [InlineData(OtlpExportProtocol.HttpProtobuf)]
    [InlineData(OtlpExportProtocol.Grpc)]
    public async Task Export_OpenTelemetrySdkThrottledByItsTenantsRate_RetriesAndArrives(OtlpExportProtocol protocol)
    {
        await using var hush = await StartAsync();
        var (token, _) = hush.Server.Tokens.Create("noisy", ["*"]);

        // Warm the SDK up first (its first export JITs for a while, and the bucket refills meanwhile).
        Assert.Equal(ExportResult.Failure, ExportWithSdk(hush.Server, protocol, "checkout", "Authorization=Bearer wrong"));

        // Empty the tenant's bucket in shrinking steps, so what is left is smaller than the SDK's request.
        foreach (var spans in new[] { 150, 10, 1 })
        {
            HttpStatusCode status;
            do
            {
                using var drain = await PostAsync(hush, GatewayFixture.Request("drain", spans), token);
                status = drain.StatusCode;
            }
            while (status == HttpStatusCode.OK);
            Assert.Equal(HttpStatusCode.TooManyRequests, status);
        }

        var transport = protocol == OtlpExportProtocol.Grpc ? "grpc" : "http";
        var throttledBefore = await Throttled(hush, transport);

        // The SDK's documented switch for retrying 429/503/UNAVAILABLE (honouring Retry-After / RetryInfo).
        Environment.SetEnvironmentVariable("OTEL_DOTNET_EXPERIMENTAL_OTLP_RETRY", "in_memory");
        var exported = ExportWithSdk(hush.Server, protocol, "checkout", "Authorization=Bearer " + token);

        Assert.Equal(ExportResult.Success, exported);
        Assert.True(await Throttled(hush, transport) > throttledBefore, "the SDK's first attempt should have been throttled");
        for (var i = 0; i < 200 && !hush.Sink.Spans.Any(s => s.Span.Name == "GET /cart"); i++)
        {
            await Task.Delay(50);
        }

        Assert.Contains(hush.Sink.Spans, s => s.Span.Name == "GET /cart" && s.Tenant == "noisy");
    }

    private static async Task<long> Throttled(GatewayFixture hush, string transport)
    {
        var prefix = $"hush_receiver_requests_total{{transport=\"{transport}\",outcome=\"throttled\"}} ";
        var line = (await hush.Admin.GetStringAsync("metrics")).Split('\n').Single(l => l.StartsWith(prefix, StringComparison.Ordinal));
        return long.Parse(line[prefix.Length..], System.Globalization.CultureInfo.InvariantCulture);
    }

    [Fact]
    public async Task Post_MoreSpansThanTheTenantAllows_413()
    {
        await using var hush = await StartAsync();
        var (token, _) = hush.Server.Tokens.Create("small", ["*"]);

        using var response = await PostAsync(hush, GatewayFixture.Request("many", 3), token);
        using var ok = await PostAsync(hush, GatewayFixture.Request("few", 2), token);

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        Assert.Contains("at most 2 per request", OtlpProtobuf.DecodeRpcStatus(await response.Content.ReadAsByteArrayAsync()).Message, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
    }

    [Fact]
    public async Task Start_NonLoopbackWithoutAnyCredential_RefusesSayingHowToCreateAToken()
    {
        var dir = Directory.CreateTempSubdirectory("hush-auth-").FullName;
        try
        {
            var loaded = HushConfigLoader.LoadYaml(Yaml.Replace("auth: { mode: required }", "auth: {}", StringComparison.Ordinal)
                .Replace("grpc: { endpoint: 127.0.0.1:0 }", "grpc: { endpoint: 0.0.0.0:0 }", StringComparison.Ordinal)
                .Replace("DATADIR", dir, StringComparison.Ordinal), new Dictionary<string, string?>());
            Assert.True(loaded.IsValid, string.Join("\n", loaded.Errors));
            Assert.Equal(IngestAuthMode.Required, loaded.Config!.Receiver.Auth.Mode);

            var ex = await Assert.ThrowsAsync<InvalidOperationException>(() => HushServer.StartAsync(loaded.Config));

            Assert.Contains("hush token create --tenant", ex.Message, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void LoadYaml_DevModeOnNonLoopback_IsAConfigError()
    {
        var loaded = HushConfigLoader.LoadYaml(Yaml.Replace("mode: required", "mode: dev", StringComparison.Ordinal)
            .Replace("http: { endpoint: 127.0.0.1:0 }", "http: { endpoint: 0.0.0.0:0 }", StringComparison.Ordinal), new Dictionary<string, string?>());

        Assert.Contains(loaded.Errors, e => e.StartsWith("'receivers.otlp.auth.mode' is dev", StringComparison.Ordinal));
    }

    [Fact]
    public void LoadYaml_BadAuthAndLimits_ListsEveryError()
    {
        var loaded = HushConfigLoader.LoadYaml("""
            receivers:
              otlp:
                protocols: { http: { endpoint: 127.0.0.1:0 } }
                auth:
                  mode: sometimes
                  jwt: { algorithms: [HS256, none] }
                  mtls: { identities: [ { match: "O=acme" } ] }
                limits:
                  default: { bytes_per_second: 1KiB, burst: 2KiB, max_request_size: 1MiB, max_spans_per_request: 0 }
            """, new Dictionary<string, string?>());

        string[] expected =
        [
            "'receivers.otlp.auth.mode' must be dev or required",
            "'receivers.otlp.auth.jwt.issuer' is required",
            "'receivers.otlp.auth.jwt.audience' is required",
            "'receivers.otlp.auth.jwt' needs exactly one key source",
            "'receivers.otlp.auth.jwt.algorithms' lists HS256",
            "'receivers.otlp.auth.jwt.algorithms' lists none",
            "'receivers.otlp.auth.mtls.ca_file' is required",
            "'receivers.otlp.auth.mtls.identities[0].match' is required",
            "'receivers.otlp.auth.mtls.identities[0].tenant' is required",
            "'receivers.otlp.auth.mtls' needs TLS",
            "'receivers.otlp.limits.default.burst' (2048 bytes) must be at least",
            "'receivers.otlp.limits.default.max_spans_per_request'",
        ];
        foreach (var error in expected)
        {
            Assert.Contains(loaded.Errors, e => e.StartsWith(error, StringComparison.Ordinal));
        }
    }

    private static ExportResult ExportWithSdk(HushServer server, OtlpExportProtocol protocol, string service, string? headers)
    {
        var sourceName = "Hush.Tests.Auth." + Guid.NewGuid().ToString("N");
        using var source = new ActivitySource(sourceName);
        var exporter = new OtlpTraceExporter(new OtlpExporterOptions
        {
            Endpoint = protocol == OtlpExportProtocol.Grpc ? server.GrpcEndpoint! : new Uri(server.HttpEndpoint!, "v1/traces"),
            Protocol = protocol,
            Headers = headers,

            // Room for the rate test's retry, which waits out the Retry-After of a bucket refilling at 1 KiB/s.
            TimeoutMilliseconds = 30_000,
        });
        using var sdk = Sdk.CreateTracerProviderBuilder()
            .SetResourceBuilder(ResourceBuilder.CreateEmpty().AddService(service))
            .AddSource(sourceName)
            .AddProcessor(new CapturingExportProcessor(exporter))
            .Build();
        using (var activity = source.StartActivity("GET /cart", ActivityKind.Server))
        {
            // About 5 KB on the wire: the rate test's drained bucket, refilling at 1 KiB/s, holds that only ~5 s later,
            // longer than a busy machine takes to build this SDK (2 KB, ~2 s, was not always enough).
            activity?.SetTag("note", new string('n', 5000));
        }

        sdk.ForceFlush(30_000);
        return CapturingExportProcessor.Last;
    }

    private static ByteArrayContent GrpcContent(TraceRequest request)
    {
        var content = new ByteArrayContent(GrpcFraming.Frame(OtlpProtobuf.Encode(request)));
        content.Headers.ContentType = new MediaTypeHeaderValue("application/grpc");
        return content;
    }

    /// <summary>A simple export processor that remembers what the real OTLP exporter returned.</summary>
    private sealed class CapturingExportProcessor(BaseExporter<Activity> exporter) : SimpleActivityExportProcessor(exporter)
    {
        public static ExportResult Last { get; private set; }

        protected override void OnExport(Activity data)
        {
            using var batch = new Batch<Activity>([data], 1);
            Last = exporter.Export(batch);
        }
    }

    /// <summary>
    /// A gateway in required mode. Required mode with an empty token store refuses to start, so a token is
    /// seeded first, as an operator would.
    /// </summary>
    private static Task<GatewayFixture> StartAsync() =>
        GatewayFixture.StartAsync(yaml: Yaml, beforeStart: config => HushServer.OpenTokenStore(config).Create("seed", ["*"]));

    private static HttpRequestMessage Request(TraceRequest traces, string? token)
    {
        var content = new ByteArrayContent(OtlpProtobuf.Encode(traces));
        content.Headers.ContentType = new MediaTypeHeaderValue("application/x-protobuf");
        var request = new HttpRequestMessage(HttpMethod.Post, "v1/traces") { Content = content };
        if (token is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        return request;
    }

    private static async Task<HttpResponseMessage> PostAsync(GatewayFixture hush, TraceRequest traces, string? token)
    {
        using var request = Request(traces, token);
        return await hush.Http.SendAsync(request);
    }
}
