using Microsoft.Extensions.Logging;
using Microsoft.IdentityModel.Tokens;

namespace Hush.Gateway.Authentication.Jwt;

/// <summary>
/// Keys from a local JWKS file (offline clusters). Read once at construction, which throws when the file is unusable;
/// re-read when its last-write time changes. A file that breaks later keeps the keys read before.
/// </summary>
internal sealed class JwksFileSource : IKeySource
{
    /// <summary>How often the last-write time is looked at: a rotated key is picked up within 5 s for one stat a 5 s.</summary>
    private static readonly TimeSpan CheckInterval = TimeSpan.FromSeconds(5);

    private readonly string _path;
    private readonly TokenValidationParameters _template;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Lock _lock = new();
    private volatile KeySet _keys;
    private DateTime _lastWrite;
    private DateTimeOffset _nextCheck;

    public JwksFileSource(string path, TokenValidationParameters template, TimeProvider time, ILogger logger)
    {
        _path = path;
        _template = template;
        _time = time;
        _logger = logger;
        _lastWrite = File.GetLastWriteTimeUtc(path);
        try
        {
            _keys = Read();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidDataException)
        {
            throw new InvalidOperationException($"jwt: cannot use the JWKS file '{path}': {JwtLog.Reason(e)}", e);
        }

        _nextCheck = time.GetUtcNow() + CheckInterval;
        JwtLog.KeysLoaded(logger, _keys.Count, _keys.Kids, path);
    }

    public ValueTask<KeySet?> GetKeysAsync(bool unknownKid, CancellationToken cancellationToken)
    {
        if (_time.GetUtcNow() >= _nextCheck)
        {
            ReloadIfChanged();
        }

        return ValueTask.FromResult<KeySet?>(_keys);
    }

    public void Dispose()
    {
    }

    private void ReloadIfChanged()
    {
        lock (_lock)
        {
            var now = _time.GetUtcNow();
            if (now < _nextCheck)
            {
                return;
            }

            _nextCheck = now + CheckInterval;
            var lastWrite = File.GetLastWriteTimeUtc(_path);
            if (lastWrite == _lastWrite)
            {
                return;
            }

            try
            {
                var keys = Read();
                _lastWrite = lastWrite;
                if (keys.Kids != _keys.Kids)
                {
                    JwtLog.KeysLoaded(_logger, keys.Count, keys.Kids, _path);
                }

                _keys = keys;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidDataException)
            {
                // Not recording the write time retries in 5 s: the file may have been caught half-written.
                JwtLog.KeysFailed(_logger, _path, JwtLog.Reason(e), "still using the keys read before");
            }
        }
    }

    private KeySet Read() => KeySet.Parse(File.ReadAllText(_path), _template);
}
