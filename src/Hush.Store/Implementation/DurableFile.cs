using System.Runtime.InteropServices;

namespace Hush.Store.Implementation;

/// <summary>
/// What .NET's file API leaves out for durability: after a file is created, renamed or deleted, the directory
/// entry itself is durable only once the directory is flushed (POSIX <c>fsync</c> on the directory).
/// </summary>
internal static partial class DurableFile
{
    private const int ReadOnly = 0;

    /// <summary>Flushes the directory holding a file that was just created, renamed or deleted. Best effort on Windows (no-op).</summary>
    public static void FlushDirectory(string directory)
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }

        var fd = Open(directory, ReadOnly);
        if (fd < 0)
        {
            throw new IOException($"Cannot open directory {directory} to flush it (errno {Marshal.GetLastPInvokeError()}).");
        }

        try
        {
            if (Fsync(fd) != 0)
            {
                throw new IOException($"Cannot flush directory {directory} (errno {Marshal.GetLastPInvokeError()}).");
            }
        }
        finally
        {
            _ = Close(fd);
        }
    }

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    private static partial int Fsync(int fd);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    private static partial int Close(int fd);
}
