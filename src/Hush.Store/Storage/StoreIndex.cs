using System.Buffers.Binary;
using Microsoft.Data.Sqlite;
using Hush.Otlp;

namespace Hush.Store.Storage;

/// <summary>One stored block as the index knows it. Nothing here is telemetry content: positions, times, counts, digests, keyed filters.</summary>
internal sealed record BlockRow(
    long Id,
    string Tenant,
    ulong Segment,
    ulong Sequence,
    long Offset,
    int Length,
    long MinStartNanos,
    long MaxEndNanos,
    int Spans,
    byte[] Digest,
    byte[] Bloom,
    bool Removed)
{
    /// <summary>When the block was written (Unix ms): retention counts from here.</summary>
    public long WrittenUnixMs { get; init; }

    /// <summary>The version of the block's trace tokens (<see cref="IndexKey.TraceToken"/>): every block of a segment has its segment's.</summary>
    public byte TokenVersion { get; init; } = IndexKey.TraceTokenVersion;
}

/// <summary>A signed record of blocks a retention run or an erasure removed.</summary>
internal sealed record RemovalRow(long Id, string Tenant, long AtUnixMs, string Kind, string Blocks, long Spans, byte[] Mac);

/// <summary>
/// The store's index: <c>{data_dir}/index.db</c>, SQLite in WAL mode. It holds block positions, time bounds, span
/// counts, block digests (the chain links), per-block Bloom filters of keyed tokens, trace tokens
/// (keyed tokens of the trace ids, see <see cref="IndexKey"/>), the chain heads and the removal records. No service name,
/// span name or attribute value is ever written here, not even hashed without a key.
/// <para>
/// Trace tokens are written twice, each time as an append: with their block (a blob per row), and when the segment
/// is complete, sorted into <c>trace_keys</c> — rows keyed by (tenant, segment, bucket), a bucket being the first
/// <c>bits</c> bits of the token (chosen per segment for about 64 keys a bucket), each row a blob of sorted
/// <c>token[16] | sequence u64 BE</c> entries. A row per trace, filled block by block, would put every trace of a
/// request on a random page of one large B-tree and commit each of those pages again to the WAL; buckets make a
/// sealed segment a run of rows at the end of the tenant's key range, and a lookup one row per segment. Tokens of
/// the open segment are looked up in memory (<see cref="OpenTraceKeys"/>); a segment listed in <c>sealed</c> here.
/// </para>
/// <para>
/// The segment files are the source of truth: a block written but not yet indexed (a crash between the two) is
/// indexed again from its segment at start. So the index commits with <c>synchronous=NORMAL</c>. One connection,
/// one lock: SQLite has a single writer anyway.
/// </para>
/// </summary>
internal sealed class StoreIndex : IDisposable
{
    public const string FileName = "index.db";

    private const string Schema = """
        CREATE TABLE IF NOT EXISTS blocks(
            id INTEGER PRIMARY KEY,
            tenant TEXT NOT NULL,
            segment INTEGER NOT NULL,
            seq INTEGER NOT NULL,
            offset INTEGER NOT NULL,
            length INTEGER NOT NULL,
            min_start INTEGER NOT NULL,
            max_end INTEGER NOT NULL,
            spans INTEGER NOT NULL,
            digest BLOB NOT NULL,
            bloom BLOB NOT NULL,
            removed INTEGER NOT NULL DEFAULT 0,
            written INTEGER NOT NULL,
            traces BLOB,
            token_version INTEGER NOT NULL DEFAULT 1);
        CREATE UNIQUE INDEX IF NOT EXISTS blocks_seq ON blocks(tenant, seq);
        CREATE INDEX IF NOT EXISTS blocks_time ON blocks(tenant, max_end);
        CREATE INDEX IF NOT EXISTS blocks_segment ON blocks(tenant, segment);
        CREATE TABLE IF NOT EXISTS trace_keys(tenant TEXT NOT NULL, segment INTEGER NOT NULL, bucket INTEGER NOT NULL, entries BLOB NOT NULL, PRIMARY KEY(tenant, segment, bucket)) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS sealed(tenant TEXT NOT NULL, segment INTEGER NOT NULL, bits INTEGER NOT NULL, filter BLOB, token_version INTEGER NOT NULL DEFAULT 1, PRIMARY KEY(tenant, segment)) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS chains(tenant TEXT PRIMARY KEY, count INTEGER NOT NULL, last_seq INTEGER NOT NULL, head BLOB NOT NULL, mac BLOB NOT NULL);
        CREATE TABLE IF NOT EXISTS removals(id INTEGER PRIMARY KEY, tenant TEXT NOT NULL, at INTEGER NOT NULL, kind TEXT NOT NULL, blocks TEXT NOT NULL, spans INTEGER NOT NULL, mac BLOB NOT NULL);
        """;

    /// <summary>The columns of a <see cref="BlockRow"/>, in its order (the trace token blob is read only when sealing).</summary>
    private const string BlockColumns = "b.id, b.tenant, b.segment, b.seq, b.offset, b.length, b.min_start, b.max_end, b.spans, b.digest, b.bloom, b.removed, b.written, b.token_version";

    /// <summary>Bucket rows written per transaction when sealing: queries and appends wait for one chunk, not a segment.</summary>
    private const int SealChunkRows = 1024;

    /// <summary>About this many keys per bucket row: a lookup reads one row of ~1.5 KB per sealed segment.</summary>
    private const int KeysPerBucket = 64;

    /// <summary>At most 2^20 buckets per segment.</summary>
    private const int MaxBucketBits = 20;

    private const int EntryBytes = IndexKey.TraceTokenBytes + 8;

    /// <summary>Bloom filter over a sealed segment's trace tokens: ten bits and seven probes per token.</summary>
    private const int FilterBitsPerToken = 10;

    private const int FilterProbes = 7;

    /// <summary>
    /// Version 2: probes as <see cref="Bloom"/> takes them. (Version 1, written briefly before that, probed in 64-bit
    /// arithmetic; such a filter now reads as "maybe", so its segment is still searched, only not skipped.)
    /// </summary>
    private const byte SegmentFilterVersion = 2;

    /// <summary>Whole segments' keys kept for searches: the one being read and the one before (~6 MB each at 65,000 keys).</summary>
    private const int WholeSegmentsKept = 2;

    private readonly SqliteConnection _connection;
    private readonly Lock _lock = new();

    /// <summary>
    /// Each tenant's sealed segments with their bucket bits and token filters, read once and dropped when sealing,
    /// retention or erasure changes them: a lookup reads a bucket row only in segments whose filter may hold the token.
    /// </summary>
    private readonly Dictionary<string, SealedSegment[]> _sealed = new(StringComparer.Ordinal);

    /// <summary>The whole keys of the sealed segments searches read last (<see cref="WholeSegmentKeys"/>).</summary>
    private readonly List<(string Tenant, ulong Segment, Dictionary<UInt128, List<ulong>> Keys)> _wholeSegments = [];

    private StoreIndex(SqliteConnection connection, bool legacyTraces)
    {
        _connection = connection;
        HasLegacyTraceTable = legacyTraces;
    }

    /// <summary>
    /// True for an index written before <c>trace_keys</c>: its trace tokens sit in a <c>traces</c> table, read once to
    /// seal every segment, then dropped (<see cref="DropLegacyTraceTable"/>).
    /// </summary>
    public bool HasLegacyTraceTable { get; private set; }

    public Lock SyncRoot => _lock;

    public static StoreIndex Open(string dataDirectory)
    {
        var path = Path.Combine(dataDirectory, FileName);
        var fresh = !File.Exists(path);
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Pooling = false }.ToString());
        connection.Open();
        if (fresh && !OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(path, OwnerOnlyFile.FileMode);
        }

        StoreIndex index;
        try
        {
            using (var pragma = connection.CreateCommand())
            {
                pragma.CommandText = "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA secure_delete=ON;";
                pragma.ExecuteNonQuery();
            }

            var legacy = Scalar(connection, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'traces'") > 0;
            using var schema = connection.CreateCommand();
            schema.CommandText = Schema;
            schema.ExecuteNonQuery();

            // Columns later layouts added; a missing token_version means the HMAC tokens of version 1.
            AddColumnIfMissing(connection, "blocks", "traces", "BLOB");
            AddColumnIfMissing(connection, "blocks", "token_version", "INTEGER NOT NULL DEFAULT 1");
            AddColumnIfMissing(connection, "sealed", "filter", "BLOB");
            AddColumnIfMissing(connection, "sealed", "token_version", "INTEGER NOT NULL DEFAULT 1");

            index = new StoreIndex(connection, legacy);
            index.RebuildStaleSegmentFilters();
        }
        catch
        {
            // Not a database (or a corrupt one): do not keep the file open.
            connection.Dispose();
            throw;
        }

        return index;
    }

    /// <summary>
    /// Rebuilds, from its bucket rows, the token filter of every sealed segment whose filter is missing or of another
    /// version. Such a filter reads as "maybe", which keeps lookups exact but reads a bucket row of that segment for
    /// every token: at 10M spans (24 segments of version 1) a search asked ~3,000 rows per block it read and took
    /// 7.5 s instead of ~0.4 s. A segment's keys are ~1,000 rows; the 24 of that store rebuild in about a second.
    /// </summary>
    /// <returns>How many filters were rebuilt.</returns>
    internal int RebuildStaleSegmentFilters()
    {
        lock (_lock)
        {
            var stale = new List<(string Tenant, ulong Segment)>();
            using (var select = _connection.CreateCommand())
            {
                select.CommandText = "SELECT tenant, segment, filter FROM sealed";
                using var reader = select.ExecuteReader();
                while (reader.Read())
                {
                    if (reader.IsDBNull(2) || (byte[])reader[2] is not [SegmentFilterVersion, _, _, ..])
                    {
                        stale.Add((reader.GetString(0), (ulong)reader.GetInt64(1)));
                    }
                }
            }

            foreach (var (tenant, segment) in stale)
            {
                var keys = new List<TraceKey>();
                foreach (var (token, sequences) in SegmentKeys(tenant, segment))
                {
                    keys.AddRange(sequences.Select(s => new TraceKey(token, s)));
                }

                using var tx = _connection.BeginTransaction();
                using var update = Command(tx, "UPDATE sealed SET filter = $f WHERE tenant = $t AND segment = $s");
                update.Parameters.AddWithValue("$f", BuildFilter(keys));
                update.Parameters.AddWithValue("$t", tenant);
                update.Parameters.AddWithValue("$s", (long)segment);
                update.ExecuteNonQuery();
                tx.Commit();
                ForgetSealed(tenant);
            }

            return stale.Count;
        }
    }

    /// <summary>Adds blocks with their trace tokens (a blob per block) and the tenant's new chain head, in one transaction.</summary>
    public void AddBlocks(string tenant, IReadOnlyList<(BlockRow Row, byte[] TraceTokens)> blocks, SignedChainHead head)
    {
        lock (_lock)
        {
            using var tx = _connection.BeginTransaction();
            using var insertBlock = Command(tx, "INSERT INTO blocks(tenant, segment, seq, offset, length, min_start, max_end, spans, digest, bloom, written, traces, token_version) VALUES ($t, $seg, $seq, $off, $len, $min, $max, $spans, $digest, $bloom, $written, $traces, $tv)");
            var pTenant = insertBlock.Parameters.Add("$t", SqliteType.Text);
            var pSeg = insertBlock.Parameters.Add("$seg", SqliteType.Integer);
            var pSeq = insertBlock.Parameters.Add("$seq", SqliteType.Integer);
            var pOff = insertBlock.Parameters.Add("$off", SqliteType.Integer);
            var pLen = insertBlock.Parameters.Add("$len", SqliteType.Integer);
            var pMin = insertBlock.Parameters.Add("$min", SqliteType.Integer);
            var pMax = insertBlock.Parameters.Add("$max", SqliteType.Integer);
            var pSpans = insertBlock.Parameters.Add("$spans", SqliteType.Integer);
            var pDigest = insertBlock.Parameters.Add("$digest", SqliteType.Blob);
            var pBloom = insertBlock.Parameters.Add("$bloom", SqliteType.Blob);
            var pWritten = insertBlock.Parameters.Add("$written", SqliteType.Integer);
            var pTraces = insertBlock.Parameters.Add("$traces", SqliteType.Blob);
            var pTokenVersion = insertBlock.Parameters.Add("$tv", SqliteType.Integer);
            foreach (var (row, tokens) in blocks)
            {
                pTenant.Value = tenant;
                pSeg.Value = (long)row.Segment;
                pSeq.Value = (long)row.Sequence;
                pOff.Value = row.Offset;
                pLen.Value = row.Length;
                pMin.Value = row.MinStartNanos;
                pMax.Value = row.MaxEndNanos;
                pSpans.Value = row.Spans;
                pDigest.Value = row.Digest;
                pBloom.Value = row.Bloom;
                pWritten.Value = row.WrittenUnixMs;
                pTraces.Value = tokens;
                pTokenVersion.Value = (int)row.TokenVersion;
                insertBlock.ExecuteNonQuery();
            }

            SaveHead(tx, tenant, head);
            tx.Commit();
        }
    }

    /// <summary>
    /// Marks blocks removed (dropping their filters and trace tokens), forgets the trace keys of
    /// <paramref name="deletedSegments"/> (whole segments gone), records the signed removal, in one transaction.
    /// Trace keys of a removed block in a kept segment stay: lookups join live blocks only.
    /// </summary>
    public void MarkRemoved(string tenant, IReadOnlyCollection<long> blockIds, RemovalRow removal, IReadOnlyCollection<ulong>? deletedSegments = null)
    {
        lock (_lock)
        {
            using var tx = _connection.BeginTransaction();
            using var mark = Command(tx, "UPDATE blocks SET removed = 1, bloom = x'', traces = NULL WHERE id = $id AND tenant = $t");
            var pMark = mark.Parameters.Add("$id", SqliteType.Integer);
            mark.Parameters.AddWithValue("$t", tenant);
            foreach (var id in blockIds)
            {
                pMark.Value = id;
                mark.ExecuteNonQuery();
            }

            using var forget = Command(tx, "DELETE FROM trace_keys WHERE tenant = $t AND segment = $s; DELETE FROM sealed WHERE tenant = $t AND segment = $s;");
            forget.Parameters.AddWithValue("$t", tenant);
            var pSegment = forget.Parameters.Add("$s", SqliteType.Integer);
            foreach (var segment in deletedSegments ?? [])
            {
                pSegment.Value = (long)segment;
                forget.ExecuteNonQuery();
                ForgetSealed(tenant);
            }

            InsertRemoval(tx, tenant, removal);
            tx.Commit();
        }
    }

    /// <summary>Forgets every row of a tenant (after its keys were destroyed); keeps a removal record.</summary>
    public void DeleteTenant(string tenant, RemovalRow? removal)
    {
        lock (_lock)
        {
            using var tx = _connection.BeginTransaction();
            using (var drop = Command(tx, "DELETE FROM trace_keys WHERE tenant = $t; DELETE FROM sealed WHERE tenant = $t; DELETE FROM blocks WHERE tenant = $t; DELETE FROM chains WHERE tenant = $t; DELETE FROM removals WHERE tenant = $t;"))
            {
                drop.Parameters.AddWithValue("$t", tenant);
                drop.ExecuteNonQuery();
                ForgetSealed(tenant);
            }

            if (removal is not null)
            {
                InsertRemoval(tx, tenant, removal);
            }

            tx.Commit();
        }
    }

    /// <summary>
    /// Live blocks of the trace (the one of <paramref name="traceId"/>) overlapping the window, in sequence order: those the sealed
    /// segments' buckets name, and <paramref name="openSequences"/> (what <see cref="OpenTraceKeys"/> holds).
    /// </summary>
    public IReadOnlyList<BlockRow> BlocksOfTrace(string tenant, LookupTokens traceId, long? startNanos, long? endNanos, IReadOnlyCollection<ulong> openSequences)
    {
        var sequences = new HashSet<ulong>(openSequences);
        if (SealedSequences(tenant, traceId).TryGetValue(traceId.TraceIds[0], out var found))
        {
            sequences.UnionWith(found);
        }

        return [.. BlocksBySequence(tenant, sequences, startNanos, endNanos).Values.OrderBy(r => r.Sequence)];
    }

    /// <summary>
    /// The sequences of the sealed blocks holding each of the traces of <paramref name="tokens"/>: per sealed segment whose filter
    /// may hold the trace's token (of the segment's token version), its one bucket row. One prepared statement for all
    /// of them. Traces of one block mostly sit in that block's own segment, where every filter says yes: with
    /// <paramref name="localSegment"/> (a scan reading that segment's blocks) its keys are read whole instead of a bucket
    /// row per trace, and kept for the next scans.
    /// </summary>
    public Dictionary<TraceId, List<ulong>> SealedSequences(string tenant, LookupTokens tokens, ulong? localSegment = null)
    {
        var found = new Dictionary<TraceId, List<ulong>>();
        var traceIds = tokens.TraceIds;
        lock (_lock)
        {
            var segments = SealedOf(tenant);
            if (segments.Length == 0 || traceIds.Count == 0)
            {
                return found;
            }

            using var command = _connection.CreateCommand();
            command.CommandText = "SELECT entries FROM trace_keys WHERE tenant = $t AND segment = $s AND bucket = $b";
            command.Parameters.AddWithValue("$t", tenant);
            var pSegment = command.Parameters.Add("$s", SqliteType.Integer);
            var pBucket = command.Parameters.Add("$b", SqliteType.Integer);
            for (var i = 0; i < traceIds.Count; i++)
            {
                var traceId = traceIds[i];
                foreach (var segment in segments)
                {
                    var token = tokens.Of(i, segment.TokenVersion);
                    if (segment.Filter is { } filter && !Bloom.MightContain(filter, SegmentFilterVersion, (ulong)token))
                    {
                        continue;
                    }

                    if (segment.Segment == localSegment)
                    {
                        var whole = WholeSegmentKeys(tenant, segment.Segment);
                        foreach (var sequence in whole.TryGetValue(token, out var local) ? local : [])
                        {
                            Add(found, traceId, sequence);
                        }

                        continue;
                    }

                    pSegment.Value = (long)segment.Segment;
                    pBucket.Value = Bucket(token, segment.Bits);
                    using var reader = command.ExecuteReader();
                    while (reader.Read())
                    {
                        foreach (var entry in Entries((byte[])reader[0]))
                        {
                            if (entry.Token == token)
                            {
                                Add(found, traceId, entry.Sequence);
                            }
                        }
                    }
                }
            }
        }

        return found;
    }

    /// <summary>
    /// The keys of a sealed segment, whole, from the last ones read (each search read the ~65,000 keys of the segment it
    /// starts in again: ~1,000 rows, then a dictionary). Dropped with the tenant's sealed list. Caller holds the lock.
    /// </summary>
    private Dictionary<UInt128, List<ulong>> WholeSegmentKeys(string tenant, ulong segment)
    {
        foreach (var (t, s, keys) in _wholeSegments)
        {
            if (s == segment && string.Equals(t, tenant, StringComparison.Ordinal))
            {
                return keys;
            }
        }

        if (_wholeSegments.Count >= WholeSegmentsKept)
        {
            _wholeSegments.RemoveAt(0);
        }

        var read = SegmentKeys(tenant, segment);
        _wholeSegments.Add((tenant, segment, read));
        return read;
    }

    /// <summary>Forgets what is cached of a tenant's sealed segments. Caller holds the lock.</summary>
    private void ForgetSealed(string tenant)
    {
        _sealed.Remove(tenant);
        _wholeSegments.RemoveAll(w => string.Equals(w.Tenant, tenant, StringComparison.Ordinal));
    }

    /// <summary>Every sealed key of one segment, by token. Caller holds the lock.</summary>
    private Dictionary<UInt128, List<ulong>> SegmentKeys(string tenant, ulong segment)
    {
        var keys = new Dictionary<UInt128, List<ulong>>();
        using var command = _connection.CreateCommand();
        command.CommandText = "SELECT entries FROM trace_keys WHERE tenant = $t AND segment = $s";
        command.Parameters.AddWithValue("$t", tenant);
        command.Parameters.AddWithValue("$s", (long)segment);
        using var reader = command.ExecuteReader();
        while (reader.Read())
        {
            foreach (var entry in Entries((byte[])reader[0]))
            {
                Add(keys, entry.Token, entry.Sequence);
            }
        }

        return keys;
    }

    /// <summary>The live blocks of <paramref name="sequences"/> overlapping the window, by sequence.</summary>
    public Dictionary<ulong, BlockRow> BlocksBySequence(string tenant, IEnumerable<ulong> sequences, long? startNanos, long? endNanos)
    {
        var rows = new Dictionary<ulong, BlockRow>();
        lock (_lock)
        {
            using var command = _connection.CreateCommand();
            command.CommandText = $"SELECT {BlockColumns} FROM blocks b WHERE b.tenant = $t AND b.seq = $seq AND b.removed = 0 AND b.max_end >= $start AND b.min_start < $end";
            BindWindow(command, tenant, startNanos, endNanos);
            var pSequence = command.Parameters.Add("$seq", SqliteType.Integer);
            foreach (var sequence in sequences)
            {
                if (rows.ContainsKey(sequence))
                {
                    continue;
                }

                pSequence.Value = (long)sequence;
                using var reader = command.ExecuteReader();
                if (reader.Read())
                {
                    rows[sequence] = ReadRow(reader);
                }
            }
        }

        return rows;
    }

    /// <summary>Segments of the tenant with blocks whose trace keys are not in <c>trace_keys</c> yet.</summary>
    public IReadOnlyList<ulong> UnsealedSegments(string tenant)
        => Rows(
            "SELECT DISTINCT segment FROM blocks WHERE tenant = $t AND removed = 0 AND segment NOT IN (SELECT segment FROM sealed WHERE tenant = $t) ORDER BY segment",
            c => c.Parameters.AddWithValue("$t", tenant),
            static r => (ulong)r.GetInt64(0));

    /// <summary>
    /// The trace tokens of the segment's live blocks, with each block's sequence (from the legacy table where a block has
    /// no blob), and their version: one per segment, since a segment is written by one process and recovery indexes its
    /// remaining blocks with the version of those already indexed.
    /// </summary>
    /// <exception cref="InvalidDataException">The segment's blocks have tokens of different versions (an edited index).</exception>
    public (List<TraceKey> Keys, byte TokenVersion) TraceKeysOfSegment(string tenant, ulong segment)
    {
        lock (_lock)
        {
            using var command = _connection.CreateCommand();
            command.CommandText = HasLegacyTraceTable
                ? "SELECT b.seq, b.traces, (SELECT group_concat(hex(t.token)) FROM traces t WHERE t.block = b.id), b.token_version FROM blocks b WHERE b.tenant = $t AND b.segment = $s AND b.removed = 0"
                : "SELECT b.seq, b.traces, NULL, b.token_version FROM blocks b WHERE b.tenant = $t AND b.segment = $s AND b.removed = 0";
            command.Parameters.AddWithValue("$t", tenant);
            command.Parameters.AddWithValue("$s", (long)segment);
            using var reader = command.ExecuteReader();
            var keys = new List<TraceKey>();
            byte? version = null;
            while (reader.Read())
            {
                var sequence = (ulong)reader.GetInt64(0);
                var rowVersion = (byte)reader.GetInt32(3);
                if (version is { } known && known != rowVersion)
                {
                    throw new InvalidDataException($"Segment {segment} of a tenant has blocks with trace tokens of versions {known} and {rowVersion}.");
                }

                version = rowVersion;
                if (!reader.IsDBNull(1))
                {
                    var blob = (byte[])reader[1];
                    for (var i = 0; i + IndexKey.TraceTokenBytes <= blob.Length; i += IndexKey.TraceTokenBytes)
                    {
                        keys.Add(new TraceKey(TraceKey.TokenOf(blob.AsSpan(i, IndexKey.TraceTokenBytes)), sequence));
                    }
                }
                else if (!reader.IsDBNull(2))
                {
                    foreach (var hex in reader.GetString(2).Split(','))
                    {
                        keys.Add(new TraceKey(TraceKey.TokenOf(Convert.FromHexString(hex)), sequence));
                    }
                }
            }

            return (keys, version ?? IndexKey.TraceTokenVersion);
        }
    }

    /// <summary>
    /// Writes a complete segment's trace keys into <c>trace_keys</c>, cut into buckets, in chunks of rows,
    /// then lists the segment as sealed. A crash part way leaves it unlisted, and the next start seals it again.
    /// </summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    public void Seal(string tenant, ulong segment, List<TraceKey> keys, byte tokenVersion)
    {
        var bits = 0;
        while (bits < MaxBucketBits && (keys.Count >> bits) > KeysPerBucket)
        {
            bits++;
        }

        // Bucketed by a counting sort: a lookup reads a whole bucket, so the order within one does not matter.
        var starts = new int[(1 << bits) + 1];
        foreach (var key in keys)
        {
            starts[Bucket(key.Token, bits) + 1]++;
        }

        for (var b = 1; b < starts.Length; b++)
        {
            starts[b] += starts[b - 1];
        }

        var entries = new byte[keys.Count * EntryBytes];
        var fill = starts[..^1];
        foreach (var key in keys)
        {
            var entry = entries.AsSpan(fill[Bucket(key.Token, bits)]++ * EntryBytes, EntryBytes);
            BinaryPrimitives.WriteUInt128BigEndian(entry, key.Token);
            BinaryPrimitives.WriteUInt64BigEndian(entry[IndexKey.TraceTokenBytes..], key.Sequence);
        }

        lock (_lock)
        {
            using var tx = _connection.BeginTransaction();
            using var clear = Command(tx, "DELETE FROM trace_keys WHERE tenant = $t AND segment = $s");
            clear.Parameters.AddWithValue("$t", tenant);
            clear.Parameters.AddWithValue("$s", (long)segment);
            clear.ExecuteNonQuery();
            tx.Commit();
        }

        var bucket = 0;
        while (bucket < starts.Length - 1)
        {
            lock (_lock)
            {
                using var tx = _connection.BeginTransaction();
                using var insert = Command(tx, "INSERT INTO trace_keys(tenant, segment, bucket, entries) VALUES ($t, $s, $b, $e)");
                insert.Parameters.AddWithValue("$t", tenant);
                insert.Parameters.AddWithValue("$s", (long)segment);
                var pBucket = insert.Parameters.Add("$b", SqliteType.Integer);
                var pEntries = insert.Parameters.Add("$e", SqliteType.Blob);
                for (var rows = 0; rows < SealChunkRows && bucket < starts.Length - 1; bucket++)
                {
                    if (starts[bucket + 1] == starts[bucket])
                    {
                        continue;
                    }

                    pBucket.Value = bucket;
                    pEntries.Value = entries[(starts[bucket] * EntryBytes)..(starts[bucket + 1] * EntryBytes)];
                    insert.ExecuteNonQuery();
                    rows++;
                }

                tx.Commit();
            }
        }

        lock (_lock)
        {
            using var tx = _connection.BeginTransaction();
            using var mark = Command(tx, "INSERT OR REPLACE INTO sealed(tenant, segment, bits, filter, token_version) VALUES ($t, $s, $bits, $filter, $tv)");
            mark.Parameters.AddWithValue("$t", tenant);
            mark.Parameters.AddWithValue("$s", (long)segment);
            mark.Parameters.AddWithValue("$bits", bits);
            mark.Parameters.AddWithValue("$filter", BuildFilter(keys));
            mark.Parameters.AddWithValue("$tv", (int)tokenVersion);
            mark.ExecuteNonQuery();
            tx.Commit();
            ForgetSealed(tenant);
        }
    }

    /// <summary>
    /// Drops the pre-<c>trace_keys</c> token table once every segment was sealed from it, and gives its pages back
    /// (a one-time <c>VACUUM</c>: that table was about half of the index).
    /// </summary>
    public void DropLegacyTraceTable()
    {
        lock (_lock)
        {
            using var command = _connection.CreateCommand();
            command.CommandText = "DROP TABLE IF EXISTS traces; VACUUM;";
            command.ExecuteNonQuery();
            HasLegacyTraceTable = false;
        }
    }

    /// <summary>
    /// Live blocks overlapping the window, newest (latest span end) first, at most <paramref name="limit"/> of them after
    /// the block (<paramref name="afterMaxEnd"/>, <paramref name="afterId"/>): a search usually stops after a few dozen
    /// blocks, so it pages through them rather than reading every row and filter of the window.
    /// </summary>
    public IReadOnlyList<BlockRow> BlocksInWindow(string tenant, long startNanos, long endNanos, long afterMaxEnd = long.MaxValue, long afterId = long.MaxValue, int limit = int.MaxValue)
        => Query(
            $"SELECT {BlockColumns} FROM blocks b WHERE b.tenant = $t AND b.removed = 0 AND b.max_end >= $start AND b.min_start < $end AND (b.max_end < $m OR (b.max_end = $m AND b.id < $id)) ORDER BY b.max_end DESC, b.id DESC LIMIT $n",
            c =>
            {
                BindWindow(c, tenant, startNanos, endNanos);
                c.Parameters.AddWithValue("$m", afterMaxEnd);
                c.Parameters.AddWithValue("$id", afterId);
                c.Parameters.AddWithValue("$n", limit);
            });

    /// <summary>Every block of the tenant, removed ones too, in sequence order (the chain's links).</summary>
    public IReadOnlyList<BlockRow> AllBlocks(string tenant)
        => Query($"SELECT {BlockColumns} FROM blocks b WHERE b.tenant = $t ORDER BY b.seq", c => c.Parameters.AddWithValue("$t", tenant));

    public IReadOnlyList<string> Tenants()
        => Rows("SELECT tenant FROM chains ORDER BY tenant", static _ => { }, static r => r.GetString(0));

    public SignedChainHead? Head(string tenant)
    {
        lock (_lock)
        {
            using var command = _connection.CreateCommand();
            command.CommandText = "SELECT count, last_seq, head, mac FROM chains WHERE tenant = $t";
            command.Parameters.AddWithValue("$t", tenant);
            using var reader = command.ExecuteReader();
            return reader.Read()
                ? new SignedChainHead((ulong)reader.GetInt64(0), (ulong)reader.GetInt64(1), (byte[])reader[2], (byte[])reader[3])
                : null;
        }
    }

    public IReadOnlyList<RemovalRow> Removals(string tenant)
        => Rows(
            "SELECT id, tenant, at, kind, blocks, spans, mac FROM removals WHERE tenant = $t ORDER BY id",
            c => c.Parameters.AddWithValue("$t", tenant),
            static r => new RemovalRow(r.GetInt64(0), r.GetString(1), r.GetInt64(2), r.GetString(3), r.GetString(4), r.GetInt64(5), (byte[])r[6]));

    /// <summary>Live blocks, spans and stored bytes of every tenant, for metrics (one pass over the block rows).</summary>
    public List<(string Tenant, long Blocks, long Spans, long Bytes)> TenantTotals()
        => Rows(
            "SELECT tenant, count(*), coalesce(sum(spans), 0), coalesce(sum(length), 0) FROM blocks WHERE removed = 0 GROUP BY tenant ORDER BY tenant",
            static _ => { },
            static r => (r.GetString(0), r.GetInt64(1), r.GetInt64(2), r.GetInt64(3)));

    /// <summary>Signed removal records (retention, erasure, rewrap, tenant) and the spans they removed, by tenant and kind.</summary>
    public List<(string Tenant, string Kind, long Records, long Spans)> RemovalTotals()
        => Rows(
            "SELECT tenant, kind, count(*), coalesce(sum(spans), 0) FROM removals GROUP BY tenant, kind ORDER BY tenant, kind",
            static _ => { },
            static r => (r.GetString(0), r.GetString(1), r.GetInt64(2), r.GetInt64(3)));

    /// <summary>Live spans and blocks of a tenant (for metrics and reports).</summary>
    public (long Blocks, long Spans) Totals(string tenant)
    {
        lock (_lock)
        {
            using var command = _connection.CreateCommand();
            command.CommandText = "SELECT count(*), coalesce(sum(spans), 0) FROM blocks WHERE tenant = $t AND removed = 0";
            command.Parameters.AddWithValue("$t", tenant);
            using var reader = command.ExecuteReader();
            reader.Read();
            return (reader.GetInt64(0), reader.GetInt64(1));
        }
    }

    public void Dispose()
    {
        lock (_lock)
        {
            _connection.Dispose();
        }
    }

    private void InsertRemoval(SqliteTransaction tx, string tenant, RemovalRow removal)
    {
        using var insert = Command(tx, "INSERT INTO removals(tenant, at, kind, blocks, spans, mac) VALUES ($t, $at, $kind, $blocks, $spans, $mac)");
        insert.Parameters.AddWithValue("$t", tenant);
        insert.Parameters.AddWithValue("$at", removal.AtUnixMs);
        insert.Parameters.AddWithValue("$kind", removal.Kind);
        insert.Parameters.AddWithValue("$blocks", removal.Blocks);
        insert.Parameters.AddWithValue("$spans", removal.Spans);
        insert.Parameters.AddWithValue("$mac", removal.Mac);
        insert.ExecuteNonQuery();
    }

    private void SaveHead(SqliteTransaction tx, string tenant, SignedChainHead head)
    {
        using var command = Command(tx, "INSERT INTO chains(tenant, count, last_seq, head, mac) VALUES ($t, $c, $l, $h, $m) ON CONFLICT(tenant) DO UPDATE SET count = $c, last_seq = $l, head = $h, mac = $m");
        command.Parameters.AddWithValue("$t", tenant);
        command.Parameters.AddWithValue("$c", (long)head.Count);
        command.Parameters.AddWithValue("$l", (long)head.LastSequence);
        command.Parameters.AddWithValue("$h", head.Head);
        command.Parameters.AddWithValue("$m", head.Mac);
        command.ExecuteNonQuery();
    }

    /// <summary>A Bloom filter of a segment's tokens (their low 64 bits are the hash: they are HMAC outputs already).</summary>
    private static byte[] BuildFilter(List<TraceKey> keys)
    {
        var filter = Bloom.Create(SegmentFilterVersion, keys.Count, FilterBitsPerToken, FilterProbes, minBits: 64);
        var adder = new Bloom.Adder(filter);
        foreach (var key in keys)
        {
            adder.Add((ulong)key.Token);
        }

        return filter;
    }

    /// <summary>The (token, sequence) entries of a bucket row: <c>token[16] | sequence u64 BE</c> each.</summary>
    private static IEnumerable<TraceKey> Entries(byte[] entries)
    {
        for (var at = 0; at + EntryBytes <= entries.Length; at += EntryBytes)
        {
            yield return new TraceKey(TraceKey.TokenOf(entries.AsSpan(at, IndexKey.TraceTokenBytes)), BinaryPrimitives.ReadUInt64BigEndian(entries.AsSpan(at + IndexKey.TraceTokenBytes)));
        }
    }

    private static void Add<TKey>(Dictionary<TKey, List<ulong>> sequences, TKey token, ulong sequence)
        where TKey : notnull
    {
        if (!sequences.TryGetValue(token, out var list))
        {
            sequences[token] = list = new List<ulong>(1);
        }

        list.Add(sequence);
    }

    /// <summary>The first <paramref name="bits"/> bits of a token (its first four bytes, big-endian).</summary>
    private static long Bucket(UInt128 token, int bits) => bits == 0 ? 0 : (uint)(token >> 96) >> (32 - bits);

    private static void AddColumnIfMissing(SqliteConnection connection, string table, string column, string definition)
    {
        if (Scalar(connection, $"SELECT count(*) FROM pragma_table_info('{table}') WHERE name = '{column}'") == 0)
        {
            using var alter = connection.CreateCommand();
            alter.CommandText = $"ALTER TABLE {table} ADD COLUMN {column} {definition}";
            alter.ExecuteNonQuery();
        }
    }

    private static long Scalar(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        return (long)command.ExecuteScalar()!;
    }

    private SqliteCommand Command(SqliteTransaction tx, string sql)
    {
        var command = _connection.CreateCommand();
        command.Transaction = tx;
        command.CommandText = sql;
        return command;
    }

    /// <summary>Binds <c>$t</c>, <c>$start</c> and <c>$end</c> (open bounds when null).</summary>
    private static void BindWindow(SqliteCommand command, string tenant, long? startNanos, long? endNanos)
    {
        command.Parameters.AddWithValue("$t", tenant);
        command.Parameters.AddWithValue("$start", startNanos ?? long.MinValue);
        command.Parameters.AddWithValue("$end", endNanos ?? long.MaxValue);
    }

    private List<BlockRow> Query(string sql, Action<SqliteCommand> bind) => Rows(sql, bind, ReadRow);

    /// <summary>The tenant's sealed segments (cached until a seal, retention or erasure changes them). Caller holds the lock.</summary>
    private SealedSegment[] SealedOf(string tenant)
    {
        if (_sealed.TryGetValue(tenant, out var segments))
        {
            return segments;
        }

        using var command = _connection.CreateCommand();
        command.CommandText = "SELECT segment, bits, filter, token_version FROM sealed WHERE tenant = $t ORDER BY segment";
        command.Parameters.AddWithValue("$t", tenant);
        using var reader = command.ExecuteReader();
        var list = new List<SealedSegment>();
        while (reader.Read())
        {
            list.Add(new SealedSegment((ulong)reader.GetInt64(0), reader.GetInt32(1), reader.IsDBNull(2) ? null : (byte[])reader[2], (byte)reader.GetInt32(3)));
        }

        return _sealed[tenant] = [.. list];
    }

    private List<T> Rows<T>(string sql, Action<SqliteCommand> bind, Func<SqliteDataReader, T> map)
    {
        lock (_lock)
        {
            using var command = _connection.CreateCommand();
            command.CommandText = sql;
            bind(command);
            using var reader = command.ExecuteReader();
            var rows = new List<T>();
            while (reader.Read())
            {
                rows.Add(map(reader));
            }

            return rows;
        }
    }

    /// <summary>A <see cref="BlockRow"/> from the first 14 columns (<see cref="BlockColumns"/>).</summary>
    private static BlockRow ReadRow(SqliteDataReader reader) => new(
        reader.GetInt64(0),
        reader.GetString(1),
        (ulong)reader.GetInt64(2),
        (ulong)reader.GetInt64(3),
        reader.GetInt64(4),
        reader.GetInt32(5),
        reader.GetInt64(6),
        reader.GetInt64(7),
        reader.GetInt32(8),
        (byte[])reader[9],
        (byte[])reader[10],
        reader.GetInt64(11) != 0)
    {
        WrittenUnixMs = reader.GetInt64(12),
        TokenVersion = (byte)reader.GetInt32(13),
    };

    private sealed record SealedSegment(ulong Segment, int Bits, byte[]? Filter, byte TokenVersion);
}
