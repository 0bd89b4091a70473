using Hush.Store.Vault;
using Microsoft.Data.Sqlite;

namespace Hush.Store.Tests.Vault;

/// <summary>
/// A vault written by schema version 1 (with its key ring, under <see cref="TestData.Kek"/>) keeps resolving: the
/// schema, the key derivation, the associated data and the sealed layout are frozen. Change one by bumping
/// <see cref="VaultDatabase.SchemaVersion"/> and adding a new golden directory, never by regenerating this one.
/// </summary>
public sealed class TokenVaultGoldenTests : IDisposable
{
    private const string Golden = "vault-v1";
    private const string Value = "golden-subject@example.com";

    private readonly TempDirectory _dir = new();

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        _dir.Dispose();
    }

    [Fact]
    public void Vault_V1_GoldenFilesStillResolve()
    {
        using var kek = TestData.Kek();
        if (Environment.GetEnvironmentVariable("HUSH_WRITE_GOLDEN") == "1" && !Directory.Exists(TestData.SourceTestdataPath(Golden)))
        {
            Write(kek);
            return;
        }

        Directory.CreateDirectory(Path.Combine(_dir.Path, "keys"));
        File.Copy(TestData.TestdataPath(Path.Combine(Golden, KeyRing.FileName)), KeyRing.DefaultPath(_dir.Path));
        File.Copy(TestData.TestdataPath(Path.Combine(Golden, TokenVault.FileName)), TokenVault.DefaultPath(_dir.Path));
        var tokens = File.ReadAllLines(TestData.TestdataPath(Path.Combine(Golden, "tokens.txt")));
        using var keys = KeyRing.Open(_dir.Path, kek);
        using var vault = TokenVault.Open(_dir.Path, keys);

        Assert.True(vault.TryResolve("acme", tokens[0], out var email));
        Assert.Equal(Value, email);
        Assert.True(vault.TryResolve("acme", tokens[1], out var user));
        Assert.Equal(Value.ToUpperInvariant(), user);
        Assert.Equal(tokens[0], vault.Tokenize("acme", "email", Value));
        Assert.Equal(2, vault.EraseSubject("acme", Value));
    }

    private void Write(KeyMaterial kek)
    {
        string[] tokens;
        using (var keys = KeyRing.Open(_dir.Path, kek))
        {
            using var vault = TokenVault.Open(_dir.Path, keys);
            tokens = [vault.Tokenize("acme", "email", Value), vault.Tokenize("acme", "user_id", Value.ToUpperInvariant())];
        }

        // Closing the last connection checkpoints the WAL into vault.db.
        SqliteConnection.ClearAllPools();
        var target = TestData.SourceTestdataPath(Golden);
        Directory.CreateDirectory(target);
        File.Copy(KeyRing.DefaultPath(_dir.Path), Path.Combine(target, KeyRing.FileName));
        File.Copy(TokenVault.DefaultPath(_dir.Path), Path.Combine(target, TokenVault.FileName));
        File.WriteAllLines(Path.Combine(target, "tokens.txt"), tokens);
    }
}
