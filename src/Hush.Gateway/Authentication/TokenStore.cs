using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Hush.Gateway.Security;

namespace Hush.Gateway.Authentication;

/// <summary>A token as listed (never the token itself).</summary>
/// <param name="Id">The public id embedded in the token (<c>hush_{id}_{secret}</c>), used to list and revoke it.</param>
/// <param name="Name">A label for people, or empty.</param>
/// <param name="Tenant">The tenant the token sends into.</param>
/// <param name="Services">The <c>service.name</c> globs it may emit.</param>
/// <param name="Created">When it was created (UTC).</param>
/// <param name="Revoked">When it was revoked, or null while active.</param>
public sealed record TokenInfo(string Id, string Name, string Tenant, IReadOnlyList<string> Services, DateTimeOffset Created, DateTimeOffset? Revoked)
{
    /// <summary>The query roles of an API key (empty for ingest tokens).</summary>
    public IReadOnlyList<string> Roles { get; init; } = [];
}

/// <summary>
/// Static ingest tokens, stored as keyed hashes. A token is <c>hush_{id}_{secret}</c>: a 10-character public id
/// and 256 random bits. The file keeps, per token, a random salt and HMAC-SHA256(pepper, salt ‖ secret), where the
/// pepper is a server secret in its own owner-only key file.
/// <para>
/// Why a keyed hash and not PBKDF2 or argon2: slow hashes protect guessable passwords. A 256-bit random secret
/// cannot be guessed, so stretching buys nothing and would cost ~100 ms of CPU per request (or a cache of
/// validated tokens, which is a plaintext-equivalent in memory). The pepper adds what stretching cannot: a copy of
/// the token file alone does not even let its holder confirm a token.
/// </para>
/// Thread-safe. The file is re-read when it changes (checked at most once per <see cref="RecheckInterval"/>), so
/// <c>hush token revoke</c> takes effect in a running server within a second.
/// </summary>
public sealed class TokenStore
{
    /// <summary>How often validation looks at the file's timestamp: revocations apply within this delay.</summary>
    public static readonly TimeSpan RecheckInterval = TimeSpan.FromSeconds(1);

    /// <summary>Every token starts with this, so scanners (and people) recognize a leaked one.</summary>
    public const string Prefix = "hush_";

    /// <summary>Query API keys start with this instead; they live in their own file (<see cref="OpenApiKeys"/>), never in the ingest store.</summary>
    public const string ApiKeyPrefix = "hushk_";

    private const int IdChars = 10;
    private const int SecretBytes = 32;
    private const int SaltBytes = 16;
    private const int PepperBytes = 32;

    /// <summary>A tokens file of 16 MiB holds ~50,000 tokens; a bigger one is not ours.</summary>
    private const long MaxFileBytes = 16 << 20;

    private const string Base32Alphabet = "abcdefghijklmnopqrstuvwxyz234567";

    private readonly string _path;
    private readonly string _prefix;
    private readonly string _kind;
    private readonly byte[] _pepper;
    private readonly TimeProvider _time;
    private readonly Lock _lock = new();
    private Snapshot _snapshot;
    private long _nextCheckTicks;

    private TokenStore(string path, byte[] pepper, TimeProvider time, string prefix, string kind)
    {
        _path = path;
        _prefix = prefix;
        _kind = kind;
        _pepper = pepper;
        _time = time;
        _snapshot = Read(path, kind);
        _nextCheckTicks = time.GetUtcNow().UtcTicks + RecheckInterval.Ticks;
    }

    /// <summary>The tokens file.</summary>
    public string Path => _path;

    /// <summary>The number of tokens that are not revoked.</summary>
    public int ActiveCount => Current.Active;

    private Snapshot Current
    {
        get
        {
            var now = _time.GetUtcNow().UtcTicks;
            if (now >= Interlocked.Read(ref _nextCheckTicks))
            {
                Interlocked.Exchange(ref _nextCheckTicks, now + RecheckInterval.Ticks);
                var stamp = Stamp(_path);
                if (stamp != Volatile.Read(ref _snapshot).Stamp)
                {
                    try
                    {
                        Volatile.Write(ref _snapshot, Read(_path, _kind));
                    }
                    catch (InvalidOperationException)
                    {
                        // A broken file keeps the tokens in force; the CLI writes atomically, so this is someone's hand edit.
                    }
                }
            }

            return Volatile.Read(ref _snapshot);
        }
    }

    /// <summary>
    /// Opens (or starts) the store at <paramref name="tokenFile"/>, with its pepper in <paramref name="pepperFile"/>
    /// (created on first use). Throws <see cref="InvalidOperationException"/> naming the file for an unreadable store.
    /// </summary>
    public static TokenStore Open(string tokenFile, string pepperFile, TimeProvider? time = null)
    {
        var pepper = SecretFile.ReadOrCreate(pepperFile, PepperBytes, "token pepper");
        return new TokenStore(System.IO.Path.GetFullPath(tokenFile), pepper, time ?? TimeProvider.System, Prefix, "token");
    }

    /// <summary>
    /// Opens (or starts) a store of query API keys: the same keyed hashes and pepper as ingest tokens, keys shaped
    /// <c>hushk_{id}_{secret}</c>, identities <c>apikey:{id}</c>, each key carrying its roles.
    /// </summary>
    public static TokenStore OpenApiKeys(string keyFile, string pepperFile, TimeProvider? time = null)
    {
        var pepper = SecretFile.ReadOrCreate(pepperFile, PepperBytes, "token pepper");
        return new TokenStore(System.IO.Path.GetFullPath(keyFile), pepper, time ?? TimeProvider.System, ApiKeyPrefix, "apikey");
    }

    /// <summary>The pepper file that belongs to a tokens file: <c>keys/token-pepper.key</c> beside it.</summary>
    public static string PepperPathFor(string tokenFile) =>
        System.IO.Path.Combine(System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(tokenFile))!, "keys", "token-pepper.key");

    /// <summary>Creates a token and saves the store. The returned token string exists nowhere else: show it once.</summary>
    public (string Token, TokenInfo Info) Create(string tenant, IReadOnlyList<string> services, string? name = null, IReadOnlyList<string>? roles = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(tenant);
        ArgumentNullException.ThrowIfNull(services);
        lock (_lock)
        {
            var snapshot = Read(_path, _kind);
            string id;
            do
            {
                id = RandomBase32(IdChars);
            }
            while (snapshot.ById.ContainsKey(id));

            var secret = RandomBase32(52);
            var salt = RandomNumberGenerator.GetBytes(SaltBytes);
            var entry = new TokenEntry
            {
                Id = id,
                Name = name ?? string.Empty,
                Tenant = tenant,
                Services = [.. services],
                Roles = roles is null ? null : [.. roles],
                Created = _time.GetUtcNow(),
                Salt = Convert.ToBase64String(salt),
                Hash = Convert.ToBase64String(Hash(salt, secret)),
            };
            Save([.. snapshot.Entries, entry]);
            return (_prefix + id + "_" + secret, ToInfo(entry));
        }
    }

    /// <summary>Every token, active and revoked, oldest first.</summary>
    public IReadOnlyList<TokenInfo> List() => [.. Read(_path, _kind).Entries.Select(ToInfo)];

    /// <summary>Revokes the token with public id <paramref name="id"/>; false when there is none (or it was already revoked).</summary>
    public bool Revoke(string id)
    {
        lock (_lock)
        {
            var snapshot = Read(_path, _kind);
            if (!snapshot.ById.TryGetValue(id, out var entry) || entry.Revoked is not null)
            {
                return false;
            }

            entry.Revoked = _time.GetUtcNow();
            Save(snapshot.Entries);
            return true;
        }
    }

    /// <summary>Checks a bearer token in constant time per candidate. Never throws.</summary>
    public AuthResult Validate(string token) => Validate(token, out _);

    /// <summary>Checks a bearer token and returns the roles stored with it (API keys). Never throws.</summary>
    public AuthResult Validate(string token, out IReadOnlyList<string> roles)
    {
        roles = [];
        if (!TryParse(token, out var id, out var secret))
        {
            return AuthResult.Fail(AuthFailure.Malformed);
        }

        var snapshot = Current;
        if (!snapshot.ById.TryGetValue(id, out var entry) || entry.SaltBytes is null || entry.HashBytes is null)
        {
            return AuthResult.Fail(AuthFailure.UnknownToken);
        }

        if (!CryptographicOperations.FixedTimeEquals(Hash(entry.SaltBytes, secret), entry.HashBytes))
        {
            return AuthResult.Fail(AuthFailure.UnknownToken);
        }

        if (entry.Revoked is not null)
        {
            return AuthResult.Fail(AuthFailure.Revoked);
        }

        roles = entry.Roles ?? [];
        return AuthResult.Success(entry.Identity!);
    }

    /// <summary>Never prints the pepper.</summary>
    public override string ToString() => $"TokenStore({_path}, [REDACTED])";

    private bool TryParse(string token, out string id, out string secret)
    {
        id = secret = string.Empty;
        var prefix = _prefix;
        if (token is null || token.Length != prefix.Length + IdChars + 1 + 52 || !token.StartsWith(prefix, StringComparison.Ordinal) || token[prefix.Length + IdChars] != '_')
        {
            return false;
        }

        id = token.Substring(prefix.Length, IdChars);
        secret = token[(prefix.Length + IdChars + 1)..];
        return IsBase32(id) && IsBase32(secret);
    }

    private static bool IsBase32(string text)
    {
        foreach (var c in text)
        {
            if (!Base32Alphabet.Contains(c, StringComparison.Ordinal))
            {
                return false;
            }
        }

        return true;
    }

    private static string RandomBase32(int chars)
    {
        Span<byte> random = stackalloc byte[chars];
        RandomNumberGenerator.Fill(random);
        var text = new char[chars];
        for (var i = 0; i < chars; i++)
        {
            text[i] = Base32Alphabet[random[i] & 31];
        }

        random.Clear();
        return new string(text);
    }

    private byte[] Hash(byte[] salt, string secret)
    {
        var secretBytes = Encoding.ASCII.GetBytes(secret);
        var input = new byte[salt.Length + secretBytes.Length];
        salt.CopyTo(input, 0);
        secretBytes.CopyTo(input, salt.Length);
        var mac = HMACSHA256.HashData(_pepper, input);
        CryptographicOperations.ZeroMemory(input);
        CryptographicOperations.ZeroMemory(secretBytes);
        return mac;
    }

    private void Save(IReadOnlyList<TokenEntry> entries)
    {
        var file = new TokenFile { Version = 1, Tokens = [.. entries] };
        Hush.Store.OwnerOnlyFile.Replace(_path, JsonSerializer.SerializeToUtf8Bytes(file, TokenJsonContext.Default.TokenFile));
        Volatile.Write(ref _snapshot, Read(_path, _kind));
    }

    private static (DateTime, long) Stamp(string path)
    {
        var info = new FileInfo(path);
        return info.Exists ? (info.LastWriteTimeUtc, info.Length) : (DateTime.MinValue, -1);
    }

    private static Snapshot Read(string path, string kind)
    {
        var stamp = Stamp(path);
        if (stamp.Item2 < 0)
        {
            return new Snapshot(stamp, [], new Dictionary<string, TokenEntry>(StringComparer.Ordinal));
        }

        TokenFile? file;
        try
        {
            if (stamp.Item2 > MaxFileBytes)
            {
                throw new InvalidOperationException($"The token file {path} is {stamp.Item2} bytes; the limit is {MaxFileBytes}.");
            }

            // An editor may have added a byte order mark; the JSON reader does not skip one.
            var bytes = File.ReadAllBytes(path).AsSpan();
            file = JsonSerializer.Deserialize(bytes.StartsWith("\uFEFF"u8) ? bytes[3..] : bytes, TokenJsonContext.Default.TokenFile);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or JsonException)
        {
            throw new InvalidOperationException($"The token file {path} cannot be read ({ex.GetType().Name}); fix or remove it, then create tokens again.");
        }

        if (file is null || file.Version != 1)
        {
            throw new InvalidOperationException($"The token file {path} is not a Hush token file of version 1.");
        }

        var byId = new Dictionary<string, TokenEntry>(StringComparer.Ordinal);
        foreach (var entry in file.Tokens)
        {
            try
            {
                entry.SaltBytes = Convert.FromBase64String(entry.Salt);
                entry.HashBytes = Convert.FromBase64String(entry.Hash);
            }
            catch (FormatException)
            {
                continue; // A damaged entry never validates; the others still do.
            }

            entry.Identity = new IngestIdentity(kind + ":" + entry.Id, entry.Tenant, entry.Services);
            byId[entry.Id] = entry;
        }

        return new Snapshot(stamp, file.Tokens, byId);
    }

    private static TokenInfo ToInfo(TokenEntry e) => new(e.Id, e.Name, e.Tenant, e.Services, e.Created, e.Revoked) { Roles = e.Roles ?? [] };

    private sealed record Snapshot((DateTime, long) Stamp, List<TokenEntry> Entries, Dictionary<string, TokenEntry> ById)
    {
        public int Active { get; } = Entries.Count(e => e.Revoked is null);
    }
}

/// <summary>The tokens file (version 1). Holds salts and keyed hashes, never a token.</summary>
internal sealed class TokenFile
{
    [JsonPropertyName("version")]
    public int Version { get; set; }

    [JsonPropertyName("tokens")]
    public List<TokenEntry> Tokens { get; set; } = [];
}

/// <summary>One stored token.</summary>
internal sealed class TokenEntry
{
    [JsonPropertyName("id")]
    public string Id { get; set; } = string.Empty;

    [JsonPropertyName("name")]
    public string Name { get; set; } = string.Empty;

    [JsonPropertyName("tenant")]
    public string Tenant { get; set; } = string.Empty;

    [JsonPropertyName("services")]
    public List<string> Services { get; set; } = [];

    [JsonPropertyName("roles")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public List<string>? Roles { get; set; }

    [JsonPropertyName("created")]
    public DateTimeOffset Created { get; set; }

    [JsonPropertyName("revoked")]
    public DateTimeOffset? Revoked { get; set; }

    [JsonPropertyName("salt")]
    public string Salt { get; set; } = string.Empty;

    [JsonPropertyName("hash")]
    public string Hash { get; set; } = string.Empty;

    [JsonIgnore]
    public byte[]? SaltBytes { get; set; }

    [JsonIgnore]
    public byte[]? HashBytes { get; set; }

    [JsonIgnore]
    public IngestIdentity? Identity { get; set; }
}

[JsonSourceGenerationOptions(WriteIndented = true)]
[JsonSerializable(typeof(TokenFile))]
internal sealed partial class TokenJsonContext : JsonSerializerContext;
