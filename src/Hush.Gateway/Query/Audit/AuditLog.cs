using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Hush.Gateway.Security;
using Hush.Store;

namespace Hush.Gateway.Query.Audit;

/// <summary>What happened to an audited request.</summary>
internal enum AuditDecision
{
    Allow,
    Deny,
    Error,
}

/// <summary>
/// One audited action, before it is written. Parameters must already be free of raw values: TraceQL string
/// literals redacted, resolved values never present.
/// </summary>
internal sealed record AuditEntry
{
    public required string Identity { get; init; }

    public string Tenant { get; init; } = string.Empty;

    public required string Action { get; init; }

    public string Endpoint { get; init; } = string.Empty;

    public IReadOnlyList<KeyValuePair<string, string>> Parameters { get; init; } = [];

    public int? Results { get; init; }

    public AuditDecision Decision { get; init; }

    public int Status { get; init; }

    public string Reason { get; init; } = string.Empty;
}

/// <summary>
/// The append-only, hash-chained audit log: <c>{data_dir}/audit/audit.log</c>, one JSON object a line. Line n carries
/// <c>prev</c> = h(n-1), and h(n) = SHA-256(h(n-1) ‖ line n) with h(0) = 32 zero bytes, so an edited, deleted,
/// inserted or reordered line breaks the chain at the next line. The chain's head (last seq and hash) is kept in
/// <c>audit.head</c> with an HMAC-SHA256 under <c>{data_dir}/keys/audit.key</c> (owner-only): truncating the log, or
/// rewriting it and recomputing every hash, does not match an authentic head. Thread-safe.
/// </summary>
/// <remarks>
/// <para>Format version 1. The field order of a line is fixed (see <see cref="Format"/>); change it only with a new "v".</para>
/// <para>
/// Durability: a group's records are <c>fsync</c>ed before any of their callers is answered. The head is then
/// overwritten in place (one 256-byte write, no rename) and flushed to disk at most once every
/// <see cref="HeadSyncInterval"/>: other processes and a restart after <c>kill -9</c> see it at once (it is in the
/// page cache), and only a power failure or kernel crash can leave the head on disk up to that long behind the log,
/// which <c>hush audit verify</c> then reports as records past the head. Replacing the file atomically and
/// flushing it for every group cost 0.6 ms of CPU per query and set the trace-by-id tail (docs/benchmarks.md).
/// </para>
/// </remarks>
internal sealed class AuditLog
{
    public const int FormatVersion = 1;

    /// <summary>Audit key length: 256 bits, the HMAC-SHA256 block security level.</summary>
    private const int KeyBytes = 32;

    /// <summary>The tail read to find the last record; a record is far smaller.</summary>
    private const int TailBytes = 64 * 1024;

    /// <summary>The tail read first: a record with its parameters is a few hundred bytes.</summary>
    private const int ShortTailBytes = 4 * 1024;

    /// <summary>The live file's default rotation size (<c>query.audit.rotate_megabytes</c>: 256).</summary>
    public const long DefaultRotateBytes = 256L * 1024 * 1024;

    /// <summary>
    /// The head's size on disk: one record padded with spaces, written in place at offset 0, inside the first sector.
    /// </summary>
    private const int HeadBytes = 256;

    private static readonly byte[] HeadContext = "hush-audit-head-v1\0"u8.ToArray();
    private static readonly byte[] RedactContext = "hush-audit-redact-v1\0"u8.ToArray();

    private readonly Lock _pendingLock = new();
    private readonly byte[] _key;
    private readonly TimeProvider _time;
    private long _seq;
    private byte[] _hash;
    private readonly string _directory;
    private readonly long _rotateBytes;
    private long _logLength = -1;
    private long _headSyncedAt = long.MinValue;
    private ITimer? _headSyncTimer;
    private bool _headMismatch;
    private List<PendingEntry> _pending = [];
    private bool _committing;

    private AuditLog(string directory, byte[] key, TimeProvider time, long rotateBytes)
    {
        _directory = directory;
        LogPath = Path.Combine(directory, "audit.log");
        HeadPath = Path.Combine(directory, "audit.head");
        _key = key;
        _time = time;
        _rotateBytes = rotateBytes;
        _hash = new byte[32];
        try
        {
            using var live = File.Exists(LogPath) ? new FileStream(LogPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite) : null;
            (_seq, _hash) = ReadChainEnd(live);
            _headMismatch = !HeadMatches(_seq, _hash);
        }
        catch (IOException)
        {
            // A damaged tail: every append fails (and every query is refused) until an operator moves the file aside.
            _headMismatch = true;
        }
    }

    public string LogPath { get; }

    public string HeadPath { get; }

    /// <summary>The audit directory of a data directory.</summary>
    public static string DirectoryFor(string dataDir) => Path.Combine(dataDir, "audit");

    /// <summary>The head key of a data directory.</summary>
    public static string KeyPathFor(string dataDir) => Path.Combine(dataDir, "keys", "audit.key");

    /// <summary>Opens (or starts) the log of <paramref name="dataDir"/>, creating its key on first use.</summary>
    /// <param name="dataDir">The data directory.</param>
    /// <param name="time">The clock (the system's by default).</param>
    /// <param name="rotateBytes">The live file's size at which it is closed and renamed (<see cref="RotatedName"/>); the chain goes on in a new one.</param>
    public static AuditLog Open(string dataDir, TimeProvider? time = null, long rotateBytes = DefaultRotateBytes)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(rotateBytes, 1);
        var key = SecretFile.ReadOrCreate(KeyPathFor(dataDir), KeyBytes, "audit key");
        var directory = DirectoryFor(dataDir);
        OwnerOnlyFile.EnsureDirectory(Path.Combine(directory, "audit.log"));
        return new AuditLog(directory, key, time ?? TimeProvider.System, rotateBytes);
    }

    /// <summary>
    /// A stable stand-in for a value that must not be logged (a TraceQL string literal): a keyed hash, so equal
    /// values show as equal without the log holding or revealing them.
    /// </summary>
    public string Redact(string value)
    {
        var input = new byte[RedactContext.Length + Encoding.UTF8.GetByteCount(value)];
        RedactContext.CopyTo(input, 0);
        Encoding.UTF8.GetBytes(value, input.AsSpan(RedactContext.Length));
        var mac = HMACSHA256.HashData(_key, input);
        CryptographicOperations.ZeroMemory(input);
        return "h:" + Convert.ToHexStringLower(mac.AsSpan(0, 6));
    }

    /// <summary>
    /// Appends <paramref name="entry"/> and moves the authenticated head. Throws <see cref="IOException"/> when the log
    /// cannot be written: callers refuse the request then, because an unaudited read must not happen.
    /// </summary>
    /// <remarks>
    /// Group commit: records that arrive while a commit is writing are written together by the next one, with one
    /// <c>fsync</c> and one head update for all of them. Returns only once this record is durable, or throws.
    /// </remarks>
    public void Append(AuditEntry entry)
    {
        var mine = Enqueue(entry, out var lead);
        if (lead)
        {
            CommitPending();
        }

        mine.Durable.Task.GetAwaiter().GetResult();
    }

    /// <summary>
    /// <see cref="Append"/> for request handlers: the task completes once the record is durable (faults with the
    /// <see cref="IOException"/> when it cannot be written). The caller that finds no commit running writes the group
    /// on its own thread (a lone query pays no thread hop: handing the commit to the pool cost ~0.8 ms at the p50);
    /// the others, while it waits for the disk (an <c>fsync</c> is 0.2 ms quiet, 13 ms at the p99 under other writers
    /// here), hold no thread, so on 2 cores their neighbours' decoding goes on meanwhile.
    /// </summary>
    public Task AppendAsync(AuditEntry entry)
    {
        var mine = Enqueue(entry, out var lead);
        if (lead)
        {
            CommitPending();
        }

        return mine.Durable.Task;
    }

    /// <summary>Queues a record; <paramref name="lead"/> is true when no commit runs and the caller must start one.</summary>
    private PendingEntry Enqueue(AuditEntry entry, out bool lead)
    {
        ArgumentNullException.ThrowIfNull(entry);
        var mine = new PendingEntry(entry);
        lock (_pendingLock)
        {
            _pending.Add(mine);
            lead = !_committing;
            _committing = true;
        }

        return mine;
    }

    /// <summary>Writes what is queued, a group at a time, until nothing is: one committer at a time.</summary>
    private void CommitPending()
    {
        while (true)
        {
            List<PendingEntry> batch;
            lock (_pendingLock)
            {
                if (_pending.Count == 0)
                {
                    _committing = false;
                    return;
                }

                batch = _pending;
                _pending = [];
            }

            try
            {
                AppendLocked(batch);
            }
#pragma warning disable CA1031 // Every record of the group failed with it: each caller gets the exception, none is answered.
            catch (Exception e)
#pragma warning restore CA1031
            {
                foreach (var p in batch)
                {
                    p.Durable.TrySetException(e);
                }

                continue;
            }

            foreach (var p in batch)
            {
                p.Durable.TrySetResult();
            }
        }
    }

    /// <summary>Writes one group. Only the committer calls it (<see cref="CommitPending"/>).</summary>
    private void AppendLocked(List<PendingEntry> batch)
    {
        // Another process (the CLI's audited commands, a second server on the same data dir) may append too: the
        // file lock orders writers, and the chain continues from the file's tail, not from memory.
        using var stream = OpenExclusive();
        if (stream.Length != _logLength)
        {
            // Not where this writer left it (or the first group): find the chain's end on disk.
            var (seq, hash) = ReadChainEnd(stream);
            if (seq != _seq || !CryptographicOperations.FixedTimeEquals(hash, _hash))
            {
                // Legitimate when that writer also moved the authenticated head to the same place; tampering otherwise.
                _headMismatch |= !HeadMatches(seq, hash);
                (_seq, _hash) = (seq, hash);
            }
        }

        _logLength = -1;

        if (_headMismatch)
        {
            // The log does not end where the authentic head says: say so in the log before anything else.
            _headMismatch = false;
            Write(stream, new AuditEntry { Identity = "hush", Action = "audit.head_mismatch", Decision = AuditDecision.Error, Reason = "the log did not end at the authenticated head" });
        }

        foreach (var pending in batch)
        {
            Write(stream, pending.Entry);
        }

        stream.Flush(flushToDisk: true);
        var now = _time.GetTimestamp();
        var sync = _headSyncedAt == long.MinValue || _time.GetElapsedTime(_headSyncedAt, now) >= HeadSyncInterval;
        WriteHead(HeadPath, _key, _seq, _hash, sync);
        if (sync)
        {
            _headSyncedAt = now;
        }
        else
        {
            // A quiet spell after this group must not leave the head unflushed for the kernel's writeback delay.
            _headSyncTimer ??= _time.CreateTimer(_ => SyncHead(), null, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
            _headSyncTimer.Change(HeadSyncInterval, Timeout.InfiniteTimeSpan);
        }

        _logLength = stream.Length;
        if (_logLength >= _rotateBytes && !OperatingSystem.IsWindows())
        {
            // Renamed while this writer still holds the lock, so no other writer appends to the old file meanwhile;
            // the next group (of any writer) starts a new live file whose first record chains from this one's last.
            try
            {
                File.Move(LogPath, Path.Combine(_directory, RotatedName(FirstSeq(stream, _seq), _seq)), overwrite: false);
                _logLength = 0;
            }
            catch (IOException)
            {
                // The records are durable either way; the live file stays live and the next group tries again.
            }
        }
    }

    /// <summary>The name a full live file takes: its first and last seq, zero-padded, so names sort in chain order.</summary>
    internal static string RotatedName(long firstSeq, long lastSeq) => $"audit.{firstSeq:D12}-{lastSeq:D12}.log";

    /// <summary>The rotated files of <paramref name="directory"/>, oldest first.</summary>
    internal static string[] RotatedFiles(string directory)
    {
        if (!Directory.Exists(directory))
        {
            return [];
        }

        var files = Directory.GetFiles(directory, "audit.*-*.log");
        Array.Sort(files, StringComparer.Ordinal);
        return files;
    }

    /// <summary>
    /// The seq and hash the next record chains from: the <paramref name="live"/> file's last record, or, when it is
    /// empty or missing (just rotated), the newest rotated file's; zero for a log never written.
    /// </summary>
    private (long Seq, byte[] Hash) ReadChainEnd(FileStream? live)
    {
        if (live is { Length: > 0 })
        {
            return ReadTail(live, LogPath);
        }

        var rotated = RotatedFiles(_directory);
        if (rotated.Length == 0)
        {
            return (0, new byte[32]);
        }

        using var newest = new FileStream(rotated[^1], FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        return ReadTail(newest, rotated[^1]);
    }

    /// <summary>The seq of the first record of <paramref name="stream"/> (a live file about to be rotated).</summary>
    private static long FirstSeq(FileStream stream, long lastSeq)
    {
        stream.Seek(0, SeekOrigin.Begin);
        var head = new byte[(int)Math.Min(stream.Length, TailBytes)];
        stream.ReadExactly(head);
        var newline = head.AsSpan().IndexOf((byte)'\n');
        try
        {
            using var doc = JsonDocument.Parse(head.AsMemory(0, newline < 0 ? head.Length : newline));
            return doc.RootElement.GetProperty("seq").GetInt64();
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            // A damaged first record (verify reports it): the name still sorts after every earlier file.
            return lastSeq;
        }
    }

    /// <summary>Flushes the head written last to disk (the timer's work after a group that did not).</summary>
    private void SyncHead()
    {
        try
        {
            using var stream = OpenHeadForWrite(HeadPath);
            stream.Flush(flushToDisk: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // The next group's write reports a head that cannot be written; this flush is a best effort on top.
        }
    }

    /// <summary>How long the head on disk may lag the (always durable) log after a power failure.</summary>
    internal static TimeSpan HeadSyncInterval { get; } = TimeSpan.FromSeconds(1);

    /// <summary>Writes one record after the last (not yet flushed) and moves the in-memory chain.</summary>
    private void Write(FileStream stream, AuditEntry entry)
    {
        var line = Format(_seq + 1, _time.GetUtcNow(), entry, _hash);
        var bytes = Encoding.UTF8.GetBytes(line + "\n");
        stream.Seek(0, SeekOrigin.End);
        stream.Write(bytes);
        _hash = Chain(_hash, Encoding.UTF8.GetBytes(line));
        _seq++;
    }

    private bool HeadMatches(long seq, byte[] hash) => ReadHead(HeadPath, _key) is { } head
        ? head.Seq == seq && CryptographicOperations.FixedTimeEquals(head.Hash, hash)
        : seq == 0 && !File.Exists(HeadPath);

    /// <summary>Opens the log for appending under an exclusive lock, waiting up to ~2 s for another writer.</summary>
    private FileStream OpenExclusive()
    {
        var options = new FileStreamOptions { Mode = FileMode.OpenOrCreate, Access = FileAccess.ReadWrite, Share = FileShare.None };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = OwnerOnlyFile.FileMode;
        }

        for (var attempt = 0; ; attempt++)
        {
            try
            {
                return new FileStream(LogPath, options);
            }
            catch (IOException) when (attempt < 100 && File.Exists(LogPath))
            {
                Thread.Sleep(20);
            }
        }
    }

    /// <summary>Formats one line (no newline). The field order is part of format version 1.</summary>
    internal static string Format(long seq, DateTimeOffset time, AuditEntry entry, byte[] prev)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteNumber("v", FormatVersion);
            json.WriteNumber("seq", seq);
            json.WriteString("time", time.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.fffZ"));
            json.WriteString("identity", entry.Identity);
            json.WriteString("tenant", entry.Tenant);
            json.WriteString("action", entry.Action);
            json.WriteString("endpoint", entry.Endpoint);
            json.WriteStartObject("params");
            foreach (var (key, value) in entry.Parameters)
            {
                json.WriteString(key, value);
            }

            json.WriteEndObject();
            if (entry.Results is { } results)
            {
                json.WriteNumber("results", results);
            }
            else
            {
                json.WriteNull("results");
            }

            json.WriteString("decision", entry.Decision.ToString().ToLowerInvariant());
            json.WriteNumber("status", entry.Status);
            json.WriteString("reason", entry.Reason);
            json.WriteString("prev", Convert.ToHexStringLower(prev));
            json.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
    }

    internal static byte[] Chain(byte[] prev, byte[] line)
    {
        var input = new byte[prev.Length + line.Length];
        prev.CopyTo(input, 0);
        line.CopyTo(input, prev.Length);
        return SHA256.HashData(input);
    }

    internal static byte[] HeadMac(byte[] key, long seq, byte[] hash)
    {
        var input = new byte[HeadContext.Length + 8 + hash.Length];
        HeadContext.CopyTo(input, 0);
        BinaryPrimitives.WriteInt64BigEndian(input.AsSpan(HeadContext.Length), seq);
        hash.CopyTo(input, HeadContext.Length + 8);
        return HMACSHA256.HashData(key, input);
    }

    /// <summary>
    /// Overwrites the head in place, padded to <see cref="HeadBytes"/>; flushes it to disk when <paramref name="sync"/>.
    /// The first head of a log is created atomically and durably (its directory entry must survive a crash too).
    /// </summary>
    private static void WriteHead(string path, byte[] key, long seq, byte[] hash, bool sync)
    {
        var text = $"{{\"v\":{FormatVersion},\"seq\":{seq},\"hash\":\"{Convert.ToHexStringLower(hash)}\",\"mac\":\"{Convert.ToHexStringLower(HeadMac(key, seq, hash))}\"}}";
        Span<byte> record = stackalloc byte[HeadBytes];
        record.Fill((byte)' ');
        record[^1] = (byte)'\n';
        Encoding.ASCII.GetBytes(text, record);
        if (!File.Exists(path))
        {
            OwnerOnlyFile.Replace(path, record);
            return;
        }

        using var stream = OpenHeadForWrite(path);
        RandomAccess.Write(stream.SafeFileHandle, record, 0);
        if (stream.Length != HeadBytes)
        {
            // A head of an older build (one unpadded line) or one replaced by hand.
            stream.SetLength(HeadBytes);
        }

        if (sync)
        {
            stream.Flush(flushToDisk: true);
        }
    }

    /// <summary>The existing head, unbuffered, for an in-place write or a flush.</summary>
    private static FileStream OpenHeadForWrite(string path)
        => new(path, new FileStreamOptions { Mode = FileMode.Open, Access = FileAccess.Write, Share = FileShare.ReadWrite, BufferSize = 0 });

    /// <summary>The authentic head, or null when it is missing, unreadable or its MAC does not verify.</summary>
    internal static (long Seq, byte[] Hash)? ReadHead(string path, byte[] key)
    {
        try
        {
            if (!File.Exists(path) || new FileInfo(path).Length > 4096)
            {
                return null;
            }

            using var doc = JsonDocument.Parse(File.ReadAllBytes(path));
            var root = doc.RootElement;
            var seq = root.GetProperty("seq").GetInt64();
            var hash = Convert.FromHexString(root.GetProperty("hash").GetString()!);
            var mac = Convert.FromHexString(root.GetProperty("mac").GetString()!);
            return CryptographicOperations.FixedTimeEquals(mac, HeadMac(key, seq, hash)) ? (seq, hash) : null;
        }
        catch (Exception e) when (e is IOException or JsonException or FormatException or KeyNotFoundException or InvalidOperationException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>The seq and chain hash of the log's last line (0 and zeros for an empty log).</summary>
    /// <remarks>
    /// Every group commit reads it (another writer may have appended): the last 4 KB hold a record, far larger than
    /// one; only a longer last line needs the whole <see cref="TailBytes"/>.
    /// </remarks>
    private static (long Seq, byte[] Hash) ReadTail(FileStream stream, string path)
    {
        if (stream.Length == 0)
        {
            return (0, new byte[32]);
        }

        ReadOnlyMemory<byte> last = default;
        foreach (var window in (ReadOnlySpan<int>)[ShortTailBytes, TailBytes])
        {
            var length = (int)Math.Min(stream.Length, window);
            stream.Seek(-length, SeekOrigin.End);
            var tail = new byte[length];
            stream.ReadExactly(tail);
            var text = tail.AsMemory().TrimEnd((byte)'\n');
            var newline = text.Span.LastIndexOf((byte)'\n');
            last = text[(newline + 1)..];
            if (newline >= 0 || length == stream.Length)
            {
                break;
            }
        }

        try
        {
            using var doc = JsonDocument.Parse(last);
            var seq = doc.RootElement.GetProperty("seq").GetInt64();
            var prev = Convert.FromHexString(doc.RootElement.GetProperty("prev").GetString()!);
            return (seq, Chain(prev, last.ToArray()));
        }
        catch (Exception e) when (e is JsonException or FormatException or KeyNotFoundException or InvalidOperationException or ArgumentException)
        {
            throw new IOException($"The audit log {path} ends with a damaged record; run 'hush audit verify' and move the file aside to start a new log.");
        }
    }

    /// <summary>One caller's record in a group commit: done when it is durable, faulted when its group failed.</summary>
    private sealed class PendingEntry(AuditEntry entry)
    {
        public AuditEntry Entry { get; } = entry;

        public TaskCompletionSource Durable { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
