using Hush.Cli.Commands;
using Hush.Otlp;
using Hush.Store;
using Hush.Store.Storage;
using Hush.Store.Vault;

namespace Hush.Cli.Tests.Store;

/// <summary>
/// <c>hush erase</c> removes the subject's (or tenant's) token vault entries with its spans, and says how many;
/// <c>hush keys rotate|rewrap</c> carry the vault over to the new data key.
/// </summary>
public sealed class EraseCommandTests : IDisposable
{
    private readonly StoreConfigDirectory _dir = new("hush-erase-");

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void EraseSubject_RemovesTheSpansCarryingItsTokens_AndItsVaultEntries()
    {
        var (jane, john) = Seed();

        var output = new StringWriter();
        Assert.True(StoreCommands.RunErase(_dir.Config, "acme", "jane@example.com", all: false, output, output, new Dictionary<string, string?>()) == 0, output.ToString());

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
        Assert.True(StoreCommands.RunErase(_dir.Config, "acme", null, all: true, output, output, new Dictionary<string, string?>()) == 0, output.ToString());

        Assert.Contains("3 token vault entries deleted", output.ToString(), StringComparison.Ordinal);
        WithVault((store, vault) =>
        {
            Assert.Equal(0, vault.Count("acme"));
            Assert.False(vault.TryResolve("acme", jane, out _));
            Assert.Equal(1, vault.Count("globex"));
            Assert.Empty(store.Tenants());
        });
    }

    [Fact]
    public void EraseSubject_OtherSpellingsOfTheSubject_TheirPseudonymsAreErasedToo()
    {
        var loaded = Hush.Gateway.Configuration.HushConfigLoader.LoadFile(_dir.Config, new Dictionary<string, string?>());
        var secret = Hush.Gateway.Privacy.PseudonymSecret.Load(loaded.Config!.Privacy, _dir.Path, _ => null, out _);
        var pseudonymizer = new Hush.Privacy.Transforms.Pseudonymizer(new Hush.Privacy.DerivedPseudonymKeyProvider(secret).GetKey("acme"));
        WithVault((store, _) => store.Append("acme", Request(
            (1, pseudonymizer.Pseudonymize("email", "jane@example.com")),
            (2, pseudonymizer.Pseudonymize("email", "jane%40example.com")),
            (3, pseudonymizer.Pseudonymize("email", "john@example.com")))));

        var output = new StringWriter();
        Assert.True(StoreCommands.RunErase(_dir.Config, "acme", " Jane@Example.com", all: false, output, output, new Dictionary<string, string?>()) == 0, output.ToString());

        Assert.Contains("removed 2 spans", output.ToString(), StringComparison.Ordinal);
        WithVault((store, _) => Assert.Equal(1, store.Totals("acme").Spans));
    }

    [Fact]
    public void SubjectForms_AsGivenTrimmedLowerCasedAndUrlEncoded()
    {
        Assert.Equal(
            new[] { " Jane@Example.com", "Jane@Example.com", "jane@example.com", " Jane%40Example.com", "Jane%40Example.com", "jane%40example.com" }.Order(StringComparer.Ordinal),
            StoreCommands.SubjectForms(" Jane@Example.com").Order(StringComparer.Ordinal));
        Assert.Equal(["u-1842"], StoreCommands.SubjectForms("u-1842"));
        Assert.Equal(["  "], StoreCommands.SubjectForms("  "));
    }

    [Fact]
    public async Task EraseSubject_JournalStillHoldsTheTenantsRequests_RefusesAndErasesNothing()
    {
        var (jane, _) = Seed();
        await JournalAsync("acme");
        await JournalAsync("globex");

        var output = new StringWriter();
        var error = new StringWriter();
        Assert.Equal(1, StoreCommands.RunErase(_dir.Config, "acme", "jane@example.com", all: false, output, error, new Dictionary<string, string?>()));

        Assert.Contains("journal still holds 1 requests of tenant acme", error.ToString(), StringComparison.Ordinal);
        Assert.Contains("Nothing was erased", error.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("jane", error.ToString() + output.ToString(), StringComparison.Ordinal);
        WithVault((store, vault) =>
        {
            Assert.True(vault.TryResolve("acme", jane, out _));
            Assert.Equal(2, store.Totals("acme").Spans);
        });

        // The journal's records survive the check (the next start still replays them), and another tenant is not held up.
        Assert.True(StoreCommands.RunErase(_dir.Config, "globex", "jane@example.com", all: false, output, error, new Dictionary<string, string?>()) == 1);
        Assert.True(StoreCommands.RunErase(_dir.Config, "initech", "jane@example.com", all: false, output, error, new Dictionary<string, string?>()) == 0, error.ToString());
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

        Assert.True(StoreCommands.RunKeys(action, _dir.Config, "acme", output, output, new Dictionary<string, string?>()) == 0, output.ToString());

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
        Assert.True(StoreCommands.RunErase(_dir.Config, "acme", "jane@example.com", all: false, output, output, new Dictionary<string, string?>()) == 0, output.ToString());
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

    /// <summary>Leaves one acknowledged, never released request of <paramref name="tenant"/> in the journal, as a crash would.</summary>
    private async Task JournalAsync(string tenant)
    {
        using var kek = KeyEncryptionKey.Load(_dir.Path, null, _ => null, out _);
        using var keys = KeyRing.Open(_dir.Path, kek);
        await using var journal = Hush.Store.Journal.IngestJournal.Open(_dir.Path, keys);
        await journal.AppendAsync(tenant, Request((9, "tok_journalled")), CancellationToken.None);
    }

    private void WithVault(Action<TraceStore, TokenVault> action)
    {
        using var kek = KeyEncryptionKey.Load(_dir.Path, null, _ => null, out _);
        using var store = TraceStore.Open(_dir.Path, kek);
        using var vault = TokenVault.Open(_dir.Path, store.Keys);
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
