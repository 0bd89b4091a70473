using Hush.Store.Vault;
using Microsoft.Data.Sqlite;

namespace Hush.Store.Tests.Vault;

/// <summary>Whoever copies the data directory (vault.db and its -wal and -shm included) without the KEK learns no tokenized value and no token.</summary>
public sealed class StolenVaultTests : IDisposable
{
    private static readonly string[] Planted =
    [
        "cust-ocelot-31415",
        "jane.marmoset@example.com",
        "4111-pangolin-1111",
        "Ünïcode-Wömbat-2718",
    ];

    private readonly TempDirectory _dir = new();
    private readonly KeyMaterial _kek = TestData.Kek();

    public void Dispose()
    {
        _kek.Dispose();
        SqliteConnection.ClearAllPools();
        _dir.Dispose();
    }

    [Fact]
    public void DataDirectory_WhileOpenAndAfterDispose_HoldsNoPlantedValueNorToken()
    {
        var tokens = new List<string>();
        using (var keys = KeyRing.Open(_dir.Path, _kek))
        {
            using var vault = TokenVault.Open(_dir.Path, keys);
            foreach (var value in Planted)
            {
                tokens.Add(vault.Tokenize("acme", "customer_id", value));
                tokens.Add(vault.Tokenize("acme", "email", value));
                tokens.Add(vault.Tokenize("globex", "customer_id", value));
            }

            Assert.True(vault.TryResolve("acme", tokens[0], out _));
            vault.EraseSubject("acme", Planted[2]);

            // Open: the WAL holds the latest pages.
            Assert.True(File.Exists(TokenVault.DefaultPath(_dir.Path) + "-wal"));
            PlantedScan.AssertNoneIn(_dir.Path, [.. Planted, .. tokens]);
            vault.Tokenize("acme", "customer_id", Planted[3] + "-later");
            Assert.True(File.Exists(TokenVault.DefaultPath(_dir.Path) + "-shm"));
            PlantedScan.AssertNoneIn(_dir.Path, [.. Planted, .. tokens]);
        }

        Assert.True(File.Exists(TokenVault.DefaultPath(_dir.Path)));
        PlantedScan.AssertNoneIn(_dir.Path, [.. Planted, .. tokens]);
    }
}
