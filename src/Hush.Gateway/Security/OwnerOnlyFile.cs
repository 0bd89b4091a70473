using System.Security.Cryptography;
using System.Text;

namespace Hush.Gateway.Security;

/// <summary>
/// Files that hold key material or credential hashes: created owner-only (directory 0700, file 0600) and
/// replaced atomically (write a temporary file, then rename), so a reader never sees half a file and
/// nobody else on the machine can read one.
/// </summary>
internal static class OwnerOnlyFile
{
    private const UnixFileMode OwnerFileMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private const UnixFileMode DirectoryMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    /// <summary>A secret file holds one base64 line; anything longer is not a secret file.</summary>
    private const int MaxSecretFileBytes = 4096;

    /// <summary>Creates the directory of <paramref name="path"/> owner-only if it does not exist.</summary>
    public static void EnsureDirectory(string path)
    {
        var directory = Path.GetDirectoryName(Path.GetFullPath(path))!;
        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(directory);
        }
        else
        {
            Directory.CreateDirectory(directory, DirectoryMode);
        }
    }

    /// <summary>Writes <paramref name="contents"/> to <paramref name="path"/> atomically, owner-only, flushed to disk.</summary>
    public static void WriteAtomically(string path, ReadOnlySpan<byte> contents)
    {
        EnsureDirectory(path);
        var temporary = path + ".tmp-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4));
        try
        {
            using (var stream = new FileStream(temporary, Options(System.IO.FileMode.CreateNew)))
            {
                stream.Write(contents);
                stream.Flush(flushToDisk: true);
            }

            File.Move(temporary, path, overwrite: true);
        }
        finally
        {
            File.Delete(temporary);
        }
    }

    /// <summary>
    /// Reads the base64 secret in <paramref name="path"/>, creating it first with <paramref name="bytes"/> random
    /// bytes when it does not exist (never over an existing one: a concurrent creator's secret wins).
    /// Throws <see cref="InvalidOperationException"/> that names the file, never its content.
    /// </summary>
    public static byte[] ReadOrCreateSecret(string path, int bytes, string what)
    {
        if (!File.Exists(path))
        {
            CreateSecret(path, bytes, what);
        }

        return ReadSecret(path, bytes, what);
    }

    /// <summary>Reads a base64 secret of at least <paramref name="minBytes"/> bytes from <paramref name="path"/>.</summary>
    public static byte[] ReadSecret(string path, int minBytes, string what)
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

        return DecodeSecret(text, minBytes, $"the {what} file {path}");
    }

    /// <summary>Decodes a base64 secret; errors name <paramref name="where"/> and never echo the text.</summary>
    public static byte[] DecodeSecret(string text, int minBytes, string where)
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

    private static void CreateSecret(string path, int bytes, string what)
    {
        var secret = RandomNumberGenerator.GetBytes(bytes);
        var line = Encoding.ASCII.GetBytes(Convert.ToBase64String(secret) + "\n");
        try
        {
            EnsureDirectory(path);
            using var stream = new FileStream(path, Options(System.IO.FileMode.CreateNew));
            stream.Write(line);
            stream.Flush(flushToDisk: true);
        }
        catch (IOException) when (File.Exists(path))
        {
            // Another process created it first: use theirs.
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

    private static FileStreamOptions Options(System.IO.FileMode mode)
    {
        var options = new FileStreamOptions { Mode = mode, Access = FileAccess.Write, Share = FileShare.None };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = OwnerFileMode;
        }

        return options;
    }
}
