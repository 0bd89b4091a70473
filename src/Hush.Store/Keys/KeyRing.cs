using System.Diagnostics.CodeAnalysis;
using System.Text;

namespace Hush.Store;

/// <summary>
/// The data keys (DEKs) of one data directory: per tenant, one active key that new blocks use and the older
/// keys kept for reading, each 32 random bytes wrapped by AES-256-GCM under the key-encryption key and
/// persisted in <c>{data_dir}/keys/keyring.bin</c> (replaced atomically on every change). A tenant's first
/// key is created on first use. Reads are lock-free over an immutable snapshot; changes are serialized.
/// </summary>
public sealed class KeyRing : IDisposable
{
    /// <summary>The key ring's file name under <c>{data_dir}/keys/</c>.</summary>
    public const string FileName = "keyring.bin";

    private readonly Lock _lock = new();
    private readonly KeyMaterial _kek;
    private readonly TimeProvider _time;
    private readonly IRandomSource _random;
    private volatile Snapshot _snapshot;

    private KeyRing(string path, KeyMaterial kek, TimeProvider time, IRandomSource random, Snapshot snapshot)
    {
        FilePath = path;
        _kek = kek;
        _time = time;
        _random = random;
        _snapshot = snapshot;
    }

    /// <summary>The key ring file.</summary>
    public string FilePath { get; }

    /// <summary>Tenants that have at least one key.</summary>
    public IReadOnlyCollection<string> Tenants => _snapshot.ByTenant.Keys;

    /// <summary>The key ring file of <paramref name="dataDirectory"/>.</summary>
    public static string DefaultPath(string dataDirectory) => Path.Combine(dataDirectory, "keys", FileName);

    /// <summary>Opens (or, when absent, starts) the key ring of <paramref name="dataDirectory"/>.</summary>
    /// <param name="dataDirectory">The data directory.</param>
    /// <param name="kek">The key-encryption key; the ring keeps its own copy.</param>
    /// <param name="timeProvider">Stamps key creation times; the system clock when null.</param>
    /// <exception cref="KeyStoreException">The file is unreadable, corrupt, or sealed under another KEK.</exception>
    public static KeyRing Open(string dataDirectory, KeyMaterial kek, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(dataDirectory);
        return OpenFile(DefaultPath(dataDirectory), kek, timeProvider ?? TimeProvider.System, SystemRandomSource.Instance);
    }

    internal static KeyRing OpenFile(string path, KeyMaterial kek, TimeProvider time, IRandomSource random)
    {
        ArgumentNullException.ThrowIfNull(kek);
        var copy = KeyMaterial.Copy(kek.Span);
        List<KeyRingEntry> entries;
        try
        {
            entries = File.Exists(path) ? KeyRingFile.Read(ReadAll(path), copy, path) : [];
        }
        catch
        {
            copy.Dispose();
            throw;
        }

        return new KeyRing(path, copy, time, random, Snapshot.From(entries, path));
    }

    /// <summary>The key new blocks of <paramref name="tenant"/> use; creates and persists the first one.</summary>
    /// <exception cref="KeyStoreException">The key ring could not be written.</exception>
    public DataKey GetActiveKey(string tenant)
    {
        ValidateTenant(tenant);
        if (_snapshot.ByTenant.TryGetValue(tenant, out var keys))
        {
            return keys.Active;
        }

        lock (_lock)
        {
            return _snapshot.ByTenant.TryGetValue(tenant, out keys) ? keys.Active : AddKey(tenant);
        }
    }

    /// <summary>Finds a key by the id a block header carries, whichever tenant owns it.</summary>
    public bool TryGetKey(KeyId id, [NotNullWhen(true)] out DataKey? key) => _snapshot.ById.TryGetValue(id, out key);

    /// <summary>Every key of <paramref name="tenant"/>, oldest first; empty when it has none.</summary>
    public IReadOnlyList<DataKey> GetKeys(string tenant)
        => _snapshot.ByTenant.TryGetValue(tenant, out var keys) ? keys.All : [];

    /// <summary>Makes a new active key for <paramref name="tenant"/>; the old keys stay for reading.</summary>
    /// <exception cref="KeyStoreException">The key ring could not be written.</exception>
    public DataKey Rotate(string tenant)
    {
        ValidateTenant(tenant);
        lock (_lock)
        {
            return AddKey(tenant);
        }
    }

    /// <summary>
    /// Crypto-shredding: removes every key of <paramref name="tenant"/> from the key ring file (replaced
    /// atomically), so the tenant's blocks are unreadable from then on. Returns how many keys were removed.
    /// </summary>
    /// <exception cref="KeyStoreException">The key ring could not be written; nothing was removed.</exception>
    public int Destroy(string tenant)
    {
        ValidateTenant(tenant);
        lock (_lock)
        {
            var current = _snapshot;
            if (!current.ByTenant.TryGetValue(tenant, out var keys))
            {
                return 0;
            }

            var remaining = current.Entries.Where(e => !string.Equals(e.Tenant, tenant, StringComparison.Ordinal)).ToList();
            Persist(remaining);

            // The keys are not zeroed here: a block being encrypted on another thread may still hold one.
            return keys.All.Count;
        }
    }

    /// <summary>Zeroes the KEK copy and every unwrapped data key.</summary>
    public void Dispose()
    {
        lock (_lock)
        {
            _kek.Dispose();
            foreach (var entry in _snapshot.Entries)
            {
                entry.Key.Dispose();
            }
        }
    }

    /// <summary>Names the file, never a key.</summary>
    public override string ToString() => $"KeyRing({FilePath}, {_snapshot.Entries.Count} keys, [REDACTED])";

    private DataKey AddKey(string tenant)
    {
        var current = _snapshot;
        Span<byte> idBytes = stackalloc byte[KeyId.Bytes];
        KeyId id;
        do
        {
            _random.Fill(idBytes);
            id = KeyId.Read(idBytes);
        }
        while (current.ById.ContainsKey(id));

        var key = new byte[KeyMaterial.KeyBytes];
        _random.Fill(key);
        var entries = new List<KeyRingEntry>(current.Entries.Count + 1);
        foreach (var entry in current.Entries)
        {
            entries.Add(string.Equals(entry.Tenant, tenant, StringComparison.Ordinal) && entry.Active ? entry with { Active = false } : entry);
        }

        entries.Add(new KeyRingEntry(tenant, id, Active: true, _time.GetUtcNow().ToUnixTimeMilliseconds(), KeyMaterial.Own(key)));
        Persist(entries);
        return _snapshot.ByTenant[tenant].Active;
    }

    private void Persist(List<KeyRingEntry> entries)
    {
        var file = KeyRingFile.Write(entries, _kek, _random);
        try
        {
            OwnerOnlyFile.Replace(FilePath, file);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new KeyStoreException($"Cannot write the key ring {FilePath} ({ex.GetType().Name}); check that the data directory is writable.", FilePath);
        }

        _snapshot = Snapshot.From(entries, FilePath);
    }

    private static byte[] ReadAll(string path)
    {
        try
        {
            var length = new FileInfo(path).Length;
            if (length > KeyRingFile.MaxFileBytes)
            {
                throw new KeyStoreException($"The key ring {path} is {length} bytes, more than the {KeyRingFile.MaxFileBytes} a key ring may have.", path);
            }

            return File.ReadAllBytes(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new KeyStoreException($"Cannot read the key ring {path} ({ex.GetType().Name}).", path);
        }
    }

    private static void ValidateTenant(string tenant)
    {
        ArgumentException.ThrowIfNullOrEmpty(tenant);
        if (Encoding.UTF8.GetByteCount(tenant) > KeyRingFile.MaxTenantBytes)
        {
            throw new ArgumentException($"A tenant name is at most {KeyRingFile.MaxTenantBytes} UTF-8 bytes.", nameof(tenant));
        }
    }

    private sealed record TenantKeys(DataKey Active, IReadOnlyList<DataKey> All);

    private sealed class Snapshot
    {
        private Snapshot(List<KeyRingEntry> entries, Dictionary<string, TenantKeys> byTenant, Dictionary<KeyId, DataKey> byId)
        {
            Entries = entries;
            ByTenant = byTenant;
            ById = byId;
        }

        public List<KeyRingEntry> Entries { get; }

        public Dictionary<string, TenantKeys> ByTenant { get; }

        public Dictionary<KeyId, DataKey> ById { get; }

        public static Snapshot From(List<KeyRingEntry> entries, string path)
        {
            var byId = new Dictionary<KeyId, DataKey>(entries.Count);
            var grouped = new Dictionary<string, (DataKey? Active, List<DataKey> All)>(StringComparer.Ordinal);
            foreach (var entry in entries)
            {
                var key = new DataKey(entry.Id, entry.Tenant, DateTimeOffset.FromUnixTimeMilliseconds(entry.CreatedUnixMs), entry.Key);
                if (!byId.TryAdd(entry.Id, key))
                {
                    throw new KeyStoreException($"The key ring {path} is corrupt: key id {entry.Id} appears twice.", path);
                }

                var group = grouped.TryGetValue(entry.Tenant, out var g) ? g : (null, new List<DataKey>());
                group.All.Add(key);
                if (entry.Active)
                {
                    if (group.Active is not null)
                    {
                        throw new KeyStoreException($"The key ring {path} is corrupt: tenant {entry.Tenant} has two active keys.", path);
                    }

                    group.Active = key;
                }

                grouped[entry.Tenant] = group;
            }

            var byTenant = new Dictionary<string, TenantKeys>(grouped.Count, StringComparer.Ordinal);
            foreach (var (tenant, group) in grouped)
            {
                if (group.Active is null)
                {
                    throw new KeyStoreException($"The key ring {path} is corrupt: tenant {tenant} has no active key.", path);
                }

                byTenant[tenant] = new TenantKeys(group.Active, group.All);
            }

            return new Snapshot(entries, byTenant, byId);
        }
    }
}
