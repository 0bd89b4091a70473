using Hush.Gateway.Configuration;
using Hush.Gateway.Receivers;
using Hush.Otlp;
using Hush.Pipeline;
using Hush.Privacy;
using Hush.Privacy.Transforms;
using Microsoft.Extensions.Logging;

namespace Hush.Gateway.Privacy;

/// <summary>
/// The gateway's privacy stage: the policy engine (<see cref="PolicyScrubber"/>) over the configured policy
/// file or the shipped default, with per-tenant pseudonym keys derived from <see cref="PseudonymSecret"/>; then it
/// stamps each resource with <c>hush.ingest.identity</c>.
/// Its counters appear on <c>/metrics</c>; their labels are rule, class and action names from the policy.
/// </summary>
public sealed class PolicyPrivacyStage : IPrivacyStage, IDisposable
{
    private readonly PolicyProvider _policies;
    private readonly PolicyScrubber _scrubber;
    private readonly Counter _spansDropped;
    private readonly Counter _reloadsApplied;
    private readonly Counter _reloadsFailed;

    private PolicyPrivacyStage(PolicyProvider policies, byte[] secret, ITokenVault vault, HushMetrics metrics)
    {
        _policies = policies;
        var counters = new PrivacyCounters();
        Vault = vault;
        _scrubber = new PolicyScrubber(policies, new DerivedPseudonymKeyProvider(secret), Vault, counters);
        metrics.ObservedCounter(
            "hush_privacy_values_total",
            "Attribute values and strings the privacy policy changed or dropped, by rule, data class and action.",
            ["rule", "class", "action"],
            () => counters.Snapshot().Select(static c => new KeyValuePair<string[], double>([c.Rule, c.DataClass, c.Action], c.Count)));
        _spansDropped = metrics.Counter(
            "hush_privacy_spans_dropped_total",
            "Spans removed because scrubbing them failed unexpectedly (fail closed).").WithLabels();
        var reloads = metrics.Counter("hush_policy_reloads_total", "Policy file reloads, by outcome.", "outcome");
        _reloadsApplied = reloads.WithLabels("applied");
        _reloadsFailed = reloads.WithLabels("failed");
        metrics.Gauge(
            "hush_policy_info",
            "The policy in force (value 1), labelled with the SHA-256 fingerprint of its file.",
            ["fingerprint"],
            () => [new KeyValuePair<string[], double>([_policies.Current.Fingerprint], 1)]);
    }

    /// <summary>The vault the tokenize action writes to; the query API's resolve reads it.</summary>
    internal ITokenVault Vault { get; }

    /// <summary>The file the policy comes from, or null for the shipped default.</summary>
    public string? PolicyPath => _policies.Path;

    /// <summary>The SHA-256 fingerprint of the policy in force.</summary>
    public string Fingerprint => _policies.Current.Fingerprint;

    /// <summary>
    /// Builds the stage. Throws <see cref="PolicyLoadException"/> (every error listed) for a broken policy file
    /// and <see cref="InvalidOperationException"/> for an unusable pseudonym secret.
    /// </summary>
    /// <param name="config">The server config.</param>
    /// <param name="metrics">Where the stage's counters go.</param>
    /// <param name="loggerFactory">Where the stage logs.</param>
    /// <param name="environment">Reads environment variables (the pseudonym secret); the process environment when null.</param>
    /// <param name="vault">
    /// Where the tokenize action writes (not owned): the store's durable vault. Null keeps tokens in memory, resolvable
    /// within this run only, and logs a warning.
    /// </param>
    public static PolicyPrivacyStage Create(HushConfig config, HushMetrics metrics, ILoggerFactory loggerFactory, Func<string, string?>? environment = null, ITokenVault? vault = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(metrics);
        ArgumentNullException.ThrowIfNull(loggerFactory);
        var logger = loggerFactory.CreateLogger<PolicyPrivacyStage>();
        var secret = PseudonymSecret.Load(config.Privacy, config.DataDir, environment ?? Environment.GetEnvironmentVariable, out var source);
        var policies = config.Privacy.PolicyPath is { } path
            ? PolicyProvider.FromFile(path, logger, config.Privacy.WatchPolicy)
            : PolicyProvider.FromDefault();
        try
        {
            var stage = new PolicyPrivacyStage(policies, secret, vault ?? new InMemoryTokenVault(), metrics);
            policies.Reloaded += _ => stage._reloadsApplied.Add();
            policies.ReloadFailed += _ => stage._reloadsFailed.Add();
            Log.PrivacyReady(logger, policies.Path ?? "the shipped default policy", policies.Current.Fingerprint, source);
            if (vault is Hush.Store.Vault.TokenVault durable)
            {
                Log.VaultDurable(logger, durable.FilePath);
            }
            else if (vault is null)
            {
                Log.VaultInMemory(logger);
            }
            return stage;
        }
        catch
        {
            policies.Dispose();
            throw;
        }
        finally
        {
            System.Security.Cryptography.CryptographicOperations.ZeroMemory(secret);
        }
    }

    /// <inheritdoc/>
    public void Scrub(TraceRequest request, IngestContext context)
    {
        var report = _scrubber.Scrub(request, context.Tenant);
        if (report.SpansDropped > 0)
        {
            _spansDropped.Add(report.SpansDropped);
        }

        // Provenance is Hush's own value, stamped after the policy: the identity's id, never a credential.
        request.StampResources(IngestGate.IdentityAttribute, context.Identity);
    }

    /// <inheritdoc/>
    /// <remarks>True while the policy in force has no detector and no rule, runs in detect mode and does not rewrite span names.</remarks>
    public bool MayPassWireForm => _scrubber.MayLeaveUnchanged(-1);

    /// <summary>
    /// Re-reads the policy file (SIGHUP). A broken file keeps the policy in force; the result lists its errors.
    /// Reloads by signal and by file change both count in <c>hush_policy_reloads_total</c>.
    /// </summary>
    public PolicyReloadResult Reload() => _policies.Reload();

    /// <summary>Stops watching the policy file. Safe to call twice.</summary>
    public void Dispose() => _policies.Dispose();
}
