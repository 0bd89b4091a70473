using Hush.Pipeline;

namespace Hush.Gateway.Query;

/// <summary>
/// The query API's metrics on the admin port's <c>/metrics</c>. Every label value comes from a fixed vocabulary in
/// code (endpoint names, outcomes, role names): never a tenant, identity, trace id, query text or header value.
/// </summary>
internal sealed class QueryMetrics
{
    /// <summary>Latency buckets (seconds): trace by id targets 20 ms at p99, search 500 ms at p95, the default deadline is 30 s.</summary>
    private static readonly double[] LatencyBuckets = [0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

    /// <summary>Outcomes a request can have; a reason outside this set counts as <c>other</c>.</summary>
    private static readonly HashSet<string> Outcomes = new(StringComparer.Ordinal)
    {
        "ok", "not_found", "not_in_vault", "bad_request", "bad_tenant_header", "tenant_required", "unauthenticated", "auth_unavailable",
        "forbidden_role", "tenant_mismatch", "rate_limited", "timeout", "client_closed", "no_store", "no_vault", "internal_error", "audit_failed",
    };

    private readonly CounterFamily _requests;
    private readonly HistogramFamily _duration;
    private readonly CounterFamily _results;
    private readonly CounterFamily _denied;
    private readonly CounterFamily _resolves;

    public QueryMetrics(HushMetrics metrics)
    {
        _requests = metrics.Counter("hush_query_requests_total", "Query API requests, by endpoint, outcome (ok, not_found, bad_request, unauthenticated, forbidden_role, tenant_mismatch, rate_limited, timeout, internal_error, ...) and the caller's role.", "endpoint", "outcome", "role");
        _duration = metrics.Histogram("hush_query_request_duration_seconds", "Query API request latency until the answer is ready (audit record durable), by endpoint and outcome class (ok or error).", LatencyBuckets, "endpoint", "outcome");
        _results = metrics.Counter("hush_query_results_total", "Results returned by successful query API requests: spans for trace by id, traces for search, names or values for tags, 1 per resolution.", "endpoint");
        _denied = metrics.Counter("hush_query_denied_total", "Query API requests refused for who sent them: unauthenticated, forbidden_role, tenant_mismatch, rate_limited.", "endpoint", "reason");
        _resolves = metrics.Counter("hush_query_resolves_total", "Pseudonym/token resolution calls, by outcome.", "outcome");
    }

    /// <summary>Counts one answered (or abandoned) request.</summary>
    /// <param name="endpoint">The endpoint's action name (trace, search, tags, tag_values, resolve, audit_read, buildinfo).</param>
    /// <param name="status">The HTTP status answered.</param>
    /// <param name="reason">The reply's reason (empty for success).</param>
    /// <param name="roles">The caller's roles, or null when it was not authenticated.</param>
    /// <param name="results">Results returned, if any.</param>
    /// <param name="elapsed">Time from arrival to the answer being ready.</param>
    public void Record(string endpoint, int status, string reason, QueryRoles? roles, int? results, TimeSpan elapsed)
    {
        var outcome = OutcomeOf(status, reason);
        _requests.WithLabels(endpoint, outcome, RoleOf(roles)).Add();
        _duration.WithLabels(endpoint, status < 400 ? "ok" : "error").Observe(elapsed.TotalSeconds);
        if (status < 400 && results is > 0)
        {
            _results.WithLabels(endpoint).Add(results.Value);
        }

        if (outcome is "unauthenticated" or "forbidden_role" or "tenant_mismatch" or "rate_limited")
        {
            _denied.WithLabels(endpoint, outcome).Add();
        }

        if (endpoint == "resolve")
        {
            _resolves.WithLabels(outcome == "ok" ? "resolved" : outcome).Add();
        }
    }

    internal static string OutcomeOf(int status, string reason) => status switch
    {
        < 400 => "ok",
        401 => "unauthenticated",
        503 when reason == "unavailable" => "auth_unavailable",
        _ => Outcomes.Contains(reason) ? reason : "other",
    };

    /// <summary>The caller's most privileged content role, as one label: investigator, engineer, viewer, admin or none.</summary>
    internal static string RoleOf(QueryRoles? roles) => roles switch
    {
        null or QueryRoles.None => "none",
        var r when r.Value.HasFlag(QueryRoles.Investigator) => "investigator",
        var r when r.Value.HasFlag(QueryRoles.Engineer) => "engineer",
        var r when r.Value.HasFlag(QueryRoles.Viewer) => "viewer",
        _ => "admin",
    };
}
