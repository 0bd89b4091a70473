using Hush.Gateway.Configuration;
using Hush.Pipeline;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Hush.Gateway;

/// <summary>What a host supplies besides the config: logging, time, and the seams tests and the coordinator plug into.</summary>
public sealed class HushServerOptions
{
    /// <summary>Where logs go; nothing is logged by default.</summary>
    public ILoggerFactory LoggerFactory { get; init; } = NullLoggerFactory.Instance;

    /// <summary>The clock of the pipeline and exporters.</summary>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;

    /// <summary>
    /// Replaces the privacy stage (tests only: a stage that throws, or one that records). Null, the default,
    /// runs the policy engine, <see cref="Privacy.PolicyPrivacyStage"/>, over <c>processors.privacy</c>.
    /// </summary>
    public Func<HushConfig, IPrivacyStage>? PrivacyStageFactory { get; init; }

    /// <summary>Exporters added after the configured ones (test sinks, embedded stores).</summary>
    public IReadOnlyList<ISpanExporter> AdditionalExporters { get; init; } = [];

    /// <summary>Carries the JWKS and discovery requests of <c>receivers.otlp.auth.jwt</c>; the default handler when null (tests plug a fake in).</summary>
    public HttpMessageHandler? JwksHttpHandler { get; init; }

    /// <summary>
    /// The store's read side, which the query API on the admin port serves from. Null: the query endpoints answer
    /// 503 "no store configured" (echo and ready still answer).
    /// </summary>
    public Hush.Store.Reading.ITraceReader? TraceReader { get; init; }

    /// <summary>
    /// The token vault the tokenize action writes and <c>POST /api/hush/resolve</c> reads (tests; not owned). Null, the
    /// default: the store's durable vault (<c>{data_dir}/vault.db</c>) when the pipeline exports to the embedded store,
    /// else an in-memory one whose tokens resolve within one run only (a warning says so).
    /// </summary>
    public Hush.Privacy.Transforms.ITokenVault? TokenVault { get; init; }

    /// <summary>The metrics registry; a new one by default.</summary>
    public HushMetrics? Metrics { get; init; }
}
