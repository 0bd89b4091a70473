namespace Hush.Privacy.Tests.Keys;

public sealed class PseudonymKeyTests
{
    [Fact]
    public void GetKey_SameTenant_SameKeyDifferentTenant_DifferentKey()
    {
        var provider = new DerivedPseudonymKeyProvider(TestSupport.MasterSecret);

        Assert.Equal(provider.GetKey("a"), new DerivedPseudonymKeyProvider(TestSupport.MasterSecret).GetKey("a"));
        Assert.NotEqual(provider.GetKey("a"), provider.GetKey("b"));
        Assert.Equal(32, provider.GetKey("a").Length);
    }

    [Fact]
    public void GetKey_MatchesHkdfSha256WithVersionedInfo()
    {
        var expected = System.Security.Cryptography.HKDF.DeriveKey(
            System.Security.Cryptography.HashAlgorithmName.SHA256, TestSupport.MasterSecret, 32, [], "hush/pseudonym/v1/acme"u8.ToArray());

        Assert.Equal(expected, new DerivedPseudonymKeyProvider(TestSupport.MasterSecret).GetKey("acme"));
    }

    [Fact]
    public void Constructor_ShortSecret_ThrowsWithoutPrintingIt()
    {
        var ex = Assert.Throws<ArgumentException>(() => new DerivedPseudonymKeyProvider([1, 2, 3]));

        Assert.Contains("at least 32 bytes", ex.Message, StringComparison.Ordinal);
        Assert.Equal("DerivedPseudonymKeyProvider([REDACTED])", new DerivedPseudonymKeyProvider(TestSupport.MasterSecret).ToString());
    }
}
