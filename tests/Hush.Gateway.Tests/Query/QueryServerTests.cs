using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Hush.Gateway.Configuration;
using Hush.Gateway.Query.Audit;
using Hush.Gateway.Tests.Support;
using Hush.Otlp;

namespace Hush.Gateway.Tests.Query;

/// <summary>The query API through a real HushServer's admin port, next to /metrics and the health endpoints.</summary>
public sealed class QueryServerTests : IAsyncLifetime
{
    private readonly string _dataDir = Directory.CreateTempSubdirectory("hush-qsrv-").FullName;
    private readonly InMemoryTraceReader _reader = new();
    private HushServer? _server;
    private HttpClient? _admin;

    /// <summary>The API key created before the start (a running server sees new keys within a second, not at once).</summary>
    private string Key { get; set; } = string.Empty;

    private async Task<HttpClient> StartAsync(bool withReader = true, string? keyTenant = null, string keyRole = "engineer")
    {
        var yaml = GatewayFixture.Yaml
            .Replace("DATADIR", _dataDir, StringComparison.Ordinal)
            .Replace("CAPACITY", "1024", StringComparison.Ordinal)
            .Replace("BATCH", "100", StringComparison.Ordinal);
        var config = HushConfigLoader.LoadYaml(yaml, new Dictionary<string, string?>()).Config!;
        if (keyTenant is not null)
        {
            Key = Hush.Gateway.Query.QueryApi.OpenApiKeys(config).Create(keyTenant, [], "grafana", [keyRole]).Token;
        }

        _server = await HushServer.StartAsync(config, new HushServerOptions { TraceReader = withReader ? _reader : null });
        _admin = new HttpClient { BaseAddress = _server.AdminEndpoint, Timeout = TimeSpan.FromSeconds(20) };
        return _admin;
    }

    // xUnit 2 calls IAsyncLifetime on a test class, not IAsyncDisposable: before, each test left its server running
    // and its data directory behind.
    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        _admin?.Dispose();
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }

        Directory.Delete(_dataDir, recursive: true);
    }

    [Fact]
    public async Task AdminPort_ServesQueryApiAndStillMetricsAndHealth()
    {
        _reader.Add("dev", QueryTestData.Trace(1));
        var admin = await StartAsync();

        Assert.Equal("echo", await admin.GetStringAsync("/api/echo"));
        Assert.Equal(HttpStatusCode.OK, (await admin.GetAsync("/ready")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await admin.GetAsync("/metrics")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await admin.GetAsync("/healthz")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await admin.GetAsync("/nope")).StatusCode);

        // Dev mode on loopback: engineer on tenant dev, the way Grafana on the same machine would see it.
        var search = await admin.GetStringAsync("/api/search?q=" + Uri.EscapeDataString("{ resource.service.name = \"checkout\" }"));
        Assert.Contains(QueryTestData.Id(1).ToString(), search, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ApiKeyAsBasicAuth_TraceByIdV2Protobuf_AsGrafanaAsksForIt()
    {
        _reader.Add("acme", QueryTestData.Trace(1));
        _reader.Add("dev", QueryTestData.Trace(2));
        var admin = await StartAsync(keyTenant: "acme");
        var key = Key;
        using var request = new HttpRequestMessage(HttpMethod.Get, "/api/v2/traces/" + QueryTestData.Id(1));
        request.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes("grafana:" + key)));
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/protobuf"));

        using var response = await admin.SendAsync(request);
        var body = await response.Content.ReadAsByteArrayAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/protobuf", response.Content.Headers.ContentType!.MediaType);
        Assert.Equal(0x0A, body[0]);
        var trace = OtlpProtobuf.DecodeTraceRequest(body.AsSpan(body[1] < 0x80 ? 2 : 3));
        Assert.Equal(2, trace.CountSpans());

        using var other = new HttpRequestMessage(HttpMethod.Get, "/api/v2/traces/" + QueryTestData.Id(2));
        other.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        Assert.Equal(HttpStatusCode.NotFound, (await admin.SendAsync(other)).StatusCode);
        Assert.True(AuditReader.Verify(_dataDir).Intact);
    }

    [Fact]
    public async Task NoTraceReader_503ExceptEchoAndReady()
    {
        var admin = await StartAsync(withReader: false);

        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await admin.GetAsync("/api/search")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await admin.GetAsync("/api/echo")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await admin.GetAsync("/ready")).StatusCode);
    }

    [Fact]
    public async Task Resolve_ThroughTheServer_UnknownTrace404()
    {
        var admin = await StartAsync(keyTenant: "dev", keyRole: "investigator");
        var key = Key;
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/hush/resolve")
        {
            Content = new StringContent(JsonSerializer.Serialize(new { token = "tok_aaaaaaaaaaaaaaaaaaaaaaaaaa", traceId = QueryTestData.Id(3).ToString(), justification = "investigating a reported double charge" }), Encoding.UTF8, "application/json"),
        };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);

        using var response = await admin.SendAsync(request);

        // The trace does not exist: the same 404 as for another tenant's trace.
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
    }
}
