using System.Net;
using System.Text;
using FsCheck;
using FsCheck.Fluent;
using Hush.Privacy.Detection;
using Hush.Privacy.Transforms;

namespace Hush.Privacy.Tests.Detection;

/// <summary>
/// The scan's fast paths skip work, never findings: the run-length prefilters (card/SSN, phone, IBAN), the view-less
/// ASCII path, and the allocation-free clean path.
/// </summary>
public sealed class FastPathTests
{
    private static readonly DetectorSet All = new(BuiltInDetectors.CreateAll());

    /// <summary>Digit groups, every separator the detectors know, letters and other-script digits, so runs form and break.</summary>
    private static readonly Gen<string> Token = Gen.OneOf(
        Gen.Choose(1, 6).SelectMany(n => Gen.ArrayOf(Gen.Choose(0, 9), n)).Select(d => string.Concat(d)),
        Gen.Elements(" ", "-", ".", "(", ")", "+", "  ", ") ", " (", "--", "/", ":", "@", "=", "%41", "_"),
        Gen.Elements("DE", "GB", "ab", "x", "Q", "NO", "four", "\uFF14\uFF11", "\u0664\u0661", "\u0967", "\u00A0"),
        Gen.Elements(
            "4111 1111 1111 1111", "4111-1111-1111-1111", "378282246310005", "123-45-6789", "123 45 6789", "(415) 555-2671",
            "+1 (415) 555-2671", "+44 20 7946 0958", "415.555.2671", "020 7946 0958", "DE89 3704 0044 0532 0130 00",
            "GB82WEST12345698765432", "NO9386011117947", "\uFF14\uFF11\uFF11\uFF11 1111 1111 1111"));

    private static readonly Gen<string> Value = Gen.Choose(1, 24).SelectMany(n => Gen.ArrayOf(Token, n)).Select(string.Concat);

    public static TheoryData<string> Detectors()
    {
        var data = new TheoryData<string>();
        foreach (string name in BuiltInDetectors.Names)
        {
            data.Add(name);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Detectors))]
    public void Scan_RandomDigitHeavyValues_PrefiltersNeverHideAMatch(string name)
    {
        Assert.True(BuiltInDetectors.TryCreate(name, out IValueDetector? detector));
        var set = new DetectorSet([detector!]);
        var viaSet = new List<DetectorMatch>();
        var direct = new List<DetectorMatch>();
        Prop.ForAll(Value.ToArbitrary(), value =>
        {
            set.Scan(value, viaSet);

            // Find bypasses every prefilter: the set must report exactly what the detector finds on its own.
            direct.Clear();
            detector!.Find(TextView.Create(value), direct);
            if (direct.Count > 1)
            {
                DetectorSet.Merge(direct);
            }

            Assert.Equal(direct, viaSet);
        }).Check(Config.QuickThrowOnFailure.WithMaxTest(1500));
    }

    [Theory]
    [InlineData("card \uFF14\uFF11\uFF11\uFF11 \uFF11\uFF11\uFF11\uFF11 \uFF11\uFF11\uFF11\uFF11 \uFF11\uFF11\uFF11\uFF11 paid", "payment_card")]
    [InlineData("card \u0664\u0661\u0661\u0661\u0661\u0661\u0661\u0661\u0661\u0661\u0661\u0661\u0661\u0661\u0661\u0661", "payment_card")]
    [InlineData("call +\u0967 \u096A\u0967\u096B \u096B\u096B\u096B \u0968\u096C\u096D\u0967", "phone")]
    [InlineData("ssn \uFF11\uFF12\uFF13-\uFF14\uFF15-\uFF16\uFF17\uFF18\uFF19", "national_id")]
    [InlineData("iban \uFF24\uFF25\uFF18\uFF19 3704 0044 0532 0130 00", "iban")]
    [InlineData("4111\u200B1111\u200B1111\u200B1111", "payment_card")]
    [InlineData("ip 203.0.113.\uFF17\uFF17", "ip")]
    public void Scan_NonAsciiDigitsAndLetters_StillFoundOffTheAsciiFastPath(string value, string dataClass)
    {
        var matches = new List<DetectorMatch>();
        All.Scan(value, matches);

        DetectorMatch m = Assert.Single(matches);
        Assert.Equal(dataClass, m.DataClass);
        Assert.InRange(m.Start + m.Length, 1, value.Length);

        // The match is mapped back to the original text: redacting it leaves no digit of the secret.
        string redacted = Redactor.RedactMatches(value, matches);
        Assert.DoesNotContain("\uFF11\uFF11\uFF11", redacted, StringComparison.Ordinal);
        Assert.DoesNotContain("\u0661\u0661\u0661", redacted, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("user 4111 1111 1111 1111 paid", 5, 19)]
    [InlineData("mail jane.doe@example.com now", 5, 20)]
    public void Scan_AsciiValue_MatchRangesAreOriginalPositions(string value, int start, int length)
    {
        var matches = new List<DetectorMatch>();
        All.Scan(value, matches);

        DetectorMatch m = Assert.Single(matches);
        Assert.Equal((start, length), (m.Start, m.Length));
    }

    [Theory]
    [InlineData("checkout.shop.internal")]
    [InlineData("3f2a1b4c-1234-4def-8abc-0123456789ab")]
    [InlineData("a3f9c2d41b7e8f0011223344556677aa")]
    [InlineData("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/129.0.0.0 Safari/537.36")]
    [InlineData("/api/orders/{orderId}")]
    [InlineData("Shop.Api.Controllers.HandleRequest")]
    public void Scan_CleanAsciiValue_AllocatesNothing(string value)
    {
        var matches = new List<DetectorMatch>(4);
        string fresh = new(value.AsSpan());

        long allocated = SteadyStateAllocation(() => All.Scan(fresh, matches));

        Assert.Empty(matches);
        Assert.Equal(0, allocated);
    }

    /// <summary>
    /// Bytes one call allocates once the JIT has settled: unoptimized (tier-0) BCL code allocates where optimized code
    /// does not (e.g. 96 B per IndexOfAnyInRange), and tier-up waits while other tests keep the JIT busy, so rounds
    /// run until a call allocates nothing or 20 s pass.
    /// </summary>
    internal static long SteadyStateAllocation(Action action)
    {
        long least = long.MaxValue;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (least > 0 && clock.Elapsed < TimeSpan.FromSeconds(20))
        {
            for (int i = 0; i < 200; i++)
            {
                action();
            }

            long before = GC.GetAllocatedBytesForCurrentThread();
            action();
            least = Math.Min(least, GC.GetAllocatedBytesForCurrentThread() - before);
            Thread.Sleep(25);
        }

        return least;
    }

    [Fact]
    public void TryGeneralizeIp_DottedQuads_SameAsIPAddressFormatting()
    {
        var random = new Random(5);
        for (int i = 0; i < 2000; i++)
        {
            var bytes = new byte[4];
            random.NextBytes(bytes);
            string ip = new IPAddress(bytes).ToString();

            Assert.True(Generalizer.TryGeneralizeIp(ip, out string prefix));
            Assert.Equal($"{bytes[0]}.{bytes[1]}.{bytes[2]}.0/24", prefix);
        }
    }

    /// <summary>
    /// A table of recent networks (two slots here, so networks keep taking each other's slot) changes no result: the
    /// same network gives the same string, another one never another network's.
    /// </summary>
    [Fact]
    public void TryGeneralizeIp_WithRecentNetworks_SameResultsAsWithout()
    {
        var random = new Random(9);
        var recent = new string?[2];
        for (int i = 0; i < 5000; i++)
        {
            // Few networks, so most addresses repeat one; lengths vary so equal lengths of other networks collide too.
            string ip = $"{random.Next(8, 12)}.{random.Next(0, 3)}.{random.Next(0, 200)}.{random.Next(1, 255)}";

            Assert.True(Generalizer.TryGeneralizeIp(ip, recent, out string withTable));
            Assert.True(Generalizer.TryGeneralizeIp(ip, out string without));
            Assert.Equal(without, withTable);
        }

        Assert.True(Generalizer.TryGeneralizeIp("10.1.2.3", recent, out string first));
        Assert.True(Generalizer.TryGeneralizeIp("10.1.2.77", recent, out string second));
        Assert.Same(first, second);
    }

    [Theory]
    [InlineData("010.1.2.3")]
    [InlineData("10.01.2.3")]
    [InlineData("10.1.2.003")]
    [InlineData(" 192.168.0.7 ")]
    [InlineData("0.0.0.0")]
    public void TryGeneralizeIp_LeadingZerosAndEdges_AgreeWithIPAddress(string ip)
    {
        bool parsed = IPAddress.TryParse(ip.Trim(), out IPAddress? address);
        bool ok = Generalizer.TryGeneralizeIp(ip, out string prefix);

        Assert.Equal(parsed, ok);
        if (ok)
        {
            byte[] b = address!.GetAddressBytes();
            Assert.Equal($"{b[0]}.{b[1]}.{b[2]}.0/24", prefix);
        }
    }

    [Fact]
    public void Pseudonymize_ConcurrentCallers_SameAsSequential()
    {
        byte[] key = [.. Enumerable.Range(0, 32).Select(i => (byte)(i * 7))];
        var shared = new Pseudonymizer(key);
        var reference = new Pseudonymizer(key);
        var values = Enumerable.Range(0, 4000).Select(i => "user-" + i.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        var results = new string[values.Length];

        Parallel.For(0, values.Length, new ParallelOptions { MaxDegreeOfParallelism = 8 }, i => results[i] = shared.Pseudonymize("user_id", values[i]));

        for (int i = 0; i < values.Length; i++)
        {
            Assert.Equal(reference.Pseudonymize("user_id", values[i]), results[i]);
        }
    }

    [Fact]
    public void Pseudonymize_LongInput_SameAsShortPathScheme()
    {
        var p = new Pseudonymizer(new byte[32]);
        string longValue = new('x', 5000);

        // Deterministic and prefixed whatever the input length (the rented-buffer path).
        Assert.Equal(p.Pseudonymize("email", longValue), p.Pseudonymize("email", new string(longValue.AsSpan())));
        Assert.StartsWith("eml_", p.Pseudonymize("email", longValue), StringComparison.Ordinal);
        Assert.Equal(4 + 16, Encoding.ASCII.GetByteCount(p.Pseudonymize("email", longValue)));
    }
}
