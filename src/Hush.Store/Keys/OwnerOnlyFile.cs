using System.Security.Cryptography;

namespace Hush.Store;

/// <summary>
/// Files that hold key material: directory 0700, file 0600, replaced atomically (write a temporary file,
/// flush it to disk, rename over the old one), so a crash leaves the old file or the new one, never half.
/// The gateway's secret files (pseudonym secret, token pepper, token store) use it too.
/// </summary>
internal static class OwnerOnlyFile
{
    public const UnixFileMode FileMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    public const UnixFileMode DirectoryMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    /// <summary>Permission bits that let anyone but the owner read or write.</summary>
    private const UnixFileMode OthersMask = UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute
        | UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute;

    /// <summary>Creates the directory holding <paramref name="path"/> (and its parents), owner-only.</summary>
    public static void EnsureDirectory(string path) => CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);

    /// <summary>Creates <paramref name="directory"/> (and its parents), owner-only; an existing one is left as it is.</summary>
    public static void CreateDirectory(string directory)
    {
        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(directory);
        }
        else
        {
            Directory.CreateDirectory(directory, DirectoryMode);
        }
    }

    /// <summary>Replaces <paramref name="path"/> with <paramref name="contents"/> atomically.</summary>
    public static void Replace(string path, ReadOnlySpan<byte> contents) => Write(path, contents, overwrite: true);

    /// <summary>
    /// Creates <paramref name="path"/> atomically with <paramref name="contents"/>; returns false, leaving the
    /// existing file alone, when another writer created it first.
    /// </summary>
    public static bool TryCreate(string path, ReadOnlySpan<byte> contents) => Write(path, contents, overwrite: false);

    /// <summary>True when group or others may access <paramref name="path"/> (always false on Windows).</summary>
    public static bool IsOpenToOthers(string path)
        => !OperatingSystem.IsWindows() && (File.GetUnixFileMode(path) & OthersMask) != 0;

    private static bool Write(string path, ReadOnlySpan<byte> contents, bool overwrite)
    {
        EnsureDirectory(path);
        var temporary = path + ".tmp-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4));
        try
        {
            var options = new FileStreamOptions { Mode = System.IO.FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None };
            if (!OperatingSystem.IsWindows())
            {
                options.UnixCreateMode = FileMode;
            }

            using (var stream = new FileStream(temporary, options))
            {
                stream.Write(contents);
                stream.Flush(flushToDisk: true);
            }

            try
            {
                File.Move(temporary, path, overwrite);
            }
            catch (IOException) when (!overwrite && File.Exists(path))
            {
                return false;
            }

            return true;
        }
        finally
        {
            File.Delete(temporary);
        }
    }
}
