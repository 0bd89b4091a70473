using System.Net;
using Hush.Gateway.Configuration;
using Hush.Gateway.Tests.Receivers;
using Hush.Gateway.Tests.Support;
using Hush.Otlp;
using Hush.Privacy.Transforms;
using Microsoft.Data.Sqlite;

namespace Hush.Gateway.Tests.Privacy;

/// <summary>Which vault the tokenize action writes to: the store's, a test's, or (no store) one in memory, with a warning.</summary>
public sealed class VaultWiringTests : IDisposable
{
    private const string Policy = """
        version: 1
        rules:
          - name: emails
            keys: [user.email]
            class: email
            action: tokenize
        """;

    private readonly string _dataDir = Directory.CreateTempSubdirectory("hush-vault-wiring-").FullName;

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        Directory.Delete(_dataDir, recursive: true);
    }

    [Fact]
    public async Task NoStoreExporter_VaultInMemory_WarningLogged()
    {
        await using var gateway = await GatewayFixture.StartAsync();

        Assert.Contains("vault is in memory", gateway.Logs.AllText, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(gateway.Server.Config.DataDir, Hush.Store.Vault.TokenVault.FileName)));
    }

    [Fact]
    public async Task OptionsTokenVault_TakesTheStoresSeat()
    {
        var vault = new InMemoryTokenVault();
        var policyPath = Path.Combine(_dataDir, "policy.yaml");
        File.WriteAllText(policyPath, Policy);
        var yaml = GatewayFixture.StoreYaml(_dataDir, policyPath);
        var config = HushConfigLoader.LoadYaml(yaml, new Dictionary<string, string?>()).Config!;

        await using (var server = await HushServer.StartAsync(config, new HushServerOptions { TokenVault = vault }))
        {
            using var http = new HttpClient { BaseAddress = server.HttpEndpoint };
            using var response = await OtlpHttpReceiverTests.PostAsync(http, "v1/traces", "application/x-protobuf", OtlpProtobuf.Encode(GatewayFixture.Request("tokenized")));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        Assert.Equal(1, vault.Count);
        Assert.False(File.Exists(Path.Combine(_dataDir, Hush.Store.Vault.TokenVault.FileName)));
    }
}
