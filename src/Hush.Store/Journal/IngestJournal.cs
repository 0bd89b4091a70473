using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using System.Threading.Channels;
using Hush.Otlp;
using Hush.Pipeline;
using Hush.Store.Implementation;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Hush.Store.Journal;

/// <summary>Limits of the ingest journal.</summary>
/// <param name="MaxFileBytes">A journal file is sealed (and a new one started) once it is this large.</param>
/// <param name="SealAfter">A file with records is sealed after this long even when small, so an idle journal empties.</param>
/// <param name="MaxTotalBytes">Journal files on disk beyond this refuse new records (HTTP 503) until exporters catch up.</param>
public sealed record JournalOptions(long MaxFileBytes = 16L << 20, TimeSpan? SealAfter = null, long MaxTotalBytes = 1L << 30)
{
    public TimeSpan SealAfterOrDefault => SealAfter ?? TimeSpan.FromSeconds(2);
}

/// <summary>A request the journal held at start: replay it, then release the receipt.</summary>
public sealed record RecoveredRecord(string Tenant, TraceRequest Traces, IJournalReceipt Receipt);

/// <summary>
/// The write-ahead log of accepted requests (<see cref="IIngestJournal"/>). Each scrubbed request is encrypted as a
/// block under its tenant's data key (the journal leaks no more than the store) and appended to the current
/// journal file; one writer thread writes every pending record, then <c>fsync</c>s once and answers them all
/// (group commit), so a client is answered only after its spans are on disk.
/// <para>
/// Files are <c>{data_dir}/journal/{generation:x16}.wal</c>: an 16-byte header (<c>HUSHWAL1</c>, generation u64
/// BE), then records <c>length u32 | sequence u64 | tenant length u16 | tenant | block</c>, all big-endian. The
/// block is bound (AES-GCM associated data) to the tenant and the record's sequence. A file is deleted once it is
/// sealed and every record's receipt is released. On start, <see cref="Open"/> reads what is left: a torn or
/// corrupt tail (a crash mid-write) is cut off at the last whole record, and <see cref="Recover"/> yields the rest.
/// </para>
/// </summary>
public sealed class IngestJournal : IIngestJournal, IAsyncDisposable
{
    /// <summary>The segment number journal blocks are bound to; store segments never reach it.</summary>
    internal const ulong JournalSegment = ulong.MaxValue;

    public const string DirectoryName = "journal";

    private const int FileHeaderBytes = DurableFile.HeaderBytes;
    private const int RecordPrefixBytes = 4 + 8 + 2;

    private static ReadOnlySpan<byte> FileMagic => "HUSHWAL1"u8;

    private readonly string _directory;
    private readonly KeyRing _keys;
    private readonly JournalOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Channel<PendingRecord> _pending = Channel.CreateUnbounded<PendingRecord>(new UnboundedChannelOptions { SingleReader = true });
    private readonly List<(Generation Generation, List<(long Offset, int Length)> Records)> _leftOver;
    private readonly Task _writer;
    private long _nextSequence;
    private long _nextGeneration;
    private long _totalBytes;
    private Generation? _current;
    private FileStream? _file;
    private DateTimeOffset _currentOpenedAt;

    private IngestJournal(string directory, KeyRing keys, JournalOptions options, TimeProvider time, ILogger logger, List<(Generation, List<(long, int)>)> leftOver, long nextGeneration, long nextSequence, long totalBytes)
    {
        _directory = directory;
        _keys = keys;
        _options = options;
        _time = time;
        _logger = logger;
        _leftOver = leftOver;
        _nextGeneration = nextGeneration;
        _nextSequence = nextSequence;
        _totalBytes = totalBytes;
        _writer = Task.Factory.StartNew(WriteLoopAsync, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default).Unwrap();
    }

    /// <summary>Test seam: makes record writes fail as on a full disk.</summary>
    internal WriteFaults Faults { get; } = new();

    /// <summary>Records the journal held at start, before anything new was appended.</summary>
    public int RecoveredCount => _leftOver.Sum(f => f.Records.Count);

    /// <summary>Bytes of journal files on disk.</summary>
    public long TotalBytes => Interlocked.Read(ref _totalBytes);

    /// <summary>Journal files on disk (sealed or current).</summary>
    public int FileCount => Directory.Exists(_directory) ? Directory.GetFiles(_directory, "*.wal").Length : 0;

    /// <summary>
    /// Opens the journal of <paramref name="dataDirectory"/>, cutting torn tails off the files a crash left.
    /// </summary>
    /// <exception cref="IOException">The directory cannot be read or created.</exception>
    public static IngestJournal Open(string dataDirectory, KeyRing keys, JournalOptions? options = null, TimeProvider? time = null, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(dataDirectory);
        ArgumentNullException.ThrowIfNull(keys);
        logger ??= NullLogger.Instance;
        var directory = Path.Combine(dataDirectory, DirectoryName);
        OwnerOnlyFile.CreateDirectory(directory);

        var leftOver = new List<(Generation, List<(long, int)>)>();
        long nextGeneration = 1, nextSequence = 1, total = 0;
        foreach (var path in Directory.GetFiles(directory, "*.wal").Order(StringComparer.Ordinal))
        {
            if (!ulong.TryParse(Path.GetFileNameWithoutExtension(path), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var number))
            {
                continue;
            }

            var records = Scan(path, keys, (long)number, logger, ref nextSequence, out var length);
            nextGeneration = Math.Max(nextGeneration, (long)number + 1);
            if (records.Count == 0)
            {
                File.Delete(path);
                continue;
            }

            total += length;
            var generation = new Generation(path, (long)number, length);
            generation.Add(records.Count);
            leftOver.Add((generation, records));
        }

        return new IngestJournal(directory, keys, options ?? new JournalOptions(), time ?? TimeProvider.System, logger, leftOver, nextGeneration, nextSequence, total);
    }

    /// <summary>
    /// The records a previous run left (oldest first), each with the receipt that lets the journal forget it. Call
    /// once, before or while new records are appended; a file is deleted once all of its receipts are released.
    /// </summary>
    public IEnumerable<RecoveredRecord> Recover()
    {
        foreach (var (generation, records) in _leftOver)
        {
            using var file = new FileStream(generation.Path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            foreach (var (offset, length) in records)
            {
                var bytes = new byte[length];
                file.Position = offset;
                file.ReadExactly(bytes);
                if (TryParse(bytes, _keys, out var tenant, out _, out var traces, out _))
                {
                    yield return new RecoveredRecord(tenant, traces, new Receipt(this, generation));
                }
                else
                {
                    // Read fine at Open; unreadable now means the file changed underneath: forget the record.
                    Release(generation);
                }
            }

            generation.Seal();
            TryDelete(generation);
        }
    }

    /// <inheritdoc />
    public async ValueTask<IJournalReceipt> AppendAsync(string tenant, TraceRequest scrubbed, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(tenant);
        ArgumentNullException.ThrowIfNull(scrubbed);
        if (Interlocked.Read(ref _totalBytes) >= _options.MaxTotalBytes)
        {
            throw new JournalUnavailableException($"the journal holds {_options.MaxTotalBytes} bytes not yet stored; exporters are behind");
        }

        byte[] record;
        try
        {
            var sequence = (ulong)Interlocked.Increment(ref _nextSequence);
            var block = BlockCodec.Encode(scrubbed, _keys.GetActiveKey(tenant), new BlockPosition(tenant, JournalSegment, sequence));
            var tenantBytes = Encoding.UTF8.GetByteCount(tenant);
            record = new byte[RecordPrefixBytes + tenantBytes + block.Length];
            BinaryPrimitives.WriteUInt32BigEndian(record, (uint)(record.Length - 4));
            BinaryPrimitives.WriteUInt64BigEndian(record.AsSpan(4), sequence);
            BinaryPrimitives.WriteUInt16BigEndian(record.AsSpan(12), (ushort)tenantBytes);
            Encoding.UTF8.GetBytes(tenant, record.AsSpan(RecordPrefixBytes));
            block.CopyTo(record.AsSpan(RecordPrefixBytes + tenantBytes));
        }
        catch (KeyStoreException ex)
        {
            throw new JournalUnavailableException("the key ring cannot be written: " + ex.Message, ex);
        }

        var pending = new PendingRecord(record);
        if (!_pending.Writer.TryWrite(pending))
        {
            throw new JournalUnavailableException("the journal is closed");
        }

        // Not cancellable: once handed to the writer the record is written either way.
        return await pending.Completion.Task;
    }

    /// <summary>Writes what is pending, closes the current file, and stops. Records not released stay on disk for the next start.</summary>
    public async ValueTask DisposeAsync()
    {
        _pending.Writer.TryComplete();
        await _writer;
    }

    private async Task WriteLoopAsync()
    {
        var reader = _pending.Reader;
        var batch = new List<PendingRecord>();
        while (true)
        {
            var wait = reader.WaitToReadAsync().AsTask();
            if (!wait.IsCompleted && _current is { } current && !current.IsSealed)
            {
                // Idle with an open file: seal it after a while so its records can be forgotten once released.
                var left = _currentOpenedAt + _options.SealAfterOrDefault - _time.GetUtcNow();
                if (left > TimeSpan.Zero)
                {
                    await Task.WhenAny(wait, Task.Delay(left, _time));
                }

                if (!wait.IsCompleted)
                {
                    SealCurrent();
                }
            }

            if (!await wait)
            {
                break;
            }

            while (reader.TryRead(out var record))
            {
                batch.Add(record);
            }

            WriteGroup(batch);
            batch.Clear();
        }

        SealCurrent();
    }

    private void WriteGroup(List<PendingRecord> batch)
    {
        Generation generation;
        long start;
        try
        {
            if (_current is null || _current.IsSealed || _current.Length >= _options.MaxFileBytes || _time.GetUtcNow() - _currentOpenedAt >= _options.SealAfterOrDefault)
            {
                SealCurrent();
                OpenNext();
            }

            generation = _current!;
            start = _file!.Length;
        }
        catch (IOException ex)
        {
            Fail(batch, ex);
            return;
        }

        try
        {
            foreach (var record in batch)
            {
                Faults.Write(_file, record.Bytes);
            }

            _file.Flush(flushToDisk: true);
        }
        catch (IOException ex)
        {
            // Disk full or failing: take back the partial write so the file stays a sequence of whole records.
            try
            {
                _file.SetLength(start);
                _file.Flush(flushToDisk: true);
            }
            catch (IOException)
            {
                // The next Open cuts the torn tail off.
            }

            Fail(batch, ex);
            return;
        }

        var bytes = _file.Length - start;
        generation.Grow(bytes);
        Interlocked.Add(ref _totalBytes, bytes);
        generation.Add(batch.Count);
        foreach (var record in batch)
        {
            record.Completion.TrySetResult(new Receipt(this, generation));
        }
    }

    private void Fail(List<PendingRecord> batch, IOException ex)
    {
        // The I/O error's kind only: its message names a path, never content, but keep the log plain.
        Log.WriteFailed(_logger, ex.GetType().Name, ex.HResult & 0xFFFF, batch.Count);
        var error = new JournalUnavailableException("the journal cannot write to disk (" + ex.GetType().Name + ")", ex);
        foreach (var record in batch)
        {
            record.Completion.TrySetException(error);
        }
    }

    private void OpenNext()
    {
        var number = _nextGeneration++;
        var path = Path.Combine(_directory, number.ToString("x16", CultureInfo.InvariantCulture) + ".wal");
        var file = DurableFile.CreateWithHeader(path, FileMagic, (ulong)number, FileShare.Read | FileShare.Delete);
        _file = file;
        _current = new Generation(path, number, FileHeaderBytes);
        Interlocked.Add(ref _totalBytes, FileHeaderBytes);
        _currentOpenedAt = _time.GetUtcNow();
    }

    private void SealCurrent()
    {
        if (_current is null || _current.IsSealed)
        {
            return;
        }

        _file?.Dispose();
        _file = null;
        _current.Seal();
        TryDelete(_current);
    }

    private void Release(Generation generation)
    {
        generation.Release();
        TryDelete(generation);
    }

    private void TryDelete(Generation generation)
    {
        if (!generation.TryClaimDeletion())
        {
            return;
        }

        try
        {
            File.Delete(generation.Path);
            Interlocked.Add(ref _totalBytes, -generation.Length);
        }
        catch (IOException ex)
        {
            Log.DeleteFailed(_logger, Path.GetFileName(generation.Path), ex.GetType().Name);
        }
    }

    /// <summary>Reads a journal file: every whole, authentic record; a torn or corrupt tail is cut off the file.</summary>
    private static List<(long Offset, int Length)> Scan(string path, KeyRing keys, long number, ILogger logger, ref long nextSequence, out long length)
    {
        var records = new List<(long, int)>();
        var bytes = File.ReadAllBytes(path);
        var good = 0L;
        if (bytes.Length >= FileHeaderBytes && bytes.AsSpan(0, 8).SequenceEqual(FileMagic) && BinaryPrimitives.ReadUInt64BigEndian(bytes.AsSpan(8)) == (ulong)number)
        {
            good = FileHeaderBytes;
            while (bytes.Length - good >= 4)
            {
                var recordLength = BinaryPrimitives.ReadUInt32BigEndian(bytes.AsSpan((int)good)) + 4L;
                if (recordLength < RecordPrefixBytes || recordLength > bytes.Length - good)
                {
                    break;
                }

                var record = bytes.AsSpan((int)good, (int)recordLength);
                if (!TryParse(record, keys, out _, out var sequence, out _, out var error))
                {
                    if (error != BlockError.UnknownKey)
                    {
                        break;
                    }

                    // A whole record of a tenant whose keys were destroyed (erased): unreadable for good; skip it.
                    good += recordLength;
                    continue;
                }

                records.Add((good, (int)recordLength));
                nextSequence = Math.Max(nextSequence, (long)sequence + 1);
                good += recordLength;
            }
        }

        if (good < bytes.Length)
        {
            Log.TornTail(logger, Path.GetFileName(path), bytes.Length - good, records.Count);
            using var file = new FileStream(path, FileMode.Open, FileAccess.Write);
            file.SetLength(good);
            file.Flush(flushToDisk: true);
        }

        length = good;
        return records;
    }

    private static bool TryParse(ReadOnlySpan<byte> record, KeyRing keys, out string tenant, out ulong sequence, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out TraceRequest? traces, out BlockError error)
    {
        tenant = string.Empty;
        traces = null;
        error = BlockError.InvalidLength;
        sequence = BinaryPrimitives.ReadUInt64BigEndian(record[4..]);
        var tenantLength = BinaryPrimitives.ReadUInt16BigEndian(record[12..]);
        if (tenantLength == 0 || RecordPrefixBytes + tenantLength > record.Length)
        {
            return false;
        }

        try
        {
            tenant = new UTF8Encoding(false, true).GetString(record.Slice(RecordPrefixBytes, tenantLength));
        }
        catch (ArgumentException)
        {
            return false;
        }

        return BlockCodec.TryDecode(record[(RecordPrefixBytes + tenantLength)..], keys, new BlockPosition(tenant, JournalSegment, sequence), out traces, out error);
    }

    private sealed class PendingRecord(byte[] bytes)
    {
        public byte[] Bytes { get; } = bytes;

        public TaskCompletionSource<IJournalReceipt> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    /// <summary>One journal file: how many of its records are still held, and whether more may be added.</summary>
    private sealed class Generation(string path, long number, long length)
    {
        private long _outstanding;
        private int _sealed;
        private int _deleted;
        private long _length = length;

        public string Path { get; } = path;

        public long Number { get; } = number;

        public long Length => Interlocked.Read(ref _length);

        public bool IsSealed => Volatile.Read(ref _sealed) == 1;

        public void Grow(long bytes) => Interlocked.Add(ref _length, bytes);

        public void Add(int records) => Interlocked.Add(ref _outstanding, records);

        public void Release() => Interlocked.Decrement(ref _outstanding);

        public void Seal() => Volatile.Write(ref _sealed, 1);

        /// <summary>True once, when the file is sealed and every record released.</summary>
        public bool TryClaimDeletion()
            => IsSealed && Interlocked.Read(ref _outstanding) <= 0 && Interlocked.CompareExchange(ref _deleted, 1, 0) == 0;
    }

    private sealed class Receipt(IngestJournal journal, Generation generation) : IJournalReceipt
    {
        private int _released;

        public void Release()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0)
            {
                journal.Release(generation);
            }
        }
    }
}
