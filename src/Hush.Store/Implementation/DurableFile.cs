using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace Hush.Store.Implementation;

/// <summary>
/// What .NET's file API leaves out for durability: after a file is created, renamed or deleted, the directory
/// entry itself is durable only once the directory is flushed (POSIX <c>fsync</c> on the directory).
/// </summary>
internal static partial class DurableFile
{
    private const int ReadOnly = 0;

    /// <summary>Bytes of the header <see cref="CreateWithHeader"/> writes: an 8-byte magic and a u64 number.</summary>
    public const int HeaderBytes = 16;

    /// <summary>
    /// Creates a new owner-only file for appending (journal generations, store segments): writes the header
    /// <c>magic (8 bytes) | number u64 BE</c>, then flushes the file and its directory, so the new file survives a crash.
    /// </summary>
    /// <exception cref="IOException">The file exists, or the disk cannot take it.</exception>
    public static FileStream CreateWithHeader(string path, ReadOnlySpan<byte> magic, ulong number, FileShare share)
    {
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.ReadWrite, Share = share, BufferSize = 0 };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = OwnerOnlyFile.FileMode;
        }

        var file = new FileStream(path, options);
        try
        {
            Span<byte> header = stackalloc byte[HeaderBytes];
            magic.CopyTo(header);
            BinaryPrimitives.WriteUInt64BigEndian(header[8..], number);
            file.Write(header);
            file.Flush(flushToDisk: true);
            FlushDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
            return file;
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

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
