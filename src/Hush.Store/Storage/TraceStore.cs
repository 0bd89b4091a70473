using System.Buffers;
using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using Hush.Otlp;
using Hush.Store.Implementation;
using Hush.Store.Reading;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Hush.Store.Storage;

/// <summary>Settings of the embedded store (<c>exporters.store</c>).</summary>
public sealed record StoreOptions
{
    /// <summary>How long blocks are kept after they were written, unless the tenant has its own (default 7 days).</summary>
    public TimeSpan Retention { get; init; } = TimeSpan.FromDays(7);

    /// <summary>Per-tenant retention overrides.</summary>
    public IReadOnlyDictionary<string, TimeSpan> TenantRetention { get; init; } = new Dictionary<string, TimeSpan>();

    /// <summary>A segment file is closed and a new one started once it is this large.</summary>
    public long SegmentMaxBytes { get; init; } = 64L << 20;

    /// <summary>A segment file is closed after this long, so retention can delete whole files.</summary>
    public TimeSpan SegmentMaxAge { get; init; } = TimeSpan.FromHours(1);

    /// <summary>
    /// Traces are packed whole into blocks of at most this many spans (a bigger trace gets a block of its own). A trace
    /// read decompresses its whole block: 256 rather than 1,024 doubled trace-by-id throughput and halved its median
    /// for 5% more bytes, with search and the write path unchanged (docs/benchmarks.md, "Block size").
    /// </summary>
    public int BlockMaxSpans { get; init; } = 256;

    public TimeSpan RetentionOf(string tenant) => TenantRetention.TryGetValue(tenant, out var r) ? r : Retention;
}

/// <summary>What a retention run or an erasure removed.</summary>
/// <param name="Blocks">Blocks removed (for erasure: rewritten without the subject's spans).</param>
/// <param name="Spans">Spans removed.</param>
/// <param name="Files">Segment files deleted.</param>
public sealed record RemovalReport(int Blocks, long Spans, int Files)
{
    /// <summary>
    /// Blocks that could not be decrypted (corrupted or tampered with), so could not be searched or rewritten: they
    /// are left on disk, untouched, for <c>hush store verify</c> to name. Non-zero means the operation is incomplete.
    /// </summary>
    public int Unreadable { get; init; }
}

/// <summary>What a rewrap re-encrypted, and what it could not read (left in place, see <see cref="RemovalReport.Unreadable"/>).</summary>
public sealed record RewrapReport(int Blocks, int Unreadable);

/// <summary>
/// The embedded encrypted trace store. Per tenant: append-only segment files of blocks
/// (<c>{data_dir}/tenants/{tenant}/{segment:x16}.seg</c>), each block a set of whole traces compressed and
/// encrypted under the tenant's data key and bound to (tenant, segment, sequence); the per-tenant hash chain over
/// the blocks; and the keyed index (<see cref="StoreIndex"/>). Writes are durable when <see cref="Append"/>
/// returns (the segment is <c>fsync</c>ed). Thread-safe: one writer lock per tenant, reads in parallel.
/// <para>
/// Segment file: 16-byte header <c>HUSHSEG1</c> | segment u64 BE, then frames <c>length u32 BE | block</c>. A block
/// erased in place (subject erasure, rewrap) keeps its frame length and is overwritten with zeros.
/// </para>
/// </summary>
public sealed class TraceStore : ITraceReader, IDisposable
{
    public const string TenantsDirectory = "tenants";

    private const int SegmentHeaderBytes = DurableFile.HeaderBytes;

    private static ReadOnlySpan<byte> SegmentMagic => "HUSHSEG1"u8;

    private readonly string _root;
    private readonly KeyMaterial _kek;
    private readonly StoreIndex _index;
    private readonly StoreOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Dictionary<string, TenantState> _tenants = new(StringComparer.Ordinal);
    private readonly Lock _tenantsLock = new();
    private long _spansWritten;
    private long _blocksUnreadable;
    private long _blocksWritten;
    private long _bytesWritten;

    private TraceStore(string dataDirectory, KeyMaterial kek, KeyRing keys, StoreIndex index, StoreOptions options, TimeProvider time, ILogger logger)
    {
        DataDirectory = dataDirectory;
        _root = Path.Combine(dataDirectory, TenantsDirectory);
        _kek = kek;
        Keys = keys;
        _index = index;
        _options = options;
        _time = time;
        _logger = logger;
    }

    /// <summary>The data directory.</summary>
    public string DataDirectory { get; }

    /// <summary>The tenants' data keys (the journal encrypts under them too).</summary>
    public KeyRing Keys { get; }

    /// <summary>Test seam: makes block writes fail as on a full disk.</summary>
    internal WriteFaults Faults { get; } = new();

    public long SpansWritten => Interlocked.Read(ref _spansWritten);

    /// <summary>Block reads since start that found a block missing, truncated or failing to decrypt (corruption or tampering).</summary>
    public long BlocksUnreadable => Interlocked.Read(ref _blocksUnreadable);

    public long BlocksWritten => Interlocked.Read(ref _blocksWritten);

    public long BytesWritten => Interlocked.Read(ref _bytesWritten);

    /// <summary>
    /// Opens (creating when absent) the store in <paramref name="dataDirectory"/>: the key ring, the index, and every
    /// tenant's segments, indexing blocks a crash left written but not indexed and cutting off a torn last frame.
    /// </summary>
    /// <exception cref="KeyStoreException">The key ring is corrupt or sealed under another KEK.</exception>
    /// <exception cref="InvalidDataException">The index is not a readable SQLite database.</exception>
    public static TraceStore Open(string dataDirectory, KeyMaterial kek, StoreOptions? options = null, TimeProvider? time = null, ILogger? logger = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(dataDirectory);
        ArgumentNullException.ThrowIfNull(kek);
        dataDirectory = Path.GetFullPath(dataDirectory);
        OwnerOnlyFile.CreateDirectory(dataDirectory);
        OwnerOnlyFile.CreateDirectory(Path.Combine(dataDirectory, TenantsDirectory));
        var copy = KeyMaterial.Copy(kek.Span);
        var keys = KeyRing.Open(dataDirectory, copy, time);
        StoreIndex index;
        try
        {
            index = StoreIndex.Open(dataDirectory);
        }
        catch (Exception ex)
        {
            keys.Dispose();
            copy.Dispose();
            if (ex is Microsoft.Data.Sqlite.SqliteException sqlite)
            {
                throw new InvalidDataException($"The index {Path.Combine(dataDirectory, StoreIndex.FileName)} cannot be opened (SQLite error {sqlite.SqliteErrorCode}): {sqlite.Message}", ex);
            }

            throw;
        }

        var store = new TraceStore(dataDirectory, copy, keys, index, options ?? new StoreOptions(), time ?? TimeProvider.System, logger ?? NullLogger.Instance);
        try
        {
            foreach (var tenantDir in Directory.GetDirectories(store._root))
            {
                if (TenantFromDirectory(Path.GetFileName(tenantDir)) is { } tenant)
                {
                    store.State(tenant);
                }
            }

            if (index.HasLegacyTraceTable)
            {
                foreach (var tenant in index.Tenants())
                {
                    store.State(tenant);
                }

                index.DropLegacyTraceTable();
            }
        }
        catch
        {
            store.Dispose();
            throw;
        }

        return store;
    }

    /// <summary>Tenants with data in the store.</summary>
    public IReadOnlyList<string> Tenants()
    {
        var tenants = new SortedSet<string>(_index.Tenants(), StringComparer.Ordinal);
        lock (_tenantsLock)
        {
            // Not a tenant merely looked up (a read creates its state): one with a directory.
            tenants.UnionWith(_tenants.Values.Where(s => System.IO.Directory.Exists(s.Directory)).Select(s => s.Tenant));
        }

        return [.. tenants];
    }

    /// <summary>Live blocks and spans of <paramref name="tenant"/>.</summary>
    public (long Blocks, long Spans) Totals(string tenant) => _index.Totals(tenant);

    /// <summary>Live blocks, spans and stored bytes per tenant (metrics).</summary>
    public IReadOnlyList<(string Tenant, long Blocks, long Spans, long Bytes)> TenantTotals() => _index.TenantTotals();

    /// <summary>The signed removal records per tenant and kind, and the spans they removed (metrics).</summary>
    public IReadOnlyList<(string Tenant, string Kind, long Records, long Spans)> RemovalTotals() => _index.RemovalTotals();

    /// <summary>
    /// Stores already-scrubbed spans of one tenant: packs whole traces into blocks, encrypts, appends them to the
    /// tenant's segment, flushes it to disk, then indexes them. Durable when it returns.
    /// </summary>
    /// <exception cref="IOException">The disk is full or failing; nothing of this call is indexed.</exception>
    public void Append(string tenant, TraceRequest traces)
    {
        ArgumentException.ThrowIfNullOrEmpty(tenant);
        ArgumentNullException.ThrowIfNull(traces);
        var chunks = Pack(traces, _options.BlockMaxSpans);
        if (chunks.Count == 0)
        {
            return;
        }

        var state = State(tenant);
        var prepared = new List<(PendingBlock Block, BlockStats Stats)>(chunks.Count);
        try
        {
            // Each block's index entry, then its encoding, while its spans are still in the cache; outside the lock.
            foreach (var chunk in chunks)
            {
                prepared.Add(Prepare(chunk, state.IndexKey));
            }

            lock (state.Lock)
            {
                WriteBlocks(state, prepared);
            }
        }
        finally
        {
            DisposeAll(prepared);
        }
    }

    /// <inheritdoc />
    public Task<TraceRequest?> FindTraceAsync(string tenant, TraceId traceId, DateTimeOffset? start, DateTimeOffset? end, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(tenant);
        cancellationToken.ThrowIfCancellationRequested();
        return Task.FromResult(FindTrace(tenant, traceId, ToNanos(start), ToNanos(end)));
    }

    /// <inheritdoc />
    public async IAsyncEnumerable<TraceRequest> ScanAsync(string tenant, TraceScan scan, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(tenant);
        ArgumentNullException.ThrowIfNull(scan);
        await Task.Yield();
        var state = new ScanState(this, tenant, scan);
        var rows = new WindowRows(_index, tenant, state.Start ?? long.MinValue, state.End ?? long.MaxValue);
        for (var i = 0; rows.TryGet(i, out var row); i++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            state.Read(row);

            // Past the bound every trace found so far is final: no later block is read.
            var next = !state.Exhausted && rows.TryGet(i + 1, out var following) ? following.MaxEndNanos : long.MinValue;
            while (state.Ready.TryPeek(out _, out var latest) && latest >= next)
            {
                yield return state.Ready.Dequeue();
            }

            if (state.Exhausted)
            {
                yield break;
            }
        }
    }

    /// <summary>
    /// Deletes what is older than each tenant's retention: whole segment files whose every block was written before
    /// the cutoff (the current segment is closed first when all of it expired). Records a signed removal per tenant.
    /// </summary>
    public RemovalReport EnforceRetention()
    {
        int blocks = 0, files = 0;
        long spans = 0;
        foreach (var tenant in Tenants())
        {
            var state = State(tenant);
            var cutoff = _time.GetUtcNow() - _options.RetentionOf(tenant);
            lock (state.Lock)
            {
                var rows = _index.AllBlocks(tenant);
                files += DeleteLeftoverSegments(state, rows, cutoff);
                var live = rows.Where(b => !b.Removed).GroupBy(b => b.Segment);
                var removed = new List<BlockRow>();
                var deleted = new List<ulong>();
                foreach (var segment in live)
                {
                    if (segment.Any(b => b.WrittenUnixMs >= cutoff.ToUnixTimeMilliseconds()))
                    {
                        continue;
                    }

                    if (segment.Key == state.Segment)
                    {
                        state.CloseSegment();
                    }

                    removed.AddRange(segment);
                    deleted.Add(segment.Key);
                }

                if (removed.Count == 0)
                {
                    continue;
                }

                _index.MarkRemoved(tenant, [.. removed.Select(b => b.Id)], Removal(state, "retention", removed, []), deleted);
                foreach (var segment in deleted)
                {
                    state.TraceKeys.Forget(segment);
                    File.Delete(state.SegmentPath(segment));
                    files++;
                }

                DurableFile.FlushDirectory(state.Directory);
                var removedSpans = removed.Sum(b => (long)b.Spans);
                blocks += removed.Count;
                spans += removedSpans;
                Log.RetentionRemoved(_logger, tenant, removed.Count, removedSpans, deleted.Count);
            }
        }

        return new RemovalReport(blocks, spans, files);
    }

    /// <summary>
    /// Deletes segment files whose blocks are all removed and past retention, but which are still on disk: a run that
    /// committed its removal record and then crashed or failed to delete (the index no longer lists those blocks as
    /// live, so no later run would pick them up otherwise). Their removal is already recorded and signed.
    /// </summary>
    private int DeleteLeftoverSegments(TenantState state, IReadOnlyList<BlockRow> rows, DateTimeOffset cutoff)
    {
        var deleted = 0;
        foreach (var segment in rows.GroupBy(b => b.Segment))
        {
            if (segment.Key == state.Segment || segment.Any(b => !b.Removed || b.WrittenUnixMs >= cutoff.ToUnixTimeMilliseconds()))
            {
                continue;
            }

            var path = state.SegmentPath(segment.Key);
            if (File.Exists(path))
            {
                state.TraceKeys.Forget(segment.Key);
                File.Delete(path);
                Log.RetentionLeftoverDeleted(_logger, state.Tenant, segment.Key);
                deleted++;
            }
        }

        if (deleted > 0)
        {
            DurableFile.FlushDirectory(state.Directory);
        }

        return deleted;
    }

    /// <summary>
    /// Removes every span of <paramref name="tenant"/> that carries any of <paramref name="needles"/> (a subject's
    /// pseudonyms and tokens) in any string it has: each affected block is rewritten without those spans (a new block),
    /// and the old block is overwritten with zeros on disk. Nothing else is lost. One pass over the tenant's blocks,
    /// however many needles.
    /// </summary>
    public RemovalReport EraseMatching(string tenant, params IReadOnlyList<string> needles)
    {
        ArgumentException.ThrowIfNullOrEmpty(tenant);
        var needle = new Needles(needles);
        if (needle.IsEmpty)
        {
            return new RemovalReport(0, 0, 0);
        }

        var state = State(tenant);
        lock (state.Lock)
        {
            var affected = new List<BlockRow>();
            var keep = new List<(PendingBlock, BlockStats)>();
            long removedSpans = 0;
            var unreadable = 0;
            try
            {
                foreach (var row in _index.AllBlocks(tenant).Where(b => !b.Removed))
                {
                    if (ReadBlock(row) is not { } block)
                    {
                        unreadable++;
                        continue;
                    }

                    var removed = RemoveCarrying(block, needle);
                    if (removed == 0)
                    {
                        continue;
                    }

                    affected.Add(row);
                    removedSpans += removed;
                    if (block.CountSpans() > 0)
                    {
                        keep.Add(Prepare(block, state.IndexKey));
                    }
                }

                if (affected.Count == 0)
                {
                    return new RemovalReport(0, 0, 0) { Unreadable = unreadable };
                }

                var replacements = WriteBlocks(state, keep);
                _index.MarkRemoved(tenant, [.. affected.Select(b => b.Id)], Removal(state, "erasure", affected, replacements));
                ZeroBlocks(state, affected);
                Log.Erased(_logger, tenant, affected.Count, removedSpans);
                return new RemovalReport(affected.Count, removedSpans, 0) { Unreadable = unreadable };
            }
            finally
            {
                // Also when a read or an encoding failed half-way: the blocks prepared so far are cleared.
                DisposeAll(keep);
            }
        }
    }

    /// <summary>
    /// Re-encrypts every live block of <paramref name="tenant"/> that is not under its active key: each is written
    /// again as a new block and the old one zeroed, with a signed record. A block that does not decrypt (corrupted
    /// or tampered with) is left exactly as it is: zeroing it under a signed "rewrap" record would erase the
    /// evidence and make <c>verify</c> report the store intact. Such blocks are counted in the report.
    /// </summary>
    public RewrapReport Rewrap(string tenant)
    {
        var state = State(tenant);
        var active = Keys.GetActiveKey(tenant).Id;
        lock (state.Lock)
        {
            var candidates = _index.AllBlocks(tenant).Where(b => !b.Removed && KeyOf(state, b) is { } id && id != active).ToList();
            var old = new List<BlockRow>(candidates.Count);
            var again = new List<(PendingBlock, BlockStats)>(candidates.Count);
            try
            {
                foreach (var row in candidates)
                {
                    if (ReadBlock(row) is { } block)
                    {
                        old.Add(row);
                        again.Add(Prepare(block, state.IndexKey));
                    }
                }

                if (old.Count > 0)
                {
                    var replacements = WriteBlocks(state, again);
                    _index.MarkRemoved(tenant, [.. old.Select(b => b.Id)], Removal(state, "rewrap", old, replacements));
                    ZeroBlocks(state, old);
                }
            }
            finally
            {
                // Also when a read or an encoding failed half-way: the blocks prepared so far are cleared.
                DisposeAll(again);
            }

            return new RewrapReport(old.Count, candidates.Count - old.Count);
        }
    }

    /// <summary>
    /// Crypto-shredding: destroys the tenant's data keys first (its blocks and journal records are unreadable at
    /// once), then deletes its segment files and index rows, keeping one signed record that it happened.
    /// </summary>
    public RemovalReport EraseTenant(string tenant)
    {
        ArgumentException.ThrowIfNullOrEmpty(tenant);
        var state = State(tenant);
        lock (state.Lock)
        {
            var (blocks, spans) = _index.Totals(tenant);
            Keys.Destroy(tenant);
            state.CloseSegment();
            state.TraceKeys.Clear();
            var files = Directory.Exists(state.Directory) ? Directory.GetFiles(state.Directory, "*.seg").Length : 0;
            var record = Encoding.UTF8.GetBytes($"{{\"kind\":\"tenant\",\"blocks\":{blocks},\"spans\":{spans}}}");
            var at = _time.GetUtcNow().ToUnixTimeMilliseconds();
            var mac = HashChain.RemovalMac(HashChain.DeriveMacKey(_kek, tenant), RemovalInput(tenant, at, "tenant", record, spans));
            _index.DeleteTenant(tenant, new RemovalRow(0, tenant, at, "tenant", Encoding.UTF8.GetString(record), spans, mac));
            if (Directory.Exists(state.Directory))
            {
                Directory.Delete(state.Directory, recursive: true);
            }

            lock (_tenantsLock)
            {
                _tenants.Remove(tenant);
            }

            Log.TenantErased(_logger, tenant, blocks, spans);
            return new RemovalReport((int)blocks, spans, files);
        }
    }

    /// <summary>
    /// Checks one tenant's segments against its chain: every block present, unmodified, in order, of this tenant;
    /// every missing block accounted for by a signed removal record; the chain head authentic.
    /// </summary>
    public StoreVerifyReport Verify(string tenant)
    {
        ArgumentException.ThrowIfNullOrEmpty(tenant);
        var state = State(tenant);
        lock (state.Lock)
        {
            var rows = _index.AllBlocks(tenant);
            var links = rows.Select(r => new ChainEntry(r.Sequence, r.Digest)).ToList();
            var found = new List<ReadOnlyMemory<byte>>();
            if (Directory.Exists(state.Directory))
            {
                foreach (var path in Directory.GetFiles(state.Directory, "*.seg").Order(StringComparer.Ordinal))
                {
                    foreach (var (_, bytes) in Frames(File.ReadAllBytes(path), SegmentHeaderBytes))
                    {
                        if (bytes.Span.ContainsAnyExcept((byte)0))
                        {
                            found.Add(bytes);
                        }
                    }
                }
            }

            var head = _index.Head(tenant) ?? new HashChain(tenant, _kek).SignHead();
            var report = ChainVerifier.Verify(tenant, _kek, found, links, head, id => Keys.TryGetKey(id, out var k) ? k.Tenant : null);
            var macKey = HashChain.DeriveMacKey(_kek, tenant);
            var accounted = new HashSet<ulong>();
            var badRecords = 0;
            foreach (var removal in _index.Removals(tenant))
            {
                var input = RemovalInput(tenant, removal.AtUnixMs, removal.Kind, Encoding.UTF8.GetBytes(removal.Blocks), removal.Spans);
                if (!System.Security.Cryptography.CryptographicOperations.FixedTimeEquals(HashChain.RemovalMac(macKey, input), removal.Mac))
                {
                    badRecords++;
                    continue;
                }

                foreach (var seq in RemovedSequences(removal.Blocks))
                {
                    accounted.Add(seq);
                }
            }

            // A removed block is fine only if a signed record accounts for it and the index says so too.
            var removedInIndex = rows.Where(r => r.Removed).Select(r => r.Sequence).ToHashSet();
            var findings = report.Findings
                .Where(f => !(f.Kind == ChainFindingKind.Removed && f.Sequence is { } s && accounted.Contains(s) && removedInIndex.Contains(s)))
                .ToList();
            return new StoreVerifyReport(tenant, report.BlocksChecked, findings, badRecords, rows.Count(r => r.Removed && !accounted.Contains(r.Sequence)));
        }
    }

    public void Dispose()
    {
        lock (_tenantsLock)
        {
            foreach (var state in _tenants.Values)
            {
                lock (state.Lock)
                {
                    state.CloseSegment();
                }
            }

            _tenants.Clear();
        }

        _index.Dispose();
        Keys.Dispose();
        _kek.Dispose();
    }

    internal static string DirectoryOf(string tenant)
        => tenant.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.') && tenant[0] != '.'
            ? tenant
            : "~" + Convert.ToHexStringLower(Encoding.UTF8.GetBytes(tenant));

    private static string? TenantFromDirectory(string name)
    {
        if (!name.StartsWith('~'))
        {
            return name.Length > 0 ? name : null;
        }

        try
        {
            return Encoding.UTF8.GetString(Convert.FromHexString(name.AsSpan(1)));
        }
        catch (FormatException)
        {
            return null;
        }
    }

    private static long? ToNanos(DateTimeOffset? t) => t is { } v ? (v.ToUnixTimeMilliseconds() * 1_000_000L) + (v.Ticks % TimeSpan.TicksPerMillisecond * 100) : null;

    private IndexKey IndexKeyOf(string tenant) => State(tenant).IndexKey;

    private TenantState State(string tenant)
    {
        lock (_tenantsLock)
        {
            if (_tenants.TryGetValue(tenant, out var state))
            {
                return state;
            }

            state = new TenantState(tenant, Path.Combine(_root, DirectoryOf(tenant)), new IndexKey(_kek, tenant));
            RecoverTenant(state);
            _tenants.Add(tenant, state);
            return state;
        }
    }

    /// <summary>Resumes the chain from the index, indexes blocks written after the last indexed one, cuts a torn tail.</summary>
    private void RecoverTenant(TenantState state)
    {
        var rows = _index.AllBlocks(state.Tenant);
        var head = _index.Head(state.Tenant);
        state.Chain = head is null ? new HashChain(state.Tenant, _kek) : HashChain.Resume(state.Tenant, _kek, head.Count, head.LastSequence, head.Head);
        state.NextSequence = (head?.LastSequence ?? 0) + 1;
        state.Segment = rows.Count == 0 ? 0 : rows.Max(r => r.Segment);
        if (!Directory.Exists(state.Directory))
        {
            SealComplete(state);
            return;
        }

        var segments = Directory.GetFiles(state.Directory, "*.seg")
            .Select(p => ulong.TryParse(Path.GetFileNameWithoutExtension(p), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var n) ? n : 0)
            .Where(n => n > 0)
            .Order()
            .ToList();
        state.Segment = segments.Count == 0 ? 0 : segments[^1];
        var indexedEnd = rows.GroupBy(r => r.Segment).ToDictionary(g => g.Key, g => g.Max(r => r.Offset + r.Length));

        // A segment keeps one trace token version: its blocks found past the index get the version of those indexed.
        var tokenVersions = rows.GroupBy(r => r.Segment).ToDictionary(g => g.Key, g => g.First().TokenVersion);
        foreach (var segment in segments)
        {
            var path = state.SegmentPath(segment);
            var from = indexedEnd.TryGetValue(segment, out var e) ? e : SegmentHeaderBytes;

            // Only the header and what follows the last indexed block: a start must not read the whole store.
            var header = new byte[SegmentHeaderBytes];
            byte[] tail;
            long fileLength;
            using (var handle = File.OpenHandle(path))
            {
                fileLength = RandomAccess.GetLength(handle);
                var headerRead = RandomAccess.Read(handle, header, 0);
                tail = new byte[Math.Max(0, fileLength - from)];
                if (headerRead < header.Length || RandomAccess.Read(handle, tail, from) < tail.Length)
                {
                    header = [];
                }
            }

            var good = from;
            var recovered = new List<(BlockRow, byte[])>();
            if (header.Length == SegmentHeaderBytes && header.AsSpan(0, 8).SequenceEqual(SegmentMagic))
            {
                foreach (var (relative, block) in Frames(tail, 0))
                {
                    var offset = from + relative;
                    var parsed = BlockHeader.TryRead(block.Span, out var blockHeader, out _);
                    if (!parsed || blockHeader.Sequence != state.NextSequence
                        || !BlockCodec.TryDecode(block.Span, Keys, new BlockPosition(state.Tenant, segment, blockHeader.Sequence), out var traces, out _))
                    {
                        // A crash tears only the block being written, which has the next sequence; a whole block of
                        // another sequence was put there: left in place for Verify to report, not cut off.
                        good = parsed && blockHeader.Sequence != state.NextSequence ? fileLength : good;
                        break;
                    }

                    var stats = BlockStats.Of(traces, state.IndexKey, tokenVersions.GetValueOrDefault(segment, IndexKey.TraceTokenVersion));
                    var link = state.Chain.Append(block.Span);
                    state.NextSequence++;
                    recovered.Add((stats.Row(state.Tenant, segment, blockHeader.Sequence, offset, block.Length, link.Digest, _time), stats.TraceTokens));
                    good = offset + block.Length;
                }
            }
            else
            {
                // Not a segment header: a crash leaves at most a short header on a file without blocks, anything else
                // is corruption or tampering. Leave the file: its indexed blocks stay readable, Verify reports the rest.
                good = fileLength;
            }

            if (recovered.Count > 0)
            {
                _index.AddBlocks(state.Tenant, recovered, state.Chain.SignHead());
                Log.BlocksRecovered(_logger, state.Tenant, recovered.Count);
            }

            if (good < fileLength && segment == state.Segment)
            {
                Log.SegmentTornTail(_logger, state.Tenant, segment, fileLength - good);
                using var file = new FileStream(path, FileMode.Open, FileAccess.Write);
                file.SetLength(Math.Max(good, 0));
                file.Flush(flushToDisk: true);
            }
        }

        // Appends go to a new segment: recovery never reopens a file for writing, nor reuses a number.
        state.Segment = Math.Max(segments.Count == 0 ? 0 : segments[^1], rows.Count == 0 ? 0 : rows.Max(r => r.Segment));
        SealComplete(state);
    }

    /// <summary>At start every segment is complete (appends open a new one): seals those a crash or an older index left unsealed.</summary>
    private void SealComplete(TenantState state)
    {
        foreach (var segment in _index.UnsealedSegments(state.Tenant))
        {
            var (keys, tokenVersion) = _index.TraceKeysOfSegment(state.Tenant, segment);
            Seal(state, segment, keys, tokenVersion);
        }
    }

    /// <summary>A block's index entry and its encoding (<see cref="BlockCodec.Prepare"/>), one after the other over the same spans.</summary>
    private static (PendingBlock Block, BlockStats Stats) Prepare(TraceRequest traces, IndexKey key)
    {
        var stats = BlockStats.Of(traces, key);
        return (BlockCodec.Prepare(traces), stats);
    }

    /// <summary>Clears the prepared blocks a write did not seal (all of them after a failure; none after a success).</summary>
    private static void DisposeAll(List<(PendingBlock Block, BlockStats Stats)> prepared)
    {
        foreach (var (block, _) in prepared)
        {
            block.Dispose();
        }
    }

    /// <summary>Seals (encrypts in order), appends and flushes prepared blocks, then indexes them. Caller holds the tenant lock. Returns the new sequences.</summary>
    private List<ulong> WriteBlocks(TenantState state, List<(PendingBlock Block, BlockStats Stats)> blocks)
    {
        var sequences = new List<ulong>(blocks.Count);
        if (blocks.Count == 0)
        {
            return sequences;
        }

        var key = Keys.GetActiveKey(state.Tenant);
        var file = state.OpenForAppend(_options, _time);
        var start = file.Length;
        var chain = state.Chain!;
        var nextSequence = state.NextSequence;
        var written = new (byte[] Block, long Offset)[blocks.Count];
        try
        {
            Span<byte> length = stackalloc byte[4];
            var offset = start;
            for (var i = 0; i < blocks.Count; i++)
            {
                var sequence = nextSequence++;
                var block = blocks[i].Block.Seal(key, new BlockPosition(state.Tenant, state.Segment, sequence));
                BinaryPrimitives.WriteUInt32BigEndian(length, (uint)block.Length);
                file.Write(length);
                Faults.Write(file, block);
                offset += 4;
                written[i] = (block, offset);
                offset += block.Length;
                sequences.Add(sequence);
            }

            file.Flush(flushToDisk: true);
        }
        catch (IOException)
        {
            // Disk full: take the partial frames back so the segment stays whole; nothing was indexed or chained.
            try
            {
                file.SetLength(start);
                file.Flush(flushToDisk: true);
            }
            catch (IOException)
            {
                state.CloseSegment();
            }

            throw;
        }

        // Chained only once durable; the link's digest (SHA-256 of the block) is the row's, computed once.
        var rows = new List<(BlockRow, byte[])>(blocks.Count);
        for (var i = 0; i < blocks.Count; i++)
        {
            var (block, offset) = written[i];
            var link = chain.Append(block);
            rows.Add((blocks[i].Stats.Row(state.Tenant, state.Segment, sequences[i], offset, block.Length, link.Digest, _time), blocks[i].Stats.TraceTokens));
        }

        state.NextSequence = nextSequence;
        _index.AddBlocks(state.Tenant, rows, chain.SignHead());
        for (var i = 0; i < rows.Count; i++)
        {
            state.TraceKeys.Add(state.Segment, sequences[i], rows[i].Item2, rows[i].Item1.TokenVersion);
        }

        // A segment the writer has left (full, old, or closed) is complete: its keys go into the index now.
        foreach (var segment in state.TraceKeys.Segments())
        {
            if (segment != state.Segment)
            {
                var (keys, tokenVersion) = state.TraceKeys.KeysOf(segment);
                Seal(state, segment, keys, tokenVersion);
            }
        }

        var spans = blocks.Sum(b => (long)b.Stats.Spans);
        Interlocked.Add(ref _spansWritten, spans);
        Interlocked.Add(ref _blocksWritten, blocks.Count);
        Interlocked.Add(ref _bytesWritten, file.Length - start);
        return sequences;
    }

    private RemovalRow Removal(TenantState state, string kind, List<BlockRow> removed, List<ulong> replacements)
    {
        var blocks = new StringBuilder("{\"removed\":[");
        for (var i = 0; i < removed.Count; i++)
        {
            blocks.Append(i == 0 ? string.Empty : ",").Append("{\"seq\":").Append(removed[i].Sequence.ToString(CultureInfo.InvariantCulture))
                .Append(",\"digest\":\"").Append(Convert.ToHexStringLower(removed[i].Digest)).Append("\"}");
        }

        blocks.Append("],\"written\":[").AppendJoin(',', replacements.Select(s => s.ToString(CultureInfo.InvariantCulture))).Append("]}");
        var text = blocks.ToString();
        var at = _time.GetUtcNow().ToUnixTimeMilliseconds();
        var spans = removed.Sum(b => (long)b.Spans);
        var mac = state.Chain!.SignRemoval(RemovalInput(state.Tenant, at, kind, Encoding.UTF8.GetBytes(text), spans));
        return new RemovalRow(0, state.Tenant, at, kind, text, spans, mac);
    }

    private static byte[] RemovalInput(string tenant, long at, string kind, byte[] blocks, long spans)
        => Encoding.UTF8.GetBytes($"{tenant}\n{at.ToString(CultureInfo.InvariantCulture)}\n{kind}\n{spans.ToString(CultureInfo.InvariantCulture)}\n").Concat(blocks).ToArray();

    private static IEnumerable<ulong> RemovedSequences(string json)
    {
        using var document = System.Text.Json.JsonDocument.Parse(json);
        if (!document.RootElement.TryGetProperty("removed", out var removed))
        {
            yield break;
        }

        foreach (var item in removed.EnumerateArray())
        {
            yield return item.GetProperty("seq").GetUInt64();
        }
    }

    private static void ZeroBlocks(TenantState state, IEnumerable<BlockRow> rows)
    {
        foreach (var segment in rows.GroupBy(r => r.Segment))
        {
            var path = state.SegmentPath(segment.Key);
            if (!File.Exists(path))
            {
                continue;
            }

            using var file = new FileStream(path, FileMode.Open, FileAccess.Write, FileShare.ReadWrite);
            foreach (var row in segment)
            {
                file.Position = row.Offset;
                file.Write(new byte[row.Length]);
            }

            file.Flush(flushToDisk: true);
        }
    }

    private static KeyId? KeyOf(TenantState state, BlockRow row)
    {
        var header = new byte[BlockHeader.Bytes];
        try
        {
            using var handle = File.OpenHandle(state.SegmentPath(row.Segment));
            if (RandomAccess.Read(handle, header, row.Offset) != header.Length)
            {
                return null;
            }
        }
        catch (IOException)
        {
            return null;
        }

        return BlockHeader.TryRead(header, out var h, out _) ? h.KeyId : null;
    }

    private TraceRequest? FindTrace(string tenant, TraceId traceId, long? start, long? end)
    {
        // Only this trace's spans are decoded from each block: ~7 of ~1,000, the bulk of a lookup's cost otherwise.
        return Assemble(traceId, BlocksOfTrace(tenant, traceId, start, end), row => ReadBlock(row, traceId) is { } block ? new DecodedBlock(block) : null);
    }

    /// <summary>The live blocks holding spans of <paramref name="traceId"/>: sealed segments from the index, the open one from memory.</summary>
    private IReadOnlyList<BlockRow> BlocksOfTrace(string tenant, TraceId traceId, long? start, long? end)
    {
        var state = State(tenant);
        var tokens = new LookupTokens([traceId], state.IndexKey);
        return _index.BlocksOfTrace(tenant, tokens, start, end, state.TraceKeys.Find(tokens, 0));
    }

    /// <summary>
    /// For <paramref name="traceIds"/> (the traces of the block of <paramref name="row"/>): their other live blocks
    /// overlapping the window. The sealed segments are asked for all of its trace tokens with one statement; most
    /// traces live in one block, so this is usually empty.
    /// </summary>
    private Dictionary<TraceId, List<BlockRow>> OtherBlocksOfTraces(string tenant, BlockRow row, ICollection<TraceId> traceIds, long? start, long? end)
    {
        var state = State(tenant);
        var tokens = new LookupTokens([.. traceIds], state.IndexKey);
        var sealedSequences = _index.SealedSequences(tenant, tokens, row.Segment);
        var wanted = new Dictionary<TraceId, List<ulong>>();
        for (var i = 0; i < tokens.TraceIds.Count; i++)
        {
            var traceId = tokens.TraceIds[i];
            var sequences = state.TraceKeys.Find(tokens, i).Concat(sealedSequences.TryGetValue(traceId, out var found) ? found : [])
                .Where(s => s != row.Sequence)
                .Distinct()
                .ToList();
            if (sequences.Count > 0)
            {
                wanted[traceId] = sequences;
            }
        }

        var others = new Dictionary<TraceId, List<BlockRow>>();
        if (wanted.Count == 0)
        {
            return others;
        }

        var rows = _index.BlocksBySequence(tenant, wanted.Values.SelectMany(s => s), start, end);
        foreach (var (traceId, sequences) in wanted)
        {
            var list = sequences.Where(rows.ContainsKey).Select(s => rows[s]).ToList();
            if (list.Count > 0)
            {
                others[traceId] = list;
            }
        }

        return others;
    }

    /// <summary>Sorts a complete segment's trace keys into the index and forgets them here.</summary>
    private void Seal(TenantState state, ulong segment, List<TraceKey> keys, byte tokenVersion)
    {
        _index.Seal(state.Tenant, segment, keys, tokenVersion);
        state.TraceKeys.Forget(segment);
    }

    /// <summary>The spans of <paramref name="traceId"/> in <paramref name="rows"/> (blocks read by <paramref name="read"/>), each once; null when there is none.</summary>
    private static TraceRequest? Assemble(TraceId traceId, IReadOnlyList<BlockRow> rows, Func<BlockRow, DecodedBlock?> read)
    {
        var parts = new List<List<SpanAt>>(rows.Count);
        foreach (var row in rows)
        {
            if (read(row) is { } block && block.Traces.TryGetValue(traceId, out var spans))
            {
                parts.Add(spans);
            }
        }

        return parts.Count == 0 ? null : Build(parts);
    }

    /// <summary>
    /// A trace from its spans in each of its blocks (stored order), each span once, grouped as stored: a resource and
    /// scope of each block once, sharing the block's resource and scope objects.
    /// </summary>
    private static TraceRequest Build(IEnumerable<List<SpanAt>> parts)
    {
        var result = new TraceRequest();
        var seen = new HashSet<SpanId>();
        foreach (var part in parts)
        {
            ResourceSpans? resource = null;
            ScopeSpans? scope = null;
            ResourceSpans? keptResource = null;
            ScopeSpans? keptScope = null;
            foreach (var at in part)
            {
                if (!seen.Add(at.Span.SpanId))
                {
                    continue;
                }

                if (!ReferenceEquals(at.Resource, resource))
                {
                    resource = at.Resource;
                    scope = null;
                    keptResource = new ResourceSpans { Resource = resource.Resource, SchemaUrl = resource.SchemaUrl };
                    result.ResourceSpans.Add(keptResource);
                }

                if (!ReferenceEquals(at.Scope, scope))
                {
                    scope = at.Scope;
                    keptScope = new ScopeSpans { Scope = scope.Scope, SchemaUrl = scope.SchemaUrl };
                    keptResource!.ScopeSpans.Add(keptScope);
                }

                keptScope!.Spans.Add(at.Span);
            }
        }

        return result;
    }

    private static bool AnySpan(List<SpanAt> spans, Func<ResourceSpans, Span, bool>? filter)
    {
        if (filter is null)
        {
            return true;
        }

        foreach (var at in spans)
        {
            if (filter(at.Resource, at.Span))
            {
                return true;
            }
        }

        return false;
    }

    private static bool AnySpan(TraceRequest trace, Func<ResourceSpans, Span, bool> filter)
    {
        foreach (var rs in trace.ResourceSpans)
        {
            foreach (var ss in rs.ScopeSpans)
            {
                foreach (var span in ss.Spans)
                {
                    if (filter(rs, span))
                    {
                        return true;
                    }
                }
            }
        }

        return false;
    }

    private static void Count(ScanProgress? progress, int spans)
    {
        if (progress is not null)
        {
            progress.Traces++;
            progress.Spans += spans;
        }
    }

    /// <summary>The block of <paramref name="row"/>, decrypted; only the spans of <paramref name="only"/> when that is not empty.</summary>
    private TraceRequest? ReadBlock(BlockRow row, TraceId only = default)
    {
        using var plaintext = OpenBlock(row);
        if (plaintext is null)
        {
            return null;
        }

        if (!BlockCodec.TryDecode(plaintext.Otlp, out var traces, out var error, only))
        {
            return Unreadable(row, error.ToString());
        }

        return traces;
    }

    /// <summary>The OTLP bytes of the block of <paramref name="row"/>, decrypted into pooled memory; null (logged) when it cannot be read.</summary>
    private BlockPlaintext? OpenBlock(BlockRow row)
    {
        var path = Path.Combine(_root, DirectoryOf(row.Tenant), SegmentName(row.Segment));

        // Pooled: a block is ~145 KB, above the large-object threshold, and a fresh one per read (hundreds a second under
        // trace-by-id load, ~35 per search) made the GC collect generation 2 over and over. Ciphertext: not cleared.
        var rented = ArrayPool<byte>.Shared.Rent(row.Length);
        try
        {
            var bytes = rented.AsSpan(0, row.Length);
            try
            {
                using var handle = File.OpenHandle(path);
                if (RandomAccess.Read(handle, bytes, row.Offset) != bytes.Length)
                {
                    Unreadable(row, "Truncated");
                    return null;
                }
            }
            catch (IOException ex)
            {
                Unreadable(row, ex.GetType().Name);
                return null;
            }

            if (!BlockCodec.TryOpen(bytes, Keys, new BlockPosition(row.Tenant, row.Segment, row.Sequence), out var plaintext, out var error))
            {
                Unreadable(row, error.ToString());
                return null;
            }

            return plaintext;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    /// <summary>A block that cannot be read is skipped with an error naming it (never its content) and counted.</summary>
    private TraceRequest? Unreadable(BlockRow row, string reason)
    {
        Interlocked.Increment(ref _blocksUnreadable);
        Log.BlockUnreadable(_logger, row.Tenant, row.Sequence, reason);
        return null;
    }

    /// <summary>Removes every span carrying any of <paramref name="needle"/>; returns how many.</summary>
    private static int RemoveCarrying(TraceRequest block, Needles needle)
    {
        var removed = 0;
        for (var r = block.ResourceSpans.Count - 1; r >= 0; r--)
        {
            var rs = block.ResourceSpans[r];
            var resourceCarries = Carries(rs.Resource.Attributes, needle) || Has(rs.SchemaUrl, needle);
            foreach (var ss in rs.ScopeSpans)
            {
                // A resource or scope that carries it takes every span under it: they are the subject's spans.
                var scopeCarries = resourceCarries || Has(ss.SchemaUrl, needle) || Has(ss.Scope.Name, needle)
                    || Has(ss.Scope.Version, needle) || Carries(ss.Scope.Attributes, needle);
                removed += ss.Spans.RemoveAll(span => scopeCarries || SpanCarries(span, needle));
            }

            rs.ScopeSpans.RemoveAll(ss => ss.Spans.Count == 0);
            if (rs.ScopeSpans.Count == 0)
            {
                block.ResourceSpans.RemoveAt(r);
            }
        }

        return removed;
    }

    /// <summary>Every string a span can carry, as the privacy stage reads them: names, messages, trace state, keys and values.</summary>
    private static bool SpanCarries(Span span, Needles needle)
        => Has(span.Name, needle)
            || Has(span.Status.Message, needle)
            || Has(span.TraceState, needle)
            || Carries(span.Attributes, needle)
            || span.Events.Any(e => Has(e.Name, needle) || Carries(e.Attributes, needle))
            || span.Links.Any(l => Has(l.TraceState, needle) || Carries(l.Attributes, needle));

    private static bool Has(string? text, Needles needle) => needle.In(text);

    private static bool Carries(List<KeyValue>? attributes, Needles needle)
    {
        if (attributes is null)
        {
            return false;
        }

        foreach (var kv in attributes)
        {
            if (Has(kv.Key, needle) || Carries(kv.Value, needle))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Bytes values count too: the privacy stage keeps valid UTF-8 bytes as bytes after replacing inside them.</summary>
    private static bool Carries(AnyValue value, Needles needle) => value.Kind switch
    {
        AnyValueKind.String => Has(value.StringValue, needle),
        AnyValueKind.Bytes => needle.In(value.BytesValue!),
        AnyValueKind.Array => value.ArrayValue!.Any(v => Carries(v, needle)),
        AnyValueKind.KeyValueList => Carries(value.KeyValueListValue!, needle),
        _ => false,
    };

    /// <summary>What an erasure looks for: each needle as text and, for UTF-8 bytes values, as bytes (encoded once).</summary>
    private sealed class Needles
    {
        private readonly string[] _text;
        private readonly byte[][] _utf8;

        public Needles(IReadOnlyList<string> needles)
        {
            ArgumentNullException.ThrowIfNull(needles);
            if (needles.Any(string.IsNullOrEmpty))
            {
                // An empty needle is in every string: it would erase the whole tenant.
                throw new ArgumentException("a needle is empty", nameof(needles));
            }

            _text = [.. needles.Distinct(StringComparer.Ordinal)];
            _utf8 = [.. _text.Select(Encoding.UTF8.GetBytes)];
        }

        public bool IsEmpty => _text.Length == 0;

        public bool In(string? text)
        {
            if (text is null)
            {
                return false;
            }

            foreach (var needle in _text)
            {
                if (text.Contains(needle, StringComparison.Ordinal))
                {
                    return true;
                }
            }

            return false;
        }

        public bool In(byte[] bytes)
        {
            foreach (var needle in _utf8)
            {
                if (bytes.AsSpan().IndexOf(needle) >= 0)
                {
                    return true;
                }
            }

            return false;
        }
    }

    private static IEnumerable<Span> Spans(TraceRequest traces)
        => traces.ResourceSpans.SelectMany(rs => rs.ScopeSpans).SelectMany(ss => ss.Spans);

    /// <summary>The latest span end of a trace, as the index's <c>max_end</c> counts it.</summary>
    private static long LatestEnd(TraceRequest trace)
    {
        var latest = long.MinValue;
        foreach (var span in Spans(trace))
        {
            latest = Math.Max(latest, (long)Math.Min(Math.Max(span.EndTimeUnixNano, span.StartTimeUnixNano), long.MaxValue));
        }

        return latest;
    }

    /// <summary>Frames of a segment from <paramref name="from"/>: (offset of the block, block bytes), up to the first torn one.</summary>
    private static IEnumerable<(long Offset, ReadOnlyMemory<byte> Block)> Frames(byte[] segment, int from)
    {
        var at = (long)from;
        while (segment.Length - at >= 4)
        {
            var length = BinaryPrimitives.ReadUInt32BigEndian(segment.AsSpan((int)at));
            if (length == 0 || length > segment.Length - at - 4)
            {
                yield break;
            }

            yield return (at + 4, segment.AsMemory((int)(at + 4), (int)length));
            at += 4 + length;
        }
    }

    /// <summary>Splits a request into requests of whole traces, at most <paramref name="maxSpans"/> each (a bigger trace alone).</summary>
    internal static List<TraceRequest> Pack(TraceRequest traces, int maxSpans)
    {
        // Plain loops and one lookup per span: this runs over every span of every append.
        var sizes = new Dictionary<TraceId, int>();
        var total = 0;
        foreach (var rs in traces.ResourceSpans)
        {
            foreach (var ss in rs.ScopeSpans)
            {
                foreach (var span in ss.Spans)
                {
                    CollectionsMarshal.GetValueRefOrAddDefault(sizes, span.TraceId, out _)++;
                    total++;
                }
            }
        }

        if (total == 0)
        {
            return [];
        }

        if (total <= maxSpans)
        {
            return [traces];
        }

        var chunkOf = new Dictionary<TraceId, int>(sizes.Count);
        var chunks = 0;
        var filled = maxSpans;
        foreach (var (id, size) in sizes)
        {
            if (filled + size > maxSpans && filled > 0)
            {
                chunks++;
                filled = 0;
            }

            chunkOf[id] = chunks - 1;
            filled += size;
        }

        var result = new TraceRequest[chunks];
        for (var i = 0; i < chunks; i++)
        {
            result[i] = new TraceRequest();
        }

        foreach (var rs in traces.ResourceSpans)
        {
            var perChunk = new ResourceSpans?[chunks];
            foreach (var ss in rs.ScopeSpans)
            {
                var scopes = new ScopeSpans?[chunks];
                foreach (var span in ss.Spans)
                {
                    var c = chunkOf[span.TraceId];
                    if (scopes[c] is not { } scope)
                    {
                        scope = scopes[c] = new ScopeSpans { Scope = ss.Scope, SchemaUrl = ss.SchemaUrl };
                        if (perChunk[c] is not { } resource)
                        {
                            resource = perChunk[c] = new ResourceSpans { Resource = rs.Resource, SchemaUrl = rs.SchemaUrl };
                            result[c].ResourceSpans.Add(resource);
                        }

                        resource.ScopeSpans.Add(scope);
                    }

                    scope.Spans.Add(span);
                }
            }
        }

        return [.. result];
    }

    internal static string SegmentName(ulong segment) => segment.ToString("x16", CultureInfo.InvariantCulture) + ".seg";

    /// <summary>
    /// One scan's progress through its window's blocks: the traces found and waiting to be returned in order, those
    /// already seen, the blocks decoded, the bound on traces looked at.
    /// </summary>
    private sealed class ScanState(TraceStore store, string tenant, TraceScan scan)
    {
        private readonly IndexKey _key = store.IndexKeyOf(tenant);
        private readonly HashSet<TraceId> _seen = [];
        private readonly long _maxTraces = scan.MaxTraces ?? long.MaxValue;

        // Every trace of a block is assembled from that block and its neighbours: decode each once, not once per trace.
        private readonly BlockCache _decoded = new(store);

        private long _looked;

        public long? Start { get; } = ToNanos(scan.Start);

        public long? End { get; } = ToNanos(scan.End);

        /// <summary>
        /// Newest first by latest span end: a trace may end later in another block than the one it is found in, so found
        /// traces wait until no block still to read ends later (blocks come by their latest end, newest first).
        /// </summary>
        public PriorityQueue<TraceRequest, long> Ready { get; } = new(Comparer<long>.Create((a, b) => b.CompareTo(a)));

        /// <summary>True once the scan looked at as many traces as it may.</summary>
        public bool Exhausted => _looked > _maxTraces;

        /// <summary>Finds the traces of one block of the window, adding those that may match to <see cref="Ready"/>.</summary>
        public void Read(BlockRow row)
        {
            // The hints of a trace may hold in different blocks of it: a block is read when it may hold any hint, and a
            // trace found there is kept when every hint may hold in one of its blocks.
            if (scan.Hints.Count > 0 && !scan.Hints.Any(h => TermFilter.MightContain(row.Bloom, h, _key)))
            {
                return;
            }

            if (scan.IntrinsicFilter is not null && scan.SpanFilter is not null && !_decoded.Holds(row) && TryReadByIntrinsics(row))
            {
                return;
            }

            if (_decoded.Read(row) is not { } block)
            {
                return;
            }

            // The other blocks of this block's traces, in one index query for the whole block.
            var others = store.OtherBlocksOfTraces(tenant, row, block.Traces.Keys, Start, End);
            foreach (var (traceId, spans) in block.Traces)
            {
                if (!Look(traceId))
                {
                    continue;
                }

                if (others.TryGetValue(traceId, out var more))
                {
                    ReadSpread(row, traceId, more);
                    continue;
                }

                // Most traces live in one block: the filter looks at their spans before anything is assembled.
                Count(scan.Progress, spans.Count);
                if (AllHints(row) && AnySpan(spans, scan.SpanFilter))
                {
                    Add(Build([spans]));
                }
            }
        }

        /// <summary>
        /// The block read without decoding what cannot match: each span's intrinsics first, then only the traces with a
        /// span that may pass. False when its bytes do not walk (the caller decodes it whole, and reports it).
        /// </summary>
        private bool TryReadByIntrinsics(BlockRow row)
        {
            using var plaintext = store.OpenBlock(row);
            if (plaintext is null)
            {
                return true;
            }

            var spans = new List<(TraceId Trace, SpanIntrinsics Span)>();
            if (!SpanIntrinsicsReader.TryRead(plaintext.Otlp, spans))
            {
                return false;
            }

            // Per trace, in stored order: its span count, and whether one of its spans may pass.
            var traces = new Dictionary<TraceId, (int Spans, bool Maybe)>();
            foreach (var (traceId, span) in spans)
            {
                var (count, maybe) = traces.GetValueOrDefault(traceId);
                traces[traceId] = (count + 1, maybe || scan.IntrinsicFilter!(span));
            }

            var others = store.OtherBlocksOfTraces(tenant, row, traces.Keys, Start, End);
            foreach (var (traceId, (count, maybe)) in traces)
            {
                if (!Look(traceId))
                {
                    continue;
                }

                if (others.TryGetValue(traceId, out var more))
                {
                    ReadSpread(row, traceId, more);
                    continue;
                }

                Count(scan.Progress, count);
                if (maybe && AllHints(row) && BlockCodec.TryDecode(plaintext.Otlp, out var only, out _, traceId)
                    && new DecodedBlock(only).Traces.TryGetValue(traceId, out var decoded) && AnySpan(decoded, scan.SpanFilter))
                {
                    Add(Build([decoded]));
                }
            }

            return true;
        }

        /// <summary>A trace with spans in other blocks too: assembled whole, then tested.</summary>
        private void ReadSpread(BlockRow row, TraceId traceId, List<BlockRow> more)
        {
            IReadOnlyList<BlockRow> traceRows = [.. more.Append(row).OrderBy(r => r.Sequence)];
            if (scan.Hints.All(h => traceRows.Any(r => TermFilter.MightContain(r.Bloom, h, _key))) && Assemble(traceId, traceRows, _decoded.Read) is { } trace)
            {
                Count(scan.Progress, trace.CountSpans());
                if (scan.SpanFilter is not { } filter || AnySpan(trace, filter))
                {
                    Add(trace);
                }
            }
        }

        /// <summary>True for a trace not seen before, within the bound.</summary>
        private bool Look(TraceId traceId) => _seen.Add(traceId) && ++_looked <= _maxTraces;

        private bool AllHints(BlockRow row) => scan.Hints.Count == 0 || scan.Hints.All(h => TermFilter.MightContain(row.Bloom, h, _key));

        private void Add(TraceRequest trace) => Ready.Enqueue(trace, LatestEnd(trace));
    }

    /// <summary>
    /// The blocks one scan has decoded, so a block holding many traces is decrypted once. Bounded: when full the block
    /// read longest ago goes (a scan reads blocks newest first, and a trace's other blocks are mostly its neighbours, so
    /// what it needs next is what it read last; fewer decoded blocks kept alive is less for the GC to copy). Read-only
    /// use: the traces assembled from it share the blocks' resource and scope objects.
    /// </summary>
    private sealed class BlockCache(TraceStore store)
    {
        private const int Capacity = 16;

        private readonly Dictionary<long, DecodedBlock?> _blocks = [];
        private readonly Queue<long> _order = new();

        public bool Holds(BlockRow row) => _blocks.ContainsKey(row.Id);

        public DecodedBlock? Read(BlockRow row)
        {
            if (_blocks.TryGetValue(row.Id, out var block))
            {
                return block;
            }

            if (_order.Count >= Capacity)
            {
                _blocks.Remove(_order.Dequeue());
            }

            _order.Enqueue(row.Id);
            return _blocks[row.Id] = store.ReadBlock(row) is { } decoded ? new DecodedBlock(decoded) : null;
        }
    }

    /// <summary>One span of a decoded block with the resource and scope it is stored under.</summary>
    private readonly record struct SpanAt(ResourceSpans Resource, ScopeSpans Scope, Span Span);

    /// <summary>
    /// A decoded block with its spans grouped by trace, in stored order: a block of ~130 traces and ~900 spans is walked
    /// once, where assembling each trace from the whole block walked it ~130 times.
    /// </summary>
    private sealed class DecodedBlock
    {
        public DecodedBlock(TraceRequest request)
        {
            foreach (var rs in request.ResourceSpans)
            {
                foreach (var ss in rs.ScopeSpans)
                {
                    foreach (var span in ss.Spans)
                    {
                        if (!Traces.TryGetValue(span.TraceId, out var spans))
                        {
                            Traces[span.TraceId] = spans = [];
                        }

                        spans.Add(new SpanAt(rs, ss, span));
                    }
                }
            }
        }

        /// <summary>The block's traces in the order their first span is stored (a dictionary only added to keeps it).</summary>
        public Dictionary<TraceId, List<SpanAt>> Traces { get; } = [];
    }

    /// <summary>The blocks of a scan's window, newest first, read from the index a page at a time (pages grow to 1,024).</summary>
    private sealed class WindowRows(StoreIndex index, string tenant, long start, long end)
    {
        private readonly List<BlockRow> _rows = [];
        private int _page = 64;
        private bool _done;

        public bool TryGet(int i, [NotNullWhen(true)] out BlockRow? row)
        {
            while (i >= _rows.Count && !_done)
            {
                var last = _rows.Count == 0 ? null : _rows[^1];
                var page = index.BlocksInWindow(tenant, start, end, last?.MaxEndNanos ?? long.MaxValue, last?.Id ?? long.MaxValue, _page);
                _rows.AddRange(page);
                _done = page.Count < _page;
                _page = Math.Min(_page * 2, 1024);
            }

            row = i < _rows.Count ? _rows[i] : null;
            return row is not null;
        }
    }

    /// <summary>What the index records of a block, computed before the tenant lock is taken.</summary>
    private sealed class BlockStats
    {
        public required int Spans { get; init; }

        public required long MinStart { get; init; }

        public required long MaxEnd { get; init; }

        /// <summary>The block's distinct trace tokens, <see cref="IndexKey.TraceTokenBytes"/> each, concatenated (the index's blob).</summary>
        public required byte[] TraceTokens { get; init; }

        /// <summary>How <see cref="TraceTokens"/> were computed: <see cref="IndexKey.TraceTokenVersion"/>, or a recovered segment's own.</summary>
        public required byte TokenVersion { get; init; }

        public required byte[] Bloom { get; init; }

        public static BlockStats Of(TraceRequest traces, IndexKey key, byte tokenVersion = IndexKey.TraceTokenVersion)
        {
            long min = long.MaxValue, max = long.MinValue;
            var spans = 0;
            var ids = new HashSet<TraceId>();
            foreach (var rs in traces.ResourceSpans)
            {
                foreach (var ss in rs.ScopeSpans)
                {
                    foreach (var span in ss.Spans)
                    {
                        spans++;
                        ids.Add(span.TraceId);
                        min = Math.Min(min, (long)Math.Min(span.StartTimeUnixNano, long.MaxValue));
                        max = Math.Max(max, (long)Math.Min(Math.Max(span.EndTimeUnixNano, span.StartTimeUnixNano), long.MaxValue));
                    }
                }
            }

            var tokens = new byte[ids.Count * IndexKey.TraceTokenBytes];
            key.TraceTokens([.. ids], tokenVersion, tokens);

            return new BlockStats
            {
                Spans = spans,
                MinStart = min,
                MaxEnd = max,
                TraceTokens = tokens,
                TokenVersion = tokenVersion,
                Bloom = TermFilter.Build(traces, key),
            };
        }

        public BlockRow Row(string tenant, ulong segment, ulong sequence, long offset, int length, byte[] digest, TimeProvider time)
            => new(0, tenant, segment, sequence, offset, length, MinStart, MaxEnd, Spans, digest, Bloom, false) { WrittenUnixMs = time.GetUtcNow().ToUnixTimeMilliseconds(), TokenVersion = TokenVersion };
    }

    /// <summary>A tenant's writer state. Guarded by <see cref="Lock"/>.</summary>
    private sealed class TenantState(string tenant, string directory, IndexKey indexKey)
    {
        private FileStream? _file;
        private DateTimeOffset _openedAt;

        public string Tenant { get; } = tenant;

        public string Directory { get; } = directory;

        public IndexKey IndexKey { get; } = indexKey;

        public Lock Lock { get; } = new();

        public HashChain? Chain { get; set; }

        /// <summary>Trace tokens of the segments not sealed into the index yet.</summary>
        public OpenTraceKeys TraceKeys { get; } = new();

        public ulong NextSequence { get; set; } = 1;

        /// <summary>The segment new blocks go to (the last one on disk until a new one is opened).</summary>
        public ulong Segment { get; set; }

        public string SegmentPath(ulong segment) => Path.Combine(Directory, SegmentName(segment));

        /// <summary>The open segment, or a new one when there is none or it is full or old. Never reopens a closed segment.</summary>
        public FileStream OpenForAppend(StoreOptions options, TimeProvider time)
        {
            if (_file is not null && (_file.Length >= options.SegmentMaxBytes || time.GetUtcNow() - _openedAt >= options.SegmentMaxAge))
            {
                CloseSegment();
            }

            if (_file is not null)
            {
                return _file;
            }

            OwnerOnlyFile.CreateDirectory(Directory);
            Segment++;
            var file = DurableFile.CreateWithHeader(SegmentPath(Segment), SegmentMagic, Segment, FileShare.ReadWrite | FileShare.Delete);
            _file = file;
            _openedAt = time.GetUtcNow();
            return file;
        }

        public void CloseSegment()
        {
            _file?.Dispose();
            _file = null;
        }
    }
}

/// <summary>What <see cref="TraceStore.Verify"/> found for one tenant.</summary>
/// <param name="Tenant">The tenant.</param>
/// <param name="BlocksChecked">Blocks found in the tenant's segments.</param>
/// <param name="Findings">Modified, reordered, removed (without a signed record), injected or cross-tenant blocks, or a forged head.</param>
/// <param name="ForgedRemovalRecords">Removal records whose signature does not verify.</param>
/// <param name="UnaccountedRemovals">Blocks the index marks removed that no signed record accounts for.</param>
public sealed record StoreVerifyReport(string Tenant, int BlocksChecked, IReadOnlyList<ChainFinding> Findings, int ForgedRemovalRecords, int UnaccountedRemovals)
{
    public bool IsIntact => Findings.Count == 0 && ForgedRemovalRecords == 0 && UnaccountedRemovals == 0;
}
