using System.Net;

namespace Hush.Gateway.Configuration;

/// <summary>
/// The validated Hush configuration, bound from a Collector-shaped YAML file (see
/// <see cref="HushConfigLoader"/>). Immutable; build it only through the loader so every rule holds.
/// </summary>
public sealed class HushConfig
{
    /// <summary>The <c>otlp</c> receiver feeding the pipeline.</summary>
    public required OtlpReceiverConfig Receiver { get; init; }

    /// <summary>The traces pipeline: its id, batching and queue settings, and its exporters in order.</summary>
    public required PipelineConfig Pipeline { get; init; }

    /// <summary><c>processors.privacy</c>: the privacy stage always runs, listed or not.</summary>
    public required PrivacyConfig Privacy { get; init; }

    /// <summary><c>service.admin</c>: the metrics and health listener.</summary>
    public required ListenerConfig Admin { get; init; }

    /// <summary><c>query</c>: authentication and limits of the query API on the admin port.</summary>
    public QueryConfig Query { get; init; } = QueryConfig.Default;

    /// <summary><c>service.data_dir</c>, resolved against the working directory.</summary>
    public required string DataDir { get; init; }

    /// <summary>Problems that do not stop Hush but that an operator must see (printed at start).</summary>
    public IReadOnlyList<string> Warnings { get; init; } = [];
}

/// <summary>An address to listen on, from <c>endpoint: host:port</c> plus optional <c>tls</c>.</summary>
/// <param name="Key">The config key, such as <c>receivers.otlp.protocols.grpc.endpoint</c>.</param>
/// <param name="Address">The IP address to bind (<c>localhost</c> binds the IPv4 loopback).</param>
/// <param name="Port">0 to 65535; 0 picks a free port (tests).</param>
/// <param name="Tls">Certificate and key, or null for plain TCP.</param>
public sealed record ListenerConfig(string Key, IPAddress Address, int Port, TlsConfig? Tls)
{
    /// <summary>True when only this machine can connect.</summary>
    public bool IsLoopback => IPAddress.IsLoopback(Address);

    /// <summary>The endpoint as written back, <c>127.0.0.1:4317</c> or <c>[::1]:4317</c>.</summary>
    public override string ToString() => new IPEndPoint(Address, Port).ToString();
}

/// <summary>PEM certificate and private key files of a TLS listener.</summary>
public sealed record TlsConfig(string CertFile, string KeyFile);

/// <summary>The OTLP receiver (<c>receivers.otlp</c>); a protocol left out is not served.</summary>
public sealed record OtlpReceiverConfig(string Id, GrpcProtocolConfig? Grpc, HttpProtocolConfig? Http)
{
    /// <summary><c>auth</c>: who may send. Dev mode (loopback, tenant <c>dev</c>) by default when every listener is loopback.</summary>
    public IngestAuthConfig Auth { get; init; } = new(IngestAuthMode.Dev, string.Empty, null, null, ["X-Scope-OrgID"]);

    /// <summary><c>limits.default</c>: the limits of every tenant without an override.</summary>
    public Limits.TenantLimits DefaultLimits { get; init; } = Limits.TenantLimits.Unlimited;

    /// <summary><c>limits.tenants</c>: per-tenant overrides.</summary>
    public IReadOnlyDictionary<string, Limits.TenantLimits> TenantLimits { get; init; } = new Dictionary<string, Limits.TenantLimits>();

    /// <summary>True when every enabled OTLP listener binds a loopback address.</summary>
    public bool IsLoopbackOnly => (Grpc?.Listener.IsLoopback ?? true) && (Http?.Listener.IsLoopback ?? true);
}

/// <summary><c>protocols.grpc</c>.</summary>
/// <param name="Listener">Where to listen (HTTP/2 only).</param>
/// <param name="MaxRecvMsgSizeBytes">Largest request message, compressed or not (<c>max_recv_msg_size_mib</c>).</param>
public sealed record GrpcProtocolConfig(ListenerConfig Listener, int MaxRecvMsgSizeBytes);

/// <summary><c>protocols.http</c>.</summary>
/// <param name="Listener">Where to listen (HTTP/1.1 and HTTP/2).</param>
/// <param name="MaxRequestBodySize">Largest body in bytes, before and after decompression.</param>
public sealed record HttpProtocolConfig(ListenerConfig Listener, int MaxRequestBodySize);

/// <summary><c>processors.privacy</c>.</summary>
/// <param name="PolicyPath">A policy file (<c>policy</c>), or null for the shipped default policy.</param>
/// <param name="WatchPolicy">Reload the policy file when it changes (<c>watch</c>, default true); SIGHUP always reloads.</param>
/// <param name="SecretFile">
/// The pseudonym master secret (<c>secret_file</c>): base64 of at least 32 bytes. Null means
/// <c>HUSH_PSEUDONYM_SECRET</c> if set, else <c>{data_dir}/keys/pseudonym.key</c>, created on first start.
/// </param>
public sealed record PrivacyConfig(string? PolicyPath, bool WatchPolicy = true, string? SecretFile = null);

/// <summary>One traces pipeline with the settings of its queue and batcher.</summary>
public sealed record PipelineConfig
{
    /// <summary>The pipeline id, such as <c>traces</c>.</summary>
    public required string Id { get; init; }

    /// <summary>The processor ids listed in the pipeline, in order.</summary>
    public IReadOnlyList<string> Processors { get; init; } = [];

    /// <summary>The <c>tail_sampling</c> processors the pipeline lists, in its order, with their options.</summary>
    public IReadOnlyList<(string Id, Hush.Pipeline.Sampling.TailSamplingOptions Options)> TailSampling { get; init; } = [];

    /// <summary>The exporters of the pipeline, in order.</summary>
    public required IReadOnlyList<ExporterConfig> Exporters { get; init; }

    /// <summary><c>processors.batch.send_batch_size</c>.</summary>
    public int SendBatchSize { get; init; } = 8_192;

    /// <summary><c>processors.batch.timeout</c>.</summary>
    public TimeSpan BatchTimeout { get; init; } = TimeSpan.FromMilliseconds(200);

    /// <summary><c>service.queue.capacity_spans</c>.</summary>
    public int QueueCapacitySpans { get; init; } = 131_072;

    /// <summary><c>service.queue.workers</c>.</summary>
    public int Workers { get; init; } = 2;

    /// <summary><c>service.queue.retry_after</c>: the delay a throttled client is told to wait.</summary>
    public TimeSpan RetryAfter { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary><c>service.shutdown_timeout</c>: how long a stop may spend draining.</summary>
    public TimeSpan ShutdownTimeout { get; init; } = TimeSpan.FromSeconds(10);
}

/// <summary>A configured exporter; <see cref="Id"/> is its <c>type[/name]</c>.</summary>
public abstract record ExporterConfig(string Id);

/// <summary><c>exporters.debug</c>: logs counts only, never values.</summary>
public sealed record DebugExporterConfig(string Id) : ExporterConfig(Id);

/// <summary>
/// <c>exporters.store</c>: the embedded encrypted store in <c>service.data_dir</c> (the default destination), with
/// its ingest journal: a request is answered only once it is on disk.
/// </summary>
public sealed record StoreExporterConfig(string Id) : ExporterConfig(Id)
{
    /// <summary><c>retention</c>: how long blocks are kept (default 168h).</summary>
    public TimeSpan Retention { get; init; } = TimeSpan.FromDays(7);

    /// <summary><c>tenants.{name}.retention</c>: per-tenant retention.</summary>
    public IReadOnlyDictionary<string, TimeSpan> TenantRetention { get; init; } = new Dictionary<string, TimeSpan>();

    /// <summary><c>segment_max_size</c>: segment files roll at this size (default 64MiB).</summary>
    public long SegmentMaxBytes { get; init; } = 64L << 20;

    /// <summary><c>journal_max_size</c>: accepted-but-unstored bytes beyond which ingest answers 503 (default 1GiB).</summary>
    public long JournalMaxBytes { get; init; } = 1L << 30;

    /// <summary><c>kek_file</c>: a mounted key-encryption key (base64 of 32 bytes); else <c>HUSH_STORE_KEK</c>, else <c>{data_dir}/keys/kek.key</c>.</summary>
    public string? KekFile { get; init; }

    /// <summary>
    /// <c>block_max_spans</c>: spans per block at most (default 256). A trace-by-id read decompresses its whole block,
    /// so smaller blocks answer faster; larger ones compress better and index fewer rows.
    /// </summary>
    public int BlockMaxSpans { get; init; } = 256;

    /// <summary>The store's options from this section (the server and the store commands open it alike).</summary>
    internal Hush.Store.Storage.StoreOptions StoreOptions() => new()
    {
        Retention = Retention,
        TenantRetention = TenantRetention,
        SegmentMaxBytes = SegmentMaxBytes,
        BlockMaxSpans = BlockMaxSpans,
    };
}

/// <summary><c>exporters.nop</c>: drops everything.</summary>
public sealed record NopExporterConfig(string Id) : ExporterConfig(Id);

/// <summary><c>exporters.otlphttp[/name]</c>: forwards to an OTLP/HTTP backend such as Tempo.</summary>
public sealed record OtlpHttpExporterConfig(string Id) : ExporterConfig(Id)
{
    public required Uri Endpoint { get; init; }

    /// <summary>True for <c>encoding: json</c>, false for <c>proto</c> (default).</summary>
    public bool Json { get; init; }

    /// <summary><c>compression: gzip</c> (default) or <c>none</c>.</summary>
    public bool Gzip { get; init; } = true;

    /// <summary>Extra request headers. Values are secrets: never printed.</summary>
    public IReadOnlyDictionary<string, string> Headers { get; init; } = new Dictionary<string, string>();

    /// <summary>
    /// <c>tenant_header</c>: the header set on every request to the batch's tenant (default <c>X-Scope-OrgID</c>, what
    /// Tempo and Loki expect); null when set to an empty string. Batches never mix tenants, so neither do requests.
    /// </summary>
    public string? TenantHeader { get; init; } = "X-Scope-OrgID";

    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(10);

    public bool RetryEnabled { get; init; } = true;

    public TimeSpan InitialInterval { get; init; } = TimeSpan.FromSeconds(5);

    public TimeSpan MaxInterval { get; init; } = TimeSpan.FromSeconds(30);

    public TimeSpan MaxElapsedTime { get; init; } = TimeSpan.FromSeconds(300);

    /// <summary><c>sending_queue.queue_size</c>, in batches.</summary>
    public int QueueSize { get; init; } = 1_000;

    /// <summary><c>sending_queue.num_consumers</c>.</summary>
    public int Consumers { get; init; } = 2;
}

/// <summary>How unauthenticated requests are treated (<c>receivers.otlp.auth.mode</c>).</summary>
public enum IngestAuthMode
{
    /// <summary>Credentials are checked when sent; requests without any from a loopback peer go to tenant <c>dev</c>.</summary>
    Dev,

    /// <summary>Every request must carry a valid credential.</summary>
    Required,
}

/// <summary><c>receivers.otlp.auth</c>: who may send, into which tenant.</summary>
/// <param name="Mode">Dev (loopback only) or required; the default is dev only when every OTLP listener is loopback.</param>
/// <param name="TokenFile">The static token store (<c>token_file</c>, default <c>{data_dir}/tokens.json</c>).</param>
/// <param name="Jwt">OIDC/JWT bearer validation, or null.</param>
/// <param name="Mtls">Client certificate authentication, or null.</param>
/// <param name="TenantHeaders">Headers a client might use to pick a tenant; one naming another tenant is refused (default <c>X-Scope-OrgID</c>).</param>
public sealed record IngestAuthConfig(
    IngestAuthMode Mode,
    string TokenFile,
    JwtAuthConfig? Jwt,
    MtlsAuthConfig? Mtls,
    IReadOnlyList<string> TenantHeaders);

/// <summary><c>receivers.otlp.auth.jwt</c>: OIDC/JWT bearer tokens.</summary>
/// <param name="Issuer">The only accepted <c>iss</c>.</param>
/// <param name="Audiences">Accepted <c>aud</c> values (at least one).</param>
/// <param name="JwksFile">A local JWKS file (offline clusters), or null.</param>
/// <param name="JwksUrl">A JWKS URL, or null.</param>
/// <param name="DiscoveryUrl">
/// An OpenID discovery document (<c>{issuer}/.well-known/openid-configuration</c> when <c>discovery: true</c>), or
/// null. Exactly one of <paramref name="JwksFile"/>, <paramref name="JwksUrl"/> and this is set.
/// </param>
/// <param name="TenantClaim">The claim that names the tenant (default <c>hush_tenant</c>).</param>
/// <param name="ServicesClaim">The claim listing the allowed <c>service.name</c> globs (string or array; default <c>hush_services</c>).</param>
/// <param name="IdentityClaim">The claim that names the sender in <c>hush.ingest.identity</c> (default <c>sub</c>).</param>
/// <param name="ClockSkew">Tolerance on <c>exp</c>/<c>nbf</c> (default 30 s).</param>
/// <param name="RefreshInterval">How often remote keys are re-fetched (default 10 min); an unknown <c>kid</c> triggers a refresh at most once a minute.</param>
/// <param name="Algorithms">Accepted signature algorithms (default RS256, RS384, RS512, PS256, ES256, ES384); <c>none</c> and HMAC are never accepted.</param>
public sealed record JwtAuthConfig(
    string Issuer,
    IReadOnlyList<string> Audiences,
    string? JwksFile,
    Uri? JwksUrl,
    Uri? DiscoveryUrl,
    string TenantClaim,
    string ServicesClaim,
    string IdentityClaim,
    TimeSpan ClockSkew,
    TimeSpan RefreshInterval,
    IReadOnlyList<string> Algorithms);

/// <summary><c>receivers.otlp.auth.mtls</c>: client certificates.</summary>
/// <param name="CaFile">PEM file of the CA certificates client certificates must chain to.</param>
/// <param name="Identities">How a verified certificate maps to an identity; the first match wins.</param>
public sealed record MtlsAuthConfig(string CaFile, IReadOnlyList<MtlsIdentityConfig> Identities);

/// <summary>One mapping from a client certificate to an identity.</summary>
/// <param name="Match">
/// <c>CN=name</c> (the subject common name), <c>dns:name</c> (a DNS SAN) or <c>uri:value</c> (a URI SAN, such as a
/// SPIFFE id); exact, case-insensitive for CN and DNS, ordinal for URI.
/// </param>
/// <param name="Tenant">The tenant of this identity.</param>
/// <param name="Services">The <c>service.name</c> globs it may emit.</param>
public sealed record MtlsIdentityConfig(string Match, string Tenant, IReadOnlyList<string> Services);
