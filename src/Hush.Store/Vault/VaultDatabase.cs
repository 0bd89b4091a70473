using Microsoft.Data.Sqlite;

namespace Hush.Store.Vault;

/// <summary>
/// The vault's SQLite file, <c>{data_dir}/vault.db</c>: WAL with <c>synchronous=NORMAL</c> (a committed entry is in
/// the operating system before the call returns, so it survives a crash of the process; a power cut may lose the
/// last commits), and <c>secure_delete=ON</c> so deleted rows are overwritten with zeros. It holds tenant names, MACs
/// and sealed bytes only. Not thread-safe: <see cref="TokenVault"/> serializes every call.
/// </summary>
internal sealed class VaultDatabase : IDisposable
{
    /// <summary>The schema this code writes; a file with a higher one was written by a newer Hush.</summary>
    public const int SchemaVersion = 1;

    private const string Schema = """
        CREATE TABLE IF NOT EXISTS tenants(tenant TEXT PRIMARY KEY, key_id INTEGER NOT NULL, sealed BLOB NOT NULL) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS subjects(tenant TEXT NOT NULL, subject BLOB NOT NULL, sealed BLOB NOT NULL, PRIMARY KEY(tenant, subject)) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS entries(tenant TEXT NOT NULL, token_id BLOB NOT NULL, lookup BLOB NOT NULL, subject BLOB NOT NULL, sealed BLOB NOT NULL, PRIMARY KEY(tenant, token_id)) WITHOUT ROWID;
        CREATE UNIQUE INDEX IF NOT EXISTS entries_lookup ON entries(tenant, lookup);
        CREATE INDEX IF NOT EXISTS entries_subject ON entries(tenant, subject);
        """;

    private readonly SqliteConnection _connection;
    private readonly Dictionary<string, SqliteCommand> _statements = new(StringComparer.Ordinal);

    private VaultDatabase(string path, SqliteConnection connection)
    {
        FilePath = path;
        _connection = connection;
    }

    public string FilePath { get; }

    /// <param name="path">The vault file.</param>
    /// <param name="maxPageCount">A page limit (tests use it to make the disk "full"); null for none.</param>
    public static VaultDatabase Open(string path, long? maxPageCount)
    {
        var fresh = !File.Exists(path);
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Pooling = false }.ToString());
        try
        {
            connection.Open();
            if (fresh && !OperatingSystem.IsWindows())
            {
                // SQLite gives the -wal and -shm files the database file's mode.
                File.SetUnixFileMode(path, OwnerOnlyFile.FileMode);
            }

            Execute(connection, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA secure_delete=ON;");
            var version = Convert.ToInt64(Scalar(connection, "PRAGMA user_version;"), System.Globalization.CultureInfo.InvariantCulture);
            if (version > SchemaVersion)
            {
                throw new TokenVaultException($"The token vault {path} has schema version {version}; this Hush reads up to {SchemaVersion}. Run the Hush version that wrote it.");
            }

            Execute(connection, Schema + $"PRAGMA user_version={SchemaVersion};");
            if (maxPageCount is { } pages)
            {
                Execute(connection, $"PRAGMA max_page_count={pages};");
            }
        }
        catch (SqliteException ex)
        {
            connection.Dispose();
            throw new TokenVaultException(
                $"The token vault {path} cannot be opened (SQLite error {ex.SqliteErrorCode}: {ex.Message}). If it is corrupt, move it aside and restore it from a backup: without it, issued tokens no longer resolve.",
                ex);
        }
        catch
        {
            connection.Dispose();
            throw;
        }

        return new VaultDatabase(path, connection);
    }

    public (ulong KeyId, byte[] Sealed)? FindTenant(string tenant) => Run("read", () =>
    {
        var command = Command("SELECT key_id, sealed FROM tenants WHERE tenant=$t", tenant);
        using var reader = command.ExecuteReader();
        return reader.Read() ? (unchecked((ulong)reader.GetInt64(0)), Blob(reader, 1)) : ((ulong, byte[])?)null;
    });

    public void InsertTenant(string tenant, ulong keyId, byte[] sealedKey) => Run("write", () =>
    {
        var command = Command("INSERT INTO tenants(tenant, key_id, sealed) VALUES($t, $k, $s)", tenant);
        command.Parameters.AddWithValue("$k", unchecked((long)keyId));
        command.Parameters.AddWithValue("$s", sealedKey);
        return command.ExecuteNonQuery();
    });

    /// <summary>Replaces the tenant's sealed vault key, only if it is still the one sealed under <paramref name="oldKeyId"/>.</summary>
    public void ReplaceTenant(string tenant, ulong oldKeyId, ulong keyId, byte[] sealedKey) => Run("write", () =>
    {
        var command = Command("UPDATE tenants SET key_id=$k, sealed=$s WHERE tenant=$t AND key_id=$old", tenant);
        command.Parameters.AddWithValue("$k", unchecked((long)keyId));
        command.Parameters.AddWithValue("$old", unchecked((long)oldKeyId));
        command.Parameters.AddWithValue("$s", sealedKey);
        return command.ExecuteNonQuery() == 1 ? 1 : throw Malformed();
    });

    public Entry? FindByLookup(string tenant, ReadOnlySpan<byte> lookup) => FindEntry("lookup", tenant, lookup.ToArray());

    public Entry? FindByTokenId(string tenant, ReadOnlySpan<byte> tokenId) => FindEntry("token_id", tenant, tokenId.ToArray());

    public byte[]? FindSubjectKey(string tenant, ReadOnlySpan<byte> subject)
    {
        var id = subject.ToArray();
        return Run("read", () =>
        {
            var command = Command("SELECT sealed FROM subjects WHERE tenant=$t AND subject=$s", tenant);
            command.Parameters.AddWithValue("$s", id);
            return command.ExecuteScalar() switch
            {
                null => null,
                byte[] bytes => bytes,
                _ => throw Malformed(),
            };
        });
    }

    public List<Entry> EntriesOf(string tenant, ReadOnlySpan<byte> subject)
    {
        var id = subject.ToArray();
        return Run("read", () =>
        {
            var command = Command("SELECT token_id, lookup, subject, sealed FROM entries WHERE tenant=$t AND subject=$s", tenant);
            command.Parameters.AddWithValue("$s", id);
            return ReadEntries(command);
        });
    }

    /// <summary>
    /// Writes a new entry (and the subject's sealed key when it is new) in one transaction; false, writing nothing,
    /// when the token id is taken (a 2^-128 event: the caller draws another token).
    /// </summary>
    public bool Insert(string tenant, Entry entry, byte[]? newSubjectKey) => Run("write", () =>
    {
        using var transaction = _connection.BeginTransaction();
        var exists = Command("SELECT 1 FROM entries WHERE tenant=$t AND token_id=$i", tenant, transaction);
        exists.Parameters.AddWithValue("$i", entry.TokenId);
        if (exists.ExecuteScalar() is not null)
        {
            return false;
        }

        if (newSubjectKey is not null)
        {
            var subject = Command("INSERT INTO subjects(tenant, subject, sealed) VALUES($t, $s, $k)", tenant, transaction);
            subject.Parameters.AddWithValue("$s", entry.Subject);
            subject.Parameters.AddWithValue("$k", newSubjectKey);
            subject.ExecuteNonQuery();
        }

        var insert = Command("INSERT INTO entries(tenant, token_id, lookup, subject, sealed) VALUES($t, $i, $l, $s, $e)", tenant, transaction);
        insert.Parameters.AddWithValue("$i", entry.TokenId);
        insert.Parameters.AddWithValue("$l", entry.Lookup);
        insert.Parameters.AddWithValue("$s", entry.Subject);
        insert.Parameters.AddWithValue("$e", entry.Sealed);
        insert.ExecuteNonQuery();
        transaction.Commit();
        return true;
    });

    /// <summary>Deletes the subject's key, then its entries, in one transaction; returns how many entries went.</summary>
    public int DeleteSubject(string tenant, ReadOnlySpan<byte> subject)
    {
        var id = subject.ToArray();
        return Delete(tenant, "subject=$s AND ", command => command.Parameters.AddWithValue("$s", id));
    }

    /// <summary>Deletes the tenant's vault key, subject keys and entries; returns how many entries went.</summary>
    public int DeleteTenant(string tenant) => Delete(tenant, string.Empty, static _ => { });

    public long CountEntries(string tenant) => Run("read", () =>
    {
        var command = Command("SELECT count(*) FROM entries WHERE tenant=$t", tenant);
        return (long)command.ExecuteScalar()!;
    });

    public void Dispose()
    {
        foreach (var statement in _statements.Values)
        {
            statement.Dispose();
        }

        _connection.Dispose();
    }

    private static void Execute(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    private static object? Scalar(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        return command.ExecuteScalar();
    }

    private List<Entry> ReadEntries(SqliteCommand command)
    {
        using var reader = command.ExecuteReader();
        var entries = new List<Entry>();
        while (reader.Read())
        {
            entries.Add(new Entry(Blob(reader, 0), Blob(reader, 1), Blob(reader, 2), Blob(reader, 3)));
        }

        return entries;
    }

    private Entry? FindEntry(string column, string tenant, byte[] id) => Run("read", () =>
    {
        var command = Command($"SELECT token_id, lookup, subject, sealed FROM entries WHERE tenant=$t AND {column}=$i", tenant);
        command.Parameters.AddWithValue("$i", id);
        return ReadEntries(command) is [var entry] ? entry : null;
    });

    /// <summary>
    /// Keys before entries (a crash in between cannot leave a readable entry), then a WAL checkpoint that truncates
    /// the log, so the deleted rows' old pages do not linger in <c>vault.db-wal</c>.
    /// </summary>
    private int Delete(string tenant, string subjectFilter, Action<SqliteCommand> bind) => Run("delete", () =>
    {
        int removed;
        using (var transaction = _connection.BeginTransaction())
        {
            if (subjectFilter.Length == 0)
            {
                var key = Command("DELETE FROM tenants WHERE tenant=$t", tenant, transaction);
                key.ExecuteNonQuery();
            }

            var keys = Command($"DELETE FROM subjects WHERE {subjectFilter}tenant=$t", tenant, transaction);
            bind(keys);
            keys.ExecuteNonQuery();

            var entries = Command($"DELETE FROM entries WHERE {subjectFilter}tenant=$t", tenant, transaction);
            bind(entries);
            removed = entries.ExecuteNonQuery();
            transaction.Commit();
        }

        Execute(_connection, "PRAGMA wal_checkpoint(TRUNCATE);");
        return removed;
    });

    /// <summary>
    /// The statement for <paramref name="sql"/>, prepared once and reused (preparing costs about as much as running
    /// these small statements), with the tenant bound. Owned by this class: callers do not dispose it.
    /// </summary>
    private SqliteCommand Command(string sql, string tenant, SqliteTransaction? transaction = null)
    {
        if (!_statements.TryGetValue(sql, out var command))
        {
            command = _connection.CreateCommand();
            command.CommandText = sql;
            _statements[sql] = command;
        }

        command.Transaction = transaction;
        command.Parameters.Clear();
        command.Parameters.AddWithValue("$t", tenant);
        return command;
    }

    private byte[] Blob(SqliteDataReader reader, int column) => reader[column] as byte[] ?? throw Malformed();

    private TokenVaultException Malformed() => new($"The token vault {FilePath} holds a malformed row: the file was modified. Restore it from a backup.");

    private T Run<T>(string what, Func<T> action)
    {
        try
        {
            return action();
        }
        catch (SqliteException ex)
        {
            throw new TokenVaultException($"The token vault {FilePath} cannot {what} (SQLite error {ex.SqliteErrorCode}: {ex.Message}); check the disk and the file's permissions.", ex);
        }
    }

    /// <summary>One vault entry as stored: MACs and the sealed (token, data class, value).</summary>
    internal sealed record Entry(byte[] TokenId, byte[] Lookup, byte[] Subject, byte[] Sealed);
}
