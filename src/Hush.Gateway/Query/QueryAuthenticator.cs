using System.Net;
using System.Text;
using System.Text.Json;
using Hush.Gateway.Authentication;
using Hush.Gateway.Configuration;
using Microsoft.AspNetCore.Http;

namespace Hush.Gateway.Query;

/// <summary>
/// Decides who sends a query request: an API key (as <c>Authorization: Bearer hushk_…</c>, or as the password of
/// Basic auth, which is how Grafana's data source sends one), else a JWT when configured, else — in dev mode and from
/// a loopback peer only — <see cref="QueryIdentity.DevLoopback"/>. A credential that is present but bad is refused
/// even in dev mode. Ingest tokens are not query credentials. Never throws; credentials reach no log or message.
/// </summary>
internal sealed class QueryAuthenticator
{
    /// <summary>A longer Authorization header is refused unparsed (a JWT is 1-4 KiB).</summary>
    private const int MaxHeaderChars = 16 * 1024;

    private readonly QueryAuthConfig _config;
    private readonly TokenStore _keys;
    private readonly JwtValidator? _jwt;

    public QueryAuthenticator(QueryAuthConfig config, TokenStore keys, JwtValidator? jwt)
    {
        _config = config;
        _keys = keys;
        _jwt = jwt;
    }

    public async ValueTask<(QueryIdentity? Identity, AuthFailure Failure)> AuthenticateAsync(HttpContext context)
    {
        var authorization = context.Request.Headers.Authorization;
        if (authorization.Count == 0)
        {
            return _config.Mode == QueryAuthMode.Dev && context.Connection.RemoteIpAddress is { } remote && IPAddress.IsLoopback(remote)
                ? (QueryIdentity.DevLoopback, AuthFailure.None)
                : (null, AuthFailure.Missing);
        }

        if (authorization.Count > 1 || authorization[0] is not { Length: > 0 and <= MaxHeaderChars } value)
        {
            return (null, AuthFailure.Malformed);
        }

        string credential;
        if (value.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            credential = value["Bearer ".Length..].Trim();
        }
        else if (value.StartsWith("Basic ", StringComparison.OrdinalIgnoreCase) && BasicPassword(value["Basic ".Length..].Trim()) is { } password)
        {
            credential = password;
        }
        else
        {
            return (null, AuthFailure.Malformed);
        }

        if (credential.Length == 0)
        {
            return (null, AuthFailure.Malformed);
        }

        if (credential.StartsWith(TokenStore.ApiKeyPrefix, StringComparison.Ordinal))
        {
            var result = _keys.Validate(credential, out var roleNames);
            if (result.Identity is not { } key)
            {
                return (null, result.Failure);
            }

            var roles = QueryIdentity.ParseRoles(roleNames);
            return roles == QueryRoles.None ? (null, AuthFailure.MissingClaim) : (new QueryIdentity(key.Id, [key.Tenant], roles), AuthFailure.None);
        }

        if (_jwt is null || credential.StartsWith(TokenStore.Prefix, StringComparison.Ordinal))
        {
            // Ingest tokens send spans; they never read them.
            return (null, AuthFailure.UnknownToken);
        }

        try
        {
            return await _jwt.ValidateAsync(credential, MapClaims, context.RequestAborted);
        }
        catch (OperationCanceledException)
        {
            return (null, AuthFailure.Unavailable);
        }
    }

    /// <summary>The identity of verified JWT claims: tenants and roles each a string (comma or space separated) or an array.</summary>
    private QueryIdentity? MapClaims(JsonElement claims)
    {
        var issuer = _config.Jwt!.Issuer;
        if (!JwtValidator.TryGetServices(claims, _config.Jwt.TenantClaim, out var tenants) || tenants.Count == 0 ||
            !JwtValidator.TryGetServices(claims, _config.RoleClaim, out var roleNames) ||
            (!JwtValidator.TryGetString(claims, _config.Jwt.IdentityClaim, out var name) && !JwtValidator.TryGetString(claims, "sub", out name)))
        {
            return null;
        }

        var roles = QueryIdentity.ParseRoles(roleNames);
        return roles == QueryRoles.None ? null : new QueryIdentity("jwt:" + issuer + "|" + name, [.. tenants.Distinct(StringComparer.Ordinal)], roles);
    }

    /// <summary>The password of a Basic credential (the user name is ignored: Grafana needs one, Hush does not).</summary>
    private static string? BasicPassword(string encoded)
    {
        try
        {
            var text = Encoding.UTF8.GetString(Convert.FromBase64String(encoded));
            var colon = text.IndexOf(':', StringComparison.Ordinal);
            return colon < 0 ? null : text[(colon + 1)..];
        }
        catch (FormatException)
        {
            return null;
        }
    }
}
