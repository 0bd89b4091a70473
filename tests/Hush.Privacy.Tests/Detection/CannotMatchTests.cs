using System.Text;
using Hush.Privacy.Detection;
using Hush.Privacy.Transforms;

namespace Hush.Privacy.Tests.Detection;

/// <summary>
/// <see cref="DetectorSet.CannotMatch"/> lets the URL sanitizer skip copying a segment or query value to scan it: it must
/// never say "nothing to find" for text in which the scan finds something.
/// </summary>
public sealed class CannotMatchTests
{
    private static readonly DetectorSet All = new(BuiltInDetectors.CreateAll());

    private static readonly string[] Secrets =
    [
        "maria.gonzalez@contoso.com", "4539 1488 0343 6467", "5500005555555559", "GB82WEST12345698765432", "gb82west12345698765432",
        "536-22-8741", "+44 20 7946 0958", "(415) 555-2671", "203.0.113.195", "::ffff:10.0.0.1", "fe80::1",
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
        "AKIAQ3EGUVXZ4L7TPK2M", "ghp_R8fT2kLm9QwXv4Zp7YbN3cJd6HsGa1EuKo5i", "xoxb-1234567890-abcdefghij", "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
        "AIzaSyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY", "sk-proj-abcdefghijklmnopqrstuvwxyz012345", "Bearer 7f9c2ba4e88f827d616045507605853e",
        "Password=Tr0ub4dorX3", "postgres://admin:Zq7vK2pLw9@db", "token=s3cr3tv4lue", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    ];

    [Fact]
    public void CannotMatch_TextWithAFinding_False()
    {
        var random = new Random(5);
        var matches = new List<DetectorMatch>();
        int cannot = 0, found = 0;
        for (var n = 0; n < 20_000; n++)
        {
            var text = RandomText(random);
            All.Scan(text, matches);
            if (matches.Count > 0)
            {
                found++;
                Assert.False(All.CannotMatch(text), text);
            }
            else if (All.CannotMatch(text))
            {
                cannot++;
            }
        }

        // Both outcomes must be common, or the test proves nothing.
        Assert.InRange(found, 2_000, 20_000);
        Assert.InRange(cannot, 1_000, 20_000);
    }

    [Theory]
    [InlineData("api")]
    [InlineData("users")]
    [InlineData("{id}")]
    [InlineData("u-1842")]
    [InlineData("items")]
    public void CannotMatch_CommonUrlParts_True(string text) => Assert.True(All.CannotMatch(text));

    [Fact]
    public void Sanitize_SecretInSegmentOrQueryValue_StillReplaced()
    {
        // Secrets that stay in one segment or one query value ('/', '?', '#', '&' and ';' split them).
        foreach (var secret in Secrets.Where(static x => x.AsSpan().IndexOfAny("/?#&;") < 0))
        {
            var escaped = Uri.EscapeDataString(secret);
            var matches = new List<DetectorMatch>();
            All.Scan(secret, matches);
            Assert.NotEmpty(matches);
            Assert.DoesNotContain(secret, UrlSanitizer.Sanitize("/api/" + secret + "/items"), StringComparison.Ordinal);
            Assert.DoesNotContain(secret, UrlSanitizer.Sanitize("/api/items?q=" + secret + "&page=2"), StringComparison.Ordinal);
            Assert.DoesNotContain(escaped, UrlSanitizer.Sanitize("https://shop.test/a?note=" + escaped), StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Sanitize_NothingToChange_ReturnsTheInput()
    {
        var url = new string("https://shop.test/api/users/{id}?page=2".AsSpan());
        Assert.Same(url, UrlSanitizer.Sanitize(url));
    }

    private static string RandomText(Random random)
    {
        const string alphabet = "abcxyzABCXYZ0123456789-_.:/@=+() %é";
        var sb = new StringBuilder();
        for (var parts = random.Next(1, 4); parts > 0; parts--)
        {
            if (random.Next(3) == 0)
            {
                sb.Append(Secrets[random.Next(Secrets.Length)]);
            }
            else
            {
                for (var k = random.Next(0, 24); k > 0; k--)
                {
                    sb.Append(alphabet[random.Next(alphabet.Length)]);
                }
            }
        }

        return sb.ToString();
    }
}
