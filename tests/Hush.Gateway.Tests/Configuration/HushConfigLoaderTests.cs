using System.Net;
using Hush.Gateway.Configuration;

namespace Hush.Gateway.Tests.Configuration;

public sealed class HushConfigLoaderTests
{
    private static readonly Dictionary<string, string?> NoEnvironment = [];

    private static string TestData(string name) => Path.Combine(AppContext.BaseDirectory, "testdata", name);

    [Fact]
    public void LoadDefault_NoEnvironment_IsValidLoopbackWithStoreExporter()
    {
        var result = HushConfigLoader.LoadDefault(NoEnvironment);

        Assert.Empty(result.Errors);
        Assert.Empty(result.Warnings);
        var config = result.Config!;
        Assert.Equal(new IPEndPoint(IPAddress.Loopback, 4317).ToString(), config.Receiver.Grpc!.Listener.ToString());
        Assert.Equal(4318, config.Receiver.Http!.Listener.Port);
        Assert.Equal(3200, config.Admin.Port);
        Assert.True(config.Receiver.Grpc.Listener.IsLoopback && config.Receiver.Http.Listener.IsLoopback && config.Admin.IsLoopback);
        Assert.Equal(4 << 20, config.Receiver.Grpc.MaxRecvMsgSizeBytes);
        Assert.Equal(4 << 20, config.Receiver.Http.MaxRequestBodySize);
        Assert.Null(config.Privacy.PolicyPath);
        var exporter = Assert.Single(config.Pipeline.Exporters);
        var store = Assert.IsType<StoreExporterConfig>(exporter);
        Assert.Equal(TimeSpan.FromDays(7), store.Retention);
        Assert.Equal(256, store.BlockMaxSpans);
        Assert.Null(store.KekFile);
        Assert.Equal(131_072, config.Pipeline.QueueCapacitySpans);
    }

    [Fact]
    public void LoadFile_FullExample_BindsEverySection()
    {
        var env = new Dictionary<string, string?> { ["TEMPO_TOKEN"] = "t0k3n" };

        var result = HushConfigLoader.LoadFile(TestData("full.yaml"), env);

        Assert.Empty(result.Errors);
        var config = result.Config!;
        Assert.Equal(14317, config.Receiver.Grpc!.Listener.Port);
        Assert.Equal(8 << 20, config.Receiver.Grpc.MaxRecvMsgSizeBytes);
        Assert.Equal(2 << 20, config.Receiver.Http!.MaxRequestBodySize);
        Assert.Equal(512, config.Pipeline.SendBatchSize);
        Assert.Equal(TimeSpan.FromSeconds(1), config.Pipeline.BatchTimeout);
        Assert.Equal(4096, config.Pipeline.QueueCapacitySpans);
        Assert.Equal(1, config.Pipeline.Workers);
        Assert.Equal(TimeSpan.FromSeconds(2), config.Pipeline.RetryAfter);
        Assert.Equal(TimeSpan.FromSeconds(5), config.Pipeline.ShutdownTimeout);
        Assert.Equal(["privacy", "batch"], config.Pipeline.Processors);
        Assert.Equal(13200, config.Admin.Port);
        Assert.EndsWith("data-here", config.DataDir);
        var tempo = Assert.IsType<OtlpHttpExporterConfig>(config.Pipeline.Exporters[0]);
        Assert.Equal("otlphttp/tempo", tempo.Id);
        Assert.Equal(new Uri("http://tempo:4318"), tempo.Endpoint);
        Assert.True(tempo.Json);
        Assert.False(tempo.Gzip);
        Assert.Equal("eu-1", tempo.Headers["X-Cluster"]);
        Assert.Equal("Bearer t0k3n", tempo.Headers["authorization"]);
        Assert.Equal("X-Tenant", tempo.TenantHeader);
        var auth = config.Receiver.Auth;
        Assert.Equal(IngestAuthMode.Required, auth.Mode);
        Assert.EndsWith("tokens-here.json", auth.TokenFile, StringComparison.Ordinal);
        Assert.Equal(["X-Scope-OrgID", "X-Tenant"], auth.TenantHeaders);
        Assert.Equal(8L << 20, config.Receiver.DefaultLimits.BytesPerSecond);
        Assert.Equal(16L << 20, config.Receiver.DefaultLimits.BurstBytes);
        Assert.Equal(5000, config.Receiver.DefaultLimits.MaxSpansPerRequest);
        var acme = config.Receiver.TenantLimits["acme"];
        Assert.Equal(32L << 20, acme.BytesPerSecond);
        Assert.Equal(64L << 20, acme.BurstBytes);
        Assert.Equal(5000, acme.MaxSpansPerRequest);
        Assert.Equal(TimeSpan.FromSeconds(3), tempo.Timeout);
        Assert.Equal(TimeSpan.FromSeconds(1), tempo.InitialInterval);
        Assert.Equal(TimeSpan.FromSeconds(10), tempo.MaxInterval);
        Assert.Equal(TimeSpan.FromMinutes(1), tempo.MaxElapsedTime);
        Assert.Equal(50, tempo.QueueSize);
        Assert.Equal(3, tempo.Consumers);
        Assert.IsType<DebugExporterConfig>(config.Pipeline.Exporters[1]);
    }

    [Fact]
    public void LoadFile_ManyMistakes_ListsEveryErrorWithItsKeyAndNoSecret()
    {
        var result = HushConfigLoader.LoadFile(TestData("many-mistakes.yaml"), NoEnvironment);

        Assert.Null(result.Config);
        var all = string.Join("\n", result.Errors);
        string[] expected =
        [
            "'receivers.otlp.protocols.grpc.endpoint' must end with a port from 0 to 65535",
            "'receivers.otlp.protocols.grpc.max_recv_msg_size_mib' must be a whole number",
            "'receivers.otlp.protocols.http.endpont' is not a known key (line 6); did you mean 'endpoint'?",
            "'receivers.otlp.protocols.http.max_request_body_size' must be a size",
            "'receivers.zipkin' has unknown type 'zipkin'",
            "'processors.batch.send_batch_size' must be from 1 to 1000000",
            "'processors.batch.timeout' must be a duration",
            "'exporters.otlphttp/tempo.endpoint' is required",
            "'exporters.otlphttp/tempo.encoding' must be proto or json",
            "'exporters.otlphttp/tempo.headers.Authorization' must not contain line breaks",
            "'exporters.otlphttp/tempo.retry_on_failure.initial_interval' must be a duration",
            "'service.pipelines.traces.exporters' names 'foo', which is not defined under 'exporters'",
            "'service.pipelines.traces.exporters' names 'debug', which is not defined under 'exporters'",
            "'service.admin.endpoint' must name an IP address or localhost",
            "'service.datadir' is not a known key (line 21); did you mean 'data_dir'?",
        ];
        foreach (var e in expected)
        {
            Assert.Contains(e, all, StringComparison.Ordinal);
        }

        Assert.Equal(expected.Length, result.Errors.Count);
        Assert.DoesNotContain("PLANTED_SECRET", all, StringComparison.Ordinal);
        Assert.DoesNotContain("sk_live", all, StringComparison.Ordinal);
    }

    [Fact]
    public void LoadYaml_EnvironmentOverrides_SetSingleSettingsAndCreateComponents()
    {
        var env = new Dictionary<string, string?>
        {
            ["HUSH_RECEIVERS__OTLP__PROTOCOLS__HTTP__ENDPOINT"] = "127.0.0.1:9999",
            ["HUSH_EXPORTERS__OTLPHTTP_TEMPO__ENDPOINT"] = "https://tempo.internal:4318",
            ["HUSH_EXPORTERS__OTLPHTTP_TEMPO__HEADERS__X-CLUSTER"] = "acme",
            ["HUSH_SERVICE__PIPELINES__TRACES__EXPORTERS"] = "otlphttp/tempo, store",
            ["HUSH_PROCESSORS__BATCH__TIMEOUT"] = "1m",
            ["OTHER_VARIABLE"] = "ignored",
        };

        var result = HushConfigLoader.LoadDefault(env);

        Assert.Empty(result.Errors);
        var config = result.Config!;
        Assert.Equal(9999, config.Receiver.Http!.Listener.Port);
        Assert.Equal(TimeSpan.FromMinutes(1), config.Pipeline.BatchTimeout);
        Assert.Equal(2, config.Pipeline.Exporters.Count);
        var tempo = Assert.IsType<OtlpHttpExporterConfig>(config.Pipeline.Exporters[0]);
        Assert.Equal("otlphttp/tempo", tempo.Id);
        Assert.Equal(new Uri("https://tempo.internal:4318"), tempo.Endpoint);
        Assert.Equal("acme", tempo.Headers["x-cluster"]);
        Assert.Equal("X-Scope-OrgID", tempo.TenantHeader);
    }

    [Fact]
    public void LoadYaml_EnvironmentOverrideWithBadValue_NamesKeyAndVariable()
    {
        var env = new Dictionary<string, string?> { ["HUSH_SERVICE__QUEUE__CAPACITY_SPANS"] = "many" };

        var result = HushConfigLoader.LoadDefault(env);

        var error = Assert.Single(result.Errors);
        Assert.Contains("'service.queue.capacity_spans'", error, StringComparison.Ordinal);
        Assert.Contains("HUSH_SERVICE__QUEUE__CAPACITY_SPANS", error, StringComparison.Ordinal);
    }

    [Fact]
    public void LoadYaml_EnvironmentOverrideOfUnknownKey_IsAnError()
    {
        var env = new Dictionary<string, string?> { ["HUSH_SERVICE__ADMIN__ENDPIONT"] = "127.0.0.1:1" };

        var result = HushConfigLoader.LoadDefault(env);

        var error = Assert.Single(result.Errors);
        Assert.Contains("'service.admin.endpiont' is not a known key (from environment variable HUSH_SERVICE__ADMIN__ENDPIONT); did you mean 'endpoint'?", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("${env:PORT}", "127.0.0.1:7001")]
    [InlineData("${PORT}", "127.0.0.1:7001")]
    [InlineData("${env:MISSING:-127.0.0.1:7002}", "127.0.0.1:7002")]
    [InlineData("127.0.0.1:${env:PORT_ONLY}", "127.0.0.1:7003")]
    public void LoadYaml_EnvExpansion_ReplacesReferences(string endpoint, string expected)
    {
        var env = new Dictionary<string, string?> { ["PORT"] = "127.0.0.1:7001", ["PORT_ONLY"] = "7003" };
        var yaml = HushConfigLoader.DefaultYaml.Replace("127.0.0.1:4318", endpoint, StringComparison.Ordinal);

        var result = HushConfigLoader.LoadYaml(yaml, env);

        Assert.Empty(result.Errors);
        Assert.Equal(expected, result.Config!.Receiver.Http!.Listener.ToString());
    }

    [Theory]
    [InlineData("${env:UNCLOSED", "without a closing")]
    [InlineData("${env:bad-name}", "NAME made of letters")]
    public void LoadYaml_BadEnvReference_IsAnErrorWithoutValue(string endpoint, string expected)
    {
        var yaml = HushConfigLoader.DefaultYaml.Replace("127.0.0.1:4318", endpoint, StringComparison.Ordinal);

        var result = HushConfigLoader.LoadYaml(yaml, NoEnvironment);

        var error = Assert.Single(result.Errors);
        Assert.StartsWith("'receivers.otlp.protocols.http.endpoint' has a", error, StringComparison.Ordinal);
        Assert.Contains(expected, error, StringComparison.Ordinal);
    }

    [Fact]
    public void LoadYaml_SecretFromEnvironmentInBadHeader_NeverInErrors()
    {
        var env = new Dictionary<string, string?> { ["TOKEN"] = "PLANTED\r\nsecret-value-42" };
        const string Yaml = """
            receivers: { otlp: { protocols: { http: {} } } }
            exporters:
              otlphttp: { endpoint: "http://u:PLANTED-PASSWORD@tempo:4318", headers: { authorization: "${env:TOKEN}" } }
            service: { pipelines: { traces: { receivers: [otlp], exporters: [otlphttp] } } }
            """;

        var result = HushConfigLoader.LoadYaml(Yaml, env);

        Assert.Equal(2, result.Errors.Count);
        var all = string.Join("\n", result.Errors);
        Assert.Contains("'exporters.otlphttp.headers.authorization'", all, StringComparison.Ordinal);
        Assert.Contains("'exporters.otlphttp.endpoint' must be an absolute http or https URL", all, StringComparison.Ordinal);
        Assert.DoesNotContain("PLANTED", all, StringComparison.Ordinal);
        Assert.DoesNotContain("secret-value", all, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("64", null)]
    [InlineData("8", "'exporters.store.block_max_spans' must be from 16 to 8192")]
    [InlineData("100000", "'exporters.store.block_max_spans' must be from 16 to 8192")]
    [InlineData("many", "'exporters.store.block_max_spans' must be a whole number")]
    public void LoadYaml_StoreBlockMaxSpans_BoundedWholeNumber(string value, string? expected)
    {
        var yaml = $"receivers:\n  otlp:\n    protocols:\n      http: {{ endpoint: 127.0.0.1:0 }}\nexporters:\n  store: {{ block_max_spans: {value} }}\nservice:\n  pipelines:\n    traces: {{ receivers: [otlp], exporters: [store] }}\n";

        var result = HushConfigLoader.LoadYaml(yaml, NoEnvironment);

        if (expected is null)
        {
            Assert.Empty(result.Errors);
            Assert.Equal(64, Assert.IsType<StoreExporterConfig>(Assert.Single(result.Config!.Pipeline.Exporters)).StoreOptions().BlockMaxSpans);
        }
        else
        {
            Assert.Contains(result.Errors, e => e.Contains(expected, StringComparison.Ordinal));
        }
    }

    [Theory]
    [InlineData("receivers: [\n", "not valid YAML at line")]
    [InlineData("- a\n- b\n", "must be a YAML mapping")]
    [InlineData("a: 1\n---\nb: 2\n", "more than one YAML document")]
    [InlineData("receivers: {}\nreceivers: {}\n", "not valid YAML")]
    [InlineData("a: &a [1,1,1,1,1,1,1,1,1,1]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]\n", "more than 100000 values")]
    public void LoadYaml_Garbage_ReportsErrorWithoutThrowing(string yaml, string expected)
    {
        var result = HushConfigLoader.LoadYaml(yaml, NoEnvironment);

        Assert.Null(result.Config);
        Assert.Contains(result.Errors, e => e.Contains(expected, StringComparison.Ordinal));
    }

    [Fact]
    public void LoadYaml_Empty_ReportsMissingPipelines()
    {
        var result = HushConfigLoader.LoadYaml(string.Empty, NoEnvironment);

        Assert.Contains("'service.pipelines' is required", Assert.Single(result.Errors), StringComparison.Ordinal);
    }

    [Fact]
    public void LoadFile_Missing_IsAnError()
    {
        var result = HushConfigLoader.LoadFile(TestData("does-not-exist.yaml"), NoEnvironment);

        Assert.Contains("cannot read the config file", Assert.Single(result.Errors), StringComparison.Ordinal);
    }

    [Fact]
    public void LoadYaml_NonLoopbackOtlpBind_RequiresAuthentication()
    {
        var yaml = HushConfigLoader.DefaultYaml.Replace("127.0.0.1:4317", "0.0.0.0:4317", StringComparison.Ordinal);

        var result = HushConfigLoader.LoadYaml(yaml, NoEnvironment);

        Assert.True(result.IsValid);
        Assert.Equal(IngestAuthMode.Required, result.Config!.Receiver.Auth.Mode);
        Assert.Empty(result.Warnings);
        Assert.Equal(IngestAuthMode.Dev, HushConfigLoader.LoadDefault(NoEnvironment).Config!.Receiver.Auth.Mode);
    }

    [Fact]
    public void LoadYaml_NonLoopbackAdminBind_WarnsLoudly()
    {
        var yaml = HushConfigLoader.DefaultYaml.Replace("127.0.0.1:3200", "0.0.0.0:3200", StringComparison.Ordinal);

        var result = HushConfigLoader.LoadYaml(yaml, NoEnvironment);

        Assert.True(result.IsValid);
        Assert.Contains("'service.admin.endpoint' binds a non-loopback address", Assert.Single(result.Warnings), StringComparison.Ordinal);
    }

    [Fact]
    public void LoadYaml_StaticHeaderThatHushSetsFromTheTenant_IsAnError()
    {
        var yaml = """
            exporters:
              otlphttp: { endpoint: "http://tempo:4318", headers: { X-Scope-OrgID: fixed } }
            service:
              pipelines: { traces: { receivers: [otlp], exporters: [otlphttp] } }
            receivers: { otlp: { protocols: { http: {} } } }
            """;

        var result = HushConfigLoader.LoadYaml(yaml, NoEnvironment);

        Assert.Contains(result.Errors, e => e.StartsWith("'exporters.otlphttp.headers.X-Scope-OrgID' is set by Hush to each batch's tenant", StringComparison.Ordinal));
    }

    [Fact]
    public void LoadYaml_SamePortTwice_IsAnError()
    {
        var yaml = HushConfigLoader.DefaultYaml.Replace("127.0.0.1:3200", "127.0.0.1:4318", StringComparison.Ordinal);

        var result = HushConfigLoader.LoadYaml(yaml, NoEnvironment);

        Assert.Contains("'service.admin.endpoint' uses port 4318, which 'receivers.otlp.protocols.http.endpoint' already uses", Assert.Single(result.Errors), StringComparison.Ordinal);
    }

    [Fact]
    public void LoadYaml_TlsWithMissingFiles_NamesBothKeys()
    {
        var yaml = HushConfigLoader.DefaultYaml.Replace(
            "max_recv_msg_size_mib: 4",
            "max_recv_msg_size_mib: 4\n        tls: { cert_file: /nonexistent/cert.pem }",
            StringComparison.Ordinal);

        var result = HushConfigLoader.LoadYaml(yaml, NoEnvironment);

        Assert.Equal(2, result.Errors.Count);
        Assert.Contains("'receivers.otlp.protocols.grpc.tls.cert_file' names a file that does not exist", result.Errors[0], StringComparison.Ordinal);
        Assert.Contains("'receivers.otlp.protocols.grpc.tls.key_file' is required", result.Errors[1], StringComparison.Ordinal);
    }

    [Fact]
    public void LoadYaml_SecondPipelineAndMetricsPipeline_AreErrors()
    {
        var yaml = HushConfigLoader.DefaultYaml + """

              extra: true
            """;
        yaml = yaml.Replace("  pipelines:\n", "  pipelines:\n    metrics: { receivers: [otlp], exporters: [debug] }\n    traces/two: { receivers: [otlp], exporters: [debug] }\n", StringComparison.Ordinal);

        var result = HushConfigLoader.LoadYaml(yaml, NoEnvironment);

        var all = string.Join("\n", result.Errors);
        Assert.Contains("'service.pipelines.metrics' is not a traces pipeline", all, StringComparison.Ordinal);
        Assert.Contains("'service.pipelines.traces' is a second traces pipeline", all, StringComparison.Ordinal);
        Assert.Contains("'service.extra' is not a known key", all, StringComparison.Ordinal);
    }

    [Fact]
    public void LoadYaml_BatchLargerThanQueue_IsAnError()
    {
        var yaml = HushConfigLoader.DefaultYaml.Replace("capacity_spans: 131072", "capacity_spans: 100", StringComparison.Ordinal);

        var result = HushConfigLoader.LoadYaml(yaml, NoEnvironment);

        Assert.Equal("'processors.batch.send_batch_size' must not be greater than 'service.queue.capacity_spans'", Assert.Single(result.Errors));
    }

    /// <summary>examples/*.yaml, copied next to the tests by the project file.</summary>
    private static string ExamplesDirectory() => Path.Combine(AppContext.BaseDirectory, "examples");

    public static TheoryData<string> ExampleFiles() => [.. Directory.GetFiles(ExamplesDirectory(), "*.yaml").Order(StringComparer.Ordinal)];

    [Theory]
    [MemberData(nameof(ExampleFiles))]
    public void LoadFile_ShippedExample_IsValid(string path)
    {
        var result = HushConfigLoader.LoadFile(path, NoEnvironment);

        Assert.True(result.IsValid, string.Join("\n", result.Errors));
    }

    [Fact]
    public void DefaultYaml_MatchesExamplesCopy()
    {
        var example = Path.Combine(ExamplesDirectory(), "default.yaml");

        var body = File.ReadAllLines(example).Skip(1);

        Assert.Equal(HushConfigLoader.DefaultYaml.Split('\n').Skip(1).SkipLast(1), body);
    }
}
