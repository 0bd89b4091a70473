using System.Text.RegularExpressions;
using Hush.Store.Vault;
using Microsoft.Data.Sqlite;

namespace Hush.Store.Tests.Vault;

public sealed partial class TokenVaultTests : IDisposable
{
    private readonly TempDirectory _dir = new();
    private readonly KeyMaterial _kek = TestData.Kek();
    private KeyRing _keys;
    private TokenVault _vault;

    public TokenVaultTests()
    {
        _keys = KeyRing.Open(_dir.Path, _kek);
        _vault = TokenVault.Open(_dir.Path, _keys);
    }

    public void Dispose()
    {
        _vault.Dispose();
        _keys.Dispose();
        _kek.Dispose();
        SqliteConnection.ClearAllPools();
        _dir.Dispose();
    }

    [Fact]
    public void Tokenize_ThenReopen_ResolvesTheValue()
    {
        var token = _vault.Tokenize("acme", "customer_id", "cust-4711");
        Reopen();

        Assert.True(_vault.TryResolve("acme", token, out var value));
        Assert.Equal("cust-4711", value);
        Assert.Equal(token, _vault.Tokenize("acme", "customer_id", "cust-4711"));
    }

    [Fact]
    public void Tokenize_SameValue_SameTokenShapedLikeTheInMemoryVault()
    {
        var token = _vault.Tokenize("acme", "email", "jane@example.com");

        Assert.Equal(token, _vault.Tokenize("acme", "email", "jane@example.com"));
        Assert.Matches(TokenShape(), token);
        Assert.True(Hush.Privacy.Transforms.VaultToken.IsWellFormed(token));
        Assert.NotEqual(token, _vault.Tokenize("acme", "email", "john@example.com"));
    }

    [Fact]
    public void Tokenize_DifferentClassOrTenant_DifferentToken()
    {
        var email = _vault.Tokenize("acme", "email", "jane@example.com");

        Assert.NotEqual(email, _vault.Tokenize("acme", "user_id", "jane@example.com"));
        Assert.NotEqual(email, _vault.Tokenize("globex", "email", "jane@example.com"));
        Assert.Equal(3, _vault.Count("acme") + _vault.Count("globex"));
    }

    [Fact]
    public void TryResolve_AnotherTenantsToken_NeverResolves()
    {
        var token = _vault.Tokenize("acme", "customer_id", "cust-4711");
        _vault.Tokenize("globex", "customer_id", "cust-0001");

        Assert.False(_vault.TryResolve("globex", token, out var value));
        Assert.Null(value);
        Assert.False(_vault.TryResolve("nobody", token, out _));
        Reopen();
        Assert.False(_vault.TryResolve("globex", token, out _));
    }

    [Theory]
    [InlineData("")]
    [InlineData("tok_")]
    [InlineData("tok_0000000000000000000000000I")]
    [InlineData("eml_7F3KQ2MZ9XJ4ABCD")]
    [InlineData("tok_00000000000000000000000000")]
    public void TryResolve_UnknownOrMalformedToken_False(string token)
    {
        _vault.Tokenize("acme", "customer_id", "cust-4711");

        Assert.False(_vault.TryResolve("acme", token, out _));
    }

    [Fact]
    public void EraseSubject_EveryTokenOfTheValueUnresolvable_OtherSubjectsIntact()
    {
        var email = _vault.Tokenize("acme", "email", "Jane@Example.com");
        var user = _vault.Tokenize("acme", "user_id", "jane@example.com");
        var other = _vault.Tokenize("acme", "email", "john@example.com");
        var otherTenant = _vault.Tokenize("globex", "email", "jane@example.com");

        Assert.Equal(2, _vault.TokensOf("acme", " jane@example.com").Count);
        Assert.Equal(2, _vault.EraseSubject("acme", "jane@example.com"));

        Assert.False(_vault.TryResolve("acme", email, out _));
        Assert.False(_vault.TryResolve("acme", user, out _));
        Assert.True(_vault.TryResolve("acme", other, out var kept));
        Assert.Equal("john@example.com", kept);
        Assert.True(_vault.TryResolve("globex", otherTenant, out _));
        Assert.Empty(_vault.TokensOf("acme", "jane@example.com"));
        Assert.Equal(0, _vault.EraseSubject("acme", "jane@example.com"));

        // The cache forgot it too: the value seen again is a new subject with a new token.
        var again = _vault.Tokenize("acme", "email", "Jane@Example.com");
        Assert.NotEqual(email, again);
        Reopen();
        Assert.False(_vault.TryResolve("acme", email, out _));
        Assert.True(_vault.TryResolve("acme", again, out _));
    }

    [Fact]
    public void EraseTenant_RemovesItsEntries_OtherTenantsIntact()
    {
        var acme = _vault.Tokenize("acme", "email", "jane@example.com");
        _vault.Tokenize("acme", "email", "john@example.com");
        var globex = _vault.Tokenize("globex", "email", "jane@example.com");

        Assert.Equal(2, _vault.EraseTenant("acme"));

        Assert.False(_vault.TryResolve("acme", acme, out _));
        Assert.True(_vault.TryResolve("globex", globex, out _));
        Assert.Equal(0, _vault.Count("acme"));
        Assert.NotEqual(acme, _vault.Tokenize("acme", "email", "jane@example.com"));
    }

    [Fact]
    public void DestroyedDataKeys_ShredTheTenantsVault_EvenWithItsRowsStillOnDisk()
    {
        var acme = _vault.Tokenize("acme", "email", "jane@example.com");
        var globex = _vault.Tokenize("globex", "email", "jane@example.com");
        _keys.Destroy("acme");
        Reopen();

        Assert.False(_vault.TryResolve("acme", acme, out _));
        Assert.Equal(0, _vault.Count("acme"));
        Assert.True(_vault.TryResolve("globex", globex, out _));
    }

    [Fact]
    public void RotatedDataKey_OldVaultKeyStillOpens()
    {
        var token = _vault.Tokenize("acme", "email", "jane@example.com");
        _keys.Rotate("acme");
        Reopen();

        Assert.True(_vault.TryResolve("acme", token, out _));
    }

    [Fact]
    public void Reseal_AfterRotation_SameVaultKeyUnderTheNewDataKey()
    {
        Assert.False(_vault.Reseal("acme"));
        Assert.Null(_vault.SealingKeyOf("acme"));
        var token = _vault.Tokenize("acme", "email", "jane@example.com");
        Assert.Equal(_keys.GetActiveKey("acme").Id, _vault.SealingKeyOf("acme"));
        Assert.False(_vault.Reseal("acme"));
        var rotated = _keys.Rotate("acme");

        Assert.True(_vault.Reseal("acme"));
        Assert.False(_vault.Reseal("acme"));
        Reopen();

        Assert.Equal(rotated.Id, _vault.SealingKeyOf("acme"));
        Assert.True(_vault.TryResolve("acme", token, out var value));
        Assert.Equal("jane@example.com", value);
        Assert.Equal(token, _vault.Tokenize("acme", "email", "jane@example.com"));
        Assert.Equal(1, _vault.EraseSubject("acme", "jane@example.com"));
    }

    [Fact]
    public void Reseal_ShreddedTenant_LeavesItAlone()
    {
        var token = _vault.Tokenize("acme", "email", "jane@example.com");
        _vault.Tokenize("globex", "email", "jane@example.com");
        _keys.Destroy("acme");

        Assert.False(_vault.Reseal("acme"));
        Reopen();
        Assert.False(_vault.TryResolve("acme", token, out _));
    }

    [Fact]
    public void SmallCache_EvictedTokensComeBackFromDisk()
    {
        _vault.Dispose();
        _vault = TokenVault.Open(_dir.Path, _keys, cacheEntries: 4);
        var tokens = Enumerable.Range(0, 100).Select(i => _vault.Tokenize("acme", "customer_id", "cust-" + i)).ToList();

        for (var i = 0; i < 100; i++)
        {
            Assert.Equal(tokens[i], _vault.Tokenize("acme", "customer_id", "cust-" + i));
        }

        Assert.Equal(100, _vault.Count("acme"));
    }

    [Fact]
    public void Tokenize_ManyThreadsSameAndDifferentValues_OneTokenPerValue()
    {
        const int Values = 64;
        var seen = new System.Collections.Concurrent.ConcurrentDictionary<string, System.Collections.Concurrent.ConcurrentBag<string>>();
        Parallel.For(0, 8 * Values, new ParallelOptions { MaxDegreeOfParallelism = 8 }, i =>
        {
            var value = "cust-" + (i % Values);
            seen.GetOrAdd(value, _ => []).Add(_vault.Tokenize("acme", "customer_id", value));
        });

        Assert.Equal(Values, seen.Count);
        Assert.All(seen.Values, tokens => Assert.Single(tokens.Distinct()));
        Assert.Equal(Values, seen.Values.Select(t => t.First()).Distinct().Count());
        Assert.Equal(Values, _vault.Count("acme"));
    }

    [Fact]
    public void FullDisk_TokenizeThrows_NeverReturnsAnUnsavedToken()
    {
        _vault.Dispose();
        _vault = TokenVault.Open(_dir.Path, _keys, null, TokenVault.DefaultCacheEntries, maxPageCount: 12);
        var saved = new List<(string Value, string Token)>();
        TokenVaultException? failure = null;
        for (var i = 0; i < 10_000 && failure is null; i++)
        {
            var value = $"PLANTED-full-{i:D5}-" + new string('x', 200);
            try
            {
                saved.Add((value, _vault.Tokenize("acme", "customer_id", value)));
            }
            catch (TokenVaultException ex)
            {
                failure = ex;

                // A retry fails again or (the rollback freed a page) commits: either way a token it returns is on disk.
                try
                {
                    saved.Add((value, _vault.Tokenize("acme", "customer_id", value)));
                }
                catch (TokenVaultException)
                {
                }
            }
        }

        Assert.NotNull(failure);
        Assert.DoesNotContain("PLANTED", failure.ToString(), StringComparison.Ordinal);
        Assert.Contains(TokenVault.FileName, failure.Message, StringComparison.Ordinal);
        Assert.NotEmpty(saved);
        Reopen();
        foreach (var (value, token) in saved)
        {
            Assert.True(_vault.TryResolve("acme", token, out var resolved));
            Assert.Equal(value, resolved);
        }
    }

    [Fact]
    public void Open_GarbageFile_ClearErrorNamingTheFile()
    {
        _vault.Dispose();
        SqliteConnection.ClearAllPools();
        foreach (var file in Directory.GetFiles(_dir.Path, TokenVault.FileName + "*"))
        {
            File.Delete(file);
        }

        File.WriteAllBytes(TokenVault.DefaultPath(_dir.Path), [.. System.Text.Encoding.UTF8.GetBytes("PLANTED-garbage "), .. new byte[8192]]);

        var error = Assert.Throws<TokenVaultException>(() => TokenVault.Open(_dir.Path, _keys));
        Assert.Contains(TokenVault.DefaultPath(_dir.Path), error.Message, StringComparison.Ordinal);
        Assert.Contains("backup", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("PLANTED", error.ToString(), StringComparison.Ordinal);
        _vault = TokenVault.Open(Path.Combine(_dir.Path, "elsewhere"), _keys);
    }

    [Theory]
    [InlineData("UPDATE entries SET sealed = CAST(substr(sealed, 1, 20) || zeroblob(1) || substr(sealed, 22) AS BLOB)")]
    [InlineData("UPDATE subjects SET sealed = zeroblob(60)")]
    [InlineData("UPDATE entries SET sealed = 'not a blob'")]
    public void TamperedEntry_ResolveThrowsWithoutTheValue(string tamper)
    {
        var token = _vault.Tokenize("acme", "customer_id", "PLANTED-cust-4711");
        _vault.Dispose();
        using (var connection = new SqliteConnection($"Data Source={TokenVault.DefaultPath(_dir.Path)};Pooling=false"))
        {
            connection.Open();
            using var command = connection.CreateCommand();
            command.CommandText = tamper;
            Assert.Equal(1, command.ExecuteNonQuery());
        }

        _vault = TokenVault.Open(_dir.Path, _keys);
        var error = Assert.Throws<TokenVaultException>(() => _vault.TryResolve("acme", token, out _));
        Assert.DoesNotContain("PLANTED", error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void AnotherKeyRing_CannotOpenTheVaultKeys()
    {
        var token = _vault.Tokenize("acme", "customer_id", "cust-4711");
        _vault.Dispose();
        using var otherKek = TestData.Kek(start: 99);
        using var otherDir = new TempDirectory();
        using var otherKeys = KeyRing.Open(otherDir.Path, otherKek);

        // A vault file copied next to another key ring: the tenant's key id is unknown there, so nothing resolves.
        _vault = TokenVault.Open(_dir.Path, otherKeys);
        Assert.False(_vault.TryResolve("acme", token, out _));
    }

    [Fact]
    public void ToString_NamesTheFileNeverAKey()
    {
        _vault.Tokenize("acme", "customer_id", "cust-4711");

        Assert.Contains("[REDACTED]", _vault.ToString(), StringComparison.Ordinal);
        Assert.Contains(TokenVault.FileName, _vault.ToString(), StringComparison.Ordinal);
    }

    [GeneratedRegex("^tok_[0-9A-HJKMNP-TV-Z]{26}$")]
    private static partial Regex TokenShape();


    private void Reopen()
    {
        _vault.Dispose();
        _keys.Dispose();
        _keys = KeyRing.Open(_dir.Path, _kek);
        _vault = TokenVault.Open(_dir.Path, _keys);
    }
}
