using Hush.Gateway.Authentication;
using Hush.Gateway.Limits;
using Hush.Otlp;
using Hush.Pipeline;
using Microsoft.AspNetCore.Http;

namespace Hush.Gateway.Receivers;

/// <summary>What a receiver answers, whatever its wire format.</summary>
internal enum AdmissionStatus
{
    Accepted,
    Unauthenticated,
    PermissionDenied,
    Throttled,
    TooLarge,
    Unavailable,
}

/// <summary>The gate's answer: accepted (perhaps with spans rejected) or refused, with a message safe to return.</summary>
internal readonly record struct Admission(AdmissionStatus Status, string? Message, TimeSpan RetryAfter, long RejectedSpans = 0)
{
    public static Admission Refused(AdmissionStatus status, string message, TimeSpan retryAfter = default) => new(status, message, retryAfter);
}

/// <summary>
/// Everything both OTLP receivers do between "a request arrived" and "the pipeline has it", in the order that
/// matters: authenticate (before the body is read), then the tenant's rate, then — once decoded — the span limit,
/// the identity's service names, the provenance stamp, and the pipeline (whose privacy stage runs first).
/// </summary>
internal sealed class IngestGate
{
    /// <summary>
    /// Resource attribute naming the identity that sent the spans. A client-sent one is removed here; the privacy
    /// stage adds the real one after the policy, so an allowlist policy cannot drop it and no detector rewrites it.
    /// </summary>
    public const string IdentityAttribute = "hush.ingest.identity";

    /// <summary>OpenTelemetry's service name when a resource has none.</summary>
    private const string UnknownService = "unknown_service";

    /// <summary>A service name quoted back to its sender is cut here.</summary>
    private const int MaxQuotedServiceChars = 100;

    /// <summary>How long a client waits when the identity provider's keys cannot be had.</summary>
    private static readonly TimeSpan KeysUnavailableRetry = TimeSpan.FromSeconds(5);

    /// <summary>The scanner compares resource keys as bytes.</summary>
    private static readonly byte[] IdentityAttributeUtf8 = System.Text.Encoding.UTF8.GetBytes(IdentityAttribute);

    private readonly IngestAuthenticator _authenticator;
    private readonly TenantLimiter _limiter;
    private readonly TracePipeline _pipeline;

    public IngestGate(IngestAuthenticator authenticator, TenantLimiter limiter, TracePipeline pipeline)
    {
        _authenticator = authenticator;
        _limiter = limiter;
        _pipeline = pipeline;
    }

    /// <summary>Step 1, before the body is read: who sent it. On refusal the identity is null.</summary>
    public async ValueTask<(IngestIdentity? Identity, Admission Refusal)> AuthenticateAsync(HttpContext context, IngestTransport transport)
    {
        var result = await _authenticator.AuthenticateAsync(context, transport);
        return result.Identity is { } identity
            ? (identity, default)
            : (null, result.Failure switch
            {
                AuthFailure.Unavailable => Admission.Refused(AdmissionStatus.Unavailable, "the identity provider's keys cannot be fetched; retry later", KeysUnavailableRetry),
                AuthFailure.TenantMismatch => Admission.Refused(AdmissionStatus.PermissionDenied,
                    "a tenant header names another tenant than this credential's; Hush takes the tenant from the credential only"),
                AuthFailure.Missing => Admission.Refused(AdmissionStatus.Unauthenticated, "authentication required: send 'Authorization: Bearer <token>' (create one with 'hush token create')"),
                var failure => Admission.Refused(AdmissionStatus.Unauthenticated, "authentication failed: " + IngestAuthenticator.Label(failure)),
            });
    }

    /// <summary>The largest body this identity may send: the listener's cap or its tenant's, whichever is smaller.</summary>
    public int MaxRequestBytes(IngestIdentity identity, int listenerLimit) => Math.Min(listenerLimit, _limiter.For(identity.Tenant).MaxRequestBytes);

    /// <summary>Step 2, once the body is read: the tenant's byte rate. Null when within it.</summary>
    public Admission? TakeRate(IngestIdentity identity, long bytes)
    {
        if (_limiter.TryTake(identity.Tenant, bytes, out var retryAfter))
        {
            return null;
        }

        return Admission.Refused(AdmissionStatus.Throttled, $"tenant '{identity.Tenant}' is over its ingest rate; retry later", retryAfter);
    }

    /// <summary>
    /// Step 2b, the body as a request. A protobuf body is kept in wire form, undecoded, when nothing before the
    /// exporters has to look into it: the pipeline's privacy stage may pass it unchanged, the identity may emit any
    /// service (so no resource is removed), and no resource carries a client's own <see cref="IdentityAttribute"/>;
    /// the request then owns <paramref name="body"/> (the pipeline gives it back). Anything else is decoded and the
    /// body given back at once.
    /// </summary>
    /// <exception cref="OtlpDecodeException">The body is not a valid request (the body is given back).</exception>
    public TraceRequest Decode(PooledBuffer body, bool json, IngestIdentity identity)
    {
        if (!json && _pipeline.AcceptsWireForm && identity.MayEmitAnyService
            && OtlpProtobuf.TryKeepWireForm(body.Memory, body, IdentityAttributeUtf8, out var request))
        {
            return request;
        }

        using (body)
        {
            return json ? OtlpJson.DecodeTraceRequest(body.Span) : OtlpProtobuf.DecodeTraceRequest(body.Span);
        }
    }

    /// <summary>Step 3, once decoded: span limit, service binding, provenance, then the pipeline (which owns the request from then on).</summary>
    public async ValueTask<Admission> SubmitAsync(TraceRequest traces, IngestIdentity identity, IngestTransport transport, CancellationToken cancellationToken)
    {
        var limits = _limiter.For(identity.Tenant);
        var spans = traces.CountSpans();
        if (spans > limits.MaxSpansPerRequest)
        {
            traces.ReleaseWireForm();
            return Admission.Refused(AdmissionStatus.TooLarge,
                $"the request has {spans} spans; tenant '{identity.Tenant}' allows at most {limits.MaxSpansPerRequest} per request: send smaller batches");
        }

        var (rejected, refusedService) = traces.IsWireForm ? (0, null) : BindServices(traces, identity);
        if (rejected > 0)
        {
            _authenticator.CountFailure(transport, AuthFailure.ServiceNotAllowed, rejected);
        }

        var result = await _pipeline.SubmitAsync(traces, new IngestContext(identity.Tenant, identity.Id, transport), cancellationToken);
        var retry = result.RetryAfter;
        return result.Status switch
        {
            SubmitStatus.Throttled => Admission.Refused(AdmissionStatus.Throttled, "the pipeline is full; retry later", retry),
            SubmitStatus.Unavailable => Admission.Refused(AdmissionStatus.Unavailable, result.ErrorMessage ?? "the pipeline is not running (starting or stopping); retry later", retry),
            _ when rejected == 0 => new Admission(AdmissionStatus.Accepted, result.ErrorMessage, TimeSpan.Zero, result.RejectedSpans),
            _ => new Admission(
                AdmissionStatus.Accepted,
                $"{rejected} spans rejected: identity '{identity.Id}' may not emit service '{Quote(refusedService!)}'"
                    + (result.ErrorMessage is { } more ? "; " + more : string.Empty),
                TimeSpan.Zero,
                rejected + result.RejectedSpans),
        };
    }

    /// <summary>Removes resources whose service the identity may not emit, and client-sent provenance from the rest.</summary>
    private static (long Rejected, string? FirstRefused) BindServices(TraceRequest traces, IngestIdentity identity)
    {
        long rejected = 0;
        string? firstRefused = null;
        var kept = 0;
        var resources = traces.ResourceSpans;
        for (var i = 0; i < resources.Count; i++)
        {
            var resource = resources[i];
            var service = ServiceName(resource.Resource);
            if (!identity.MayEmit(service))
            {
                rejected += CountSpans(resource);
                firstRefused ??= service;
                continue;
            }

            // A client's own copy is never trusted; the privacy stage stamps the real one after the policy ran.
            resource.Resource.Attributes.RemoveAll(static a => a.Key == IdentityAttribute);
            resources[kept++] = resource;
        }

        resources.RemoveRange(kept, resources.Count - kept);
        return (rejected, firstRefused);
    }

    private static string ServiceName(Resource resource)
    {
        foreach (var attribute in resource.Attributes)
        {
            if (attribute.Key == "service.name")
            {
                return attribute.Value.StringValue ?? UnknownService;
            }
        }

        return UnknownService;
    }

    private static long CountSpans(ResourceSpans resource)
    {
        long spans = 0;
        foreach (var scope in resource.ScopeSpans)
        {
            spans += scope.Spans.Count;
        }

        return spans;
    }

    private static string Quote(string service) => service.Length <= MaxQuotedServiceChars ? service : service[..MaxQuotedServiceChars] + "…";
}
