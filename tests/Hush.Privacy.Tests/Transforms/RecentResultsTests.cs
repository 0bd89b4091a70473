using System.Globalization;
using Hush.Otlp;
using Hush.Privacy.Transforms;
using static Hush.Privacy.Tests.TestSupport;

namespace Hush.Privacy.Tests.TransformTests;

/// <summary>
/// SQL and URL rewrites hand back a result already in the caller's table of recent results instead of a new string:
/// never another text than the rewrite gives (two slots here, so results keep taking each other's slot).
/// </summary>
public sealed class RecentResultsTests
{
    private static readonly string[] Statements =
    [
        "SELECT * FROM orders WHERE id = {0} AND total > {1}",
        "select name from users where id in ({0}, {1}, 3)",
        "UPDATE carts SET items = {0} WHERE id = {1} -- note",
        "INSERT INTO t (a, b) VALUES ({0}, 'x{1}')",
        "SELECT 1",
    ];

    private static readonly string[] Urls =
    [
        "/api/orders/{0}/items/{1}",
        "https://shop.test/api/users/{0}?token=t{1}&page=2",
        "/healthz",
        "?a={0}&password={1}",
    ];

    [Fact]
    public void NormalizeAndSanitize_WithATwoSlotTable_SameTextAsWithout()
    {
        var random = new Random(3);
        var recent = new string?[2];
        for (int i = 0; i < 4000; i++)
        {
            string a = random.Next(1000).ToString(CultureInfo.InvariantCulture), b = random.Next(1000).ToString(CultureInfo.InvariantCulture);
            string sql = string.Format(CultureInfo.InvariantCulture, Statements[random.Next(Statements.Length)], a, b);
            string url = string.Format(CultureInfo.InvariantCulture, Urls[random.Next(Urls.Length)], a, b);

            Assert.Equal(SqlNormalizer.Normalize(sql), SqlNormalizer.Normalize(sql, recent));
            Assert.Equal(UrlSanitizer.Sanitize(url), UrlSanitizer.Sanitize(url, recent));
        }
    }

    [Fact]
    public void Scrub_OneShapeWithOtherLiterals_OneResultString()
    {
        var span = NewSpan(
            "op",
            Attr("db.query.text", "SELECT * FROM orders WHERE id = 42"),
            Attr("db.statement", "SELECT * FROM orders WHERE id = 7"),
            Attr("url.path", "/api/orders/123456"),
            Attr("http.target", "/api/orders/654321"));

        DefaultScrubber().Scrub(Request(span), Tenant);

        Assert.Equal("SELECT * FROM orders WHERE id = ?", span.Attributes[0].Value.StringValue);
        Assert.Same(span.Attributes[0].Value.StringValue, span.Attributes[1].Value.StringValue);
        Assert.Equal(span.Attributes[2].Value.StringValue, span.Attributes[3].Value.StringValue);
        Assert.Same(span.Attributes[2].Value.StringValue, span.Attributes[3].Value.StringValue);
        Assert.DoesNotContain("123456", span.Attributes[2].Value.StringValue, StringComparison.Ordinal);
    }
}
