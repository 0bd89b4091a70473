using Microsoft.Extensions.Logging;
using Microsoft.IdentityModel.Protocols.OpenIdConnect;
using Microsoft.IdentityModel.Tokens;

namespace Hush.Gateway.Authentication.Jwt;

/// <summary>
/// Keys from a JWKS URL, or from the <c>jwks_uri</c> of an OpenID discovery document. Fetched on first use, then
/// every refresh interval and on an unknown <c>kid</c> (at most once a minute). One fetch at a time: the caller that
/// starts it waits; others wait only if they have no keys yet or an unknown kid. A failed refresh keeps the old keys.
/// </summary>
internal sealed class JwksRemoteSource : IKeySource
{
    /// <summary>After a failed fetch, the next is tried no sooner: callers get a retryable refusal, the IdP a rest.</summary>
    private static readonly TimeSpan RetryAfterFailure = TimeSpan.FromSeconds(10);

    /// <summary>A token with an unknown kid forces a fetch at most this often, so a stream of forged kids cannot flood the IdP.</summary>
    private static readonly TimeSpan UnknownKidInterval = TimeSpan.FromMinutes(1);

    /// <summary>Real key sets are a few KiB; a bigger answer is not one.</summary>
    private const int MaxDocumentBytes = 1024 * 1024;

    private static readonly TimeSpan FetchTimeout = TimeSpan.FromSeconds(10);

    private readonly HttpClient _http;
    private readonly Uri? _jwksUrl;
    private readonly Uri? _discoveryUrl;
    private readonly string _source;
    private readonly TimeSpan _refreshInterval;
    private readonly TokenValidationParameters _template;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Lock _lock = new();
    private volatile KeySet? _keys;
    private Task _refresh = Task.CompletedTask;

    // UtcTicks. _nextRefresh is also read without the lock, by the fast path.
    private long _nextRefresh;
    private long _nextKidRefresh;

    public JwksRemoteSource(
        Uri? jwksUrl,
        Uri? discoveryUrl,
        TimeSpan refreshInterval,
        TokenValidationParameters template,
        TimeProvider time,
        ILogger logger,
        HttpMessageHandler? httpHandler)
    {
        if ((jwksUrl is null) == (discoveryUrl is null))
        {
            throw new ArgumentException("jwt: exactly one of jwks_file, jwks_url and discovery must be set");
        }

        _jwksUrl = jwksUrl;
        _discoveryUrl = discoveryUrl;
        _source = (jwksUrl ?? discoveryUrl)!.GetLeftPart(UriPartial.Path);
        _refreshInterval = refreshInterval;
        _template = template;
        _time = time;
        _logger = logger;
        _http = new HttpClient(httpHandler ?? new SocketsHttpHandler(), disposeHandler: httpHandler is null)
        {
            Timeout = FetchTimeout,
            MaxResponseContentBufferSize = MaxDocumentBytes,
        };
    }

    public ValueTask<KeySet?> GetKeysAsync(bool unknownKid, CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow().UtcTicks;
        if (!unknownKid && _keys is { } current && now < Volatile.Read(ref _nextRefresh))
        {
            return ValueTask.FromResult<KeySet?>(current);
        }

        lock (_lock)
        {
            if (_refresh.IsCompleted && (now >= _nextRefresh || (unknownKid && now >= _nextKidRefresh)))
            {
                Volatile.Write(ref _nextRefresh, now + RetryAfterFailure.Ticks);
                _nextKidRefresh = now + UnknownKidInterval.Ticks;
                _refresh = Task.Run(RefreshAsync, CancellationToken.None);
            }
            else if (_refresh.IsCompleted || (_keys is not null && !unknownKid))
            {
                return ValueTask.FromResult(_keys);
            }

            return WaitAsync(_refresh, cancellationToken);
        }
    }

    public void Dispose() => _http.Dispose();

    private async ValueTask<KeySet?> WaitAsync(Task refresh, CancellationToken cancellationToken)
    {
        await refresh.WaitAsync(cancellationToken);
        return _keys;
    }

    private async Task RefreshAsync()
    {
        try
        {
            var keys = KeySet.Parse(await _http.GetStringAsync(_jwksUrl ?? await DiscoverJwksUriAsync(_discoveryUrl!)), _template);
            if (keys.Kids != _keys?.Kids)
            {
                JwtLog.KeysLoaded(_logger, keys.Count, keys.Kids, _source);
            }

            lock (_lock)
            {
                _keys = keys;
                Volatile.Write(ref _nextRefresh, _time.GetUtcNow().UtcTicks + _refreshInterval.Ticks);
            }
        }
#pragma warning disable CA1031 // A background fetch must not fault: every failure is logged and keeps the old keys.
        catch (Exception e)
#pragma warning restore CA1031
        {
            var consequence = _keys is null ? "tokens are refused as unavailable until a fetch succeeds" : "still using the keys fetched before";
            JwtLog.KeysFailed(_logger, _source, JwtLog.Reason(e), consequence);
        }
    }

    private async Task<Uri> DiscoverJwksUriAsync(Uri discoveryUrl)
    {
        var discovery = new OpenIdConnectConfiguration(await _http.GetStringAsync(discoveryUrl));

        // An https discovery document must not send us to plain http for the keys.
        if (!Uri.TryCreate(discoveryUrl, discovery.JwksUri, out var jwksUri) ||
            (jwksUri.Scheme != Uri.UriSchemeHttps && jwksUri.Scheme != discoveryUrl.Scheme))
        {
            throw new InvalidDataException("the discovery document has no usable jwks_uri");
        }

        return jwksUri;
    }
}
