using System.Text;
using FsCheck;
using FsCheck.Fluent;
using Hush.Privacy.Detection;
using Hush.Privacy.Transforms;

namespace Hush.Privacy.Tests.Detection;

/// <summary>For random surrounding text and a planted secret of every class, in every encoding, nothing survives.</summary>
public sealed class DetectorPropertyTests
{
    private static readonly DetectorSet All = new(BuiltInDetectors.CreateAll());

    private const string Filler = "abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ,;!|";

    private static Gen<string> Digits(int count) =>
        Gen.ArrayOf(Gen.Choose(0, 9), count).Select(d => string.Concat(d));

    private static Gen<string> Card() =>
        from body in Digits(14)
        from first in Gen.Elements('4', '5')
        select WithLuhn(first + body);

    private static string WithLuhn(string partial)
    {
        for (char check = '0'; check <= '9'; check++)
        {
            if (LuhnValid(partial + check))
            {
                return partial + check;
            }
        }

        throw new InvalidOperationException("unreachable");
    }

    private static bool LuhnValid(string digits)
    {
        int sum = 0;
        for (int i = 0; i < digits.Length; i++)
        {
            int v = digits[digits.Length - 1 - i] - '0';
            if (i % 2 == 1)
            {
                v = v * 2 > 9 ? (v * 2) - 9 : v * 2;
            }

            sum += v;
        }

        return sum % 10 == 0;
    }

    private static Gen<string> Word(int min, int max) =>
        from n in Gen.Choose(min, max)
        from chars in Gen.ArrayOf(Gen.Elements("abcdefghijklmnopqrstuvwxyz0123456789".ToCharArray()), n)
        select "x" + new string(chars);

    private static Gen<(string Class, string Secret)> Secret() => Gen.OneOf(
        from local in Word(1, 12)
        from domain in Word(1, 10)
        from tld in Gen.Elements("com", "org", "io", "co.uk")
        select ("email", $"{local}@{domain}.{tld}"),
        from card in Card()
        from sep in Gen.Elements("", " ", "-")
        select ("payment_card", sep.Length == 0 ? card : string.Join(sep, card[..4], card[4..8], card[8..12], card[12..])),
        from area in Gen.Choose(1, 665)
        from grp in Gen.Choose(1, 99)
        from serial in Gen.Choose(1, 9999)
        select ("national_id", $"{area:D3}-{grp:D2}-{serial:D4}"),
        from ex in Gen.Choose(200, 999)
        from line in Gen.Choose(0, 9999)
        select ("phone", $"+1 (415) {ex}-{line:D4}"),
        from a in Gen.Choose(1, 255)
        from b in Gen.Choose(0, 255)
        from c in Gen.Choose(0, 255)
        from d in Gen.Choose(0, 255)
        select ("ip", $"{a}.{b}.{c}.{d}"),
        from g in Gen.Choose(1, 0xffff)
        select ("ip", $"2001:db8::{g:x}:1"),
        Gen.Elements(
            ("iban", "GB82WEST12345698765432"),
            ("iban", "DE89370400440532013000"),
            ("credential", "AKIAIOSFODNN7EXAMPLE"),
            ("credential", "ghp_iK2ZWeqhFWCEPyYngFb51yBMWXaSCrUZoL8g"),
            ("credential", "xoxb-1234567890-abcdefghij"),
            ("credential", "sk_live_Gw82KwD6rQJM9UayY20948VG"),
            ("credential", "AIzaOdcdbWB2dC4_DSDC6Lc1mxLpQ2yMK_Ye9FZ"),
            ("credential", "sk-AQlxJ4SXRVxfCQGgXkH1zxFUbEctT2NLLzPkkGoaXmI63Joz"),
            ("credential", "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkphbmUifQ.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"),
            ("credential", "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIBkg\n-----END EC PRIVATE KEY-----")));

    /// <summary>How the secret is written: as is, fullwidth, with a zero-width space, or percent-encoded.</summary>
    private static string Encode(string secret, int form) => form switch
    {
        1 => Fullwidth(secret),
        2 => secret.Length > 2 ? secret[..1] + "\u200B" + secret[1..] : secret,
        3 => PercentEncode(secret),
        _ => secret,
    };

    private static string Fullwidth(string s)
    {
        var sb = new StringBuilder(s.Length);
        foreach (char c in s)
        {
            sb.Append(c is '@' or (>= '0' and <= '9') ? (char)(c + 0xFEE0) : c);
        }

        return sb.ToString();
    }

    private static string PercentEncode(string s) => s.Replace("@", "%40", StringComparison.Ordinal).Replace(" ", "%20", StringComparison.Ordinal);

    private static Gen<string> Text() =>
        from n in Gen.Choose(0, 40)
        from chars in Gen.ArrayOf(Gen.Elements(Filler.ToCharArray()), n)
        select new string(chars);

    [Fact]
    public void ScanAndRedact_PlantedSecretInRandomText_NoFormSurvives()
    {
        var gen =
            from before in Text()
            from secret in Secret()
            from form in Gen.Choose(0, 3)
            from after in Text()
            select (before, secret.Class, secret.Secret, form, after);

        Prop.ForAll(gen.ToArbitrary(), t =>
        {
            string planted = Encode(t.Secret, t.form);
            string value = t.before + " " + planted + " " + t.after;
            var matches = new List<DetectorMatch>();
            All.Scan(value, matches);
            string redacted = Redactor.RedactMatches(value, matches);
            bool hidden = !redacted.Contains(planted, StringComparison.Ordinal) &&
                          !redacted.Contains(t.Secret, StringComparison.Ordinal) &&
                          !TextView.Create(redacted).Normalized.Contains(t.Secret, StringComparison.Ordinal);
            bool classified = matches.Exists(m => m.DataClass == t.Class);
            return hidden && classified;
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void Scan_ArbitraryStrings_NeverThrowsAndRangesValid()
    {
        var chars = Gen.Frequency(
            (6, Gen.Elements("abc@.:-+ 0123456789%4=&?/#_ABCeyJ".ToCharArray())),
            (1, Gen.Choose(0, 0xFFFF).Select(c => (char)c)),
            (1, Gen.Elements('\uD800', '\uDC00', '＠', '１', '٣', '\u200B')));
        var gen = from n in Gen.Choose(0, 200) from cs in Gen.ArrayOf(chars, n) select new string(cs);

        Prop.ForAll(gen.ToArbitrary(), value =>
        {
            var matches = new List<DetectorMatch>();
            All.Scan(value, matches);
            int end = 0;
            foreach (DetectorMatch m in matches)
            {
                if (m.Start < end || m.Length <= 0 || m.End > value.Length)
                {
                    return false;
                }

                end = m.End;
            }

            _ = Redactor.RedactMatches(value, matches);
            return true;
        }).Check(Config.QuickThrowOnFailure.WithMaxTest(500));
    }
}

/// <summary>The prefilters only skip work: with or without them, every value yields the same matches.</summary>
public sealed class PrefilterSoundnessTests
{
    private static readonly IReadOnlyList<IValueDetector> Detectors = BuiltInDetectors.CreateAll();
    private static readonly DetectorSet Set = new(Detectors);

    private static readonly string[] Pieces =
    [
        "a", "Z", "0", "7", "4111", "1111", " ", "-", ".", ":", "@", "%40", "=", "&", "?", "/", "_", "+", "(", ")",
        "example.com", "token", "Bearer ", "eyJhbGciOiJub25lIn0", "AKIA", "ghp_", "sk-", "xoxb-", "DE89", "://", "pwd",
        "-----BEGIN PRIVATE KEY-----", "２", "＠", "\u200B", "::1", "192.168.", "+1 ",
    ];

    [Fact]
    public void Scan_AnyValue_SameAsRunningEveryDetectorUnfiltered()
    {
        var gen = from n in Gen.Choose(0, 30)
                  from parts in Gen.ArrayOf(Gen.Elements(Pieces), n)
                  select string.Concat(parts);
        Prop.ForAll(gen.ToArbitrary(), value =>
        {
            var filtered = new List<DetectorMatch>();
            Set.Scan(value, filtered);
            var all = new List<DetectorMatch>();
            var view = TextView.Create(value);
            foreach (IValueDetector d in Detectors)
            {
                d.Find(view, all);
            }

            if (all.Count > 1)
            {
                DetectorSet.Merge(all);
            }

            return filtered.SequenceEqual(all);
        }).Check(Config.QuickThrowOnFailure.WithMaxTest(3000));
    }
}
