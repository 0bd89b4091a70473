using System.Buffers;

namespace Hush.Privacy.Detection.BuiltIn;

/// <summary>
/// HTTP credentials after an authorization scheme: <c>Bearer &lt;token&gt;</c> (12+ token chars with a digit or
/// punctuation, so "bearer authentication" is prose) and <c>Basic &lt;base64&gt;</c> (must decode to
/// <c>user:password</c>). Only the credential is the match, so the scheme word stays readable.
/// </summary>
internal sealed class AuthHeaderDetector() : BuiltInDetector("auth_header", "credential")
{
    private const int MinBearer = 12;

    /// <summary>Basic credentials beyond 1 Ki chars are not realistic; bounds the decode.</summary>
    private const int MaxBasic = 1024;

    private static readonly SearchValues<string> Schemes = SearchValues.Create(["bearer", "basic"], StringComparison.OrdinalIgnoreCase);

    public override Prefilter Prefilter { get; } = new(14, 0, CharFlags.Space, CharFlags.Upper | CharFlags.Lower);

    protected override void FindCore(string text, TextView? view, List<DetectorMatch> matches)
    {
        int i = 0;
        while (i < text.Length)
        {
            int d = text.AsSpan(i).IndexOfAny(Schemes);
            if (d < 0)
            {
                return;
            }

            i += d;
            bool bearer = Chars.MatchesIgnoreCase(text, i, "bearer");
            bool basic = !bearer && Chars.MatchesIgnoreCase(text, i, "basic");
            if ((!bearer && !basic) || Chars.IsWord(Chars.Prev(text, i)))
            {
                i++;
                continue;
            }

            int j = i + (bearer ? 6 : 5);
            int spaces = j;
            while (j < text.Length && j - spaces < 4 && text[j] is ' ' or '\t')
            {
                j++;
            }

            if (j == spaces)
            {
                i = j;
                continue;
            }

            int start = j;
            bool signal = false;
            while (j < text.Length && IsTokenChar(text[j]))
            {
                signal |= !char.IsAsciiLetter(text[j]);
                j++;
            }

            while (j < text.Length && text[j] == '=')
            {
                j++;
            }

            int length = j - start;
            bool ok = bearer
                ? length >= MinBearer && signal
                : length >= 8 && length <= MaxBasic && IsBasicCredential(text.AsSpan(start, length));
            if (ok)
            {
                Add(view, matches, start, length);
            }

            i = Math.Max(j, i + 1);
        }
    }

    private static bool IsTokenChar(char c) => char.IsAsciiLetterOrDigit(c) || c is '-' or '.' or '_' or '~' or '+' or '/';

    private static bool IsBasicCredential(ReadOnlySpan<char> token)
    {
        Span<byte> bytes = stackalloc byte[MaxBasic];
        try
        {
            if (!System.Convert.TryFromBase64Chars(token, bytes, out int written))
            {
                return false;
            }

            bool colon = bytes[..written].Contains((byte)':');
            bytes[..written].Clear();
            return colon;
        }
        catch (FormatException)
        {
            return false;
        }
    }
}
