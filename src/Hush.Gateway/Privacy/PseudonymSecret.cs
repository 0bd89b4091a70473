using Hush.Gateway.Configuration;
using Hush.Gateway.Security;
using Hush.Privacy;

namespace Hush.Gateway.Privacy;

/// <summary>
/// Finds or creates the pseudonym master secret, from which every tenant's HMAC key is derived. In order:
/// <c>processors.privacy.secret_file</c> (a mounted secret), the <see cref="EnvironmentVariable"/>, then
/// <c>{data_dir}/keys/pseudonym.key</c>, generated on first start with owner-only permissions. The secret is
/// never logged or put in an error message; errors name only where it was looked for.
/// </summary>
internal static class PseudonymSecret
{
    /// <summary>Base64 of at least 32 bytes; for deployments that inject secrets as environment variables.</summary>
    public const string EnvironmentVariable = "HUSH_PSEUDONYM_SECRET";

    private const string What = "pseudonym secret";

    /// <summary>The default secret file under the data directory.</summary>
    public static string DefaultPath(string dataDir) => Path.Combine(dataDir, "keys", "pseudonym.key");

    /// <summary>Loads the secret. Throws <see cref="InvalidOperationException"/> naming the source when it is unusable.</summary>
    /// <param name="config">The privacy section.</param>
    /// <param name="dataDir">The data directory (for the default file).</param>
    /// <param name="environment">Reads an environment variable (the process environment in production).</param>
    /// <param name="source">Where the secret came from, for the start-up log (a path or the variable name).</param>
    public static byte[] Load(PrivacyConfig config, string dataDir, Func<string, string?> environment, out string source)
    {
        const int min = DerivedPseudonymKeyProvider.MinMasterSecretBytes;
        if (config.SecretFile is { } file)
        {
            source = file;
            return SecretFile.Read(file, min, What);
        }

        if (environment(EnvironmentVariable) is { Length: > 0 } fromEnvironment)
        {
            source = "$" + EnvironmentVariable;
            return SecretFile.Decode(fromEnvironment, min, "the environment variable " + EnvironmentVariable);
        }

        source = DefaultPath(dataDir);
        return SecretFile.ReadOrCreate(source, min, What);
    }
}
