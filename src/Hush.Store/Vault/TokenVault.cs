using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using Hush.Privacy.Transforms;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Hush.Store.Vault;

/// <summary>
/// The durable vault of reversible tokens, <c>{data_dir}/vault.db</c>, keyed per subject so that erasing a subject's
/// key erases the subject:
/// <list type="bullet">
/// <item>each tenant has a random vault key, sealed (AES-256-GCM) under its data key in the store's <see cref="KeyRing"/>,
/// so destroying the tenant's keys (<c>hush erase --all</c>) shreds its vault too;</item>
/// <item>a value's subject is HMAC(tenant vault key, normalized value), whatever its data class; each subject has a
/// random 256-bit key, stored sealed under the tenant's vault key;</item>
/// <item>an entry is found by HMAC(class ‖ value) when tokenizing and by HMAC(token) when resolving, and holds
/// AES-GCM(subject key, token ‖ class ‖ value) bound to the tenant and those MACs.</item>
/// </list>
/// Nothing in the file reveals a value, links a token to a value, or holds a key in clear. A token is on disk (in the
/// operating system: WAL, <c>synchronous=NORMAL</c>) before <see cref="Tokenize"/> returns it; a bounded cache of
/// recent tokens, keyed by MAC, spares repeated values any disk I/O. Thread-safe: lookups in the cache are lock-free,
/// everything that touches the file is serialized.
/// </summary>
public sealed partial class TokenVault : ITokenVault, IDisposable
{
    /// <summary>The vault's file name in the data directory.</summary>
    public const string FileName = "vault.db";

    /// <summary>About 10 MB of cached tokens (a key and a 30-character token each): the hot values of a busy tenant.</summary>
    public const int DefaultCacheEntries = 65_536;

    /// <summary>A data class travels inside the sealed entry behind a one-byte length.</summary>
    private const int MaxDataClassBytes = 255;

    private static readonly byte[] TenantDomain = "hush/vault/tenant/v1"u8.ToArray();
    private static readonly byte[] SubjectDomain = "hush/vault/subject/v1"u8.ToArray();
    private static readonly byte[] EntryDomain = "hush/vault/entry/v1"u8.ToArray();

    private readonly VaultDatabase _database;
    private readonly KeyRing _keys;
    private readonly TokenCache _cache;
    private readonly ILogger _logger;
    private readonly Lock _lock = new();
    private readonly ConcurrentDictionary<string, TenantVaultKey> _tenants = new(StringComparer.Ordinal);
    private bool _disposed;

    private TokenVault(VaultDatabase database, KeyRing keys, int cacheEntries, ILogger logger)
    {
        _database = database;
        _keys = keys;
        _cache = new TokenCache(cacheEntries);
        _logger = logger;
    }

    /// <summary>The vault file.</summary>
    public string FilePath => _database.FilePath;

    /// <summary>The vault file of <paramref name="dataDirectory"/>.</summary>
    public static string DefaultPath(string dataDirectory) => Path.Combine(dataDirectory, FileName);

    /// <summary>Opens (or creates) the vault of <paramref name="dataDirectory"/>.</summary>
    /// <param name="dataDirectory">The data directory.</param>
    /// <param name="keys">The data directory's key ring (the store's own: one key ring per directory); not owned.</param>
    /// <param name="logger">Where erasures and shredded leftovers are logged; never a value.</param>
    /// <param name="cacheEntries">How many tokens the cache holds.</param>
    /// <exception cref="TokenVaultException">The file is not a readable vault.</exception>
    public static TokenVault Open(string dataDirectory, KeyRing keys, ILogger? logger = null, int cacheEntries = DefaultCacheEntries)
        => Open(dataDirectory, keys, logger, cacheEntries, maxPageCount: null);

    internal static TokenVault Open(string dataDirectory, KeyRing keys, ILogger? logger, int cacheEntries, long? maxPageCount)
    {
        ArgumentNullException.ThrowIfNull(dataDirectory);
        ArgumentNullException.ThrowIfNull(keys);
        ArgumentOutOfRangeException.ThrowIfLessThan(cacheEntries, 2);
        Directory.CreateDirectory(dataDirectory);
        return new TokenVault(VaultDatabase.Open(DefaultPath(dataDirectory), maxPageCount), keys, cacheEntries, logger ?? NullLogger.Instance);
    }

    /// <inheritdoc/>
    /// <exception cref="TokenVaultException">The entry could not be written: no token is returned that is not on disk.</exception>
    public string Tokenize(string tenant, string dataClass, string value)
    {
        ArgumentException.ThrowIfNullOrEmpty(tenant);
        ArgumentNullException.ThrowIfNull(dataClass);
        ArgumentNullException.ThrowIfNull(value);
        if (Encoding.UTF8.GetByteCount(dataClass) > MaxDataClassBytes)
        {
            throw new ArgumentException($"A data class name is at most {MaxDataClassBytes} UTF-8 bytes.", nameof(dataClass));
        }

        var key = TenantKey(tenant, create: true)!;
        Span<byte> lookup = stackalloc byte[TenantVaultKey.MacBytes];
        key.Lookup(dataClass, value, lookup);
        var cacheKey = new TokenCache.Key(tenant, BinaryPrimitives.ReadUInt128BigEndian(lookup));
        if (_cache.TryGet(cacheKey, out var cached))
        {
            return cached!;
        }

        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_cache.TryGet(cacheKey, out cached))
            {
                return cached!;
            }

            var token = _database.FindByLookup(tenant, lookup) is { } entry
                ? Open(key, tenant, entry)?.Token ?? throw Corrupt()
                : Issue(key, tenant, dataClass, value, lookup);
            _cache.Add(cacheKey, token);
            return token;
        }
    }

    /// <inheritdoc/>
    /// <exception cref="TokenVaultException">The file cannot be read, or the entry was modified.</exception>
    public bool TryResolve(string tenant, string token, out string? value)
    {
        ArgumentNullException.ThrowIfNull(tenant);
        ArgumentNullException.ThrowIfNull(token);
        value = null;
        if (tenant.Length == 0 || !VaultToken.IsWellFormed(token) || TenantKey(tenant, create: false) is not { } key)
        {
            return false;
        }

        Span<byte> tokenId = stackalloc byte[TenantVaultKey.MacBytes];
        key.TokenId(token, tokenId);
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_database.FindByTokenId(tenant, tokenId) is not { } entry)
            {
                return false;
            }

            // No subject key: the subject was erased between the two statements' worth of a crash. Never resolvable.
            var opened = Open(key, tenant, entry, out var erased);
            if (erased)
            {
                return false;
            }

            if (opened is not { } found || !string.Equals(found.Token, token, StringComparison.Ordinal))
            {
                throw Corrupt();
            }

            value = found.Value;
            return true;
        }
    }

    /// <summary>
    /// Every token the vault issued for <paramref name="value"/>'s subject in <paramref name="tenant"/>, under any data
    /// class (the erasure removes the spans that carry them).
    /// </summary>
    public IReadOnlyList<string> TokensOf(string tenant, string value)
    {
        ArgumentException.ThrowIfNullOrEmpty(tenant);
        ArgumentNullException.ThrowIfNull(value);
        if (TenantKey(tenant, create: false) is not { } key)
        {
            return [];
        }

        Span<byte> subject = stackalloc byte[TenantVaultKey.MacBytes];
        key.Subject(value, subject);
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            var tokens = new List<string>();
            foreach (var entry in _database.EntriesOf(tenant, subject))
            {
                if (Open(key, tenant, entry, out var erased) is { } opened)
                {
                    tokens.Add(opened.Token);
                }
                else if (!erased)
                {
                    throw Corrupt();
                }
            }

            return tokens;
        }
    }

    /// <summary>
    /// Erases <paramref name="value"/>'s subject: its key first, then every entry under any data class (overwritten on
    /// disk), so each of its tokens is unresolvable for ever. Returns how many entries were removed.
    /// </summary>
    /// <exception cref="TokenVaultException">The file could not be written; nothing was removed.</exception>
    public int EraseSubject(string tenant, string value)
    {
        ArgumentException.ThrowIfNullOrEmpty(tenant);
        ArgumentNullException.ThrowIfNull(value);
        if (TenantKey(tenant, create: false) is not { } key)
        {
            return 0;
        }

        Span<byte> subject = stackalloc byte[TenantVaultKey.MacBytes];
        key.Subject(value, subject);
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            var removed = _database.DeleteSubject(tenant, subject);
            _cache.Clear();
            LogSubjectErased(_logger, tenant, removed);
            return removed;
        }
    }

    /// <summary>
    /// Deletes the tenant's vault key, subject keys and entries. Run after the tenant's data keys are destroyed, its
    /// entries are already unreadable (crypto-shredding); this removes the bytes. Returns how many entries were removed.
    /// </summary>
    /// <exception cref="TokenVaultException">The file could not be written; nothing was removed.</exception>
    public int EraseTenant(string tenant)
    {
        ArgumentException.ThrowIfNullOrEmpty(tenant);
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            var removed = _database.DeleteTenant(tenant);

            // Not zeroed: a Tokenize on another thread may still hold it (it then finds no tenant row and fails).
            _tenants.TryRemove(tenant, out _);
            _cache.Clear();
            LogTenantErased(_logger, tenant, removed);
            return removed;
        }
    }

    /// <summary>
    /// Seals the tenant's vault key again under its active data key, so after <c>hush keys rotate</c> the vault, like
    /// new blocks, no longer depends on the old key. The vault key itself stays the same: every token still resolves
    /// and erasure still finds its subjects. Returns false when the tenant has no vault yet or it is already sealed
    /// under the active key. The row is replaced in one statement, so a crash leaves the old or the new seal.
    /// </summary>
    /// <exception cref="TokenVaultException">The file could not be written or the sealed key does not authenticate.</exception>
    public bool Reseal(string tenant)
    {
        ArgumentException.ThrowIfNullOrEmpty(tenant);
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_database.FindTenant(tenant) is not { } row || !_keys.TryGetKey(new KeyId(row.KeyId), out var current)
                || !string.Equals(current.Tenant, tenant, StringComparison.Ordinal))
            {
                // No vault, or one sealed under a destroyed key (shredded leftovers the next open removes).
                return false;
            }

            var active = _keys.GetActiveKey(tenant);
            if (active.Id == current.Id)
            {
                return false;
            }

            var root = OpenRoot(current, tenant, row.Sealed);
            try
            {
                _database.ReplaceTenant(tenant, current.Id.Value, active.Id.Value, SealRoot(active, tenant, root));
            }
            finally
            {
                CryptographicOperations.ZeroMemory(root);
            }

            LogResealed(_logger, tenant);
            return true;
        }
    }

    /// <summary>The data key the tenant's vault key is sealed under; null when the tenant has no vault.</summary>
    public KeyId? SealingKeyOf(string tenant)
    {
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            return _database.FindTenant(tenant) is { } row ? new KeyId(row.KeyId) : null;
        }
    }

    /// <summary>How many entries the tenant has.</summary>
    public long Count(string tenant)
    {
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            return _database.CountEntries(tenant);
        }
    }

    /// <summary>Closes the file and zeroes the unwrapped keys. Safe to call twice.</summary>
    public void Dispose()
    {
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            _database.Dispose();
            foreach (var key in _tenants.Values)
            {
                key.Dispose();
            }

            _tenants.Clear();
            _cache.Clear();
        }
    }

    /// <summary>Names the file, never a key.</summary>
    public override string ToString() => $"TokenVault({FilePath}, [REDACTED])";

    private static byte[] AssociatedData(byte[] domain, string tenant, params ReadOnlySpan<byte[]> parts)
    {
        var tenantBytes = Encoding.UTF8.GetBytes(tenant);
        var length = domain.Length + 1 + tenantBytes.Length + 1;
        foreach (var part in parts)
        {
            length += part.Length;
        }

        var data = new byte[length];
        domain.CopyTo(data, 0);
        var at = domain.Length + 1;
        tenantBytes.CopyTo(data, at);
        at += tenantBytes.Length + 1;
        foreach (var part in parts)
        {
            part.CopyTo(data, at);
            at += part.Length;
        }

        return data;
    }

    private static byte[] KeyIdBytes(KeyId id)
    {
        var bytes = new byte[KeyId.Bytes];
        id.Write(bytes);
        return bytes;
    }

    private TokenVaultException Corrupt() => new(
        $"The token vault {FilePath} holds an entry that does not authenticate: the file was modified, or belongs to another key ring. Restore it from a backup.");

    /// <summary>The tenant's unwrapped vault key; created (and persisted) on first use when <paramref name="create"/>.</summary>
    private TenantVaultKey? TenantKey(string tenant, bool create)
    {
        if (_tenants.TryGetValue(tenant, out var cached))
        {
            return cached;
        }

        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_tenants.TryGetValue(tenant, out cached))
            {
                return cached;
            }

            if (_database.FindTenant(tenant) is { } row)
            {
                var id = new KeyId(row.KeyId);
                if (_keys.TryGetKey(id, out var dataKey) && string.Equals(dataKey.Tenant, tenant, StringComparison.Ordinal))
                {
                    return Remember(tenant, OpenRoot(dataKey, tenant, row.Sealed));
                }

                // Sealed under a data key the ring no longer holds: the tenant was crypto-shredded and its vault rows
                // outlived it (a crash between the two steps). They are unreadable; remove them.
                var removed = _database.DeleteTenant(tenant);
                LogShreddedLeftovers(_logger, tenant, removed);
            }

            if (!create)
            {
                return null;
            }

            var fresh = RandomNumberGenerator.GetBytes(KeyMaterial.KeyBytes);
            try
            {
                var active = _keys.GetActiveKey(tenant);
                _database.InsertTenant(tenant, active.Id.Value, SealRoot(active, tenant, fresh));
                return Remember(tenant, fresh);
            }
            catch
            {
                CryptographicOperations.ZeroMemory(fresh);
                throw;
            }
        }
    }

    private byte[] OpenRoot(DataKey dataKey, string tenant, byte[] sealedRoot) =>
        VaultSeal.Open(dataKey.Material.Span, sealedRoot, AssociatedData(TenantDomain, tenant, KeyIdBytes(dataKey.Id))) ?? throw Corrupt();

    private static byte[] SealRoot(DataKey dataKey, string tenant, byte[] root) =>
        VaultSeal.Seal(dataKey.Material.Span, root, AssociatedData(TenantDomain, tenant, KeyIdBytes(dataKey.Id)));

    private TenantVaultKey Remember(string tenant, byte[] root)
    {
        var key = new TenantVaultKey(root);
        CryptographicOperations.ZeroMemory(root);
        _tenants[tenant] = key;
        return key;
    }

    /// <summary>A new token for (class, value): the subject's key (made when new), then the sealed entry, one transaction.</summary>
    private string Issue(TenantVaultKey key, string tenant, string dataClass, string value, ReadOnlySpan<byte> lookup)
    {
        var subject = new byte[TenantVaultKey.MacBytes];
        key.Subject(value, subject);
        var subjectData = AssociatedData(SubjectDomain, tenant, subject);
        byte[] subjectKey;
        byte[]? newSealedKey = null;
        if (_database.FindSubjectKey(tenant, subject) is { } sealedKey)
        {
            subjectKey = key.UnwrapSubjectKey(sealedKey, subjectData) ?? throw Corrupt();
        }
        else
        {
            subjectKey = RandomNumberGenerator.GetBytes(KeyMaterial.KeyBytes);
            newSealedKey = key.WrapSubjectKey(subjectKey, subjectData);
        }

        try
        {
            var tokenId = new byte[TenantVaultKey.MacBytes];
            var lookupBytes = lookup.ToArray();
            while (true)
            {
                var token = VaultToken.New();
                key.TokenId(token, tokenId);
                var payload = Payload(token, dataClass, value);
                try
                {
                    var sealedEntry = VaultSeal.Seal(subjectKey, payload, AssociatedData(EntryDomain, tenant, tokenId, lookupBytes, subject));
                    if (_database.Insert(tenant, new VaultDatabase.Entry(tokenId, lookupBytes, subject, sealedEntry), newSealedKey))
                    {
                        return token;
                    }
                }
                finally
                {
                    CryptographicOperations.ZeroMemory(payload);
                }
            }
        }
        finally
        {
            CryptographicOperations.ZeroMemory(subjectKey);
        }
    }

    private static byte[] Payload(string token, string dataClass, string value)
    {
        var classBytes = Encoding.UTF8.GetByteCount(dataClass);
        var payload = new byte[VaultToken.Length + 1 + classBytes + Encoding.UTF8.GetByteCount(value)];
        Encoding.ASCII.GetBytes(token, payload);
        payload[VaultToken.Length] = (byte)classBytes;
        Encoding.UTF8.GetBytes(dataClass, payload.AsSpan(VaultToken.Length + 1));
        Encoding.UTF8.GetBytes(value, payload.AsSpan(VaultToken.Length + 1 + classBytes));
        return payload;
    }

    private Opened? Open(TenantVaultKey key, string tenant, VaultDatabase.Entry entry) => Open(key, tenant, entry, out _);

    /// <summary>
    /// Decrypts an entry and checks it against its MACs; null with <paramref name="erased"/> when its subject key is
    /// gone, null alone when it does not authenticate.
    /// </summary>
    private Opened? Open(TenantVaultKey key, string tenant, VaultDatabase.Entry entry, out bool erased)
    {
        erased = false;
        if (_database.FindSubjectKey(tenant, entry.Subject) is not { } sealedKey)
        {
            erased = true;
            return null;
        }

        var subjectKey = key.UnwrapSubjectKey(sealedKey, AssociatedData(SubjectDomain, tenant, entry.Subject));
        if (subjectKey is null)
        {
            return null;
        }

        byte[]? payload = null;
        try
        {
            payload = VaultSeal.Open(subjectKey, entry.Sealed, AssociatedData(EntryDomain, tenant, entry.TokenId, entry.Lookup, entry.Subject));
            if (payload is null || payload.Length < VaultToken.Length + 1 || payload.Length < VaultToken.Length + 1 + payload[VaultToken.Length])
            {
                return null;
            }

            var classBytes = payload[VaultToken.Length];
            var token = Encoding.ASCII.GetString(payload, 0, VaultToken.Length);
            var dataClass = Encoding.UTF8.GetString(payload, VaultToken.Length + 1, classBytes);
            var value = Encoding.UTF8.GetString(payload, VaultToken.Length + 1 + classBytes, payload.Length - VaultToken.Length - 1 - classBytes);
            return new Opened(token, dataClass, value);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(subjectKey);
            if (payload is not null)
            {
                CryptographicOperations.ZeroMemory(payload);
            }
        }
    }

    [LoggerMessage(EventId = 6040, Level = LogLevel.Warning, Message = "vault: tenant {Tenant}: erased a subject, {Entries} token entries removed")]
    private static partial void LogSubjectErased(ILogger logger, string tenant, int entries);

    [LoggerMessage(EventId = 6041, Level = LogLevel.Warning, Message = "vault: tenant {Tenant} erased: {Entries} token entries removed")]
    private static partial void LogTenantErased(ILogger logger, string tenant, int entries);

    [LoggerMessage(EventId = 6042, Level = LogLevel.Warning, Message = "vault: tenant {Tenant}: its vault key is sealed under a data key the key ring no longer holds (the tenant was erased); removed {Entries} unreadable entries")]
    private static partial void LogShreddedLeftovers(ILogger logger, string tenant, int entries);

    [LoggerMessage(EventId = 6043, Level = LogLevel.Information, Message = "vault: tenant {Tenant}: vault key sealed again under the active data key")]
    private static partial void LogResealed(ILogger logger, string tenant);

    private sealed record Opened(string Token, string DataClass, string Value);
}
