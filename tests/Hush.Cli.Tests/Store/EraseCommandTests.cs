using Hush.Cli.Commands;
using Hush.Otlp;
using Hush.Store;
using Hush.Store.Storage;
using Hush.Store.Vault;
using Microsoft.Data.Sqlite;

namespace Hush.Cli.Tests.Store;

/// <summary>
/// <c>hush erase</c> removes the subject's (or tenant's) token vault entries with its spans, and says how many;
/// <c>hush keys rotate|rewrap</c> carry the vault over to the new data key.
/// </summary>
public sealed class EraseCommandTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("hush-erase-").FullName;
    private readonly string _config;

    public EraseCommandTests()
    {
        _config = Path.Combine(_directory, "hush.yaml");
        File.WriteAllText(_config, $"""
            receivers:
              otlp:
                protocols:
                  http:
                    endpoint: 127.0.0.1:0
            exporters:
              store: {"{}"}
            service:
              pipelines:
                traces:
                  receivers: [otlp]
                  exporters: [store]
              data_dir: {_directory}
            """);
    }

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        Directory.Delete(_directory, recursive: true);
    }

    [Fact]
    public void EraseSubject_RemovesTheSpansCarryingItsTokens_AndItsVaultEntries()
    {
        var (jane, john) = Seed();

        var output = new StringWriter();
        Assert.True(StoreCommands.RunErase(_config, "acme", "jane@example.com", all: false, output, output, new Dictionary<string, string?>()) == 0, output.ToString());

        Assert.Contains("removed 1 spans", output.ToString(), StringComparison.Ordinal);
        Assert.Contains("deleted 2 token vault entries", output.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("jane", output.ToString(), StringComparison.Ordinal);
        WithVault((store, vault) =>
        {
            Assert.False(vault.TryResolve("acme", jane, out _));
            Assert.True(vault.TryResolve("acme", john, out _));
            Assert.Equal(1, store.Totals("acme").Spans);
        });
    }

    [Fact]
    public void EraseAll_ShredsAndDeletesTheTenantsVault()
    {
        var (jane, _) = Seed();

        var output = new StringWriter();
        Assert.True(StoreCommands.RunErase(_config, "acme", null, all: true, output, output, new Dictionary<string, string?>()) == 0, output.ToString());

        Assert.Contains("3 token vault entries deleted", output.ToString(), StringComparison.Ordinal);
        WithVault((store, vault) =>
        {
            Assert.Equal(0, vault.Count("acme"));
            Assert.False(vault.TryResolve("acme", jane, out _));
            Assert.Equal(1, vault.Count("globex"));
            Assert.Empty(store.Tenants());
        });
    }

    [Theory]
    [InlineData("rotate")]
    [InlineData("rewrap")]
    public void Keys_SealTheVaultUnderTheActiveKey_TokensStillResolveAndErase(string action)
    {
        var (jane, john) = Seed();
        KeyId before = default;
        WithVault((store, _) => before = store.Keys.GetActiveKey("acme").Id);
        var output = new StringWriter();
        if (action == "rewrap")
        {
            // Rewrap after a rotation that did not reseal (a vault written by an older Hush): rewrap catches it up.
            WithVault((store, _) => store.Keys.Rotate("acme"));
        }

        Assert.True(StoreCommands.RunKeys(action, _config, "acme", output, output, new Dictionary<string, string?>()) == 0, output.ToString());

        Assert.Contains("tenant acme: token vault key sealed under key", output.ToString(), StringComparison.Ordinal);
        WithVault((store, vault) =>
        {
            var active = store.Keys.GetActiveKey("acme").Id;
            Assert.NotEqual(before, active);
            Assert.Equal(active, vault.SealingKeyOf("acme"));
            Assert.True(vault.TryResolve("acme", jane, out var value));
            Assert.Equal("jane@example.com", value);
            Assert.False(vault.Reseal("acme"));
        });

        output = new StringWriter();
        Assert.True(StoreCommands.RunErase(_config, "acme", "jane@example.com", all: false, output, output, new Dictionary<string, string?>()) == 0, output.ToString());
        Assert.Contains("deleted 2 token vault entries", output.ToString(), StringComparison.Ordinal);
        WithVault((_, vault) => Assert.True(vault.TryResolve("acme", john, out var _)));
    }


    /// <summary>Three acme entries (jane twice, john once), one globex entry, and a span per acme token.</summary>
    private (string Jane, string John) Seed()
    {
        string jane = null!, john = null!;
        WithVault((store, vault) =>
        {
            jane = vault.Tokenize("acme", "customer_id", "jane@example.com");
            vault.Tokenize("acme", "user_id", "Jane@Example.com");
            john = vault.Tokenize("acme", "customer_id", "john@example.com");
            vault.Tokenize("globex", "customer_id", "jane@example.com");
            store.Append("acme", Request((1, jane), (2, john)));
        });
        return (jane, john);
    }

    private void WithVault(Action<TraceStore, TokenVault> action)
    {
        using var kek = KeyEncryptionKey.Load(_directory, null, _ => null, out _);
        using var store = TraceStore.Open(_directory, kek);
        using var vault = TokenVault.Open(_directory, store.Keys);
        action(store, vault);
    }

    private static TraceRequest Request(params (ulong Id, string Token)[] spans)
    {
        var scope = new ScopeSpans();
        foreach (var (id, token) in spans)
        {
            scope.Spans.Add(new Span
            {
                TraceId = new TraceId(7, id),
                SpanId = new SpanId(id),
                Name = "GET /orders",
                StartTimeUnixNano = (ulong)DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() * 1_000_000,
                EndTimeUnixNano = ((ulong)DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() * 1_000_000) + 1000,
                Attributes = [new KeyValue("customer.id", AnyValue.Of(token))],
            });
        }

        var resource = new ResourceSpans { Resource = new Resource { Attributes = [new KeyValue("service.name", AnyValue.Of("checkout"))] } };
        resource.ScopeSpans.Add(scope);
        var request = new TraceRequest();
        request.ResourceSpans.Add(resource);
        return request;
    }
}
