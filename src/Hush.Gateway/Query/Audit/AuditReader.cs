using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Hush.Gateway.Security;

namespace Hush.Gateway.Query.Audit;

/// <summary>The outcome of <see cref="AuditReader.Verify"/>: how many records were checked and every problem found.</summary>
internal sealed record AuditVerifyResult(long Records, IReadOnlyList<string> Problems)
{
    public bool Intact => Problems.Count == 0;
}

/// <summary>Reads and verifies the audit log of a data directory (for <c>hush audit</c> and <c>GET /api/hush/audit</c>).</summary>
internal static class AuditReader
{
    /// <summary>Reports are cut after this many problems: one tampering usually breaks every later line.</summary>
    private const int MaxProblems = 20;

    /// <summary>
    /// Walks the whole chain: every line parses, its seq follows the previous one, its prev is the hash of the chain
    /// so far; then the head's MAC verifies under the audit key and the head names the last line.
    /// </summary>
    public static AuditVerifyResult Verify(string dataDir)
    {
        var problems = new List<string>();
        var headPath = Path.Combine(AuditLog.DirectoryFor(dataDir), "audit.head");
        var keyPath = AuditLog.KeyPathFor(dataDir);
        if (!File.Exists(keyPath))
        {
            return new AuditVerifyResult(0, [$"the audit key {keyPath} is missing; the head cannot be authenticated"]);
        }

        var key = SecretFile.Read(keyPath, 32, "audit key");
        var head = AuditLog.ReadHead(headPath, key);
        for (var retry = 0; head is null && retry < 3 && File.Exists(headPath); retry++)
        {
            // The head is overwritten in place: a read racing a running server's write can see half of it.
            Thread.Sleep(20);
            head = AuditLog.ReadHead(headPath, key);
        }

        var hash = new byte[32];
        byte[]? hashAtHead = head is { Seq: 0 } ? hash : null;
        long seq = 0;
        var lineNumber = 0;
        var listed = true;
        foreach (var file in ChainFiles(dataDir))
        {
            // Rotated files first, oldest first, then the live one: one chain across them all.
            var name = Path.GetFileName(file);
            var fileLine = 0;
            foreach (var line in File.ReadLines(file, Encoding.UTF8))
            {
                lineNumber++;
                fileLine++;
                if (problems.Count >= MaxProblems)
                {
                    problems.Add("(further problems not listed)");
                    listed = false;
                    break;
                }

                long recordSeq;
                byte[] prev;
                try
                {
                    using var doc = JsonDocument.Parse(line);
                    recordSeq = doc.RootElement.GetProperty("seq").GetInt64();
                    prev = Convert.FromHexString(doc.RootElement.GetProperty("prev").GetString()!);
                }
                catch (Exception e) when (e is JsonException or FormatException or KeyNotFoundException or InvalidOperationException)
                {
                    problems.Add($"{name} line {fileLine}: not an audit record (edited or damaged)");
                    hash = AuditLog.Chain(hash, Encoding.UTF8.GetBytes(line));
                    seq++;
                    continue;
                }

                if (recordSeq != seq + 1)
                {
                    problems.Add($"{name} line {fileLine}: record seq {recordSeq} where {seq + 1} was expected (a record was deleted, inserted or reordered"
                        + (fileLine == 1 && seq + 1 < recordSeq ? ", or a rotated file is missing" : string.Empty) + ")");
                }

                if (!CryptographicOperations.FixedTimeEquals(prev, hash))
                {
                    problems.Add($"{name} line {fileLine}: its prev hash does not match the chain (the record before it was edited, or records were deleted, inserted or reordered)");
                }

                // Resynchronize on the record's own prev, so one tampering is reported once, where it is.
                hash = AuditLog.Chain(prev, Encoding.UTF8.GetBytes(line));
                seq = recordSeq;
                if (head is { } anchor && seq == anchor.Seq)
                {
                    hashAtHead = hash;
                }
            }

            if (!listed)
            {
                break;
            }
        }

        if (head is not { } h)
        {
            if (lineNumber > 0 || File.Exists(headPath))
            {
                problems.Add($"the head {headPath} is missing or its MAC does not verify under the audit key");
            }
        }
        else if (h.Seq != seq || !CryptographicOperations.FixedTimeEquals(h.Hash, hash))
        {
            problems.Add(h.Seq > seq
                ? $"the log ends at record {seq} but the authenticated head is at record {h.Seq}: records were deleted from the end"
                : hashAtHead is not null && CryptographicOperations.FixedTimeEquals(h.Hash, hashAtHead)
                    ? $"the log continues {seq - h.Seq} record(s) past the authenticated head at record {h.Seq}: appended by something other than Hush, "
                        + $"or the head's last flush was lost to a power failure or OS crash (the head on disk may lag the log by {AuditLog.HeadSyncInterval.TotalSeconds:0.#} s of records)"
                    : $"the log does not end where the authenticated head says (head at record {h.Seq}, log at {seq}): the log was edited, extended or rewritten");
        }

        CryptographicOperations.ZeroMemory(key);
        return new AuditVerifyResult(lineNumber, problems);
    }

    /// <summary>
    /// The last <paramref name="count"/> records (oldest first) matching the filters (each null for any), as parsed JSON
    /// lines. A line that does not parse is skipped (verify reports it).
    /// </summary>
    /// <remarks>
    /// Reads from the end, a chunk at a time, and stops at the <paramref name="count"/>th match: the log only grows
    /// (~350 bytes a query, so hundreds of MB on a busy gateway), and reading it whole made every
    /// <c>GET /api/hush/audit</c> and <c>hush audit tail</c> cost seconds. A filter that matches little still reads all.
    /// </remarks>
    public static List<JsonElement> Tail(string dataDir, int count, string? identity = null, string? action = null, string? tenant = null)
    {
        var result = new List<JsonElement>();
        if (count <= 0)
        {
            return result;
        }

        foreach (var line in Enumerable.Reverse(ChainFiles(dataDir)).SelectMany(path => LinesFromTheEnd(path)))
        {
            JsonElement record;
            try
            {
                using var doc = JsonDocument.Parse(line);
                record = doc.RootElement.Clone();
            }
            catch (JsonException)
            {
                continue;
            }

            if ((identity is not null && !Is(record, "identity", identity)) || (action is not null && !Is(record, "action", action))
                || (tenant is not null && !Is(record, "tenant", tenant)))
            {
                continue;
            }

            result.Add(record);
            if (result.Count == count)
            {
                break;
            }
        }

        result.Reverse();
        return result;
    }

    /// <summary>The files of the chain in order: the rotated ones, oldest first, then the live one (when present).</summary>
    private static List<string> ChainFiles(string dataDir)
    {
        var directory = AuditLog.DirectoryFor(dataDir);
        var files = new List<string>(AuditLog.RotatedFiles(directory));
        var live = Path.Combine(directory, "audit.log");
        if (File.Exists(live))
        {
            files.Add(live);
        }

        return files;
    }

    /// <summary>The non-empty lines of the file at <paramref name="path"/>, last first (it may vanish meanwhile: rotated).</summary>
    private static IEnumerable<ReadOnlyMemory<byte>> LinesFromTheEnd(string path)
    {
        FileStream stream;
        try
        {
            stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, bufferSize: 1);
        }
        catch (FileNotFoundException)
        {
            yield break;
        }

        using (stream)
        {
            foreach (var line in LinesFromTheEnd(stream))
            {
                yield return line;
            }
        }
    }

    /// <summary>The non-empty lines of <paramref name="stream"/>, last first, without their newlines.</summary>
    internal static IEnumerable<ReadOnlyMemory<byte>> LinesFromTheEnd(Stream stream, int chunkBytes = 64 * 1024)
    {
        var end = stream.Length;

        // The part of a line whose start lies in a chunk not read yet.
        byte[] carry = [];
        while (end > 0)
        {
            var start = Math.Max(0, end - chunkBytes);
            var buffer = new byte[end - start + carry.Length];
            stream.Position = start;
            stream.ReadExactly(buffer, 0, (int)(end - start));
            carry.CopyTo(buffer, (int)(end - start));
            var stop = buffer.Length;
            for (var i = buffer.Length - 1; i >= 0; i--)
            {
                if (buffer[i] == (byte)'\n')
                {
                    if (stop > i + 1)
                    {
                        yield return buffer.AsMemory((i + 1)..stop);
                    }

                    stop = i;
                }
            }

            carry = buffer[..stop];
            end = start;
        }

        if (carry.Length > 0)
        {
            yield return carry;
        }
    }

    private static bool Is(JsonElement record, string property, string value) =>
        record.ValueKind == JsonValueKind.Object && record.TryGetProperty(property, out var p) && p.ValueKind == JsonValueKind.String && p.GetString() == value;
}
