using System.Collections.Concurrent;
using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Hush.Gateway.Authentication;
using Hush.Gateway.Configuration;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Hush.Gateway.Tls;

/// <summary>
/// Turns the client certificate of a TLS connection into an <see cref="IngestIdentity"/> (<c>receivers.otlp.auth.mtls</c>):
/// the certificate must chain to one of the CA certificates of <c>ca_file</c> (and only to those: the system
/// roots are not trusted), be valid now, and allow TLS client authentication; then the first
/// <c>identities</c> entry whose <c>match</c> names its subject CN, one of its DNS SANs or one of its URI SANs
/// gives the identity <c>mtls:</c> + that match. Anything else is <see cref="AuthFailure.BadCertificate"/>.
/// </summary>
/// <remarks>
/// Only the leaf reaches this class, so a client certificate issued by an intermediate CA needs that
/// intermediate in <c>ca_file</c> (every certificate there is a trust anchor). Revocation is not checked:
/// revoke by removing the mapping or rotating the CA. Results are cached per certificate for at most
/// <see cref="CacheLifetime"/> because building a chain costs milliseconds and runs per request.
/// </remarks>
public sealed partial class ClientCertificateAuthenticator
{
    /// <summary>How long a verdict is reused; also how long a removed CA or mapping may still be honoured.</summary>
    public static readonly TimeSpan CacheLifetime = TimeSpan.FromMinutes(1);

    /// <summary>Verdicts kept at most; beyond that the cache is emptied, so a flood of certificates costs CPU, not memory.</summary>
    public const int MaxCachedResults = 1000;

    private const string ClientAuthOid = "1.3.6.1.5.5.7.3.2";
    private const string CommonNameOid = "2.5.4.3";
    private const string SubjectAltNameOid = "2.5.29.17";
    private static readonly Asn1Tag UriNameTag = new(TagClass.ContextSpecific, 6);

    private readonly X509Certificate2Collection _trustAnchors;
    private readonly Mapping[] _mappings;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<string, CachedResult> _cache = new(StringComparer.Ordinal);
    private readonly Lock _cacheWriteLock = new();

    /// <summary>Loads the CA certificates of <paramref name="config"/> and checks its identity mappings.</summary>
    /// <param name="config">The <c>mtls</c> section.</param>
    /// <param name="timeProvider">The clock certificates are verified against; the system clock when null.</param>
    /// <param name="logger">Where refusals are logged at debug level (thumbprint and chain status only); none when null.</param>
    /// <exception cref="InvalidOperationException">
    /// <c>ca_file</c> cannot be read or holds no certificate, or some <c>match</c> is not <c>CN=</c>, <c>dns:</c> or
    /// <c>uri:</c> with a value; the message lists every error.
    /// </exception>
    public ClientCertificateAuthenticator(MtlsAuthConfig config, TimeProvider? timeProvider = null, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        _time = timeProvider ?? TimeProvider.System;
        _logger = logger ?? NullLogger.Instance;

        var errors = new List<string>();
        _trustAnchors = LoadTrustAnchors(config.CaFile, errors);
        _mappings = new Mapping[config.Identities.Count];
        for (var i = 0; i < config.Identities.Count; i++)
        {
            var identity = config.Identities[i];
            var mapping = Mapping.Parse(identity);
            if (mapping is null)
            {
                errors.Add($"'receivers.otlp.auth.mtls.identities[{i}].match' must be CN=<name>, dns:<name> or uri:<value>, not '{identity.Match}'");
                continue;
            }

            _mappings[i] = mapping;
        }

        if (errors.Count > 0)
        {
            throw new InvalidOperationException("invalid mtls settings: " + string.Join("; ", errors));
        }
    }

    /// <summary>
    /// The identity of <paramref name="clientCertificate"/>: <see cref="AuthFailure.Missing"/> when there is none,
    /// <see cref="AuthFailure.BadCertificate"/> when it does not verify or maps to no identity. Never throws.
    /// </summary>
    public AuthResult Authenticate(X509Certificate2? clientCertificate)
    {
        if (clientCertificate is null)
        {
            return AuthResult.Fail(AuthFailure.Missing);
        }

        string key;
        try
        {
            key = Convert.ToHexString(clientCertificate.GetCertHash(HashAlgorithmName.SHA256));
        }
        catch (CryptographicException)
        {
            return AuthResult.Fail(AuthFailure.BadCertificate);
        }

        var now = _time.GetUtcNow();
        if (_cache.TryGetValue(key, out var cached) && now < cached.Expires)
        {
            return cached.Result;
        }

        var result = Verify(clientCertificate, now, key);

        // A success is not reused past the certificate's notAfter, which can be sooner than the cache lifetime.
        var expires = now + CacheLifetime;
        if (result.Succeeded)
        {
            var notAfter = new DateTimeOffset(clientCertificate.NotAfter.ToUniversalTime(), TimeSpan.Zero);
            if (notAfter < expires)
            {
                expires = notAfter;
            }
        }

        Remember(key, new CachedResult(result, expires), now);
        return result;
    }

    private AuthResult Verify(X509Certificate2 certificate, DateTimeOffset now, string thumbprint)
    {
        using var chain = new X509Chain();
        try
        {
            var policy = chain.ChainPolicy;
            policy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            policy.CustomTrustStore.AddRange(_trustAnchors);
            policy.RevocationMode = X509RevocationMode.NoCheck;
            policy.DisableCertificateDownloads = true;
            policy.VerificationTime = now.UtcDateTime;
            policy.VerificationTimeIgnored = false;

            // Every certificate of the chain that has an EKU extension must allow client authentication.
            policy.ApplicationPolicy.Add(new Oid(ClientAuthOid));

            if (!chain.Build(certificate))
            {
                var status = CombinedStatus(chain);
                Log.ChainRefused(_logger, thumbprint, status);
                return AuthResult.Fail(AuthFailure.BadCertificate);
            }
        }
        catch (CryptographicException)
        {
            Log.Unparsable(_logger, thumbprint);
            return AuthResult.Fail(AuthFailure.BadCertificate);
        }
        finally
        {
            foreach (var element in chain.ChainElements)
            {
                element.Certificate.Dispose();
            }
        }

        CertificateNames names;
        try
        {
            names = CertificateNames.Read(certificate);
        }
        catch (CryptographicException)
        {
            Log.Unparsable(_logger, thumbprint);
            return AuthResult.Fail(AuthFailure.BadCertificate);
        }

        foreach (var mapping in _mappings)
        {
            if (mapping.Matches(names))
            {
                return AuthResult.Success(mapping.Identity);
            }
        }

        Log.Unmapped(_logger, thumbprint);
        return AuthResult.Fail(AuthFailure.BadCertificate);
    }

    private void Remember(string key, CachedResult entry, DateTimeOffset now)
    {
        // Only a cache miss gets here, after a chain build: Count (which locks the dictionary) is cheap by comparison.
        lock (_cacheWriteLock)
        {
            if (_cache.Count >= MaxCachedResults)
            {
                foreach (var pair in _cache)
                {
                    if (pair.Value.Expires <= now)
                    {
                        _cache.TryRemove(pair.Key, out _);
                    }
                }

                if (_cache.Count >= MaxCachedResults)
                {
                    _cache.Clear();
                }
            }

            _cache[key] = entry;
        }
    }

    private static X509ChainStatusFlags CombinedStatus(X509Chain chain)
    {
        var flags = X509ChainStatusFlags.NoError;
        foreach (var status in chain.ChainStatus)
        {
            flags |= status.Status;
        }

        return flags;
    }

    private static X509Certificate2Collection LoadTrustAnchors(string caFile, List<string> errors)
    {
        var anchors = new X509Certificate2Collection();
        try
        {
            anchors.ImportFromPemFile(caFile);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            errors.Add($"'receivers.otlp.auth.mtls.ca_file' {caFile} cannot be read ({e.GetType().Name})");
            return anchors;
        }
        catch (CryptographicException)
        {
            errors.Add($"'receivers.otlp.auth.mtls.ca_file' {caFile} holds a malformed PEM certificate");
            return anchors;
        }

        if (anchors.Count == 0)
        {
            errors.Add($"'receivers.otlp.auth.mtls.ca_file' {caFile} holds no PEM certificate");
        }

        return anchors;
    }

    private readonly record struct CachedResult(AuthResult Result, DateTimeOffset Expires);

    private enum MatchKind
    {
        CommonName,
        Dns,
        Uri,
    }

    private sealed record Mapping(MatchKind Kind, string Value, IngestIdentity Identity)
    {
        public static Mapping? Parse(MtlsIdentityConfig config)
        {
            var match = config.Match;
            MatchKind kind;
            int prefix;
            if (match.StartsWith("CN=", StringComparison.OrdinalIgnoreCase))
            {
                (kind, prefix) = (MatchKind.CommonName, 3);
            }
            else if (match.StartsWith("dns:", StringComparison.OrdinalIgnoreCase))
            {
                (kind, prefix) = (MatchKind.Dns, 4);
            }
            else if (match.StartsWith("uri:", StringComparison.OrdinalIgnoreCase))
            {
                (kind, prefix) = (MatchKind.Uri, 4);
            }
            else
            {
                return null;
            }

            if (string.IsNullOrWhiteSpace(match[prefix..]))
            {
                return null;
            }

            return new Mapping(kind, match[prefix..], new IngestIdentity("mtls:" + match, config.Tenant, config.Services));
        }

        public bool Matches(CertificateNames names)
        {
            var (candidates, comparison) = Kind switch
            {
                MatchKind.CommonName => (names.CommonNames, StringComparison.OrdinalIgnoreCase),
                MatchKind.Dns => (names.DnsNames, StringComparison.OrdinalIgnoreCase),
                _ => (names.Uris, StringComparison.Ordinal),
            };
            foreach (var candidate in candidates)
            {
                if (string.Equals(candidate, Value, comparison))
                {
                    return true;
                }
            }

            return false;
        }
    }

    /// <summary>The names of a certificate that a mapping can match.</summary>
    private sealed record CertificateNames(List<string> CommonNames, List<string> DnsNames, List<string> Uris)
    {
        public static CertificateNames Read(X509Certificate2 certificate)
        {
            var names = new CertificateNames([], [], []);

            // The subject's CN attributes themselves: GetNameInfo(SimpleName) would fall back to an e-mail or OU.
            foreach (var rdn in certificate.SubjectName.EnumerateRelativeDistinguishedNames())
            {
                if (!rdn.HasMultipleElements && rdn.GetSingleElementType().Value == CommonNameOid && rdn.GetSingleElementValue() is { } cn)
                {
                    names.CommonNames.Add(cn);
                }
            }

            if (certificate.Extensions[SubjectAltNameOid] is { } extension)
            {
                try
                {
                    var san = new X509SubjectAlternativeNameExtension(extension.RawData, extension.Critical);
                    names.DnsNames.AddRange(san.EnumerateDnsNames());
                    ReadUris(extension.RawData, names.Uris);
                }
                catch (Exception e) when (e is CryptographicException or AsnContentException)
                {
                    // A malformed SAN extension names nothing; a CN mapping may still apply.
                    names.DnsNames.Clear();
                    names.Uris.Clear();
                }
            }

            return names;
        }

        /// <summary>GeneralNames ::= SEQUENCE OF GeneralName; uniformResourceIdentifier is [6] IA5String (RFC 5280 4.2.1.6).</summary>
        private static void ReadUris(byte[] generalNames, List<string> uris)
        {
            var reader = new AsnReader(generalNames, AsnEncodingRules.DER);
            var sequence = reader.ReadSequence();
            reader.ThrowIfNotEmpty();
            while (sequence.HasData)
            {
                if (sequence.PeekTag().HasSameClassAndValue(UriNameTag))
                {
                    uris.Add(sequence.ReadCharacterString(UniversalTagNumber.IA5String, UriNameTag));
                }
                else
                {
                    sequence.ReadEncodedValue();
                }
            }
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 4130, Level = LogLevel.Debug, Message = "mtls: client certificate {Thumbprint} does not verify against ca_file: {Status}")]
        public static partial void ChainRefused(ILogger logger, string thumbprint, X509ChainStatusFlags status);

        [LoggerMessage(EventId = 4132, Level = LogLevel.Debug, Message = "mtls: client certificate {Thumbprint} cannot be parsed")]
        public static partial void Unparsable(ILogger logger, string thumbprint);

        [LoggerMessage(EventId = 4131, Level = LogLevel.Debug, Message = "mtls: client certificate {Thumbprint} verifies but matches no identity")]
        public static partial void Unmapped(ILogger logger, string thumbprint);
    }
}
