using Microsoft.Data.Sqlite;

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
}

/// <summary>A signed record of blocks a retention run or an erasure removed.</summary>
internal sealed record RemovalRow(long Id, string Tenant, long AtUnixMs, string Kind, string Blocks, long Spans, byte[] Mac);

/// <summary>
/// The store's index: <c>{data_dir}/index.db</c>, SQLite in WAL mode. It holds block positions, time bounds, span
/// counts, block digests (the chain links), per-block Bloom filters of keyed tokens, trace tokens
/// (HMAC of the trace id under the tenant's index key), the chain heads and the removal records. No service name,
/// span name or attribute value is ever written here, not even hashed without a key.
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
            written INTEGER NOT NULL);
        CREATE UNIQUE INDEX IF NOT EXISTS blocks_seq ON blocks(tenant, seq);
        CREATE INDEX IF NOT EXISTS blocks_time ON blocks(tenant, max_end);
        CREATE INDEX IF NOT EXISTS blocks_segment ON blocks(tenant, segment);
        CREATE TABLE IF NOT EXISTS traces(token BLOB NOT NULL, block INTEGER NOT NULL, PRIMARY KEY(token, block)) WITHOUT ROWID;
        CREATE INDEX IF NOT EXISTS traces_block ON traces(block);
        CREATE TABLE IF NOT EXISTS chains(tenant TEXT PRIMARY KEY, count INTEGER NOT NULL, last_seq INTEGER NOT NULL, head BLOB NOT NULL, mac BLOB NOT NULL);
        CREATE TABLE IF NOT EXISTS removals(id INTEGER PRIMARY KEY, tenant TEXT NOT NULL, at INTEGER NOT NULL, kind TEXT NOT NULL, blocks TEXT NOT NULL, spans INTEGER NOT NULL, mac BLOB NOT NULL);
        """;

    private readonly SqliteConnection _connection;
    private readonly Lock _lock = new();

    private StoreIndex(SqliteConnection connection) => _connection = connection;

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

        try
        {
            using (var pragma = connection.CreateCommand())
            {
                pragma.CommandText = "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA secure_delete=ON;";
                pragma.ExecuteNonQuery();
            }

            using var schema = connection.CreateCommand();
            schema.CommandText = Schema;
            schema.ExecuteNonQuery();
        }
        catch
        {
            // Not a database (or a corrupt one): do not keep the file open.
            connection.Dispose();
            throw;
        }

        return new StoreIndex(connection);
    }

    /// <summary>Adds blocks with their trace tokens and the tenant's new chain head, in one transaction.</summary>
    public void AddBlocks(string tenant, IReadOnlyList<(BlockRow Row, IReadOnlyCollection<byte[]> TraceTokens)> blocks, SignedChainHead head)
    {
        lock (_lock)
        {
            using var tx = _connection.BeginTransaction();
            using var insertBlock = Command(tx, "INSERT INTO blocks(tenant, segment, seq, offset, length, min_start, max_end, spans, digest, bloom, written) VALUES ($t, $seg, $seq, $off, $len, $min, $max, $spans, $digest, $bloom, $written) RETURNING id");
            using var insertTrace = Command(tx, "INSERT OR IGNORE INTO traces(token, block) VALUES ($token, $block)");
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
            var pToken = insertTrace.Parameters.Add("$token", SqliteType.Blob);
            var pBlock = insertTrace.Parameters.Add("$block", SqliteType.Integer);
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
                var id = (long)insertBlock.ExecuteScalar()!;
                pBlock.Value = id;
                foreach (var token in tokens)
                {
                    pToken.Value = token;
                    insertTrace.ExecuteNonQuery();
                }
            }

            SaveHead(tx, tenant, head);
            tx.Commit();
        }
    }

    /// <summary>Marks blocks removed, drops their trace tokens, records the signed removal, in one transaction.</summary>
    public void MarkRemoved(string tenant, IReadOnlyCollection<long> blockIds, RemovalRow removal)
    {
        lock (_lock)
        {
            using var tx = _connection.BeginTransaction();
            using var mark = Command(tx, "UPDATE blocks SET removed = 1, bloom = x'' WHERE id = $id AND tenant = $t");
            using var drop = Command(tx, "DELETE FROM traces WHERE block = $id");
            var pMark = mark.Parameters.Add("$id", SqliteType.Integer);
            mark.Parameters.AddWithValue("$t", tenant);
            var pDrop = drop.Parameters.Add("$id", SqliteType.Integer);
            foreach (var id in blockIds)
            {
                pMark.Value = id;
                mark.ExecuteNonQuery();
                pDrop.Value = id;
                drop.ExecuteNonQuery();
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
            using (var drop = Command(tx, "DELETE FROM traces WHERE block IN (SELECT id FROM blocks WHERE tenant = $t); DELETE FROM blocks WHERE tenant = $t; DELETE FROM chains WHERE tenant = $t; DELETE FROM removals WHERE tenant = $t;"))
            {
                drop.Parameters.AddWithValue("$t", tenant);
                drop.ExecuteNonQuery();
            }

            if (removal is not null)
            {
                InsertRemoval(tx, tenant, removal);
            }

            tx.Commit();
        }
    }

    /// <remarks>
    /// <c>CROSS JOIN</c> fixes SQLite's join order (token first): without statistics the planner walked every block of the
    /// tenant by <c>blocks_time</c> and probed each, 42 ms per lookup at 11,000 blocks instead of a primary-key seek.
    /// </remarks>
    public IReadOnlyList<BlockRow> BlocksOfTrace(string tenant, byte[] token, long? startNanos, long? endNanos)
        => Query(
            "SELECT b.* FROM traces t CROSS JOIN blocks b ON b.id = t.block WHERE t.token = $token AND b.tenant = $t AND b.removed = 0 AND b.max_end >= $start AND b.min_start < $end ORDER BY b.seq",
            c =>
            {
                c.Parameters.AddWithValue("$token", token);
                BindWindow(c, tenant, startNanos, endNanos);
            });

    /// <summary>
    /// For the traces of block <paramref name="blockId"/>: their other live blocks overlapping the window, with the trace
    /// token each is found by. One statement per block instead of one per trace (a block holds ~150 traces, and most
    /// traces live in one block, so this is usually empty).
    /// </summary>
    public IReadOnlyList<(byte[] Token, BlockRow Row)> OtherBlocksOfTraces(string tenant, long blockId, long? startNanos, long? endNanos)
        => Query(
            "SELECT b.*, o.token FROM traces t CROSS JOIN traces o ON o.token = t.token AND o.block <> t.block CROSS JOIN blocks b ON b.id = o.block WHERE t.block = $block AND b.tenant = $t AND b.removed = 0 AND b.max_end >= $start AND b.min_start < $end",
            c =>
            {
                c.Parameters.AddWithValue("$block", blockId);
                BindWindow(c, tenant, startNanos, endNanos);
            },
            reader => ((byte[])reader[13], ReadRow(reader)));

    /// <summary>Live blocks overlapping the window, newest (latest span end) first.</summary>
    public IReadOnlyList<BlockRow> BlocksInWindow(string tenant, long startNanos, long endNanos)
        => Query(
            "SELECT * FROM blocks WHERE tenant = $t AND removed = 0 AND max_end >= $start AND min_start < $end ORDER BY max_end DESC",
            c =>
            {
                c.Parameters.AddWithValue("$t", tenant);
                c.Parameters.AddWithValue("$start", startNanos);
                c.Parameters.AddWithValue("$end", endNanos);
            });

    /// <summary>Every block of the tenant, removed ones too, in sequence order (the chain's links).</summary>
    public IReadOnlyList<BlockRow> AllBlocks(string tenant)
        => Query("SELECT * FROM blocks WHERE tenant = $t ORDER BY seq", c => c.Parameters.AddWithValue("$t", tenant));

    public IReadOnlyList<string> Tenants()
    {
        lock (_lock)
        {
            using var command = _connection.CreateCommand();
            command.CommandText = "SELECT tenant FROM chains ORDER BY tenant";
            using var reader = command.ExecuteReader();
            var tenants = new List<string>();
            while (reader.Read())
            {
                tenants.Add(reader.GetString(0));
            }

            return tenants;
        }
    }

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
    {
        lock (_lock)
        {
            using var command = _connection.CreateCommand();
            command.CommandText = "SELECT id, tenant, at, kind, blocks, spans, mac FROM removals WHERE tenant = $t ORDER BY id";
            command.Parameters.AddWithValue("$t", tenant);
            using var reader = command.ExecuteReader();
            var rows = new List<RemovalRow>();
            while (reader.Read())
            {
                rows.Add(new RemovalRow(reader.GetInt64(0), reader.GetString(1), reader.GetInt64(2), reader.GetString(3), reader.GetString(4), reader.GetInt64(5), (byte[])reader[6]));
            }

            return rows;
        }
    }

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

    private List<BlockRow> Query(string sql, Action<SqliteCommand> bind) => Query(sql, bind, ReadRow);

    private List<T> Query<T>(string sql, Action<SqliteCommand> bind, Func<SqliteDataReader, T> map)
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

    /// <summary>A <see cref="BlockRow"/> from the first 13 columns (<c>blocks.*</c>).</summary>
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
    };
}
