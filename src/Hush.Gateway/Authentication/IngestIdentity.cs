using Hush.Privacy;

namespace Hush.Gateway.Authentication;

/// <summary>Why a sender was refused. The names are the <c>reason</c> label of <c>hush_auth_failures_total</c>.</summary>
public enum AuthFailure
{
    /// <summary>Not a failure.</summary>
    None,

    /// <summary>No credential at all where one is required.</summary>
    Missing,

    /// <summary>An Authorization header or token that cannot be parsed.</summary>
    Malformed,

    /// <summary>A JWT past its <c>exp</c>.</summary>
    Expired,

    /// <summary>A JWT before its <c>nbf</c>.</summary>
    NotYetValid,

    /// <summary>A JWT from an issuer that is not configured.</summary>
    WrongIssuer,

    /// <summary>A JWT for another audience.</summary>
    WrongAudience,

    /// <summary>A JWT whose signature does not verify, or that uses a refused algorithm (<c>none</c>, HMAC).</summary>
    BadSignature,

    /// <summary>A JWT whose <c>kid</c> is not in the key set.</summary>
    UnknownKey,

    /// <summary>A JWT that lacks the tenant claim, or whose claims are not of the configured shape.</summary>
    MissingClaim,

    /// <summary>A static token that is not in the token store.</summary>
    UnknownToken,

    /// <summary>A static token that was revoked.</summary>
    Revoked,

    /// <summary>A client certificate that does not chain to the configured CA, or that maps to no identity.</summary>
    BadCertificate,

    /// <summary>A tenant header that names another tenant than the identity's.</summary>
    TenantMismatch,

    /// <summary>Spans of a service the identity may not emit (counted per span batch, not a request refusal).</summary>
    ServiceNotAllowed,

    /// <summary>The key source (JWKS, discovery) could not be reached: retryable.</summary>
    Unavailable,
}

/// <summary>
/// Who sent a request: one identity belongs to exactly one tenant and may emit only the service names its
/// globs allow. <see cref="Id"/> is safe to stamp on spans and to log (never a credential).
/// </summary>
/// <param name="Id">Stable and public, such as <c>token:k3x9a1b2</c>, <c>jwt:https://idp/|svc-checkout</c>, <c>mtls:CN=checkout</c>.</param>
/// <param name="Tenant">The tenant every span of this identity goes into.</param>
/// <param name="Services">Glob patterns (case-insensitive, <c>*</c> and <c>?</c>) of the <c>service.name</c> values allowed.</param>
public sealed record IngestIdentity(string Id, string Tenant, IReadOnlyList<string> Services)
{
    /// <summary>The identity of unauthenticated loopback requests in dev mode.</summary>
    public static IngestIdentity DevLoopback { get; } = new("dev:loopback", "dev", ["*"]);

    /// <summary>True when one of the globs is <c>*</c>: every service name, a missing one included.</summary>
    public bool MayEmitAnyService
    {
        get
        {
            foreach (var pattern in Services)
            {
                if (pattern == "*")
                {
                    return true;
                }
            }

            return false;
        }
    }

    /// <summary>True when this identity may emit spans for <paramref name="serviceName"/>.</summary>
    public bool MayEmit(string serviceName)
    {
        foreach (var pattern in Services)
        {
            if (Glob.IsMatch(pattern, serviceName))
            {
                return true;
            }
        }

        return false;
    }
}

/// <summary>The outcome of checking one credential: an identity, or why not.</summary>
public readonly record struct AuthResult(IngestIdentity? Identity, AuthFailure Failure)
{
    /// <summary>True when <see cref="Identity"/> is set.</summary>
    public bool Succeeded => Identity is not null;

    /// <summary>A success for <paramref name="identity"/>.</summary>
    public static AuthResult Success(IngestIdentity identity) => new(identity, AuthFailure.None);

    /// <summary>A refusal for <paramref name="reason"/>.</summary>
    public static AuthResult Fail(AuthFailure reason) => new(null, reason);
}
