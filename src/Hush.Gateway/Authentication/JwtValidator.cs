using System.Buffers;
using System.Buffers.Binary;
using System.Buffers.Text;
using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text.Json;
using Hush.Gateway.Authentication.Jwt;
using Hush.Gateway.Configuration;
using Microsoft.Extensions.Logging;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace Hush.Gateway.Authentication;

/// <summary>
/// Validates OIDC/JWT bearer tokens for ingest: signature against the configured key source (JWKS file, JWKS URL or
/// discovery), issuer, audience, lifetime and algorithm, then maps the claims to an <see cref="IngestIdentity"/>.
/// Successful results are cached per token until its <c>exp</c>. Thread-safe. Tokens never reach a log line or an
/// exception message.
/// </summary>
public sealed class JwtValidator : IDisposable
{
    /// <summary>A longer bearer value is refused unparsed: real tokens are 1-4 KiB, Kestrel's header limit is 32 KiB.</summary>
    private const int MaxTokenChars = 16 * 1024;

    /// <summary>Bounds the success cache (about 2 MB at 200 bytes an entry); when full it is cleared and refills.</summary>
    private const int MaxCachedTokens = 10_000;

    /// <summary>A logged kid is attacker-chosen: longer or odder ones are logged as a placeholder.</summary>
    private const int MaxLoggedKidChars = 64;

    /// <summary>
    /// The asymmetric JWS algorithms. Anything else in config is dropped: <c>none</c> needs no key, and with HMAC a
    /// published public key would serve as the shared secret (the key-confusion attack).
    /// </summary>
    private static readonly string[] AsymmetricAlgorithms = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"];

    /// <summary>Base64url and dots: a compact JWS cannot hold anything else.</summary>
    private static readonly SearchValues<char> CompactChars =
        SearchValues.Create("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.");

    private static readonly SearchValues<char> PlainKidChars =
        SearchValues.Create("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.:+/=");

    private static readonly char[] ServiceSeparators = [',', ' '];

    private readonly JwtAuthConfig _config;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly string[] _algorithms;
    private readonly IKeySource _keys;
    private readonly JsonWebTokenHandler _handler = new() { MaximumTokenSizeInBytes = MaxTokenChars };

    /// <summary>Keyed by the token's SHA-256, so the cache holds no usable credential.</summary>
    private readonly ConcurrentDictionary<(UInt128, UInt128), CachedIdentity> _cache = new();

    /// <summary>Creates a validator; a local JWKS file is read here, remote keys on first use.</summary>
    /// <param name="config">The <c>receivers.otlp.auth.jwt</c> section.</param>
    /// <param name="time">The clock for <c>exp</c>/<c>nbf</c>, key refreshes and the cache.</param>
    /// <param name="logger">Receives key-source events, and refusals at Debug level.</param>
    /// <param name="httpHandler">Sends the JWKS and discovery requests (a socket handler when null).</param>
    /// <exception cref="ArgumentException">No usable algorithm is configured, or no key source.</exception>
    /// <exception cref="InvalidOperationException">The JWKS file cannot be read or holds no usable key.</exception>
    public JwtValidator(JwtAuthConfig config, TimeProvider time, ILogger logger, HttpMessageHandler? httpHandler = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(time);
        ArgumentNullException.ThrowIfNull(logger);
        _config = config;
        _time = time;
        _logger = logger;
        _algorithms = [.. config.Algorithms.Where(a => AsymmetricAlgorithms.Contains(a, StringComparer.Ordinal)).Distinct(StringComparer.Ordinal)];
        if (_algorithms.Length == 0)
        {
            throw new ArgumentException(
                "jwt: 'algorithms' names no supported signature algorithm (RS*, PS*, ES*); none and HMAC are never accepted", nameof(config));
        }

        var template = new TokenValidationParameters
        {
            ValidIssuer = config.Issuer,
            ValidAudiences = config.Audiences,
            ValidAlgorithms = _algorithms,
            RequireSignedTokens = true,
            RequireAudience = true,
            RequireExpirationTime = true,

            // The library reads the system clock (its TimeProvider hook is internal in 8.x), so it checks only that
            // exp is present; ValidateAsync compares exp and nbf with the injected clock after the signature.
            LifetimeValidator = static (_, expires, _, _) => expires is not null,
        };

        _keys = config.JwksFile is { } file
            ? new JwksFileSource(file, template, time, logger)
            : new JwksRemoteSource(config.JwksUrl, config.DiscoveryUrl, config.RefreshInterval, template, time, logger, httpHandler);
    }

    /// <summary>Validates a compact JWT (the part after <c>Bearer </c>). Never throws for any input.</summary>
    /// <param name="token">The compact JWS.</param>
    /// <param name="cancellationToken">Stops waiting for a key fetch; the result is then <see cref="AuthFailure.Unavailable"/>.</param>
    public async ValueTask<AuthResult> ValidateAsync(string token, CancellationToken cancellationToken)
    {
        var (identity, failure) = await ValidateAsync(token, ReadIdentity, cancellationToken);
        return identity is null ? AuthResult.Fail(failure) : AuthResult.Success(identity);
    }

    /// <summary>
    /// Validates a compact JWT and maps its verified claims with <paramref name="map"/> (null: a claim is missing or
    /// of the wrong shape). The ingest path maps to an <see cref="IngestIdentity"/>; the query API maps to its own
    /// identity with roles. One validator serves one mapping: its cache holds what the mapping returned. Never throws.
    /// </summary>
    internal async ValueTask<(T? Identity, AuthFailure Failure)> ValidateAsync<T>(string token, Func<JsonElement, T?> map, CancellationToken cancellationToken)
        where T : class
    {
        try
        {
            if (string.IsNullOrEmpty(token) || token.Length > MaxTokenChars ||
                token.AsSpan().ContainsAnyExcept(CompactChars) || token.AsSpan().Count('.') != 2)
            {
                return (null, Refuse(AuthFailure.Malformed, kid: null));
            }

            // Asked on every call, cache hits too, so that a key removed from the set stops its cached tokens.
            var keys = await _keys.GetKeysAsync(unknownKid: false, cancellationToken);
            if (keys is null)
            {
                return (null, Refuse(AuthFailure.Unavailable, kid: null));
            }

            var cacheKey = CacheKey(token);
            if (_cache.TryGetValue(cacheKey, out var cached) && cached.Keys == keys)
            {
                if (!IsExpired(cached.Expires) && cached.Identity is T hit)
                {
                    return (hit, AuthFailure.None);
                }

                _cache.TryRemove(cacheKey, out _);
                return (null, Refuse(AuthFailure.Expired, kid: null));
            }

            JsonWebToken jwt;
            try
            {
                jwt = new JsonWebToken(token);
            }
            catch (Exception e) when (e is ArgumentException or SecurityTokenException or JsonException or FormatException)
            {
                return (null, Refuse(AuthFailure.Malformed, kid: null));
            }

            var kid = jwt.Kid ?? "";
            if (Array.IndexOf(_algorithms, jwt.Alg) < 0)
            {
                return (null, Refuse(AuthFailure.BadSignature, kid));
            }

            if (kid.Length > 0 && !keys.Contains(kid))
            {
                if (_logger.IsEnabled(LogLevel.Debug))
                {
                    var shown = Printable(kid);
                    JwtLog.UnknownKid(_logger, shown);
                }

                keys = await _keys.GetKeysAsync(unknownKid: true, cancellationToken) ?? keys;
                if (!keys.Contains(kid))
                {
                    return (null, Refuse(AuthFailure.UnknownKey, kid));
                }
            }

            var result = await _handler.ValidateTokenAsync(jwt, keys.Parameters);
            if (!result.IsValid)
            {
                return (null, Refuse(Classify(result.Exception), kid));
            }

            if (IsExpired(jwt.ValidTo))
            {
                return (null, Refuse(AuthFailure.Expired, kid));
            }

            if (_time.GetUtcNow().UtcDateTime + _config.ClockSkew < jwt.ValidFrom)
            {
                return (null, Refuse(AuthFailure.NotYetValid, kid));
            }

            T? identity;
            using (var payload = JsonDocument.Parse(Base64Url.DecodeFromChars(jwt.EncodedPayload)))
            {
                // The claims are read from the signed JSON itself, so a number or an array is never taken for a string.
                identity = map(payload.RootElement);
            }

            if (identity is null)
            {
                return (null, Refuse(AuthFailure.MissingClaim, kid));
            }

            if (_cache.Count >= MaxCachedTokens)
            {
                _cache.Clear();
            }

            _cache[cacheKey] = new CachedIdentity(identity, jwt.ValidTo, keys);
            return (identity, AuthFailure.None);
        }
        catch (OperationCanceledException)
        {
            // The caller gave up waiting for a key fetch.
            return (null, AuthFailure.Unavailable);
        }
#pragma warning disable CA1031 // The contract is "never throws": an unforeseen library exception is a refusal, logged by type only.
        catch (Exception e)
#pragma warning restore CA1031
        {
            JwtLog.Unexpected(_logger, e.GetType().Name);
            return (null, AuthFailure.Malformed);
        }
    }

    /// <summary>Stops key fetches.</summary>
    public void Dispose() => _keys.Dispose();

    /// <summary>Maps the library's failure. Lifetime is checked in <see cref="ValidateAsync"/>; these arms are a fallback.</summary>
    private static AuthFailure Classify(Exception? exception) => exception switch
    {
        SecurityTokenInvalidIssuerException => AuthFailure.WrongIssuer,
        SecurityTokenInvalidAudienceException => AuthFailure.WrongAudience,
        SecurityTokenExpiredException => AuthFailure.Expired,
        SecurityTokenNotYetValidException => AuthFailure.NotYetValid,

        // The lifetime validator refuses only a token without exp.
        SecurityTokenNoExpirationException or SecurityTokenInvalidLifetimeException => AuthFailure.MissingClaim,

        // The kid was checked against the key set before, so a key not found means no key verified the signature.
        SecurityTokenInvalidSignatureException or SecurityTokenInvalidAlgorithmException or SecurityTokenSignatureKeyNotFoundException =>
            AuthFailure.BadSignature,
        _ => AuthFailure.Malformed,
    };

    private bool IsExpired(DateTime expires) => _time.GetUtcNow().UtcDateTime - _config.ClockSkew > expires;

    /// <summary>The identity, or null when a claim is missing or not of the configured shape.</summary>
    private IngestIdentity? ReadIdentity(JsonElement claims)
    {
        if (!TryGetString(claims, _config.TenantClaim, out var tenant) ||
            (!TryGetString(claims, _config.IdentityClaim, out var name) && !TryGetString(claims, "sub", out name)) ||
            !TryGetServices(claims, _config.ServicesClaim, out var services))
        {
            return null;
        }

        return new IngestIdentity("jwt:" + _config.Issuer + "|" + name, tenant, services);
    }

    internal static bool TryGetString(JsonElement claims, string name, out string value)
    {
        value = claims.TryGetProperty(name, out var claim) && claim.ValueKind == JsonValueKind.String ? claim.GetString()! : "";
        return value.Length > 0;
    }

    /// <summary>A JSON array of strings, or one string separated by commas or spaces; absent is an empty list.</summary>
    internal static bool TryGetServices(JsonElement claims, string name, out IReadOnlyList<string> services)
    {
        services = [];
        if (!claims.TryGetProperty(name, out var claim) || claim.ValueKind == JsonValueKind.Null)
        {
            return true;
        }

        if (claim.ValueKind == JsonValueKind.String)
        {
            services = claim.GetString()!.Split(ServiceSeparators, StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            return true;
        }

        if (claim.ValueKind != JsonValueKind.Array)
        {
            return false;
        }

        var list = new List<string>(claim.GetArrayLength());
        foreach (var item in claim.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.String)
            {
                return false;
            }

            if (item.GetString()!.Trim() is { Length: > 0 } service)
            {
                list.Add(service);
            }
        }

        services = list;
        return true;
    }

    private AuthFailure Refuse(AuthFailure reason, string? kid)
    {
        if (_logger.IsEnabled(LogLevel.Debug))
        {
            var shown = Printable(kid);
            JwtLog.Refused(_logger, _config.Issuer, shown, reason);
        }

        return reason;
    }

    private static string Printable(string? kid) =>
        string.IsNullOrEmpty(kid) ? "-"
        : kid.Length <= MaxLoggedKidChars && !kid.AsSpan().ContainsAnyExcept(PlainKidChars) ? kid
        : "(unprintable)";

    private static (UInt128, UInt128) CacheKey(string token)
    {
        Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(MemoryMarshal.AsBytes(token.AsSpan()), hash);
        return (BinaryPrimitives.ReadUInt128LittleEndian(hash), BinaryPrimitives.ReadUInt128LittleEndian(hash[16..]));
    }

    private sealed record CachedIdentity(object Identity, DateTime Expires, KeySet Keys);
}
