using System.Text;
using Hush.Gateway.Authentication;
using Hush.Gateway.Tests.Support;

namespace Hush.Gateway.Tests.Authentication;

public sealed class TokenStoreTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("hush-tokens-").FullName;

    private string TokenFile => Path.Combine(_dir, "tokens.json");

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Create_ThenValidate_ReturnsIdentityBoundToTenantAndServices()
    {
        var store = Open();

        var (token, info) = store.Create("acme", ["checkout*", "cart"], "ci");
        var result = store.Validate(token);

        Assert.StartsWith(TokenStore.Prefix + info.Id + "_", token, StringComparison.Ordinal);
        Assert.True(result.Succeeded);
        Assert.Equal("token:" + info.Id, result.Identity!.Id);
        Assert.Equal("acme", result.Identity.Tenant);
        Assert.True(result.Identity.MayEmit("checkout-api"));
        Assert.True(result.Identity.MayEmit("cart"));
        Assert.False(result.Identity.MayEmit("payments"));
        Assert.Equal(1, store.ActiveCount);
    }

    [Fact]
    public void Create_TokenFile_HoldsNoTokenAndIsOwnerOnly()
    {
        var store = Open();
        var (token, info) = store.Create("acme", ["*"]);

        var text = File.ReadAllText(TokenFile);
        var secret = token[(TokenStore.Prefix.Length + info.Id.Length + 1)..];

        Assert.DoesNotContain(secret, text, StringComparison.Ordinal);
        Assert.DoesNotContain(token, text, StringComparison.Ordinal);
        Assert.Contains(info.Id, text, StringComparison.Ordinal);
        var pepper = File.ReadAllText(TokenStore.PepperPathFor(TokenFile));
        Assert.DoesNotContain(secret, pepper, StringComparison.Ordinal);
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(TokenFile));
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(TokenStore.PepperPathFor(TokenFile)));
        }

        Assert.DoesNotContain(secret, store.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_TokenWithAnotherPepper_IsUnknown()
    {
        var (token, _) = Open().Create("acme", ["*"]);
        File.Delete(TokenStore.PepperPathFor(TokenFile));

        // A copy of the token file alone confirms nothing: without the pepper no token verifies.
        Assert.Equal(AuthFailure.UnknownToken, Open().Validate(token).Failure);
    }

    [Theory]
    [InlineData("")]
    [InlineData("hush_")]
    [InlineData("hush_abcdefghij_tooshort")]
    [InlineData("Bearer hush_abcdefghij_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")]
    [InlineData("hush_ABCDEFGHIJ_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")]
    [InlineData("hush_abcdefghij-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")]
    [InlineData("hush_abcdefghij_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\u00e9")]
    public void Validate_Garbage_IsMalformed(string garbage)
    {
        Assert.Equal(AuthFailure.Malformed, Open().Validate(garbage).Failure);
    }

    [Fact]
    public void Validate_WellFormedButUnknownOrTampered_IsUnknownToken()
    {
        var store = Open();
        var (token, _) = store.Create("acme", ["*"]);
        var tampered = token[..^1] + (token[^1] == 'a' ? 'b' : 'a');

        Assert.Equal(AuthFailure.UnknownToken, store.Validate(tampered).Failure);
        Assert.Equal(AuthFailure.UnknownToken, store.Validate("hush_abcdefghij_" + new string('a', 52)).Failure);
    }

    [Fact]
    public void Revoke_InAnotherProcess_IsSeenAfterTheRecheckInterval()
    {
        var clock = new ManualClock();
        var server = Open(clock);
        var (token, info) = Open().Create("acme", ["*"]);
        clock.Advance(TokenStore.RecheckInterval);
        Assert.True(server.Validate(token).Succeeded);

        Assert.True(Open().Revoke(info.Id));
        Assert.False(Open().Revoke(info.Id));
        Assert.False(Open().Revoke("nosuchid00"));

        clock.Advance(TokenStore.RecheckInterval);
        Assert.Equal(AuthFailure.Revoked, server.Validate(token).Failure);
        var listed = Assert.Single(Open().List());
        Assert.NotNull(listed.Revoked);
        Assert.Equal(0, server.ActiveCount);
    }

    [Fact]
    public void Validate_FileBrokenByHand_KeepsTheTokensInForce()
    {
        var clock = new ManualClock();
        var store = Open(clock);
        var (token, _) = store.Create("acme", ["*"]);

        File.WriteAllText(TokenFile, "{ not json");
        clock.Advance(TokenStore.RecheckInterval);

        Assert.True(store.Validate(token).Succeeded);
        var ex = Assert.Throws<InvalidOperationException>(() => Open().List());
        Assert.Contains(TokenFile, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Open_DamagedEntry_OthersStillValidate()
    {
        var store = Open();
        var (first, firstInfo) = store.Create("acme", ["*"]);
        var (second, _) = store.Create("beta", ["*"]);
        var file = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(TokenFile))!;
        file["tokens"]![0]!["salt"] = "!!not-base64!!";
        File.WriteAllText(TokenFile, file.ToJsonString(), new UTF8Encoding(encoderShouldEmitUTF8Identifier: true));

        var reopened = Open();

        Assert.Equal(AuthFailure.UnknownToken, reopened.Validate(first).Failure);
        Assert.True(reopened.Validate(second).Succeeded);
        Assert.Contains(reopened.List(), t => t.Id == firstInfo.Id);
    }

    private TokenStore Open(TimeProvider? time = null) => TokenStore.Open(TokenFile, TokenStore.PepperPathFor(TokenFile), time);
}
