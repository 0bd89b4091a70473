using System.Buffers.Binary;
using System.Text;
using Hush.Otlp;

namespace Hush.Pipeline.Sampling;

/// <summary>
/// The decision cache on disk (<see cref="DecisionCacheOptions.PersistPath"/>): written on stop, read on start, so late
/// spans after a restart follow the decisions made before it. Version 1, integers little-endian:
/// <code>
/// "HUSHDEC1"  count:u32  count × { tenant length:u16  tenant:UTF-8  trace id:16 bytes (W3C order)  decision:u8 (1 sampled, 0 dropped) }
/// </code>
/// Entries oldest first. Tenant names and trace ids only: never span content. A change of layout gets a new magic
/// (<c>HUSHDEC2</c>); version 1 files are then ignored with a warning, which only costs the decisions.
/// </summary>
internal static class DecisionFile
{
    /// <summary>Magic (8 bytes) plus entry count (4 bytes).</summary>
    internal const int HeaderBytes = 12;

    /// <summary>The smallest entry (empty tenant): bounds the count a file of a given length can claim.</summary>
    internal const int MinEntryBytes = 2 + TraceId.Length + 1;

    /// <summary>The u16 length prefix; tenant names come from a header or config, far below this.</summary>
    internal const int MaxTenantBytes = ushort.MaxValue;

    internal const byte Sampled = 1;
    internal const byte Dropped = 0;

    private const int FileBufferBytes = 64 * 1024;

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    internal static ReadOnlySpan<byte> Magic => "HUSHDEC1"u8;

    internal enum ReadResult
    {
        Loaded,
        Missing,
        Invalid,
    }

    /// <summary>
    /// Writes <paramref name="entries"/> (oldest first) to <paramref name="path"/> atomically: a <c>.tmp</c> file
    /// flushed to disk, then moved over the old one. Creates the directory. Entries whose tenant name does not fit
    /// the length prefix are left out. Throws on I/O errors.
    /// </summary>
    public static void Write(string path, IReadOnlyList<DecisionRecord> entries)
    {
        var tenants = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        var count = 0;
        foreach (var e in entries)
        {
            if (Encoded(tenants, e.Tenant).Length <= MaxTenantBytes)
            {
                count++;
            }
        }

        var full = Path.GetFullPath(path);
        if (Path.GetDirectoryName(full) is { Length: > 0 } directory)
        {
            Directory.CreateDirectory(directory);
        }

        var temp = full + ".tmp";
        try
        {
            using (var stream = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None, FileBufferBytes))
            {
                Span<byte> buffer = stackalloc byte[HeaderBytes];
                Magic.CopyTo(buffer);
                BinaryPrimitives.WriteUInt32LittleEndian(buffer[Magic.Length..], (uint)count);
                stream.Write(buffer);

                Span<byte> fixedPart = stackalloc byte[TraceId.Length + 1];
                foreach (var e in entries)
                {
                    var tenant = tenants[e.Tenant];
                    if (tenant.Length > MaxTenantBytes)
                    {
                        continue;
                    }

                    BinaryPrimitives.WriteUInt16LittleEndian(buffer, (ushort)tenant.Length);
                    stream.Write(buffer[..2]);
                    stream.Write(tenant);
                    e.TraceId.WriteTo(fixedPart);
                    fixedPart[TraceId.Length] = e.Sampled ? Sampled : Dropped;
                    stream.Write(fixedPart);
                }

                // On disk before the move: a crash then leaves the old file or the new one, never a torn one.
                stream.Flush(flushToDisk: true);
            }

            File.Move(temp, full, overwrite: true);
        }
        catch
        {
            TryDelete(temp);
            throw;
        }
    }

    /// <summary>
    /// Reads and validates the whole file before returning any of it: <see cref="ReadResult.Invalid"/> (with a fixed
    /// <paramref name="problem"/> text, never file content) for a truncated, corrupt or foreign file,
    /// <see cref="ReadResult.Missing"/> when there is none. Throws on other I/O errors.
    /// </summary>
    public static ReadResult TryRead(string path, out List<DecisionRecord> entries, out string problem)
    {
        entries = [];
        problem = string.Empty;
        FileStream stream;
        try
        {
            stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, FileBufferBytes);
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            return ReadResult.Missing;
        }

        using (stream)
        {
            problem = Read(stream, out var read);
            if (problem.Length > 0)
            {
                return ReadResult.Invalid;
            }

            entries = read;
            return ReadResult.Loaded;
        }
    }

    private static string Read(Stream stream, out List<DecisionRecord> entries)
    {
        entries = [];
        Span<byte> header = stackalloc byte[HeaderBytes];
        if (stream.ReadAtLeast(header, HeaderBytes, throwOnEndOfStream: false) < HeaderBytes)
        {
            return "truncated header";
        }

        if (!header[..Magic.Length].SequenceEqual(Magic))
        {
            return "not a version 1 decision file";
        }

        // Checked before allocating: a corrupt count cannot ask for more entries than the file could hold.
        var count = BinaryPrimitives.ReadUInt32LittleEndian(header[Magic.Length..]);
        if (count > (stream.Length - HeaderBytes) / MinEntryBytes)
        {
            return "truncated (count larger than the file)";
        }

        var list = new List<DecisionRecord>((int)count);
        var tenants = new Dictionary<string, string>(StringComparer.Ordinal);
        var tenantBytes = new byte[MaxTenantBytes];
        Span<byte> length = stackalloc byte[2];
        Span<byte> fixedPart = stackalloc byte[TraceId.Length + 1];
        for (var i = 0u; i < count; i++)
        {
            if (stream.ReadAtLeast(length, length.Length, throwOnEndOfStream: false) < length.Length)
            {
                return "truncated entry";
            }

            var n = BinaryPrimitives.ReadUInt16LittleEndian(length);
            if (stream.ReadAtLeast(tenantBytes.AsSpan(0, n), n, throwOnEndOfStream: false) < n
                || stream.ReadAtLeast(fixedPart, fixedPart.Length, throwOnEndOfStream: false) < fixedPart.Length)
            {
                return "truncated entry";
            }

            string tenant;
            try
            {
                tenant = StrictUtf8.GetString(tenantBytes, 0, n);
            }
            catch (DecoderFallbackException)
            {
                return "tenant name is not UTF-8";
            }

            if (!tenants.TryGetValue(tenant, out var shared))
            {
                tenants.Add(tenant, tenant);
                shared = tenant;
            }

            var decision = fixedPart[TraceId.Length];
            if (decision is not (Sampled or Dropped))
            {
                return "unknown decision byte";
            }

            list.Add(new DecisionRecord(shared, TraceId.FromBytes(fixedPart[..TraceId.Length]), decision == Sampled));
        }

        if (stream.ReadByte() != -1)
        {
            return "bytes after the last entry";
        }

        entries = list;
        return string.Empty;
    }

    private static byte[] Encoded(Dictionary<string, byte[]> tenants, string tenant)
    {
        if (!tenants.TryGetValue(tenant, out var bytes))
        {
            bytes = Encoding.UTF8.GetBytes(tenant);
            tenants.Add(tenant, bytes);
        }

        return bytes;
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
#pragma warning disable CA1031 // Best effort: the original failure is what the caller reports.
        catch (Exception)
#pragma warning restore CA1031
        {
        }
    }
}

/// <summary>One remembered decision as persisted: the tenant's name (not the processor's tenant number) and the trace id.</summary>
internal readonly record struct DecisionRecord(string Tenant, TraceId TraceId, bool Sampled);
