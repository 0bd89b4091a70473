namespace Hush.Gateway.Authentication.Jwt;

/// <summary>Where the JWT validator gets its signing keys: a local JWKS file or a remote JWKS/discovery URL.</summary>
internal interface IKeySource : IDisposable
{
    /// <summary>
    /// The current keys, reloaded first when due; null when none could ever be loaded (tokens are then refused as
    /// <see cref="AuthFailure.Unavailable"/>). With <paramref name="unknownKid"/>, a remote source refreshes at once
    /// unless it fetched within the last minute. Never throws but for cancellation.
    /// </summary>
    ValueTask<KeySet?> GetKeysAsync(bool unknownKid, CancellationToken cancellationToken);
}
