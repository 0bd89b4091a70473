using System.Globalization;
using System.Text;
using Hush.Otlp;
using Hush.Privacy.Detection;
using static Hush.Privacy.Tests.TestSupport;

namespace Hush.Privacy.Tests.Detection;

/// <summary>
/// Hush runs with InvariantGlobalization=true, where <see cref="string.Normalize(NormalizationForm)"/> returns its
/// input: these prove that <see cref="TextView"/> still folds what NFKC would make ASCII, and that a secret written
/// in such characters is found and replaced where it stands in the original.
/// </summary>
public sealed class CompatibilityFoldingTests
{
    private const string Policy = """
        version: 1
        detectors:
          builtin: [email, payment_card, ipv4]
        on_detect:
          default: redact
        """;

    private static readonly CompiledPolicy Redacting = Compile(Policy);

    [Fact]
    public void Normalize_UnderInvariantGlobalization_IsANoOp()
    {
        // Why the table exists: were this ever to change, the table would still agree with it (see the next test).
        Assert.True(AppContext.TryGetSwitch("System.Globalization.Invariant", out bool invariant) && invariant);
        Assert.Equal("\uFF20", "\uFF20".Normalize(NormalizationForm.FormKC));
    }

    [Fact]
    public void Create_EveryCodePointWithAnAsciiNfkcForm_FoldsToItAndMapsToItsChars()
    {
        // nfkc-ascii.txt is ICU's NFKC of every code point whose form is ASCII, frozen by nfkc-ascii.sh.
        int checkedCount = 0;
        var wrong = new List<string>();
        foreach (string line in File.ReadLines(TestData.PathOf("Detection", "nfkc-ascii.txt")))
        {
            if (line.StartsWith('#'))
            {
                continue;
            }

            string[] parts = line.Split(' ');
            int cp = int.Parse(parts[0], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
            string expected = Encoding.ASCII.GetString(Convert.FromHexString(parts[1]));
            string value = "x" + char.ConvertFromUtf32(cp) + "y";
            var view = TextView.Create(value);
            if (view.Normalized != "x" + expected + "y" || view.MapToOriginal(1, expected.Length) != (1, value.Length - 2))
            {
                wrong.Add($"U+{cp:X4} -> {view.Normalized}");
            }

            checkedCount++;
        }

        Assert.True(checkedCount > 1300, $"only {checkedCount} code points in nfkc-ascii.txt");
        Assert.Empty(wrong);
    }

    [Fact]
    public void MapToOriginal_AfterSurrogatePairsAndExpansions_CoversTheOriginalChars()
    {
        // "𝐚⑽b": a surrogate pair (2 chars -> 1), one char -> 4, then ASCII.
        string value = "\U0001D41A\u247Db";
        var view = TextView.Create(value);
        Assert.Equal("a(10)b", view.Normalized);
        Assert.Equal((0, 2), view.MapToOriginal(0, 1));
        Assert.Equal((2, 1), view.MapToOriginal(2, 2));  // "10" lies inside ⑽
        Assert.Equal((0, 3), view.MapToOriginal(0, 5));
        Assert.Equal((3, 1), view.MapToOriginal(5, 1));
        Assert.Equal((4, 0), view.MapToOriginal(6, 0));
    }

    public static TheoryData<string, string> Planted => new()
    {
        // Mathematical bold letters (surrogate pairs), small commercial at, ideographic full stop.
        { "mail \U0001D41A\U0001D425\U0001D422\U0001D41C\U0001D41E\uFE6B\U0001D41E\U0001D431\U0001D41A\U0001D426\U0001D429\U0001D425\U0001D41E\u3002\U0001D41C\U0001D428\U0001D426 now", "mail {email} now" },
        // Circled letters and a fullwidth at.
        { "to \u24D0\u24DB\u24D8\u24D2\u24D4\uFF20\u24D4\u24E7\u24D0\u24DC\u24DF\u24DB\u24D4\u2024\u24D2\u24DE\u24DC.", "to {email}." },
        // A Visa test number in Arabic-Indic digits with en dashes.
        { "card \u0664\u0661\u0661\u0661\u2013\u0661\u0661\u0661\u0661\u2013\u0661\u0661\u0661\u0661\u2013\u0661\u0661\u0661\u0661 ok", "card {payment_card} ok" },
        // The same number in mathematical double-struck digits (surrogate pairs) and Devanagari.
        { "pan=\U0001D7DC\U0001D7D9\U0001D7D9\U0001D7D9\u0967\u0967\u0967\u0967\U0001D7D9\U0001D7D9\U0001D7D9\U0001D7D9\u0967\u0967\u0967\u0967;", "pan={payment_card};" },
        // An IPv4 address in fullwidth digits and halfwidth ideographic full stops, and in circled digits.
        { "from \uFF11\uFF10\uFF61\uFF12\uFF10\uFF61\uFF13\uFF10\uFF61\uFF14\uFF10 via", "from {ip} via" },
        { "peer \u2460\u2461\u2462\u2024\u2463\u2024\u2464\u2024\u2465 up", "peer {ip} up" },
    };

    [Theory]
    [MemberData(nameof(Planted))]
    public void Scrub_SecretWrittenInCompatibilityChars_ReplacedInTheOriginal(string value, string expected)
    {
        var span = NewSpan("op", Attr("note", value));
        var report = Scrubber(Redacting).Scrub(Request(span), Tenant);

        Assert.Equal(expected, span.Attributes.Single(a => a.Key == "note").Value.StringValue);
        Assert.Equal(1, report.ValuesChanged);
    }
}
