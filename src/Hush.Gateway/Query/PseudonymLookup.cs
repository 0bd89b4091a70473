using Hush.Gateway.Configuration;
using Hush.Gateway.Privacy;
using Hush.Privacy;
using Hush.Privacy.Transforms;

namespace Hush.Gateway.Query;

/// <summary>
/// The pseudonym the privacy stage gives a raw identifier, computed the same way: the master secret the server uses
/// (<see cref="PseudonymSecret"/>), the tenant's HKDF-derived key (<see cref="DerivedPseudonymKeyProvider"/>), then
/// <see cref="Pseudonymizer"/> over (data class, value). So a responder can search a user's traces by pseudonym
/// without the raw value being stored anywhere.
/// </summary>
internal static class PseudonymLookup
{
    /// <summary>The data class a value most likely has when none is given: emails by their shape, else a user id.</summary>
    public static string GuessClass(string value) => value.Contains('@', StringComparison.Ordinal) ? "email" : "user_id";

    /// <summary>Computes the pseudonym; throws <see cref="InvalidOperationException"/> naming where the secret was looked for.</summary>
    public static string Compute(HushConfig config, string tenant, string dataClass, string value, Func<string, string?> environment)
    {
        ArgumentNullException.ThrowIfNull(config);
        var secret = PseudonymSecret.Load(config.Privacy, config.DataDir, environment, out _);
        try
        {
            var keys = new DerivedPseudonymKeyProvider(secret);
            return new Pseudonymizer(keys.GetKey(tenant)).Pseudonymize(dataClass, value);
        }
        finally
        {
            System.Security.Cryptography.CryptographicOperations.ZeroMemory(secret);
        }
    }
}
