using System.Net;
using Hush.Gateway.Admin;
using Hush.Gateway.Authentication;
using Hush.Gateway.Configuration;
using Hush.Gateway.Limits;
using Hush.Gateway.Privacy;
using Hush.Gateway.Receivers;
using Hush.Gateway.Tls;
using Hush.Pipeline;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Hush.Gateway;

/// <summary>
/// A running Hush: the pipeline plus three Kestrel listeners (OTLP/gRPC, OTLP/HTTP, admin). Each
/// listener is its own small web host, so the admin port keeps answering <c>/readyz</c> (503)
/// while the receivers stop and the pipeline drains.
/// </summary>
public sealed class HushServer : IAsyncDisposable
{
    /// <summary>How long a stop waits for in-flight requests before closing connections.</summary>
    private static readonly TimeSpan RequestDrainTimeout = TimeSpan.FromSeconds(5);

    private const int StateStarting = 0;
    private const int StateReady = 1;
    private const int StateStopping = 2;
    private const int StateStopped = 3;

    private readonly TracePipeline _pipeline;
    private readonly IPrivacyStage _privacy;
    private readonly List<ISpanExporter> _ownedExporters;
    private readonly List<WebApplication> _receivers = [];
    private readonly List<IDisposable> _disposables = [];
    private readonly List<Hush.Pipeline.Sampling.TailSamplingProcessor> _processors;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _stopLock = new(1, 1);
    private WebApplication? _admin;
    private int _state;

    private HushServer(
        HushConfig config,
        TracePipeline pipeline,
        IPrivacyStage privacy,
        List<Hush.Pipeline.Sampling.TailSamplingProcessor> processors,
        List<ISpanExporter> ownedExporters,
        HushMetrics metrics,
        ILogger logger)
    {
        _processors = processors;
        Config = config;
        _pipeline = pipeline;
        _privacy = privacy;
        _ownedExporters = ownedExporters;
        Metrics = metrics;
        _logger = logger;
    }

    /// <summary>The config this server runs.</summary>
    public HushConfig Config { get; }

    /// <summary>The metrics registry the admin port serves.</summary>
    public HushMetrics Metrics { get; }

    /// <summary>The bound OTLP/gRPC address (actual port when configured as 0), or null when gRPC is off.</summary>
    public Uri? GrpcEndpoint { get; private set; }

    /// <summary>The bound OTLP/HTTP base address, or null when HTTP is off.</summary>
    public Uri? HttpEndpoint { get; private set; }

    /// <summary>The bound admin address.</summary>
    public Uri AdminEndpoint { get; private set; } = null!;

    /// <summary>True between a completed start and the beginning of a stop.</summary>
    public bool IsReady => Volatile.Read(ref _state) == StateReady;

    /// <summary>
    /// Re-reads the privacy policy file (what SIGHUP does). A broken file keeps the policy in force and the
    /// result lists its errors. Null when the privacy stage is not the policy engine (a test seam).
    /// </summary>
    public Hush.Privacy.PolicyReloadResult? ReloadPolicy() => (_privacy as PolicyPrivacyStage)?.Reload();

    /// <summary>
    /// Builds and starts the pipeline, then the listeners. Throws (after cleaning up) when a listener
    /// cannot bind, for example because its port is taken.
    /// </summary>
    public static async Task<HushServer> StartAsync(HushConfig config, HushServerOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(config);
        options ??= new HushServerOptions();
        var loggerFactory = options.LoggerFactory;
        var logger = loggerFactory.CreateLogger<HushServer>();
        var metrics = options.Metrics ?? new HushMetrics();
        foreach (var warning in config.Warnings)
        {
            Log.ConfigWarning(logger, warning);
        }

        // The exporters, then the privacy stage, which tokenizes into the store's vault (over the store's key ring:
        // one key ring per data directory); a broken policy or secret still refuses to start before anything listens.
        var owned = CreateExporters(config, metrics, loggerFactory, options.TimeProvider);
        var store = owned.OfType<Hush.Store.Storage.StoreExporter>().FirstOrDefault();
        Hush.Store.Vault.TokenVault? vault = null;
        IPrivacyStage privacy;
        try
        {
            if (options.TokenVault is null && store is not null)
            {
                vault = Hush.Store.Vault.TokenVault.Open(config.DataDir, store.Store.Keys, loggerFactory.CreateLogger<Hush.Store.Vault.TokenVault>());
            }

            privacy = options.PrivacyStageFactory is { } factory
                ? factory(config)
                : PolicyPrivacyStage.Create(config, metrics, loggerFactory, vault: options.TokenVault ?? vault);
        }
        catch
        {
            vault?.Dispose();
            foreach (var exporter in owned)
            {
                await exporter.DisposeAsync();
            }

            throw;
        }

        var exporters = new List<ISpanExporter>(owned);
        exporters.AddRange(options.AdditionalExporters);
        var processors = config.Pipeline.TailSampling
            .Select(s => new Hush.Pipeline.Sampling.TailSamplingProcessor(
                s.Id,
                s.Options with
                {
                    // Decisions survive a restart by default: late spans of a kept trace still follow it.
                    DecisionCache = s.Options.DecisionCache with
                    {
                        PersistPath = s.Options.DecisionCache.PersistPath ?? Path.Combine(config.DataDir, "sampling", s.Id.Replace('/', '_') + ".decisions"),
                    },
                },
                metrics,
                loggerFactory,
                options.TimeProvider))
            .ToList();
        var pipeline = new TracePipeline(config.Pipeline.Id, ToPipelineOptions(config.Pipeline), privacy, [.. processors], exporters, metrics, loggerFactory, options.TimeProvider, store?.Journal);
        var server = new HushServer(config, pipeline, privacy, processors, owned, metrics, logger) { Store = store?.Store, _journal = store?.Journal };
        if (vault is not null)
        {
            // Disposed last: resolve on the admin port reads it until the admin port closes.
            server._disposables.Add(vault);
        }

        try
        {
            await server.StartCoreAsync(options, loggerFactory, cancellationToken);
        }
        catch
        {
            await server.StopAsync(CancellationToken.None);
            throw;
        }

        return server;
    }

    /// <summary>The embedded store, when the pipeline exports to it (the query API reads it).</summary>
    public Hush.Store.Storage.TraceStore? Store { get; private init; }

    /// <summary>The store's ingest journal (the pipeline writes it; the start replays what it held).</summary>
    private Hush.Store.Journal.IngestJournal? _journal;

    /// <summary>The journal, for tests that make its writes fail as a full disk does.</summary>
    internal Hush.Store.Journal.IngestJournal? Journal => _journal;

    /// <summary>The static token store the OTLP receivers check (<c>receivers.otlp.auth.token_file</c>).</summary>
    public TokenStore Tokens { get; private set; } = null!;

    /// <summary>Opens the token store of <paramref name="config"/> (creating its pepper on first use).</summary>
    public static TokenStore OpenTokenStore(HushConfig config, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        var file = config.Receiver.Auth.TokenFile;
        return TokenStore.Open(file, TokenStore.PepperPathFor(file), time);
    }

    private IngestGate BuildGate(HushServerOptions options, ILoggerFactory loggerFactory)
    {
        var auth = Config.Receiver.Auth;
        Tokens = OpenTokenStore(Config, options.TimeProvider);
        JwtValidator? jwt = null;
        if (auth.Jwt is { } jwtConfig)
        {
            jwt = new JwtValidator(jwtConfig, options.TimeProvider, loggerFactory.CreateLogger<JwtValidator>(), options.JwksHttpHandler);
            _disposables.Add(jwt);
        }

        var mtls = auth.Mtls is { } mtlsConfig
            ? new ClientCertificateAuthenticator(mtlsConfig, options.TimeProvider, loggerFactory.CreateLogger<ClientCertificateAuthenticator>())
            : null;
        if (auth.Mode == IngestAuthMode.Required && jwt is null && mtls is null && Tokens.ActiveCount == 0)
        {
            throw new InvalidOperationException(
                "authentication is required (an OTLP listener binds a non-loopback address) but no sender could be accepted: "
                + $"create a token with 'hush token create --tenant NAME --services \"*\"' (stored in {Tokens.Path}), "
                + "or configure receivers.otlp.auth.jwt or receivers.otlp.auth.mtls");
        }

        var authenticator = new IngestAuthenticator(
            auth,
            Tokens,
            jwt is null ? null : jwt.ValidateAsync,
            mtls is null ? null : mtls.Authenticate,
            Metrics,
            loggerFactory.CreateLogger<IngestAuthenticator>());
        var limiter = new TenantLimiter(Config.Receiver.DefaultLimits, Config.Receiver.TenantLimits, options.TimeProvider);
        return new IngestGate(authenticator, limiter, _pipeline);
    }

    private async Task StartCoreAsync(HushServerOptions options, ILoggerFactory loggerFactory, CancellationToken cancellationToken)
    {
        var gate = BuildGate(options, loggerFactory);
        var requestClientCertificate = Config.Receiver.Auth.Mtls is not null;
        var admin = new AdminEndpoints(Metrics, () => IsReady, () => Volatile.Read(ref _state) == StateStarting ? "starting" : "stopping");

        // The Tempo-compatible query API shares the admin port; paths it does not serve fall through to /metrics and health.
        var query = Query.QueryApi.Create(Config, options.TraceReader ?? Store, options.TokenVault ?? (_privacy as PolicyPrivacyStage)?.Vault, options.TimeProvider, loggerFactory, options.JwksHttpHandler, Metrics);
        _disposables.Add(query);
        _admin = BuildHost(Config.Admin, HttpProtocols.Http1AndHttp2, loggerFactory, async context =>
        {
            if (!await query.TryHandleAsync(context))
            {
                await admin.HandleAsync(context);
            }
        }, requestClientCertificate: false);
        await _admin.StartAsync(cancellationToken);
        AdminEndpoint = BoundAddress(_admin);
        Log.Listening(_logger, "admin", AdminEndpoint);

        await _pipeline.StartAsync(cancellationToken);
        await ReplayJournalAsync(cancellationToken);

        if (Config.Receiver.Grpc is { } grpc)
        {
            var receiver = new OtlpGrpcReceiver(grpc, gate, Metrics, loggerFactory.CreateLogger<OtlpGrpcReceiver>());
            var host = BuildHost(grpc.Listener, HttpProtocols.Http2, loggerFactory, receiver.HandleAsync, requestClientCertificate);
            _receivers.Add(host);
            await host.StartAsync(cancellationToken);
            GrpcEndpoint = BoundAddress(host);
            Log.Listening(_logger, "OTLP/gRPC", GrpcEndpoint);
        }

        if (Config.Receiver.Http is { } http)
        {
            var receiver = new OtlpHttpReceiver(http, gate, Metrics, loggerFactory.CreateLogger<OtlpHttpReceiver>());
            var host = BuildHost(http.Listener, HttpProtocols.Http1AndHttp2, loggerFactory, receiver.HandleAsync, requestClientCertificate);
            _receivers.Add(host);
            await host.StartAsync(cancellationToken);
            HttpEndpoint = BoundAddress(host);
            Log.Listening(_logger, "OTLP/HTTP", HttpEndpoint);
        }

        Interlocked.CompareExchange(ref _state, StateReady, StateStarting);
        var exporterIds = string.Join(", ", Config.Pipeline.Exporters.Select(e => e.Id));
        Log.Ready(_logger, _pipeline.Name, exporterIds);
    }

    /// <summary>Feeds what the journal held at start (accepted before a crash, not yet stored) through the pipeline, before the receivers open.</summary>
    private async Task ReplayJournalAsync(CancellationToken cancellationToken)
    {
        if (_journal is not { RecoveredCount: > 0 } journal)
        {
            return;
        }

        var requests = 0;
        long spans = 0;
        foreach (var record in journal.Recover())
        {
            spans += record.Traces.CountSpans();
            requests++;
            await _pipeline.SubmitRecoveredAsync(record.Tenant, record.Traces, record.Receipt, cancellationToken);
        }

        Log.JournalReplayed(_logger, requests, spans);
    }

    /// <summary>
    /// Stops: <c>/readyz</c> turns 503, the receivers finish in-flight requests and close, the
    /// pipeline drains every accepted span through the exporters, then the admin port closes.
    /// Safe to call twice.
    /// </summary>
    public async Task StopAsync(CancellationToken cancellationToken = default)
    {
        await _stopLock.WaitAsync(cancellationToken);
        try
        {
            if (Volatile.Read(ref _state) == StateStopped)
            {
                return;
            }

            Volatile.Write(ref _state, StateStopping);
            Log.Stopping(_logger);
            foreach (var host in _receivers)
            {
                await StopHostAsync(host, cancellationToken);
            }

            await _pipeline.StopAsync(cancellationToken);
            foreach (var exporter in _ownedExporters)
            {
                await exporter.DisposeAsync();
            }

            if (_admin is not null)
            {
                await StopHostAsync(_admin, cancellationToken);
            }

            await _pipeline.DisposeAsync();
            foreach (var processor in _processors)
            {
                await processor.DisposeAsync();
            }

            (_privacy as IDisposable)?.Dispose();
            foreach (var disposable in _disposables)
            {
                disposable.Dispose();
            }

            Volatile.Write(ref _state, StateStopped);
            Log.Stopped(_logger);
        }
        finally
        {
            _stopLock.Release();
        }
    }

    /// <summary>Stops (draining) if not yet stopped.</summary>
    public async ValueTask DisposeAsync()
    {
        await StopAsync(CancellationToken.None);
        _stopLock.Dispose();
    }

    private static async Task StopHostAsync(WebApplication host, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(RequestDrainTimeout);
        try
        {
            await host.StopAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            // In-flight requests past the drain timeout are cut; the host still stops.
        }

        await host.DisposeAsync();
    }

    private WebApplication BuildHost(ListenerConfig listener, HttpProtocols protocols, ILoggerFactory loggerFactory, RequestDelegate handler, bool requestClientCertificate)
    {
        CertificateReloader? certificate = null;
        if (listener.Tls is { } tls)
        {
            certificate = new CertificateReloader(tls, loggerFactory.CreateLogger<CertificateReloader>(), TimeProvider.System);
            _disposables.Add(certificate);
        }

        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions { ApplicationName = "Hush" });
        builder.Services.AddSingleton(loggerFactory);
        builder.Services.AddSingleton(typeof(ILogger<>), typeof(Logger<>));
        builder.WebHost.UseKestrelCore();
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Listen(listener.Address, listener.Port, listen =>
            {
                // HTTP/1.1 and HTTP/2 on one port need TLS (ALPN); on plain TCP such a listener speaks HTTP/1.1.
                listen.Protocols = protocols == HttpProtocols.Http1AndHttp2 && listener.Tls is null ? HttpProtocols.Http1 : protocols;
                if (certificate is not null)
                {
                    TlsListenerOptions.Apply(listen, certificate, requestClientCertificate);
                }
            });
        });
        var app = builder.Build();
        app.Run(handler);
        return app;
    }

    private static Uri BoundAddress(WebApplication host)
    {
        var server = host.Services.GetRequiredService<IServer>();
        var address = server.Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault()
            ?? throw new InvalidOperationException("the listener reported no bound address");
        return new Uri(address);
    }

    internal static PipelineOptions ToPipelineOptions(PipelineConfig config) => new()
    {
        QueueCapacitySpans = config.QueueCapacitySpans,
        SendBatchSize = config.SendBatchSize,
        BatchTimeout = config.BatchTimeout,
        Workers = config.Workers,
        RetryAfter = config.RetryAfter,
        ShutdownTimeout = config.ShutdownTimeout,
    };

    internal static OtlpHttpExporterOptions ToExporterOptions(OtlpHttpExporterConfig otlp) => new()
    {
        Endpoint = otlp.Endpoint,
        Encoding = otlp.Json ? OtlpEncoding.Json : OtlpEncoding.Protobuf,
        Gzip = otlp.Gzip,
        Headers = otlp.Headers,
        TenantHeaders = otlp.TenantHeader is { } tenantHeader ? tenant => [new KeyValuePair<string, string>(tenantHeader, tenant)] : null,
        Timeout = otlp.Timeout,
        RetryEnabled = otlp.RetryEnabled,
        InitialInterval = otlp.InitialInterval,
        MaxInterval = otlp.MaxInterval,
        MaxElapsedTime = otlp.MaxElapsedTime,
        QueueSize = otlp.QueueSize,
        Consumers = otlp.Consumers,
    };

    private static List<ISpanExporter> CreateExporters(HushConfig config, HushMetrics metrics, ILoggerFactory loggerFactory, TimeProvider time)
    {
        var exporters = new List<ISpanExporter>();
        foreach (var exporter in config.Pipeline.Exporters)
        {
            switch (exporter)
            {
                case DebugExporterConfig debug:
                    exporters.Add(new DebugExporter(debug.Id, loggerFactory.CreateLogger<DebugExporter>(), metrics));
                    break;
                case NopExporterConfig nop:
                    exporters.Add(new NopExporter(nop.Id, metrics));
                    break;
                case StoreExporterConfig store:
                    exporters.Add(Hush.Store.Storage.StoreExporter.Open(
                        store.Id,
                        config.DataDir,
                        store.KekFile,
                        store.StoreOptions(),
                        new Hush.Store.Journal.JournalOptions(MaxTotalBytes: store.JournalMaxBytes),
                        metrics,
                        loggerFactory,
                        time));
                    break;
                case OtlpHttpExporterConfig otlp:
                    var options = ToExporterOptions(otlp);
                    var errors = options.Validate("exporters." + otlp.Id);
                    if (errors.Count > 0)
                    {
                        throw new InvalidOperationException("invalid exporter settings: " + string.Join("; ", errors));
                    }

                    exporters.Add(new OtlpHttpExporter(otlp.Id, options, metrics, loggerFactory.CreateLogger<OtlpHttpExporter>(), time));
                    break;
            }
        }

        return exporters;
    }
}
