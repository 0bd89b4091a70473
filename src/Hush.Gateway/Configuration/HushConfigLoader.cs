using System.Collections;
using Hush.Gateway.Configuration.Implementation;
using Hush.Privacy;

namespace Hush.Gateway.Configuration;

/// <summary>The outcome of loading a config: the config, or every error found; warnings either way.</summary>
/// <param name="Config">The validated config; null when <paramref name="Errors"/> is not empty.</param>
/// <param name="Errors">Every problem, each naming its key path. Never contains a configured value.</param>
/// <param name="Warnings">Problems that do not stop Hush (such as a non-loopback bind without authentication).</param>
public sealed record ConfigLoadResult(HushConfig? Config, IReadOnlyList<string> Errors, IReadOnlyList<string> Warnings)
{
    public bool IsValid => Config is not null;
}

/// <summary>
/// Loads the Collector-shaped YAML config: parse, expand <c>${env:NAME}</c>, apply <c>HUSH_*</c>
/// environment overrides (rule in <see cref="EnvironmentOverrideRule"/>), bind and validate whole.
/// </summary>
public static class HushConfigLoader
{
    /// <summary>How environment variables override single settings, for docs and <c>--help</c>.</summary>
    public const string EnvironmentOverrideRule =
        "HUSH_ + the key path in upper case with '__' between keys and '_' for the '/' of a component id, "
        + "e.g. HUSH_RECEIVERS__OTLP__PROTOCOLS__HTTP__ENDPOINT=127.0.0.1:4318 or "
        + "HUSH_EXPORTERS__OTLPHTTP_TEMPO__ENDPOINT=http://tempo:4318; list values are comma-separated.";

    private const int MiB = 1 << 20;

    /// <summary>The largest gRPC message Hush accepts: 256 MiB keeps one request well inside a 2 GiB array.</summary>
    private const int MaxRecvMsgSizeMibLimit = 256;

    /// <summary>The embedded default config: loopback only, privacy with the shipped policy, the debug exporter.</summary>
    public static string DefaultYaml { get; } = ReadDefault();

    /// <summary>Loads the embedded default (environment overrides still apply).</summary>
    public static ConfigLoadResult LoadDefault(IReadOnlyDictionary<string, string?>? environment = null) =>
        LoadYaml(DefaultYaml, environment);

    /// <summary>Loads a config file; a missing or unreadable file is an error, not an exception.</summary>
    public static ConfigLoadResult LoadFile(string path, IReadOnlyDictionary<string, string?>? environment = null)
    {
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            return new(null, [$"cannot read the config file: {ex.GetType().Name}"], []);
        }

        return LoadYaml(text, environment);
    }

    /// <summary>Loads config text. <paramref name="environment"/> defaults to the process environment.</summary>
    public static ConfigLoadResult LoadYaml(string yaml, IReadOnlyDictionary<string, string?>? environment = null)
    {
        environment ??= ProcessEnvironment();
        var errors = new List<string>();
        var warnings = new List<string>();
        var root = YamlTree.Parse(yaml, name => environment.TryGetValue(name, out var v) ? v : null, errors);
        if (root is null)
        {
            return new(null, errors, warnings);
        }

        EnvOverrides.Apply(root, environment, errors);
        var config = Bind(root, errors, warnings);
        return errors.Count == 0 ? new(config, [], warnings) : new(null, errors, warnings);
    }

    private static Dictionary<string, string?> ProcessEnvironment()
    {
        var result = new Dictionary<string, string?>(StringComparer.Ordinal);
        foreach (DictionaryEntry entry in Environment.GetEnvironmentVariables())
        {
            result[(string)entry.Key] = entry.Value as string;
        }

        return result;
    }

    private static string ReadDefault()
    {
        using var stream = typeof(HushConfigLoader).Assembly.GetManifestResourceStream("Hush.Gateway.Configuration.default.yaml")
            ?? throw new InvalidOperationException("the embedded default config is missing from the build");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    private static HushConfig Bind(ConfigMap root, List<string> errors, List<string> warnings)
    {
        var top = new MapReader(root, string.Empty, errors);
        var receivers = BindComponents(top.Map("receivers"), errors, ["otlp"]);
        var processors = BindComponents(top.Map("processors"), errors, ["batch", "privacy", "tail_sampling"]);
        var exporters = BindComponents(top.Map("exporters"), errors, ["otlphttp", "debug", "nop", "store"]);
        var service = top.Map("service");
        var query = top.Map("query");
        top.Finish();

        // Receivers, processors and exporters are bound even when unused so their mistakes show.
        OtlpReceiverConfig? otlp = null;
        var boundReceivers = new Dictionary<string, OtlpReceiverConfig>(StringComparer.Ordinal);
        foreach (var (id, reader) in receivers)
        {
            boundReceivers[id] = BindOtlpReceiver(id, reader, errors);
        }

        var batch = new MapReader(null, "processors.batch", errors);
        PrivacyConfig privacy = new(null);
        var samplers = new Dictionary<string, Hush.Pipeline.Sampling.TailSamplingOptions>(StringComparer.Ordinal);
        foreach (var (id, reader) in processors)
        {
            if (TypeOf(id) == "batch")
            {
                batch = reader;
            }
            else if (TypeOf(id) == "tail_sampling")
            {
                samplers[id] = TailSamplingBinder.Bind(reader);
            }
            else
            {
                privacy = BindPrivacy(reader, errors);
            }
        }

        var sendBatchSize = batch.Int("send_batch_size", 8_192, 1, 1_000_000);
        var batchTimeout = batch.Duration("timeout", TimeSpan.FromMilliseconds(200), TimeSpan.FromMilliseconds(1), TimeSpan.FromMinutes(1));
        batch.Finish();

        var boundExporters = new Dictionary<string, ExporterConfig>(StringComparer.Ordinal);
        foreach (var (id, reader) in exporters)
        {
            boundExporters[id] = BindExporter(id, reader);
        }

        // service
        var pipelines = service.Map("pipelines");
        var admin = service.Map("admin");
        var adminListener = admin.Listener("127.0.0.1:3200");
        admin.Finish();
        var queue = service.Map("queue");
        var capacity = queue.Int("capacity_spans", 131_072, 16, 64 * 1024 * 1024);
        var workers = queue.Int("workers", 2, 1, 64);
        var retryAfter = queue.Duration("retry_after", TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1), TimeSpan.FromMinutes(10));
        queue.Finish();
        var shutdown = service.Duration("shutdown_timeout", TimeSpan.FromSeconds(10), TimeSpan.Zero, TimeSpan.FromMinutes(10));
        var dataDir = service.String("data_dir") ?? "./hush-data";
        if (dataDir.Trim().Length == 0)
        {
            errors.Add("'service.data_dir' must not be empty");
        }

        service.Finish();

        PipelineConfig? pipeline = null;
        if (!service.Has("pipelines"))
        {
            errors.Add("'service.pipelines' is required: define 'traces' with its receivers and exporters");
        }

        foreach (var (id, node) in pipelines.Entries)
        {
            var reader = new MapReader(node, pipelines.KeyPath(id), errors);
            if (TypeOf(id) != "traces")
            {
                errors.Add($"'{reader.Path}' is not a traces pipeline; Hush handles traces only (use 'traces' or 'traces/NAME')");
                continue;
            }

            if (pipeline is not null)
            {
                errors.Add($"'{reader.Path}' is a second traces pipeline; Hush runs one pipeline for now");
                continue;
            }

            var receiverIds = References(reader, "receivers", boundReceivers.Keys, "receivers", errors, required: true);
            var processorIds = References(reader, "processors", processors.Select(p => p.Id), "processors", errors, required: false);
            var exporterIds = References(reader, "exporters", boundExporters.Keys, "exporters", errors, required: true);
            reader.Finish();

            if (receiverIds.Count > 1)
            {
                errors.Add($"'{reader.KeyPath("receivers")}' lists {receiverIds.Count} receivers; one otlp receiver serves both protocols, list only it");
            }

            if (receiverIds.Count > 0 && boundReceivers.TryGetValue(receiverIds[0], out var r))
            {
                otlp = r;
            }

            var pipelineExporters = new List<ExporterConfig>();
            foreach (var e in exporterIds)
            {
                if (boundExporters.TryGetValue(e, out var exporter))
                {
                    pipelineExporters.Add(exporter);
                }
            }

            if (pipelineExporters.OfType<StoreExporterConfig>().Count() > 1)
            {
                errors.Add($"'{reader.KeyPath("exporters")}' lists more than one store exporter: there is one store per data_dir");
            }

            pipeline = new PipelineConfig
            {
                Id = id,
                Processors = processorIds,
                TailSampling = [.. processorIds.Where(samplers.ContainsKey).Select(p => (p, samplers[p]))],
                Exporters = pipelineExporters,
                SendBatchSize = sendBatchSize,
                BatchTimeout = batchTimeout,
                QueueCapacitySpans = capacity,
                Workers = workers,
                RetryAfter = retryAfter,
                ShutdownTimeout = shutdown,
            };
        }

        if (sendBatchSize > capacity)
        {
            errors.Add("'processors.batch.send_batch_size' must not be greater than 'service.queue.capacity_spans'");
        }

        // Backstop: the pipeline's and exporters' own rules, reported only when the checks above found nothing.
        if (errors.Count == 0 && pipeline is not null)
        {
            errors.AddRange(HushServer.ToPipelineOptions(pipeline).Validate("service.pipelines." + pipeline.Id));
            foreach (var exporter in pipeline.Exporters)
            {
                if (exporter is OtlpHttpExporterConfig otlpHttp)
                {
                    errors.AddRange(HushServer.ToExporterOptions(otlpHttp).Validate("exporters." + otlpHttp.Id));
                }
            }
        }

        if (pipeline is null && service.Has("pipelines"))
        {
            errors.Add("'service.pipelines' must define a 'traces' pipeline");
        }

        otlp ??= new OtlpReceiverConfig("otlp", null, null);
        CheckListeners(otlp, adminListener, errors, warnings);
        var dataDirectory = Path.GetFullPath(dataDir.Trim().Length == 0 ? "./hush-data" : dataDir);
        if (otlp.Auth.TokenFile.Length == 0)
        {
            otlp = otlp with { Auth = otlp.Auth with { TokenFile = Path.Combine(dataDirectory, "tokens.json") } };
        }

        var queryConfig = QueryBinder.Bind(query, adminListener, dataDirectory);
        return new HushConfig
        {
            Query = queryConfig,
            Receiver = otlp,
            Pipeline = pipeline ?? new PipelineConfig { Id = "traces", Exporters = [] },
            Privacy = privacy,
            Admin = adminListener,
            DataDir = dataDirectory,
            Warnings = warnings,
        };
    }

    private static List<(string Id, MapReader Reader)> BindComponents(MapReader section, List<string> errors, string[] types)
    {
        var result = new List<(string, MapReader)>();
        foreach (var (id, node) in section.Entries)
        {
            var type = TypeOf(id);
            var path = section.KeyPath(id);
            var slash = id.IndexOf('/', StringComparison.Ordinal);
            if (slash >= 0 && (slash == id.Length - 1 || id.IndexOf('/', slash + 1) >= 0))
            {
                errors.Add($"'{path}' is not a valid component id; write 'type' or 'type/name'");
                continue;
            }

            if (Array.IndexOf(types, type) < 0)
            {
                var suggestion = MapReader.Suggest(type, types);
                errors.Add($"'{path}' has unknown type '{type}'; "
                    + (suggestion is null ? $"Hush knows {string.Join(", ", types)}" : $"did you mean '{suggestion}'?"));
                continue;
            }

            result.Add((id, new MapReader(node, path, errors)));
        }

        return result;
    }

    private static string TypeOf(string id)
    {
        var slash = id.IndexOf('/', StringComparison.Ordinal);
        return slash < 0 ? id : id[..slash];
    }

    private static List<string> References(MapReader pipeline, string key, IEnumerable<string> defined, string section, List<string> errors, bool required)
    {
        var names = pipeline.StringList(key) ?? [];
        if (required && names.Count == 0)
        {
            errors.Add($"'{pipeline.KeyPath(key)}' must list at least one of the ids defined under '{section}'");
        }

        var known = defined.ToList();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var result = new List<string>(names.Count);
        foreach (var name in names)
        {
            if (!seen.Add(name))
            {
                errors.Add($"'{pipeline.KeyPath(key)}' names '{name}' twice");
            }
            else if (!known.Contains(name))
            {
                var suggestion = MapReader.Suggest(name, known);
                errors.Add($"'{pipeline.KeyPath(key)}' names '{name}', which is not defined under '{section}'"
                    + (suggestion is null ? string.Empty : $"; did you mean '{suggestion}'?"));
            }
            else
            {
                result.Add(name);
            }
        }

        return result;
    }

    /// <summary>
    /// Binds <c>processors.privacy</c> and compiles its policy file now, so a broken policy is reported with
    /// every other config error and Hush refuses to start on it.
    /// </summary>
    private static PrivacyConfig BindPrivacy(MapReader reader, List<string> errors)
    {
        var policy = reader.String("policy");
        var watch = reader.Bool("watch", true);
        var secretFile = reader.String("secret_file");
        if (secretFile is not null)
        {
            reader.RequireFile("secret_file", secretFile);
        }

        string? policyPath = null;
        if (policy is not null)
        {
            var errorsBefore = errors.Count;
            reader.RequireFile("policy", policy);
            if (errors.Count == errorsBefore)
            {
                policyPath = Path.GetFullPath(policy);
                foreach (var problem in PolicyLoader.LoadFile(policyPath).Errors)
                {
                    errors.Add($"'{reader.KeyPath("policy")}': {problem}");
                }
            }
        }

        reader.Finish();
        return new PrivacyConfig(policyPath, watch, secretFile is null ? null : Path.GetFullPath(secretFile));
    }

    private static OtlpReceiverConfig BindOtlpReceiver(string id, MapReader reader, List<string> errors)
    {
        var protocols = reader.Map("protocols");
        var auth = reader.Map("auth");
        var limits = reader.Map("limits");
        reader.Finish();
        GrpcProtocolConfig? grpc = null;
        HttpProtocolConfig? http = null;
        if (protocols.Node("grpc") is not null)
        {
            var g = protocols.Map("grpc");
            var listener = g.Listener("127.0.0.1:4317");
            var mib = g.Int("max_recv_msg_size_mib", 4, 1, MaxRecvMsgSizeMibLimit);
            g.Finish();
            grpc = new GrpcProtocolConfig(listener, mib * MiB);
        }

        if (protocols.Node("http") is not null)
        {
            var h = protocols.Map("http");
            var listener = h.Listener("127.0.0.1:4318");
            var max = h.Size("max_request_body_size", 4 * MiB, 1024, MaxRecvMsgSizeMibLimit * (long)MiB);
            h.Finish();
            http = new HttpProtocolConfig(listener, (int)max);
        }

        protocols.Finish();
        if (grpc is null && http is null)
        {
            errors.Add($"'{protocols.Path}' must enable 'grpc', 'http' or both");
        }

        var receiver = new OtlpReceiverConfig(id, grpc, http);
        var (defaults, tenants) = IngestBinder.BindLimits(limits, Math.Max(grpc?.MaxRecvMsgSizeBytes ?? 0, http?.MaxRequestBodySize ?? 0));
        return receiver with
        {
            Auth = IngestBinder.BindAuth(auth, receiver.IsLoopbackOnly, grpc?.Listener.Tls is not null || http?.Listener.Tls is not null, tokenFile: string.Empty),
            DefaultLimits = defaults,
            TenantLimits = tenants,
        };
    }

    private static StoreExporterConfig BindStore(string id, MapReader reader)
    {
        var retention = reader.Duration("retention", TimeSpan.FromDays(7), TimeSpan.FromMinutes(1), TimeSpan.FromDays(3650));
        var tenants = new Dictionary<string, TimeSpan>(StringComparer.Ordinal);
        var tenantsReader = reader.Map("tenants");
        foreach (var (tenant, _) in tenantsReader.Entries)
        {
            var one = tenantsReader.Map(tenant);
            tenants[tenant] = one.Duration("retention", retention, TimeSpan.FromMinutes(1), TimeSpan.FromDays(3650));
            one.Finish();
        }

        tenantsReader.Finish();
        var segment = reader.Size("segment_max_size", 64L << 20, 1L << 20, 4L << 30);
        var journal = reader.Size("journal_max_size", 1L << 30, 16L << 20, 1L << 40);
        var blockSpans = reader.Int("block_max_spans", 256, 16, 8192);
        var kek = reader.String("kek_file");
        if (kek is not null)
        {
            reader.RequireFile("kek_file", kek);
        }

        reader.Finish();
        return new StoreExporterConfig(id) { Retention = retention, TenantRetention = tenants, SegmentMaxBytes = segment, JournalMaxBytes = journal, KekFile = kek, BlockMaxSpans = blockSpans };
    }

    private static ExporterConfig BindExporter(string id, MapReader reader)
    {
        switch (TypeOf(id))
        {
            case "debug":
                reader.Finish();
                return new DebugExporterConfig(id);
            case "nop":
                reader.Finish();
                return new NopExporterConfig(id);
            case "store":
                return BindStore(id, reader);
        }

        var errors = reader.Errors;
        var endpointText = reader.String("endpoint");
        Uri? endpoint = null;
        if (string.IsNullOrWhiteSpace(endpointText))
        {
            errors.Add($"'{reader.KeyPath("endpoint")}' is required");
        }
        else if (!Uri.TryCreate(endpointText, UriKind.Absolute, out endpoint) || endpoint.Scheme is not ("http" or "https") || endpoint.UserInfo.Length > 0)
        {
            errors.Add($"'{reader.KeyPath("endpoint")}' must be an absolute http or https URL without user info{reader.Where("endpoint")}");
            endpoint = null;
        }

        var encoding = reader.String("encoding") ?? "proto";
        if (encoding is not ("proto" or "json"))
        {
            errors.Add($"'{reader.KeyPath("encoding")}' must be proto or json");
        }

        var compression = reader.String("compression") ?? "gzip";
        if (compression is not ("gzip" or "none"))
        {
            errors.Add($"'{reader.KeyPath("compression")}' must be gzip or none");
        }

        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        var headerReader = reader.Map("headers");
        foreach (var (name, node) in headerReader.Entries)
        {
            headerReader.Node(name);
            var key = headerReader.KeyPath(name);
            if (!IsHeaderName(name))
            {
                errors.Add($"'{key}' is not a valid HTTP header name");
            }
            else if (node is not ConfigScalar { Value: { } value })
            {
                // The value is a secret: say only what is wrong with its shape.
                errors.Add($"'{key}' must be a single text value");
            }
            else if (value.AsSpan().IndexOfAny('\r', '\n', '\0') >= 0)
            {
                errors.Add($"'{key}' must not contain line breaks or NUL characters (value not shown: header values are secrets)");
            }
            else
            {
                headers[name] = value;
            }
        }

        var tenantHeader = reader.String("tenant_header") ?? "X-Scope-OrgID";
        if (tenantHeader.Length > 0 && !IsHeaderName(tenantHeader))
        {
            errors.Add($"'{reader.KeyPath("tenant_header")}' is not a valid HTTP header name{reader.Where("tenant_header")}");
        }
        else if (tenantHeader.Length > 0 && headers.ContainsKey(tenantHeader))
        {
            errors.Add($"'{headerReader.KeyPath(tenantHeader)}' is set by Hush to each batch's tenant ('{reader.KeyPath("tenant_header")}'); remove it, or set tenant_header: \"\" to send a fixed value");
        }

        var timeout = reader.Duration("timeout", TimeSpan.FromSeconds(10), TimeSpan.FromMilliseconds(1), TimeSpan.FromMinutes(10));
        var retry = reader.Map("retry_on_failure");
        var retryEnabled = retry.Bool("enabled", true);
        var initial = retry.Duration("initial_interval", TimeSpan.FromSeconds(5), TimeSpan.FromMilliseconds(1), TimeSpan.FromHours(1));
        var maxInterval = retry.Duration("max_interval", TimeSpan.FromSeconds(30), TimeSpan.FromMilliseconds(1), TimeSpan.FromHours(1));
        var maxElapsed = retry.Duration("max_elapsed_time", TimeSpan.FromSeconds(300), TimeSpan.Zero, TimeSpan.FromHours(24));
        if (maxInterval < initial)
        {
            errors.Add($"'{retry.KeyPath("max_interval")}' must not be less than '{retry.KeyPath("initial_interval")}'");
        }

        retry.Finish();
        var sendingQueue = reader.Map("sending_queue");
        var queueSize = sendingQueue.Int("queue_size", 1_000, 1, 1_000_000);
        var consumers = sendingQueue.Int("num_consumers", 2, 1, 64);
        sendingQueue.Finish();
        reader.Finish();

        return new OtlpHttpExporterConfig(id)
        {
            Endpoint = endpoint ?? new Uri("http://invalid.invalid"),
            Json = encoding == "json",
            Gzip = compression == "gzip",
            Headers = headers,
            Timeout = timeout,
            RetryEnabled = retryEnabled,
            InitialInterval = initial,
            MaxInterval = maxInterval,
            MaxElapsedTime = maxElapsed,
            QueueSize = queueSize,
            Consumers = consumers,
            TenantHeader = tenantHeader.Length == 0 ? null : tenantHeader,
        };
    }

    private static bool IsHeaderName(string name)
    {
        if (name.Length == 0)
        {
            return false;
        }

        foreach (var c in name)
        {
            if (!char.IsAsciiLetterOrDigit(c) && "!#$%&'*+-.^_`|~".IndexOf(c, StringComparison.Ordinal) < 0)
            {
                return false;
            }
        }

        return true;
    }

    private static void CheckListeners(OtlpReceiverConfig receiver, ListenerConfig admin, List<string> errors, List<string> warnings)
    {
        var listeners = new List<ListenerConfig>(3);
        if (receiver.Grpc is not null)
        {
            listeners.Add(receiver.Grpc.Listener);
        }

        if (receiver.Http is not null)
        {
            listeners.Add(receiver.Http.Listener);
        }

        listeners.Add(admin);
        for (var i = 0; i < listeners.Count; i++)
        {
            if (!listeners[i].IsLoopback && listeners[i] == admin)
            {
                warnings.Add($"WARNING: '{listeners[i].Key}' binds a non-loopback address: /metrics and the health endpoints are open to anyone who can reach it.");
            }

            for (var j = i + 1; j < listeners.Count; j++)
            {
                if (listeners[i].Port != 0 && listeners[i].Port == listeners[j].Port)
                {
                    errors.Add($"'{listeners[j].Key}' uses port {listeners[j].Port}, which '{listeners[i].Key}' already uses");
                }
            }
        }
    }
}
