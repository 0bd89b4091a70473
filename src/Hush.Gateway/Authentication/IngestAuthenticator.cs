using System.Net;
using System.Security.Cryptography.X509Certificates;
using Hush.Gateway.Configuration;
using Hush.Pipeline;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Hush.Gateway.Authentication;

/// <summary>
/// Decides who sent an OTLP request, before its body is read: a bearer token (a Hush static token or, when
/// configured, a JWT), else a client certificate (mTLS), else — in dev mode and from a loopback peer only —
/// the <see cref="IngestIdentity.DevLoopback"/> identity. A credential that is present but bad is refused even in
/// dev mode. Then a tenant header naming another tenant than the identity's is refused: the tenant comes only
/// from the identity. Every refusal is counted by reason and logged without the credential.
/// </summary>
internal sealed partial class IngestAuthenticator
{
    private const string BearerScheme = "Bearer ";

    private static readonly string[] Transports = ["http", "grpc"];

    /// <summary>How a request was (or failed to be) authenticated: the <c>method</c> label.</summary>
    private enum Method
    {
        Token,
        Jwt,
        Mtls,
        Dev,
        Header,
        None,
    }

    private readonly IngestAuthConfig _config;
    private readonly TokenStore _tokens;
    private readonly Func<string, CancellationToken, ValueTask<AuthResult>>? _jwt;
    private readonly Func<X509Certificate2?, AuthResult>? _mtls;
    private readonly ILogger _logger;
    private readonly Counter[][] _failures;
    private readonly Counter[][] _successes;

    public IngestAuthenticator(
        IngestAuthConfig config,
        TokenStore tokens,
        Func<string, CancellationToken, ValueTask<AuthResult>>? jwt,
        Func<X509Certificate2?, AuthResult>? mtls,
        HushMetrics metrics,
        ILogger logger)
    {
        _config = config;
        _tokens = tokens;
        _jwt = jwt;
        _mtls = mtls;
        _logger = logger;
        var failures = metrics.Counter("hush_auth_failures_total", "OTLP requests (or, for service_not_allowed, spans) refused by authentication, by transport and reason.", "transport", "reason");
        var successes = metrics.Counter("hush_auth_successes_total", "OTLP requests authenticated, by transport and method (token, jwt, mtls, dev).", "transport", "method");
        var reasons = Enum.GetValues<AuthFailure>();
        var methods = Enum.GetValues<Method>();
        _failures = [.. Transports.Select(t => reasons.Select(r => failures.WithLabels(t, Label(r))).ToArray())];
        _successes = [.. Transports.Select(t => methods.Select(m => successes.WithLabels(t, m.ToString().ToLowerInvariant())).ToArray())];
    }

    /// <summary>The reason label of <paramref name="failure"/>: snake_case of the enum name.</summary>
    public static string Label(AuthFailure failure) => failure switch
    {
        AuthFailure.NotYetValid => "not_yet_valid",
        AuthFailure.WrongIssuer => "wrong_issuer",
        AuthFailure.WrongAudience => "wrong_audience",
        AuthFailure.BadSignature => "bad_signature",
        AuthFailure.UnknownKey => "unknown_key",
        AuthFailure.MissingClaim => "missing_claim",
        AuthFailure.UnknownToken => "unknown_token",
        AuthFailure.BadCertificate => "bad_certificate",
        AuthFailure.TenantMismatch => "tenant_mismatch",
        AuthFailure.ServiceNotAllowed => "service_not_allowed",
        _ => failure.ToString().ToLowerInvariant(),
    };

    /// <summary>Authenticates <paramref name="context"/>'s request. Never throws for any input.</summary>
    public async ValueTask<AuthResult> AuthenticateAsync(HttpContext context, IngestTransport transport)
    {
        var (result, method) = await IdentifyAsync(context);
        if (result.Identity is { } identity && TenantHeaderMismatch(context.Request, identity) is { } header)
        {
            Log.TenantMismatch(_logger, Transport(transport), identity.Id, header);
            result = AuthResult.Fail(AuthFailure.TenantMismatch);
        }

        if (result.Succeeded)
        {
            _successes[(int)transport][(int)method].Add();
        }
        else
        {
            CountFailure(transport, result.Failure);
            if (result.Failure != AuthFailure.TenantMismatch)
            {
                LogRefused(context, transport, method, result.Failure);
            }
        }

        return result;
    }

    /// <summary>Counts spans refused after authentication because their service is not the identity's.</summary>
    public void CountFailure(IngestTransport transport, AuthFailure failure, long count = 1) =>
        _failures[(int)transport][(int)failure].Add(count);

    private void LogRefused(HttpContext context, IngestTransport transport, Method method, AuthFailure failure)
    {
        if (_logger.IsEnabled(LogLevel.Information))
        {
            var remote = context.Connection.RemoteIpAddress?.ToString() ?? "unknown";
            var transportName = Transport(transport);
            var methodName = method.ToString().ToLowerInvariant();
            var reason = Label(failure);
            Log.Refused(_logger, transportName, methodName, reason, remote);
        }
    }

    private async ValueTask<(AuthResult Result, Method Method)> IdentifyAsync(HttpContext context)
    {
        var authorization = context.Request.Headers.Authorization;
        if (authorization.Count > 0)
        {
            if (authorization.Count > 1)
            {
                return (AuthResult.Fail(AuthFailure.Malformed), Method.Header);
            }

            var value = authorization[0] ?? string.Empty;
            if (!value.StartsWith(BearerScheme, StringComparison.OrdinalIgnoreCase))
            {
                return (AuthResult.Fail(AuthFailure.Malformed), Method.Header);
            }

            var credential = value[BearerScheme.Length..].Trim();
            if (credential.StartsWith(TokenStore.Prefix, StringComparison.Ordinal))
            {
                return (_tokens.Validate(credential), Method.Token);
            }

            if (_jwt is not null)
            {
                try
                {
                    return (await _jwt(credential, context.RequestAborted), Method.Jwt);
                }
                catch (OperationCanceledException)
                {
                    return (AuthResult.Fail(AuthFailure.Unavailable), Method.Jwt);
                }
            }

            return (AuthResult.Fail(credential.Length == 0 ? AuthFailure.Malformed : AuthFailure.UnknownToken), Method.Token);
        }

        if (_mtls is not null && context.Connection.ClientCertificate is { } certificate)
        {
            return (_mtls(certificate), Method.Mtls);
        }

        if (_config.Mode == IngestAuthMode.Dev && context.Connection.RemoteIpAddress is { } remote && IPAddress.IsLoopback(remote))
        {
            return (AuthResult.Success(IngestIdentity.DevLoopback), Method.Dev);
        }

        return (AuthResult.Fail(AuthFailure.Missing), Method.None);
    }

    private string? TenantHeaderMismatch(HttpRequest request, IngestIdentity identity)
    {
        foreach (var header in _config.TenantHeaders)
        {
            var values = request.Headers[header];
            foreach (var value in values)
            {
                if (!string.Equals(value?.Trim(), identity.Tenant, StringComparison.Ordinal))
                {
                    return header;
                }
            }
        }

        return null;
    }

    private static string Transport(IngestTransport transport) => transport == IngestTransport.Grpc ? "grpc" : "http";

    private static partial class Log
    {
        [LoggerMessage(EventId = 4030, Level = LogLevel.Information, Message = "auth: refused a {Transport} request from {Remote} ({Method}): {Reason}")]
        public static partial void Refused(ILogger logger, string transport, string method, string reason, string remote);

        [LoggerMessage(EventId = 4031, Level = LogLevel.Warning, Message = "auth: identity {Identity} sent a {Transport} request whose {Header} names another tenant; refused")]
        public static partial void TenantMismatch(ILogger logger, string transport, string identity, string header);
    }
}
