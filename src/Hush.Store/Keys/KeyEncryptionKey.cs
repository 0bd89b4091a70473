using System.Security.Cryptography;
using System.Text;

namespace Hush.Store;

/// <summary>
/// Finds the key-encryption key (KEK) that wraps every data key of a data directory. In order: a mounted
/// secret path, the <see cref="EnvironmentVariable"/>, then <c>{data_dir}/keys/kek.key</c>, generated on first
/// use (directory 0700, file 0600, written atomically). Errors name where the key was looked for, never its
/// content.
/// </summary>
public static class KeyEncryptionKey
{
    /// <summary>Base64 of exactly 32 bytes, for deployments that inject secrets as environment variables.</summary>
    public const string EnvironmentVariable = "HUSH_STORE_KEK";

    /// <summary>The generated key file's name under <c>{data_dir}/keys/</c>.</summary>
    public const string DefaultFileName = "kek.key";

    /// <summary>A key file holds one base64 line (or 32 raw bytes); anything longer is not a key file.</summary>
    private const int MaxKeyFileBytes = 4096;

    /// <summary>The default key file of <paramref name="dataDirectory"/>.</summary>
    public static string DefaultPath(string dataDirectory) => Path.Combine(dataDirectory, "keys", DefaultFileName);

    /// <summary>Loads the KEK from the first source that is configured.</summary>
    /// <param name="dataDirectory">The data directory, for the default key file.</param>
    /// <param name="secretPath">A mounted secret (raw 32 bytes or base64), or null.</param>
    /// <param name="environment">Reads an environment variable (the process environment in production).</param>
    /// <param name="source">Where the key came from, for the start-up log: a path or <c>$HUSH_STORE_KEK</c>.</param>
    /// <exception cref="KeyStoreException">The source is unusable; the message names it.</exception>
    public static KeyMaterial Load(string dataDirectory, string? secretPath, Func<string, string?> environment, out string source)
    {
        ArgumentNullException.ThrowIfNull(dataDirectory);
        ArgumentNullException.ThrowIfNull(environment);
        if (secretPath is { Length: > 0 })
        {
            source = secretPath;
            return ReadFile(secretPath, "mounted key-encryption key");
        }

        if (environment(EnvironmentVariable) is { Length: > 0 } text)
        {
            source = "$" + EnvironmentVariable;
            return Decode(Encoding.ASCII.GetBytes(text), "the environment variable " + EnvironmentVariable, source);
        }

        source = DefaultPath(dataDirectory);
        return ReadOrCreateFile(source);
    }

    /// <summary>
    /// Reads the key file at <paramref name="path"/>, generating it first when it does not exist (never over an
    /// existing one: a concurrent creator's key wins). Refuses a file that group or others may read.
    /// </summary>
    /// <exception cref="KeyStoreException">The file is unreadable, open to others, or not a 32-byte key.</exception>
    public static KeyMaterial ReadOrCreateFile(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path))
        {
            Create(path);
        }

        if (OwnerOnlyFile.IsOpenToOthers(path))
        {
            throw new KeyStoreException($"The key-encryption key file {path} is readable by group or others; run: chmod 600 {path}", path);
        }

        return ReadFile(path, "key-encryption key");
    }

    /// <summary>Reads a key file holding one base64 line or exactly 32 raw bytes.</summary>
    /// <exception cref="KeyStoreException">The file is unreadable or not a 32-byte key.</exception>
    public static KeyMaterial ReadFile(string path, string what = "key-encryption key")
    {
        ArgumentNullException.ThrowIfNull(path);
        byte[] contents;
        try
        {
            var info = new FileInfo(path);
            if (!info.Exists)
            {
                throw new KeyStoreException($"The {what} file {path} does not exist.", path);
            }

            if (info.Length > MaxKeyFileBytes)
            {
                throw new KeyStoreException($"The {what} file {path} is {info.Length} bytes; a key file holds one base64 line.", path);
            }

            contents = File.ReadAllBytes(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new KeyStoreException($"Cannot read the {what} file {path} ({ex.GetType().Name}).", path);
        }

        try
        {
            return Decode(contents, $"the {what} file {path}", path);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(contents);
        }
    }

    /// <summary>Raw 32 bytes, or base64 of 32 bytes (surrounding whitespace ignored).</summary>
    private static KeyMaterial Decode(byte[] contents, string where, string location)
    {
        if (contents.Length == KeyMaterial.KeyBytes)
        {
            return KeyMaterial.Copy(contents);
        }

        var key = new byte[KeyMaterial.KeyBytes];
        var text = contents.AsSpan().Trim(" \t\r\n"u8);
        if (System.Buffers.Text.Base64.DecodeFromUtf8(text, key, out _, out var written) is not System.Buffers.OperationStatus.Done || written != KeyMaterial.KeyBytes)
        {
            CryptographicOperations.ZeroMemory(key);
            throw new KeyStoreException(
                $"The key in {where} is not 32 bytes, raw or base64 (generate one with: head -c 32 /dev/urandom | base64).", location);
        }

        return KeyMaterial.Own(key);
    }

    private static void Create(string path)
    {
        var key = RandomNumberGenerator.GetBytes(KeyMaterial.KeyBytes);
        var line = new byte[((KeyMaterial.KeyBytes + 2) / 3 * 4) + 1];
        try
        {
            _ = System.Buffers.Text.Base64.EncodeToUtf8(key, line, out _, out var written);
            line[written] = (byte)'\n';
            OwnerOnlyFile.TryCreate(path, line.AsSpan(0, written + 1));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new KeyStoreException($"Cannot create the key-encryption key file {path} ({ex.GetType().Name}); check that the data directory is writable.", path);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(key);
            CryptographicOperations.ZeroMemory(line);
        }
    }
}
