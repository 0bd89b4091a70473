using System.Net;
using Hush.Gateway.Configuration;
using Hush.Otlp;
using Microsoft.Extensions.Logging;

namespace Hush.Gateway.Tests.Support;

/// <summary>A running HushServer on ephemeral loopback ports with a sink exporter and captured logs.</summary>
internal sealed class GatewayFixture : IAsyncDisposable
{
    /// <summary>
    /// An attribute value no response body or log line may ever contain. It sits in <c>user.email</c>, which the
    /// default policy pseudonymizes: the sink sees <c>eml_…</c>, never this.
    /// </summary>
    public const string Planted = "PLANTED-7f3a-jane.doe@example.com";

    public const string Yaml = """
        receivers:
          otlp:
            protocols:
              grpc: { endpoint: 127.0.0.1:0, max_recv_msg_size_mib: 1 }
              http: { endpoint: 127.0.0.1:0, max_request_body_size: 1MiB }
        processors:
          batch: { send_batch_size: BATCH, timeout: 5ms }
        exporters:
          nop: {}
        service:
          pipelines:
            traces: { receivers: [otlp], processors: [batch], exporters: [nop] }
          admin: { endpoint: 127.0.0.1:0 }
          queue: { capacity_spans: CAPACITY, workers: 1 }
          data_dir: DATADIR
        """;

    /// <summary><see cref="Yaml"/> exporting to the embedded store of <paramref name="dataDir"/>, under the policy file <paramref name="policyPath"/>.</summary>
    public static string StoreYaml(string dataDir, string policyPath) => Yaml
        .Replace("DATADIR", dataDir, StringComparison.Ordinal)
        .Replace("CAPACITY", "1024", StringComparison.Ordinal)
        .Replace("BATCH", "100", StringComparison.Ordinal)
        .Replace("nop: {}", "store: {}", StringComparison.Ordinal)
        .Replace("exporters: [nop]", "exporters: [store]", StringComparison.Ordinal)
        .Replace("processors:\n  batch:", $"processors:\n  privacy: {{ policy: {policyPath} }}\n  batch:", StringComparison.Ordinal);

    private readonly ILoggerFactory _loggerFactory;

    private readonly string _dataDir;

    private GatewayFixture(HushServer server, SinkExporter sink, CapturingLoggerProvider logs, ILoggerFactory loggerFactory, string dataDir)
    {
        _dataDir = dataDir;
        Server = server;
        Sink = sink;
        Logs = logs;
        _loggerFactory = loggerFactory;
        Http = new HttpClient { BaseAddress = server.HttpEndpoint, Timeout = TimeSpan.FromSeconds(20) };
        Grpc = new HttpClient(new SocketsHttpHandler())
        {
            BaseAddress = server.GrpcEndpoint,
            DefaultRequestVersion = HttpVersion.Version20,
            DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Timeout = TimeSpan.FromSeconds(20),
        };
        Admin = new HttpClient { BaseAddress = server.AdminEndpoint, Timeout = TimeSpan.FromSeconds(20) };
    }

    public HushServer Server { get; }

    public SinkExporter Sink { get; }

    public CapturingLoggerProvider Logs { get; }

    public HttpClient Http { get; }

    public HttpClient Grpc { get; }

    public HttpClient Admin { get; }

    /// <summary>A policy that changes nothing: no detectors, no rules, detect mode (requests may then travel in wire form).</summary>
    public const string MinimalPolicy = "version: 1\nmode: detect\ndetectors:\n  builtin: none\nspan_names: detect\nrules: []\n";

    /// <summary>
    /// Starts a gateway (<paramref name="yaml"/>, default <see cref="Yaml"/>) under the policy text <paramref name="policy"/>.
    /// The file is read once at start, not watched, and deleted once the gateway runs.
    /// </summary>
    public static async Task<GatewayFixture> StartWithPolicyAsync(string policy, string? yaml = null, Action<HushConfig>? beforeStart = null)
    {
        var directory = Directory.CreateTempSubdirectory("hush-policy-").FullName;
        try
        {
            var path = Path.Combine(directory, "policy.yaml");
            await File.WriteAllTextAsync(path, policy);
            var withPolicy = (yaml ?? Yaml).Replace("processors:\n  batch:", $"processors:\n  privacy: {{ policy: {path}, watch: false }}\n  batch:", StringComparison.Ordinal);
            Assert.Contains(path, withPolicy, StringComparison.Ordinal);
            return await StartAsync(yaml: withPolicy, beforeStart: beforeStart);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    /// <summary>Starts a gateway; <paramref name="beforeStart"/> sees the loaded config first (to seed tokens, say).</summary>
    public static async Task<GatewayFixture> StartAsync(
        int capacitySpans = 131_072,
        string? yaml = null,
        Func<HushConfig, Hush.Pipeline.IPrivacyStage>? privacy = null,
        Action<HushConfig>? beforeStart = null)
    {
        var dataDir = Directory.CreateTempSubdirectory("hush-gw-").FullName;
        try
        {
            return await StartAsync(dataDir, capacitySpans, yaml, privacy, beforeStart);
        }
        catch
        {
            // A start that fails (tests of invalid configs) leaves no directory behind.
            Directory.Delete(dataDir, recursive: true);
            throw;
        }
    }

    private static async Task<GatewayFixture> StartAsync(string dataDir, int capacitySpans, string? yaml, Func<HushConfig, Hush.Pipeline.IPrivacyStage>? privacy, Action<HushConfig>? beforeStart)
    {
        var loaded = HushConfigLoader.LoadYaml((yaml ?? Yaml)
            .Replace("DATADIR", dataDir, StringComparison.Ordinal)
            .Replace("CAPACITY", capacitySpans.ToString(), StringComparison.Ordinal)
            .Replace("BATCH", Math.Min(1000, capacitySpans).ToString(), StringComparison.Ordinal), new Dictionary<string, string?>());
        Assert.True(loaded.IsValid, string.Join("\n", loaded.Errors));
        beforeStart?.Invoke(loaded.Config!);
        var logs = new CapturingLoggerProvider();
        var loggerFactory = LoggerFactory.Create(b => b.SetMinimumLevel(LogLevel.Trace).AddProvider(logs));
        var sink = new SinkExporter();
        var server = await HushServer.StartAsync(loaded.Config!, new HushServerOptions { LoggerFactory = loggerFactory, AdditionalExporters = [sink], PrivacyStageFactory = privacy });
        return new GatewayFixture(server, sink, logs, loggerFactory, dataDir);
    }

    /// <summary>A request with <paramref name="spans"/> spans named <c>{prefix}-{i}</c>, each carrying the planted value.</summary>
    public static TraceRequest Request(string prefix, int spans = 1)
    {
        var scope = new ScopeSpans { Scope = new InstrumentationScope { Name = "test" } };
        for (var i = 0; i < spans; i++)
        {
            scope.Spans.Add(new Span
            {
                TraceId = new TraceId(0x0102030405060708, (ulong)(i + 1)),
                SpanId = new SpanId((ulong)(i + 100)),
                Name = $"{prefix}-{i}",
                Kind = SpanKind.Server,
                StartTimeUnixNano = 1_700_000_000_000_000_000,
                EndTimeUnixNano = 1_700_000_000_100_000_000,
                Attributes = [new KeyValue("user.email", AnyValue.Of(Planted))],
            });
        }

        var rs = new ResourceSpans { ScopeSpans = [scope] };
        rs.Resource.Attributes.Add(new KeyValue("service.name", AnyValue.Of("checkout")));
        return new TraceRequest { ResourceSpans = [rs] };
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        Grpc.Dispose();
        Admin.Dispose();
        await Server.DisposeAsync();
        _loggerFactory.Dispose();
        Directory.Delete(_dataDir, recursive: true);
    }
}
