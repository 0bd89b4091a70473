using System.Security.Cryptography;
using System.Text;
using Hush.Gateway.Configuration;
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

    /// <summary>32 random bytes: the full strength of HMAC-SHA256.</summary>
    private const int GeneratedBytes = 32;

    /// <summary>A secret file is one base64 line; anything longer is not a secret file.</summary>
    private const int MaxFileBytes = 4096;

    /// <summary>The default secret file under the data directory.</summary>
    public static string DefaultPath(string dataDir) => Path.Combine(dataDir, "keys", "pseudonym.key");

    /// <summary>Loads the secret. Throws <see cref="InvalidOperationException"/> naming the source when it is unusable.</summary>
    /// <param name="config">The privacy section.</param>
    /// <param name="dataDir">The data directory (for the default file).</param>
    /// <param name="environment">Reads an environment variable (the process environment in production).</param>
    /// <param name="source">Where the secret came from, for the start-up log (a path or the variable name).</param>
    public static byte[] Load(PrivacyConfig config, string dataDir, Func<string, string?> environment, out string source)
    {
        if (config.SecretFile is { } file)
        {
            source = file;
            return Decode(ReadFile(file), $"the secret file named by 'processors.privacy.secret_file' ({file})");
        }

        if (environment(EnvironmentVariable) is { Length: > 0 } fromEnvironment)
        {
            source = "$" + EnvironmentVariable;
            return Decode(fromEnvironment, "the environment variable " + EnvironmentVariable);
        }

        var path = DefaultPath(dataDir);
        source = path;
        if (!File.Exists(path))
        {
            Create(path);
        }

        return Decode(ReadFile(path), $"the secret file {path}");
    }

    private static string ReadFile(string path)
    {
        try
        {
            var info = new FileInfo(path);
            if (info.Length > MaxFileBytes)
            {
                throw new InvalidOperationException($"The pseudonym secret file {path} is {info.Length} bytes; a secret file holds one base64 line.");
            }

            return File.ReadAllText(path, Encoding.ASCII);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new InvalidOperationException($"Cannot read the pseudonym secret file {path} ({ex.GetType().Name}).");
        }
    }

    private static byte[] Decode(string text, string where)
    {
        byte[] secret;
        try
        {
            secret = Convert.FromBase64String(text.Trim());
        }
        catch (FormatException)
        {
            throw new InvalidOperationException($"The pseudonym secret in {where} is not base64.");
        }

        if (secret.Length < DerivedPseudonymKeyProvider.MinMasterSecretBytes)
        {
            throw new InvalidOperationException(
                $"The pseudonym secret in {where} is {secret.Length} bytes; it must be at least {DerivedPseudonymKeyProvider.MinMasterSecretBytes} (generate one with: head -c 32 /dev/urandom | base64).");
        }

        return secret;
    }

    /// <summary>Writes a new random secret with owner-only permissions (0700 directory, 0600 file), never over an existing one.</summary>
    private static void Create(string path)
    {
        var directory = Path.GetDirectoryName(path)!;
        try
        {
            if (OperatingSystem.IsWindows())
            {
                Directory.CreateDirectory(directory);
            }
            else
            {
                Directory.CreateDirectory(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            }

            var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None };
            if (!OperatingSystem.IsWindows())
            {
                options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
            }

            var secret = RandomNumberGenerator.GetBytes(GeneratedBytes);
            using var stream = new FileStream(path, options);
            stream.Write(Encoding.ASCII.GetBytes(Convert.ToBase64String(secret) + "\n"));
            stream.Flush(flushToDisk: true);
            CryptographicOperations.ZeroMemory(secret);
        }
        catch (IOException) when (File.Exists(path))
        {
            // Another process created it first: use theirs.
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new InvalidOperationException($"Cannot create the pseudonym secret file {path} ({ex.GetType().Name}); check that 'service.data_dir' is writable.");
        }
    }
}
