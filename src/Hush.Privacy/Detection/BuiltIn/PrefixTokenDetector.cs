using System.Buffers;

namespace Hush.Privacy.Detection.BuiltIn;

/// <summary>
/// API keys recognized by a vendor prefix and a body of known alphabet and length: AWS access key ids, GitHub,
/// Slack, Stripe, Google and OpenAI-style keys. The prefix must start a token (not follow a letter or digit) and the
/// body must end at a token boundary.
/// </summary>
internal sealed class PrefixTokenDetector : BuiltInDetector
{
    private readonly string[] _prefixes;
    private readonly SearchValues<string> _prefixSearch;
    private readonly Func<char, bool> _isBody;
    private readonly int _minBody;
    private readonly int _maxBody;
    private readonly int _minLength;
    private readonly CharFlags _trigger;
    private readonly bool _needsDigitAndLetter;

    private PrefixTokenDetector(
        string name, string[] prefixes, Func<char, bool> isBody, int minBody, int maxBody, CharFlags trigger,
        bool needsDigitAndLetter = false)
        : base(name, "credential")
    {
        _prefixes = prefixes;
        _prefixSearch = SearchValues.Create(prefixes, StringComparison.Ordinal);
        _isBody = isBody;
        _minBody = minBody;
        _maxBody = maxBody;
        _trigger = trigger;
        _needsDigitAndLetter = needsDigitAndLetter;
        int shortest = int.MaxValue;
        foreach (string p in prefixes)
        {
            shortest = Math.Min(shortest, p.Length);
        }

        _minLength = shortest + minBody;
    }

    /// <summary>AWS access key id: AKIA (long-term) or ASIA (temporary) + 16 uppercase base32 chars.</summary>
    public static PrefixTokenDetector AwsAccessKey() =>
        new("aws_access_key", ["AKIA", "ASIA"], static c => char.IsAsciiLetterUpper(c) || Chars.IsDigit(c), 16, 16, CharFlags.Upper);

    /// <summary>GitHub tokens: ghp_/gho_/ghu_/ghs_/ghr_ + 36+ alphanumerics; fine-grained github_pat_ + 22+.</summary>
    public static PrefixTokenDetector GitHub() =>
        new("github_token", ["ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"], static c => char.IsAsciiLetterOrDigit(c) || c == '_', 22, 255, CharFlags.Underscore);

    /// <summary>Slack tokens: xoxa-/xoxb-/xoxp-/xoxo-/xoxs-/xoxr- + 10+ chars.</summary>
    public static PrefixTokenDetector Slack() =>
        new("slack_token", ["xoxa-", "xoxb-", "xoxp-", "xoxo-", "xoxs-", "xoxr-"], static c => char.IsAsciiLetterOrDigit(c) || c == '-', 10, 255, CharFlags.Dash);

    /// <summary>Stripe secret and restricted keys, live and test: 16+ alphanumerics after the prefix.</summary>
    public static PrefixTokenDetector Stripe() =>
        new("stripe_key", ["sk_live_", "rk_live_", "sk_test_", "rk_test_"], char.IsAsciiLetterOrDigit, 16, 255, CharFlags.Underscore);

    /// <summary>Google API keys: AIza + exactly 35 base64url chars.</summary>
    public static PrefixTokenDetector Google() =>
        new("google_api_key", ["AIza"], Chars.IsBase64Url, 35, 35, CharFlags.Upper);

    /// <summary>OpenAI-style secret keys (also sk-proj-, sk-ant-): sk- + 32+ chars with letters and digits.</summary>
    public static PrefixTokenDetector OpenAi() =>
        new("openai_key", ["sk-"], Chars.IsBase64Url, 32, 255, CharFlags.Dash, needsDigitAndLetter: true);

    public override Prefilter Prefilter => new(_minLength, 0, _trigger, CharFlags.None);

    protected override void FindCore(string text, TextView? view, List<DetectorMatch> matches)
    {
        // One vectorized multi-prefix search instead of one IndexOf per prefix.
        int i = text.AsSpan().IndexOfAny(_prefixSearch);
        while (i >= 0)
        {
            string prefix = PrefixAt(text, i);
            int next = i + 1;
            char p = Chars.Prev(text, i);
            if (!Chars.IsWord(p) && p is not ('_' or '-'))
            {
                int start = i + prefix.Length;
                int j = start;
                bool digit = false;
                bool letter = false;
                while (j < text.Length && _isBody(text[j]))
                {
                    digit |= Chars.IsDigit(text[j]);
                    letter |= char.IsAsciiLetter(text[j]);
                    j++;
                }

                // GitHub classic tokens need 36 body chars; github_pat_ needs 22 (the shared minimum).
                int min = prefix.Length == 4 && prefix[3] == '_' ? Math.Max(_minBody, 36) : _minBody;
                int body = j - start;
                bool bounded = !char.IsAsciiLetterOrDigit(Chars.At(text, j));
                if (body >= min && body <= _maxBody && bounded && (!_needsDigitAndLetter || (digit && letter)))
                {
                    Add(view, matches, i, j - i);
                    next = j;
                }
            }

            if (next >= text.Length)
            {
                return;
            }

            int d = text.AsSpan(next).IndexOfAny(_prefixSearch);
            i = d < 0 ? -1 : next + d;
        }
    }

    private string PrefixAt(string text, int i)
    {
        foreach (string prefix in _prefixes)
        {
            if (text.AsSpan(i).StartsWith(prefix, StringComparison.Ordinal))
            {
                return prefix;
            }
        }

        return _prefixes[0];
    }
}
