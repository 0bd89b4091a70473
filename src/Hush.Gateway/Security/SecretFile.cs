using System.Security.Cryptography;
using System.Text;
using Hush.Store;

namespace Hush.Gateway.Security;

/// <summary>
/// Base64 secrets in owner-only files (written through the store's <see cref="OwnerOnlyFile"/>: 0700 directory,
/// 0600 file, atomic). Errors name the file or variable, never its content.
/// </summary>
internal static class SecretFile
{
    /// <summary>A secret file holds one base64 line; anything longer is not a secret file.</summary>
    private const int MaxSecretFileBytes = 4096;

    /// <summary>
    /// Reads the base64 secret in <paramref name="path"/>, creating it first with <paramref name="bytes"/> random
    /// bytes when it does not exist (never over an existing one: a concurrent creator's secret wins).
    /// Throws <see cref="InvalidOperationException"/> that names the file, never its content.
    /// </summary>
    public static byte[] ReadOrCreate(string path, int bytes, string what)
    {
        if (!File.Exists(path))
        {
            Create(path, bytes, what);
        }

        return Read(path, bytes, what);
    }

    /// <summary>Reads a base64 secret of at least <paramref name="minBytes"/> bytes from <paramref name="path"/>.</summary>
    public static byte[] Read(string path, int minBytes, string what)
    {
        string text;
        try
        {
            var info = new FileInfo(path);
            if (info.Length > MaxSecretFileBytes)
            {
                throw new InvalidOperationException($"The {what} file {path} is {info.Length} bytes; a secret file holds one base64 line.");
            }

            text = File.ReadAllText(path, Encoding.ASCII);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new InvalidOperationException($"Cannot read the {what} file {path} ({ex.GetType().Name}).");
        }

        return Decode(text, minBytes, $"the {what} file {path}");
    }

    /// <summary>Decodes a base64 secret; errors name <paramref name="where"/> and never echo the text.</summary>
    public static byte[] Decode(string text, int minBytes, string where)
    {
        byte[] secret;
        try
        {
            secret = Convert.FromBase64String(text.Trim());
        }
        catch (FormatException)
        {
            throw new InvalidOperationException($"The secret in {where} is not base64.");
        }

        if (secret.Length < minBytes)
        {
            throw new InvalidOperationException(
                $"The secret in {where} is {secret.Length} bytes; it must be at least {minBytes} (generate one with: head -c 32 /dev/urandom | base64).");
        }

        return secret;
    }

    private static void Create(string path, int bytes, string what)
    {
        var secret = RandomNumberGenerator.GetBytes(bytes);
        var line = Encoding.ASCII.GetBytes(Convert.ToBase64String(secret) + "\n");
        try
        {
            OwnerOnlyFile.TryCreate(path, line);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new InvalidOperationException($"Cannot create the {what} file {path} ({ex.GetType().Name}); check that 'service.data_dir' is writable.");
        }
        finally
        {
            CryptographicOperations.ZeroMemory(secret);
            CryptographicOperations.ZeroMemory(line);
        }
    }
}
