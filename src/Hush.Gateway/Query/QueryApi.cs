using System.Globalization;
using System.Reflection;
using System.Text;
using System.Text.Json;
using Hush.Gateway.Authentication;
using Hush.Gateway.Configuration;
using Hush.Gateway.Query.Audit;
using Hush.Gateway.Query.TraceQl;
using Hush.Otlp;
using Hush.Privacy.Transforms;
using Hush.Store.Reading;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Hush.Gateway.Query;

/// <summary>
/// The Tempo-compatible query API on the admin port: trace by id (v1, v2), search (TraceQL subset and legacy tags),
/// tag names and values (v1, v2), echo, ready, build info; plus Hush's own <c>POST /api/hush/resolve</c> and
/// <c>GET /api/hush/audit</c>. Every request but echo and ready is authenticated, rate-limited per identity, bound to
/// one of the identity's tenants, checked against its roles, and audited before its answer is sent: when the audit
/// log cannot be written nothing is served. Data comes only through <see cref="ITraceReader"/>, within one tenant.
/// </summary>
internal sealed partial class QueryApi : IDisposable
{
    /// <summary>Tag scans look at the newest traces only: tag names change slowly, and Grafana asks on every keystroke.</summary>
    private const int TagScanTraces = 1_000;

    /// <summary>Tempo's default cap on tag values in one answer.</summary>
    private const int MaxTagValues = 1_000;

    /// <summary>Tag names per scope in one answer.</summary>
    private const int MaxTagNames = 1_000;

    /// <summary>A resolve request is three short strings.</summary>
    private const int MaxResolveBodyBytes = 16 * 1024;

    /// <summary>Justifications longer than this are refused; the audit record keeps at most this much.</summary>
    private const int MaxJustificationChars = 2_000;

    /// <summary>Tokens are <c>tok_</c> and 26 characters; anything much longer is not one.</summary>
    private const int MaxTokenChars = 256;

    private const string TextPlain = "text/plain; charset=utf-8";
    private const string Json = "application/json";
    private const string Protobuf = "application/protobuf";

    private static readonly string[] Intrinsics = ["duration", "kind", "name", "rootName", "rootServiceName", "status", "statusMessage", "traceDuration"];

    /// <summary>What a vault token can be made of: anything else is refused before any lookup.</summary>
    private static readonly System.Buffers.SearchValues<char> TokenChars =
        System.Buffers.SearchValues.Create("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-");

    private static readonly string Version = typeof(QueryApi).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0.0.0";

    private readonly QueryConfig _config;
    private readonly string _dataDir;
    private readonly ITraceReader? _reader;
    private readonly ITokenVault? _vault;
    private readonly QueryAuthenticator _auth;
    private readonly IdentityRateLimiter _requests;
    private readonly IdentityRateLimiter _resolves;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly IDisposable? _owned;
    private readonly QueryMetrics _metrics;

    internal QueryApi(QueryConfig config, string dataDir, ITraceReader? reader, ITokenVault? vault, AuditLog audit, QueryAuthenticator auth, TimeProvider time, ILogger logger, IDisposable? owned = null, Hush.Pipeline.HushMetrics? metrics = null)
    {
        _metrics = new QueryMetrics(metrics ?? new Hush.Pipeline.HushMetrics());
        _config = config;
        _dataDir = dataDir;
        _reader = reader;
        _vault = vault;
        Audit = audit;
        _auth = auth;
        _time = time;
        _logger = logger;
        _owned = owned;
        var limits = config.Limits;
        _requests = new IdentityRateLimiter(limits.RequestsPerMinute / 60.0, Math.Max(1, limits.RequestsPerMinute / 10.0), time);
        _resolves = new IdentityRateLimiter(limits.ResolvesPerHour / 3600.0, Math.Max(1, limits.ResolvesPerHour / 4.0), time);
    }

    private enum Route
    {
        Echo,
        Ready,
        BuildInfo,
        TraceV1,
        TraceV2,
        Search,
        TagsV1,
        TagsV2,
        TagValuesV1,
        TagValuesV2,
        Resolve,
        AuditRead,
    }

    /// <summary>The audit log every request is written to.</summary>
    public AuditLog Audit { get; }

    /// <summary>Builds the API of <paramref name="config"/>: API keys, JWT (when configured) and the audit log of its data dir.</summary>
    public static QueryApi Create(HushConfig config, ITraceReader? reader, ITokenVault? vault, TimeProvider time, ILoggerFactory loggerFactory, HttpMessageHandler? jwksHandler = null, Hush.Pipeline.HushMetrics? metrics = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        var auth = config.Query.Auth;
        var keys = OpenApiKeys(config, time);
        JwtValidator? jwt = auth.Jwt is { } jwtConfig ? new JwtValidator(jwtConfig, time, loggerFactory.CreateLogger<JwtValidator>(), jwksHandler) : null;
        try
        {
            var audit = AuditLog.Open(config.DataDir, time, config.Query.Audit.RotateBytes);
            return new QueryApi(config.Query, config.DataDir, reader, vault, audit, new QueryAuthenticator(auth, keys, jwt), time, loggerFactory.CreateLogger<QueryApi>(), jwt, metrics);
        }
        catch
        {
            jwt?.Dispose();
            throw;
        }
    }

    /// <summary>The API key store of <paramref name="config"/> (<c>query.auth.api_key_file</c>), sharing the ingest tokens' pepper.</summary>
    public static TokenStore OpenApiKeys(HushConfig config, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        var file = config.Query.Auth.ApiKeyFile is { Length: > 0 } path ? path : Path.Combine(config.DataDir, "apikeys.json");
        return TokenStore.OpenApiKeys(file, TokenStore.PepperPathFor(file), time);
    }

    /// <summary>Stops the JWT key source. Safe to call twice.</summary>
    public void Dispose() => _owned?.Dispose();

    /// <summary>Serves <paramref name="context"/> when its path is a query endpoint; false otherwise (the host falls through).</summary>
    public async Task<bool> TryHandleAsync(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var path = context.Request.Path.Value ?? string.Empty;
        if (Match(path) is not { } matched)
        {
            return false;
        }

        var (route, argument) = matched;

        var request = context.Request;
        var isPost = route == Route.Resolve;
        if (isPost ? !HttpMethods.IsPost(request.Method) : !(HttpMethods.IsGet(request.Method) || HttpMethods.IsHead(request.Method)))
        {
            context.Response.Headers.Allow = isPost ? "POST" : "GET, HEAD";
            await WriteAsync(context, Text(StatusCodes.Status405MethodNotAllowed, isPost ? "method not allowed: use POST" : "method not allowed: use GET"));
            return true;
        }

        switch (route)
        {
            case Route.Echo:
                await WriteAsync(context, new Reply(StatusCodes.Status200OK, TextPlain, "echo"u8.ToArray()));
                return true;
            case Route.Ready:
                await WriteAsync(context, new Reply(StatusCodes.Status200OK, TextPlain, "ready\n"u8.ToArray()));
                return true;
        }

        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        var (reply, roles) = await ServeAsync(context, route, argument, path);
        var answered = reply ?? Text(499, "client closed the request") with { Reason = "client_closed" };
        _metrics.Record(MetricName(route), answered.Status, answered.Reason, roles, answered.Results, System.Diagnostics.Stopwatch.GetElapsedTime(started));
        if (reply is not null)
        {
            await WriteAsync(context, reply);
        }

        return true;
    }

    private static (Route, string)? Match(string path)
    {
        switch (path)
        {
            case "/api/echo":
                return (Route.Echo, string.Empty);
            case "/ready":
                return (Route.Ready, string.Empty);
            case "/api/status/buildinfo":
                return (Route.BuildInfo, string.Empty);
            case "/api/search":
                return (Route.Search, string.Empty);
            case "/api/search/tags":
                return (Route.TagsV1, string.Empty);
            case "/api/v2/search/tags":
                return (Route.TagsV2, string.Empty);
            case "/api/hush/resolve":
                return (Route.Resolve, string.Empty);
            case "/api/hush/audit":
                return (Route.AuditRead, string.Empty);
        }

        if (Between(path, "/api/v2/traces/", string.Empty) is { } v2)
        {
            return (Route.TraceV2, v2);
        }

        if (Between(path, "/api/traces/", string.Empty) is { } v1)
        {
            return (Route.TraceV1, v1);
        }

        if (Between(path, "/api/v2/search/tag/", "/values") is { } tag2)
        {
            return (Route.TagValuesV2, tag2);
        }

        if (Between(path, "/api/search/tag/", "/values") is { } tag1)
        {
            return (Route.TagValuesV1, tag1);
        }

        return null;
    }

    private static string? Between(string path, string prefix, string suffix) =>
        path.Length > prefix.Length + suffix.Length && path.StartsWith(prefix, StringComparison.Ordinal) && path.EndsWith(suffix, StringComparison.Ordinal)
            ? path[prefix.Length..^suffix.Length]
            : null;

    /// <summary>The endpoint as the audit log names it: the path's variable part is a parameter, recorded only when well-formed.</summary>
    private static string Template(Route route) => route switch
    {
        Route.BuildInfo => "/api/status/buildinfo",
        Route.TraceV1 => "/api/traces/{traceId}",
        Route.TraceV2 => "/api/v2/traces/{traceId}",
        Route.Search => "/api/search",
        Route.TagsV1 => "/api/search/tags",
        Route.TagsV2 => "/api/v2/search/tags",
        Route.TagValuesV1 => "/api/search/tag/{tag}/values",
        Route.TagValuesV2 => "/api/v2/search/tag/{tag}/values",
        Route.Resolve => "/api/hush/resolve",
        _ => "/api/hush/audit",
    };

    private static string ActionOf(Route route) => route switch
    {
        Route.BuildInfo => "buildinfo",
        Route.TraceV1 or Route.TraceV2 => "trace",
        Route.Search => "search",
        Route.TagsV1 or Route.TagsV2 => "tags",
        Route.TagValuesV1 or Route.TagValuesV2 => "tag_values",
        Route.Resolve => "resolve",
        _ => "audit.read",
    };

    /// <summary>The endpoint as metrics name it: the audit action, in metric-label spelling.</summary>
    private static string MetricName(Route route) => route == Route.AuditRead ? "audit_read" : ActionOf(route);

    /// <summary>Authenticates, limits, binds the tenant, authorizes, runs, audits. Null when the client went away; the caller's roles when authenticated.</summary>
    private async Task<(Reply? Reply, QueryRoles? Roles)> ServeAsync(HttpContext context, Route route, string argument, string path)
    {
        var parameters = AuditParameters(context.Request, route, argument);
        var entry = new AuditEntry
        {
            Identity = "anonymous",
            Action = ActionOf(route),
            Endpoint = Template(route),
            Parameters = parameters,
        };

        var (identity, failure) = await _auth.AuthenticateAsync(context);
        Reply reply;
        string? tenant = null;
        if (identity is null)
        {
            var reason = IngestAuthenticator.Label(failure);
            QueryLog.Refused(_logger, "anonymous", entry.Action, reason);
            if (failure == AuthFailure.Unavailable)
            {
                reply = Text(StatusCodes.Status503ServiceUnavailable, "the identity provider's keys cannot be fetched; try again") with { Reason = reason };
            }
            else
            {
                var message = failure == AuthFailure.Missing
                    ? "authentication required: send an API key (Authorization: Bearer hushk_..., or as the Basic auth password) or a JWT"
                    : "the credential was refused: " + reason;
                reply = Text(StatusCodes.Status401Unauthorized, message) with { Reason = reason };
                context.Response.Headers.WWWAuthenticate = "Bearer realm=\"hush\", Basic realm=\"hush\"";
            }
        }
        else if (!_requests.TryTake(identity.Id, out var wait))
        {
            reply = Text(StatusCodes.Status429TooManyRequests, "too many requests for this identity; retry later") with { Reason = "rate_limited", RetryAfter = wait };
        }
        else if (SelectTenant(context.Request, identity, out tenant) is { } tenantProblem)
        {
            reply = tenantProblem;
            if (tenantProblem.Status == StatusCodes.Status403Forbidden)
            {
                QueryLog.TenantMismatch(_logger, identity.Id, entry.Action, _config.Auth.TenantHeader);
            }
        }
        else if (Authorize(route, identity) is { } forbidden)
        {
            QueryLog.Refused(_logger, identity.Id, entry.Action, "forbidden_role");
            reply = Text(StatusCodes.Status403Forbidden, forbidden) with { Reason = "forbidden_role" };
        }
        else if (_reader is null && route is not (Route.BuildInfo or Route.AuditRead))
        {
            reply = Text(StatusCodes.Status503ServiceUnavailable, "no store configured: this Hush keeps no traces to query") with { Reason = "no_store" };
        }
        else
        {
            using var timeout = new CancellationTokenSource(_config.Limits.Timeout, _time);
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token, context.RequestAborted);
            try
            {
                reply = await RunAsync(context, route, argument, identity, tenant!, parameters, linked.Token);
            }
            catch (Exception e) when (e is QueryParameterException or TraceQlException)
            {
                reply = Text(StatusCodes.Status400BadRequest, e.Message) with { Reason = "bad_request" };
            }
            catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
            {
                reply = Text(499, "client closed the request") with { Reason = "client_closed" };
            }
            catch (OperationCanceledException)
            {
                reply = Text(StatusCodes.Status504GatewayTimeout, $"the query did not finish within {_config.Limits.Timeout.TotalSeconds:0.###} s") with { Reason = "timeout" };
            }
#pragma warning disable CA1031 // A failing store must answer 500, never crash the listener or leak its message.
            catch (Exception e)
#pragma warning restore CA1031
            {
                var type = e.GetType().Name;
                QueryLog.Failed(_logger, entry.Action, type);
                reply = Text(StatusCodes.Status500InternalServerError, "the query failed inside Hush; see its log") with { Reason = "internal_error" };
            }
        }

        entry = entry with
        {
            Identity = identity?.Id ?? "anonymous",
            Tenant = tenant ?? string.Empty,
            Results = reply.Results,
            Decision = reply.Status < 400 ? AuditDecision.Allow : reply.Status is 401 or 403 or 429 ? AuditDecision.Deny : AuditDecision.Error,
            Status = reply.Status,
            Reason = reply.Reason,
        };

        try
        {
            await Audit.AppendAsync(entry);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Fail closed: an answer that cannot be audited is not given.
            var type = e.GetType().Name;
            QueryLog.AuditFailed(_logger, type);
            return (Text(StatusCodes.Status503ServiceUnavailable, "the audit log cannot be written; Hush serves nothing unaudited") with { Reason = "audit_failed" }, identity?.Roles);
        }

        return (context.RequestAborted.IsCancellationRequested ? null : reply, identity?.Roles);
    }

    private Reply? SelectTenant(HttpRequest request, QueryIdentity identity, out string? tenant)
    {
        tenant = null;
        var values = request.Headers[_config.Auth.TenantHeader];
        if (values.Count > 1)
        {
            return Text(StatusCodes.Status400BadRequest, $"send one {_config.Auth.TenantHeader} header") with { Reason = "bad_tenant_header" };
        }

        if (values.Count == 1 && values[0]?.Trim() is { Length: > 0 } requested)
        {
            if (!identity.Tenants.Contains(requested, StringComparer.Ordinal))
            {
                return Text(StatusCodes.Status403Forbidden, $"this identity may not read the tenant named by {_config.Auth.TenantHeader}") with { Reason = "tenant_mismatch" };
            }

            tenant = requested;
            return null;
        }

        if (identity.Tenants.Count != 1)
        {
            return Text(StatusCodes.Status400BadRequest, $"this identity holds several tenants: name one with the {_config.Auth.TenantHeader} header") with { Reason = "tenant_required" };
        }

        tenant = identity.Tenants[0];
        return null;
    }

    /// <summary>Null when <paramref name="identity"/>'s roles allow <paramref name="route"/>; else why not.</summary>
    private static string? Authorize(Route route, QueryIdentity identity) => route switch
    {
        Route.BuildInfo => null,
        Route.TraceV1 or Route.TraceV2 => identity.MayReadContent ? null : "trace bodies need the engineer or investigator role",
        Route.Search or Route.TagsV1 or Route.TagsV2 or Route.TagValuesV1 or Route.TagValuesV2 =>
            identity.MaySearch ? null : "search and tags need the viewer, engineer or investigator role",
        Route.Resolve => identity.MayResolve ? null : "resolving a token needs the investigator role",
        _ => identity.MayReadAudit ? null : "the audit log needs the admin role",
    };

    private Task<Reply> RunAsync(HttpContext context, Route route, string argument, QueryIdentity identity, string tenant, List<KeyValuePair<string, string>> parameters, CancellationToken cancellationToken) => route switch
    {
        Route.BuildInfo => Task.FromResult(BuildInfo()),
        Route.TraceV1 or Route.TraceV2 => TraceByIdAsync(context.Request, tenant, argument, route == Route.TraceV2, cancellationToken),
        Route.Search => SearchAsync(context.Request, identity, tenant, cancellationToken),
        Route.TagsV1 or Route.TagsV2 => TagsAsync(context.Request, tenant, route == Route.TagsV2, cancellationToken),
        Route.TagValuesV1 or Route.TagValuesV2 => TagValuesAsync(context.Request, identity, tenant, argument, route == Route.TagValuesV2, cancellationToken),
        Route.Resolve => ResolveAsync(context.Request, identity, tenant, parameters, cancellationToken),
        _ => Task.FromResult(ReadAudit(context.Request, tenant)),
    };

    // ---- trace by id ----

    private async Task<Reply> TraceByIdAsync(HttpRequest request, string tenant, string idText, bool v2, CancellationToken cancellationToken)
    {
        if (!QueryParameters.TryParseTraceId(idText, out var id))
        {
            return Text(StatusCodes.Status400BadRequest, "malformed trace id: expected 1 to 32 hex digits") with { Reason = "bad_request" };
        }

        var start = QueryParameters.EpochSeconds(request.Query["start"], "start");
        var end = QueryParameters.EpochSeconds(request.Query["end"], "end");
        CheckWindow(start, end);
        var trace = await _reader!.FindTraceAsync(tenant, id, start, end, cancellationToken);
        if (trace is null || trace.CountSpans() == 0)
        {
            // The same answer whether the id is unknown or another tenant's: the reader cannot tell them apart either.
            return Text(StatusCodes.Status404NotFound, "trace not found") with { Reason = "not_found", Results = 0 };
        }

        var spans = trace.CountSpans();
        if (WantsProtobuf(request))
        {
            var body = OtlpProtobuf.Encode(trace);
            return new Reply(StatusCodes.Status200OK, Protobuf, v2 ? WrapField1(body) : body) { Results = spans };
        }

        var json = OtlpJson.Encode(trace);
        return new Reply(StatusCodes.Status200OK, Json, v2 ? [.. "{\"trace\":"u8, .. json, .. "}"u8] : json) { Results = spans };
    }

    private static bool WantsProtobuf(HttpRequest request)
    {
        foreach (var accept in request.Headers.Accept)
        {
            if (accept is not null && (accept.Contains("application/protobuf", StringComparison.OrdinalIgnoreCase) || accept.Contains("application/x-protobuf", StringComparison.OrdinalIgnoreCase)))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary><c>TraceByIDResponse{ trace = 1 }</c>: the trace's bytes as a length-delimited field 1.</summary>
    internal static byte[] WrapField1(byte[] message)
    {
        Span<byte> varint = stackalloc byte[10];
        var length = 0;
        var value = (uint)message.Length;
        do
        {
            var b = (byte)(value & 0x7F);
            value >>= 7;
            varint[length++] = value == 0 ? b : (byte)(b | 0x80);
        }
        while (value != 0);

        var result = new byte[1 + length + message.Length];
        result[0] = 0x0A;
        varint[..length].CopyTo(result.AsSpan(1));
        message.CopyTo(result, 1 + length);
        return result;
    }

    // ---- search ----

    private async Task<Reply> SearchAsync(HttpRequest request, QueryIdentity identity, string tenant, CancellationToken cancellationToken)
    {
        var q = request.Query["q"].ToString();
        TraceQlQuery? query = null;
        LegacyTags? legacy = null;
        if (q.Trim().Length > 0)
        {
            query = TraceQlQuery.Parse(q);
        }
        else
        {
            legacy = LegacyTags.Parse(request.Query["tags"]);
        }

        var limits = _config.Limits;
        var limit = QueryParameters.PositiveInt(request.Query["limit"], "limit", 20, limits.MaxSearchLimit);
        var spss = QueryParameters.PositiveInt(request.Query["spss"], "spss", 3, limits.MaxSpansPerSpanSet);
        var start = QueryParameters.EpochSeconds(request.Query["start"], "start");
        var end = QueryParameters.EpochSeconds(request.Query["end"], "end");
        CheckWindow(start, end);
        var minDuration = QueryParameters.Duration(request.Query["minDuration"], "minDuration");
        var maxDuration = QueryParameters.Duration(request.Query["maxDuration"], "maxDuration");
        if (!identity.MayReadContent && !(query?.IsServiceLevel ?? legacy!.IsServiceLevel))
        {
            return Text(StatusCodes.Status403Forbidden, "the viewer role may filter only on intrinsics and service.name") with { Reason = "forbidden_role" };
        }

        // The store counts what it looked at, traces the span filter let it skip too, and stops at the bound.
        var progress = new ScanProgress();
        var scan = new TraceScan
        {
            Start = start,
            End = end,
            Hints = query?.Hints ?? legacy!.Hints,
            SpanFilter = query?.SpanFilter,
            IntrinsicFilter = query?.IntrinsicFilter,
            MaxTraces = limits.MaxInspectedTraces,
            Progress = progress,
        };
        var hits = new List<SearchHit>();
        try
        {
            await foreach (var trace in _reader!.ScanAsync(tenant, scan, cancellationToken).WithCancellation(cancellationToken))
            {
                var view = new TraceView(trace);
                if (view.Spans.Count == 0 || (minDuration is { } min && view.DurationNanos < min) || (maxDuration is { } max && view.DurationNanos > max))
                {
                    continue;
                }

                var matched = query is not null ? query.Match(view) : legacy!.Match(view);
                if (matched is { Count: > 0 })
                {
                    hits.Add(new SearchHit(view, matched));
                    if (hits.Count >= limit)
                    {
                        break;
                    }
                }
            }
        }
        catch (OperationCanceledException) when (!request.HttpContext.RequestAborted.IsCancellationRequested)
        {
            // Past the deadline: answer what was found, as Tempo does with a partial search.
        }

        var body = SearchResponseWriter.Write(hits, spss, query?.Fields ?? [], identity.MayReadContent, Math.Min(progress.Traces, limits.MaxInspectedTraces), progress.Spans);
        return new Reply(StatusCodes.Status200OK, Json, body) { Results = hits.Count };
    }

    private static void CheckWindow(DateTimeOffset? start, DateTimeOffset? end)
    {
        if (start is { } s && end is { } e && e < s)
        {
            throw new QueryParameterException("'end' must not be before 'start'");
        }
    }

    // ---- tags ----

    private async Task<Reply> TagsAsync(HttpRequest request, string tenant, bool v2, CancellationToken cancellationToken)
    {
        var scope = request.Query["scope"].ToString();
        if (scope is not ("" or "all" or "none" or "span" or "resource" or "intrinsic"))
        {
            throw new QueryParameterException("'scope' must be span, resource, intrinsic or all");
        }

        var start = QueryParameters.EpochSeconds(request.Query["start"], "start");
        var end = QueryParameters.EpochSeconds(request.Query["end"], "end");
        CheckWindow(start, end);
        var span = new SortedSet<string>(StringComparer.Ordinal);
        var resource = new SortedSet<string>(StringComparer.Ordinal);
        var inspected = 0;
        await foreach (var trace in _reader!.ScanAsync(tenant, new TraceScan { Start = start, End = end }, cancellationToken).WithCancellation(cancellationToken))
        {
            foreach (var rs in trace.ResourceSpans)
            {
                foreach (var kv in rs.Resource.Attributes)
                {
                    AddBounded(resource, kv.Key);
                }

                foreach (var ss in rs.ScopeSpans)
                {
                    foreach (var s in ss.Spans)
                    {
                        foreach (var kv in s.Attributes)
                        {
                            AddBounded(span, kv.Key);
                        }
                    }
                }
            }

            if (++inspected >= Math.Min(TagScanTraces, _config.Limits.MaxInspectedTraces))
            {
                break;
            }
        }

        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            if (!v2)
            {
                json.WriteStartArray("tagNames");
                foreach (var name in new SortedSet<string>(span.Concat(resource), StringComparer.Ordinal))
                {
                    json.WriteStringValue(name);
                }

                json.WriteEndArray();
            }
            else
            {
                json.WriteStartArray("scopes");
                if (scope is "" or "all" or "none" or "span")
                {
                    WriteScope(json, "span", span);
                }

                if (scope is "" or "all" or "none" or "resource")
                {
                    WriteScope(json, "resource", resource);
                }

                if (scope is "" or "all" or "none" or "intrinsic")
                {
                    WriteScope(json, "intrinsic", Intrinsics);
                }

                json.WriteEndArray();
            }

            json.WriteEndObject();
        }

        return new Reply(StatusCodes.Status200OK, Json, buffer.ToArray()) { Results = span.Count + resource.Count };
    }

    private static void AddBounded(SortedSet<string> set, string value)
    {
        if (set.Count < MaxTagNames)
        {
            set.Add(value);
        }
    }

    private static void WriteScope(Utf8JsonWriter json, string name, IEnumerable<string> tags)
    {
        json.WriteStartObject();
        json.WriteString("name", name);
        json.WriteStartArray("tags");
        foreach (var tag in tags)
        {
            json.WriteStringValue(tag);
        }

        json.WriteEndArray();
        json.WriteEndObject();
    }

    // ---- tag values ----

    private async Task<Reply> TagValuesAsync(HttpRequest request, QueryIdentity identity, string tenant, string tag, bool v2, CancellationToken cancellationToken)
    {
        var field = v2 ? ParseScopedTag(tag) : new TqlField(TqlFieldKind.Attribute, TqlScope.Any, tag);
        var serviceLevel = field.IsServiceName || field.Kind is TqlFieldKind.Name or TqlFieldKind.Status or TqlFieldKind.Kind or TqlFieldKind.RootName or TqlFieldKind.RootServiceName;
        var q = request.Query["q"].ToString();
        var filter = v2 && q.Trim().Length > 0 ? TraceQlQuery.Parse(q) : null;
        if (!identity.MayReadContent && (!serviceLevel || filter is { IsServiceLevel: false }))
        {
            return Text(StatusCodes.Status403Forbidden, "the viewer role may list values only of service.name, name, status and kind") with { Reason = "forbidden_role" };
        }

        var start = QueryParameters.EpochSeconds(request.Query["start"], "start");
        var end = QueryParameters.EpochSeconds(request.Query["end"], "end");
        CheckWindow(start, end);
        var values = new SortedSet<(string Type, string Value)>();
        var inspected = 0;
        await foreach (var trace in _reader!.ScanAsync(tenant, new TraceScan { Start = start, End = end, Hints = filter?.Hints ?? [] }, cancellationToken).WithCancellation(cancellationToken))
        {
            var view = new TraceView(trace);
            foreach (var span in filter is null ? view.Spans : filter.Match(view))
            {
                if (values.Count >= MaxTagValues)
                {
                    break;
                }

                if (ValueOf(field, view, span) is { } typed)
                {
                    values.Add(typed);
                }
            }

            if (++inspected >= Math.Min(TagScanTraces, _config.Limits.MaxInspectedTraces) || values.Count >= MaxTagValues)
            {
                break;
            }
        }

        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteStartArray("tagValues");
            foreach (var (type, value) in values)
            {
                if (v2)
                {
                    json.WriteStartObject();
                    json.WriteString("type", type);
                    json.WriteString("value", value);
                    json.WriteEndObject();
                }
                else
                {
                    json.WriteStringValue(value);
                }
            }

            json.WriteEndArray();
            json.WriteEndObject();
        }

        return new Reply(StatusCodes.Status200OK, Json, buffer.ToArray()) { Results = values.Count };
    }

    private static TqlField ParseScopedTag(string tag)
    {
        if (tag.StartsWith("span.", StringComparison.Ordinal) && tag.Length > 5)
        {
            return new TqlField(TqlFieldKind.Attribute, TqlScope.Span, tag[5..]);
        }

        if (tag.StartsWith("resource.", StringComparison.Ordinal) && tag.Length > 9)
        {
            return new TqlField(TqlFieldKind.Attribute, TqlScope.Resource, tag[9..]);
        }

        if (tag.StartsWith('.') && tag.Length > 1)
        {
            return new TqlField(TqlFieldKind.Attribute, TqlScope.Any, tag[1..]);
        }

        return tag switch
        {
            "name" => new TqlField(TqlFieldKind.Name, TqlScope.Span, tag),
            "status" => new TqlField(TqlFieldKind.Status, TqlScope.Span, tag),
            "kind" => new TqlField(TqlFieldKind.Kind, TqlScope.Span, tag),
            "statusMessage" => new TqlField(TqlFieldKind.StatusMessage, TqlScope.Span, tag),
            "rootName" => new TqlField(TqlFieldKind.RootName, TqlScope.Span, tag),
            "rootServiceName" => new TqlField(TqlFieldKind.RootServiceName, TqlScope.Span, tag),
            "duration" or "traceDuration" => throw new QueryParameterException("durations have no list of values; compare them in a query"),
            _ => throw new QueryParameterException("unknown tag: write span.NAME, resource.NAME, .NAME or an intrinsic (name, status, kind, statusMessage, rootName, rootServiceName)"),
        };
    }

    private static (string, string)? ValueOf(TqlField field, TraceView trace, SpanRef span)
    {
        switch (field.Kind)
        {
            case TqlFieldKind.Name:
                return ("string", span.Span.Name);
            case TqlFieldKind.Status:
                return ("keyword", span.Span.Status.Code.ToString().ToLowerInvariant());
            case TqlFieldKind.Kind:
                return ("keyword", span.Span.Kind.ToString().ToLowerInvariant());
            case TqlFieldKind.StatusMessage:
                return span.Span.Status.Message.Length > 0 ? ("string", span.Span.Status.Message) : null;
            case TqlFieldKind.RootName:
                return ("string", trace.RootName);
            case TqlFieldKind.RootServiceName:
                return ("string", trace.RootServiceName);
        }

        AnyValue value = default;
        var found = (field.Scope != TqlScope.Resource && TraceView.TryGet(span.Span.Attributes, field.Key, out value))
            || (field.Scope != TqlScope.Span && TraceView.TryGet(span.Resource.Resource.Attributes, field.Key, out value));
        if (!found || LegacyTags.Text(value) is not { } text)
        {
            return null;
        }

        return (value.Kind switch
        {
            AnyValueKind.Int => "int",
            AnyValueKind.Double => "float",
            AnyValueKind.Bool => "bool",
            _ => "string",
        }, text);
    }

    // ---- resolve ----

    private async Task<Reply> ResolveAsync(HttpRequest request, QueryIdentity identity, string tenant, List<KeyValuePair<string, string>> parameters, CancellationToken cancellationToken)
    {
        var body = await ReadBodyAsync(request, cancellationToken);
        if (body is null)
        {
            return Text(StatusCodes.Status413PayloadTooLarge, $"the request body is larger than {MaxResolveBodyBytes} bytes") with { Reason = "bad_request" };
        }

        string? token, traceIdText, justification;
        try
        {
            using var doc = JsonDocument.Parse(body);
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw new QueryParameterException("the body must be a JSON object {\"token\", \"traceId\", \"justification\"}");
            }

            token = StringProperty(root, "token");
            traceIdText = StringProperty(root, "traceId");
            justification = StringProperty(root, "justification")?.Trim();
        }
        catch (JsonException)
        {
            throw new QueryParameterException("the body must be a JSON object {\"token\", \"traceId\", \"justification\"}");
        }

        if (token is not { Length: > 0 and <= MaxTokenChars } || token.AsSpan().ContainsAnyExcept(TokenChars))
        {
            throw new QueryParameterException("'token' must be a token as it appears in a trace (tok_...)");
        }

        parameters.Add(new("token", token));
        if (!QueryParameters.TryParseTraceId(traceIdText, out var traceId))
        {
            throw new QueryParameterException("'traceId' must be the hex id of the trace the token was seen in");
        }

        parameters.Add(new("traceId", traceId.ToString()));
        if (justification is null || justification.Length < _config.Limits.MinJustificationChars || justification.Length > MaxJustificationChars)
        {
            throw new QueryParameterException($"'justification' is required: why this resolution is needed, {_config.Limits.MinJustificationChars} to {MaxJustificationChars} characters");
        }

        parameters.Add(new("justification", justification));
        if (!_resolves.TryTake(identity.Id, out var wait))
        {
            return Text(StatusCodes.Status429TooManyRequests, "too many resolutions for this identity; retry later") with { Reason = "rate_limited", RetryAfter = wait };
        }

        if (_vault is null)
        {
            return Text(StatusCodes.Status503ServiceUnavailable, "no token vault configured: tokens cannot be resolved here") with { Reason = "no_vault" };
        }

        var trace = await _reader!.FindTraceAsync(tenant, traceId, null, null, cancellationToken);
        if (trace is null || !TraceContains(trace, token))
        {
            // One answer for "no such trace", "another tenant's trace" and "not in that trace".
            return Text(StatusCodes.Status404NotFound, "the token was not found in that trace") with { Reason = "not_found", Results = 0 };
        }

        if (!_vault.TryResolve(tenant, token, out var value) || value is null)
        {
            return Text(StatusCodes.Status404NotFound, "the token does not resolve: the vault no longer holds it") with { Reason = "not_in_vault", Results = 0 };
        }

        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("token", token);
            json.WriteString("traceId", traceId.ToString());
            json.WriteString("value", value);
            json.WriteEndObject();
        }

        request.HttpContext.Response.Headers.CacheControl = "no-store";
        return new Reply(StatusCodes.Status200OK, Json, buffer.ToArray()) { Results = 1 };
    }

    private static string? StringProperty(JsonElement root, string name) =>
        root.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    private static async Task<byte[]?> ReadBodyAsync(HttpRequest request, CancellationToken cancellationToken)
    {
        if (request.ContentLength > MaxResolveBodyBytes)
        {
            return null;
        }

        using var buffer = new MemoryStream();
        var chunk = new byte[4096];
        int read;
        while ((read = await request.Body.ReadAsync(chunk, cancellationToken)) > 0)
        {
            if (buffer.Length + read > MaxResolveBodyBytes)
            {
                return null;
            }

            buffer.Write(chunk, 0, read);
        }

        return buffer.ToArray();
    }

    /// <summary>True when some string the trace carries (names, attribute values at any depth, events, links, status) contains <paramref name="token"/>.</summary>
    internal static bool TraceContains(TraceRequest trace, string token)
    {
        foreach (var rs in trace.ResourceSpans)
        {
            if (Contains(rs.Resource.Attributes, token, 0))
            {
                return true;
            }

            foreach (var ss in rs.ScopeSpans)
            {
                foreach (var span in ss.Spans)
                {
                    if (span.Name.Contains(token, StringComparison.Ordinal) || span.Status.Message.Contains(token, StringComparison.Ordinal)
                        || Contains(span.Attributes, token, 0))
                    {
                        return true;
                    }

                    foreach (var e in span.Events)
                    {
                        if (e.Name.Contains(token, StringComparison.Ordinal) || Contains(e.Attributes, token, 0))
                        {
                            return true;
                        }
                    }

                    foreach (var link in span.Links)
                    {
                        if (Contains(link.Attributes, token, 0))
                        {
                            return true;
                        }
                    }
                }
            }
        }

        return false;
    }

    private static bool Contains(List<KeyValue> attributes, string token, int depth)
    {
        foreach (var kv in attributes)
        {
            if (Contains(kv.Value, token, depth))
            {
                return true;
            }
        }

        return false;
    }

    private static bool Contains(AnyValue value, string token, int depth)
    {
        if (depth > 16)
        {
            return false;
        }

        switch (value.Kind)
        {
            case AnyValueKind.String:
                return value.StringValue!.Contains(token, StringComparison.Ordinal);
            case AnyValueKind.Array:
                foreach (var item in value.ArrayValue!)
                {
                    if (Contains(item, token, depth + 1))
                    {
                        return true;
                    }
                }

                return false;
            case AnyValueKind.KeyValueList:
                return Contains(value.KeyValueListValue!, token, depth + 1);
            default:
                return false;
        }
    }

    // ---- audit, build info ----

    private Reply ReadAudit(HttpRequest request, string tenant)
    {
        var limit = QueryParameters.PositiveInt(request.Query["limit"], "limit", 100, 1_000);
        var identity = request.Query["identity"].ToString() is { Length: > 0 } i ? i : null;
        var action = request.Query["action"].ToString() is { Length: > 0 } a ? a : null;
        var records = AuditReader.Tail(_dataDir, limit, identity, action, tenant);
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteStartArray("records");
            foreach (var record in records)
            {
                record.WriteTo(json);
            }

            json.WriteEndArray();
            json.WriteEndObject();
        }

        return new Reply(StatusCodes.Status200OK, Json, buffer.ToArray()) { Results = records.Count };
    }

    private static Reply BuildInfo()
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("version", Version);
            json.WriteString("revision", string.Empty);
            json.WriteString("branch", string.Empty);
            json.WriteString("buildUser", string.Empty);
            json.WriteString("buildDate", string.Empty);
            json.WriteString("goVersion", string.Empty);
            json.WriteEndObject();
        }

        return new Reply(StatusCodes.Status200OK, Json, buffer.ToArray());
    }

    // ---- audit parameters ----

    /// <summary>
    /// The request's parameters as the audit log keeps them: TraceQL and tag values replaced by keyed hashes, the rest
    /// (limits, times, ids, tag names) as sent but shortened.
    /// </summary>
    private List<KeyValuePair<string, string>> AuditParameters(HttpRequest request, Route route, string argument)
    {
        var result = new List<KeyValuePair<string, string>>();
        if (route is Route.TraceV1 or Route.TraceV2)
        {
            result.Add(new("traceId", QueryParameters.TryParseTraceId(argument, out var id) ? id.ToString() : "[malformed, not recorded]"));
        }
        else if (route is Route.TagValuesV1 or Route.TagValuesV2)
        {
            // A tag is a name, but the path is the caller's: anything that does not look like one is not kept.
            result.Add(new("tag", argument.Length <= 128 && argument.All(TraceQlLexer.IsIdentifierChar) ? argument : "[unusual, not recorded]"));
        }

        foreach (var (key, values) in request.Query)
        {
            var value = values.ToString();
            switch (key)
            {
                case "q":
                    try
                    {
                        result.Add(new(key, TraceQlQuery.Parse(value).Render(Audit.Redact)));
                    }
                    catch (TraceQlException)
                    {
                        result.Add(new(key, $"[unparsable, {value.Length} characters]"));
                    }

                    break;
                case "tags":
                    try
                    {
                        result.Add(new(key, string.Join(' ', LegacyTags.Parse(value).Tags.Select(t => t.Key + "=" + Audit.Redact(t.Value)))));
                    }
                    catch (QueryParameterException)
                    {
                        result.Add(new(key, $"[unparsable, {value.Length} characters]"));
                    }

                    break;
                case "limit" or "spss" or "start" or "end" or "minDuration" or "maxDuration" or "scope" or "identity" or "action":
                    result.Add(new(key, value.Length <= 64 ? value : value[..64] + "..."));
                    break;
                default:
                    // An unknown parameter is recorded by name only: its value could be anything.
                    result.Add(new(key, "[not recorded]"));
                    break;
            }
        }

        if (route is Route.TraceV1 or Route.TraceV2 && request.Headers.Accept.Count > 0)
        {
            result.Add(new("format", WantsProtobuf(request) ? "protobuf" : "json"));
        }

        return result;
    }

    // ---- responses ----

    private static Reply Text(int status, string message) => new(status, TextPlain, Encoding.UTF8.GetBytes(message + "\n"));

    private static async Task WriteAsync(HttpContext context, Reply reply)
    {
        var response = context.Response;
        response.StatusCode = reply.Status;
        response.ContentType = reply.ContentType;
        response.ContentLength = reply.Body.Length;
        if (reply.RetryAfter is { } wait)
        {
            // The epsilon keeps a wait of 6.000000001 s (floating point) from being told as 7.
            response.Headers.RetryAfter = Math.Max(1, (int)Math.Ceiling(wait.TotalSeconds - 1e-6)).ToString(CultureInfo.InvariantCulture);
        }

        if (!HttpMethods.IsHead(context.Request.Method))
        {
            await response.Body.WriteAsync(reply.Body, context.RequestAborted);
        }
    }

    /// <summary>An answer, built in memory so that it is audited before a byte of it is sent.</summary>
    private sealed record Reply(int Status, string ContentType, byte[] Body)
    {
        public int? Results { get; init; }

        public string Reason { get; init; } = string.Empty;

        public TimeSpan? RetryAfter { get; init; }
    }

    private static partial class QueryLog
    {
        [LoggerMessage(EventId = 4300, Level = LogLevel.Information, Message = "query: refused {Action} for {Identity}: {Reason}")]
        public static partial void Refused(ILogger logger, string identity, string action, string reason);

        [LoggerMessage(EventId = 4301, Level = LogLevel.Warning, Message = "query: identity {Identity} asked {Action} for a tenant it does not hold ({Header}); refused and audited")]
        public static partial void TenantMismatch(ILogger logger, string identity, string action, string header);

        [LoggerMessage(EventId = 4302, Level = LogLevel.Error, Message = "query: {Action} failed with {ExceptionType}")]
        public static partial void Failed(ILogger logger, string action, string exceptionType);

        [LoggerMessage(EventId = 4303, Level = LogLevel.Critical, Message = "query: the audit log cannot be written ({ExceptionType}); refusing every query until it can")]
        public static partial void AuditFailed(ILogger logger, string exceptionType);
    }
}
