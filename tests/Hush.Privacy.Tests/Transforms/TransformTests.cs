using FsCheck;
using FsCheck.Fluent;
using Hush.Privacy.Detection;
using Hush.Privacy.Transforms;

namespace Hush.Privacy.Tests.TransformTests;

public sealed class RedactorTests
{
    [Theory]
    [InlineData("email", "{email}")]
    [InlineData("custom_class", "{custom_class}")]
    public void Placeholder_Class_Braced(string dataClass, string expected)
    {
        Assert.Equal(expected, Redactor.Placeholder(dataClass));
    }

    [Fact]
    public void RedactMatches_ReplacesOnlyMatchedText()
    {
        string value = "to jane@x.io and 10.0.0.1!";
        var matches = new List<DetectorMatch> { new(3, 9, "email", "email"), new(17, 8, "ip", "ipv4") };
        Assert.Equal("to {email} and {ip}!", Redactor.RedactMatches(value, matches));
    }

    [Fact]
    public void RedactMatches_NoMatches_SameInstance()
    {
        string value = "clean";
        Assert.Same(value, Redactor.RedactMatches(value, []));
    }

    [Fact]
    public void RedactMatches_UnsortedOverlappingAndOutOfRange_MergedAndIgnored()
    {
        string value = "0123456789";
        var matches = new List<DetectorMatch> { new(6, 2, "b", "b"), new(1, 3, "a", "a"), new(2, 4, "c", "c"), new(8, 10, "z", "z") };
        Assert.Equal("0{c}{b}89", Redactor.RedactMatches(value, matches));
    }

    [Fact]
    public void RedactMatches_WholeValue_OnlyPlaceholder()
    {
        Assert.Equal("{credential}", Redactor.RedactMatches("secret", [new DetectorMatch(0, 6, "credential", "x")]));
    }
}

public sealed class MaskerTests
{
    [Theory]
    [InlineData("4111111111111111", 4, '*', "************1111")]
    [InlineData("4111111111111111", 0, '*', "****************")]
    [InlineData("secret", 2, '#', "####et")]
    [InlineData("1234", 4, '*', "**34")]
    [InlineData("ab", 10, '*', "*b")]
    [InlineData("a", 1, '*', "*")]
    [InlineData("", 4, '*', "")]
    public void Mask_Value_KeepsAtMostLastNAndAtMostHalf(string value, int keepLast, char maskChar, string expected)
    {
        Assert.Equal(expected, Masker.Mask(value, keepLast, maskChar));
    }

    [Fact]
    public void Mask_SurrogatePairs_CountedAsOneAndNeverSplit()
    {
        Assert.Equal("***\U0001F600\U0001F601", Masker.Mask("ab\U0001F600\U0001F600\U0001F601", 2));
    }

    [Fact]
    public void Mask_NegativeKeep_Throws()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => Masker.Mask("x", -1));
    }
}

public sealed class TruncatorTests
{
    [Theory]
    [InlineData("hello", 10, "hello")]
    [InlineData("hello", 5, "hello")]
    [InlineData("hello world", 6, "hello…")]
    [InlineData("hello", 1, "…")]
    public void Truncate_Value_AtMostMaxCharsWithMark(string value, int max, string expected)
    {
        Assert.Equal(expected, Truncator.Truncate(value, max));
    }

    [Fact]
    public void Truncate_CutInsideSurrogatePair_BacksOff()
    {
        string value = "ab\U0001F600cd";
        string result = Truncator.Truncate(value, 4);
        Assert.Equal("ab…", result);
        Assert.False(char.IsHighSurrogate(result[^2]));
    }

    [Fact]
    public void Truncate_AnyLength_NeverLongerNorBroken()
    {
        var gen = from n in Gen.Choose(0, 60)
                  from cs in Gen.ArrayOf(Gen.Elements('a', '\uD83D', '\uDE00', 'é'), n)
                  from max in Gen.Choose(1, 70)
                  select (new string(cs), max);
        Prop.ForAll(gen.ToArbitrary(), t =>
        {
            string r = Truncator.Truncate(t.Item1, t.max);
            bool endsBroken = r.Length >= 2 && r.EndsWith('…') && char.IsHighSurrogate(r[^2]) && !char.IsHighSurrogate(t.Item1[r.Length - 2]);
            return r.Length <= t.max && !endsBroken;
        }).Check(Config.QuickThrowOnFailure.WithMaxTest(300));
    }

    [Fact]
    public void Truncate_ZeroMax_Throws()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => Truncator.Truncate("x", 0));
    }
}

public sealed class GeneralizerTests
{
    [Theory]
    [InlineData("203.0.113.77", "203.0.113.0/24")]
    [InlineData(" 10.1.2.3 ", "10.1.2.0/24")]
    [InlineData("2001:db8:85a3::8a2e:370:7334", "2001:db8:85a3::/48")]
    [InlineData("[2001:db8:1:2::1]", "2001:db8:1::/48")]
    [InlineData("fe80::1%eth0", "fe80::/48")]
    [InlineData("::ffff:192.0.2.128", "192.0.2.0/24")]
    public void TryGeneralizeIp_Address_Prefix(string value, string expected)
    {
        Assert.True(Generalizer.TryGeneralizeIp(value, out string generalized));
        Assert.Equal(expected, generalized);
    }

    [Theory]
    [InlineData("")]
    [InlineData("10.1")]
    [InlineData("1")]
    [InlineData("256.1.1.1")]
    [InlineData("1.2.3.4:80")]
    [InlineData("not an ip")]
    [InlineData("12:30:45")]
    public void TryGeneralizeIp_NotAnAddress_False(string value)
    {
        Assert.False(Generalizer.TryGeneralizeIp(value, out string generalized));
        Assert.Equal(string.Empty, generalized);
    }

    [Theory]
    [InlineData("1987-06-05", "1987")]
    [InlineData("1987-06", "1987")]
    [InlineData("19870605", "1987")]
    [InlineData("1987-06-05T13:45:00Z", "1987")]
    [InlineData("1987-06-05T13:45:00.123+02:00", "1987")]
    [InlineData("1987-06-05 13:45:00", "1987")]
    public void TryGeneralizeDate_IsoDate_Year(string value, string expected)
    {
        Assert.True(Generalizer.TryGeneralizeDate(value, out string year));
        Assert.Equal(expected, year);
    }

    [Theory]
    [InlineData("")]
    [InlineData("1987")]
    [InlineData("1987-13-01")]
    [InlineData("1987-02-30")]
    [InlineData("05/06/1987")]
    [InlineData("1987-06-05Tgarbage")]
    [InlineData("12345678")]
    public void TryGeneralizeDate_NotADate_False(string value)
    {
        Assert.False(Generalizer.TryGeneralizeDate(value, out string year));
        Assert.Equal(string.Empty, year);
    }
}

public sealed class PseudonymizerTests
{
    private static readonly byte[] KeyA = Enumerable.Range(0, 32).Select(i => (byte)i).ToArray();
    private static readonly byte[] KeyB = Enumerable.Range(1, 32).Select(i => (byte)i).ToArray();

    [Fact]
    public void Pseudonymize_GoldenValue_Frozen()
    {
        // Frozen: pseudonyms are stored and joined on; changing the scheme needs a new version tag.
        var p = new Pseudonymizer(KeyA);
        Assert.Equal("usr_N2GSK1JGT6TY6FG2", p.Pseudonymize("user_id", "alice"));
        Assert.Equal(Expected("email", "jane@example.com"), p.Pseudonymize("email", "jane@example.com"));
        Assert.Matches("^usr_[0-9A-HJKMNP-TV-Z]{16}$", p.Pseudonymize("user_id", "alice"));
    }

    private static string Expected(string dataClass, string value)
    {
        byte[] input = [.. "hush-pseudonym-v1\0"u8, .. System.Text.Encoding.UTF8.GetBytes(dataClass), 0, .. System.Text.Encoding.UTF8.GetBytes(value)];
        byte[] mac = System.Security.Cryptography.HMACSHA256.HashData(KeyA, input);
        var bits = new System.Text.StringBuilder();
        foreach (byte b in mac.AsSpan(0, 10))
        {
            bits.Append(Convert.ToString(b, 2).PadLeft(8, '0'));
        }

        const string alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
        var sb = new System.Text.StringBuilder(Pseudonymizer.PrefixFor(dataClass) + "_");
        for (int i = 0; i < 80; i += 5)
        {
            sb.Append(alphabet[Convert.ToInt32(bits.ToString(i, 5), 2)]);
        }

        return sb.ToString();
    }

    [Fact]
    public void Pseudonymize_SameInput_SameOutput()
    {
        var p = new Pseudonymizer(KeyA);
        Assert.Equal(p.Pseudonymize("email", "a@b.io"), new Pseudonymizer(KeyA).Pseudonymize("email", "a@b.io"));
    }

    [Fact]
    public void Pseudonymize_DifferentKeyClassOrValue_DifferentOutput()
    {
        var a = new Pseudonymizer(KeyA);
        string x = a.Pseudonymize("email", "a@b.io");
        Assert.NotEqual(x, new Pseudonymizer(KeyB).Pseudonymize("email", "a@b.io"));
        Assert.NotEqual(x[4..], a.Pseudonymize("user_id", "a@b.io")[4..]);
        Assert.NotEqual(x, a.Pseudonymize("email", "a@b.iO"));
    }

    [Theory]
    [InlineData("user_id", "usr_")]
    [InlineData("enduser", "usr_")]
    [InlineData("email", "eml_")]
    [InlineData("phone", "tel_")]
    [InlineData("ip", "ip_")]
    [InlineData("name", "nam_")]
    [InlineData("payment_card", "pan_")]
    [InlineData("something_else", "pii_")]
    public void Pseudonymize_DataClass_Prefix(string dataClass, string prefix)
    {
        string p = new Pseudonymizer(KeyA).Pseudonymize(dataClass, "v");
        Assert.StartsWith(prefix, p, StringComparison.Ordinal);
        Assert.Equal(prefix.Length + 16, p.Length);
    }

    [Fact]
    public void Pseudonymize_LongValue_Works()
    {
        string p = new Pseudonymizer(KeyA).Pseudonymize("name", new string('x', 10_000));
        Assert.Equal(20, p.Length);
    }

    [Fact]
    public void Pseudonymize_OutputNeverContainsValue()
    {
        string p = new Pseudonymizer(KeyA).Pseudonymize("email", "PLANTED");
        Assert.DoesNotContain("PLANTED", p, StringComparison.Ordinal);
    }

    [Fact]
    public void Ctor_ShortKey_ThrowsWithoutKeyBytes()
    {
        var ex = Assert.Throws<ArgumentException>(() => new Pseudonymizer(new byte[31]));
        Assert.Contains("32", ex.Message, StringComparison.Ordinal);
    }
}

public sealed class InMemoryTokenVaultTests
{
    [Fact]
    public void Tokenize_SameInput_SameToken_AndResolves()
    {
        var vault = new InMemoryTokenVault();
        string t1 = vault.Tokenize("acme", "email", "a@b.io");
        Assert.Equal(t1, vault.Tokenize("acme", "email", "a@b.io"));
        Assert.Matches("^tok_[0-9A-HJKMNP-TV-Z]{26}$", t1);
        Assert.True(vault.TryResolve("acme", t1, out string? value));
        Assert.Equal("a@b.io", value);
    }

    [Fact]
    public void Tokenize_DifferentTenantOrClass_DifferentToken()
    {
        var vault = new InMemoryTokenVault();
        string t = vault.Tokenize("acme", "email", "a@b.io");
        Assert.NotEqual(t, vault.Tokenize("other", "email", "a@b.io"));
        Assert.NotEqual(t, vault.Tokenize("acme", "user_id", "a@b.io"));
    }

    [Fact]
    public void TryResolve_OtherTenantOrUnknown_False()
    {
        var vault = new InMemoryTokenVault();
        string t = vault.Tokenize("acme", "email", "a@b.io");
        Assert.False(vault.TryResolve("other", t, out string? v));
        Assert.Null(v);
        Assert.False(vault.TryResolve("acme", "tok_nope", out _));
    }

    [Fact]
    public void Tokenize_Full_ThrowsWithoutValue()
    {
        var vault = new InMemoryTokenVault(maxEntries: 2);
        vault.Tokenize("t", "c", "one");
        vault.Tokenize("t", "c", "two");
        Assert.Equal("t", vault.Tokenize("t", "c", "one")[..0] + "t");
        var ex = Assert.Throws<InvalidOperationException>(() => vault.Tokenize("t", "c", "PLANTED"));
        Assert.DoesNotContain("PLANTED", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Tokenize_Concurrent_OneTokenPerValue()
    {
        var vault = new InMemoryTokenVault();
        var tokens = new System.Collections.Concurrent.ConcurrentBag<string>();
        Parallel.For(0, 200, i => tokens.Add(vault.Tokenize("t", "c", "v" + (i % 10))));
        Assert.Equal(10, tokens.Distinct().Count());
        Assert.Equal(10, vault.Count);
    }
}
