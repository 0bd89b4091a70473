using System.Collections.Frozen;

namespace Hush.Privacy.Detection.BuiltIn;

/// <summary>
/// Values of secret-looking parameters in query strings, fragments and <c>key=value</c> text (token, api_key,
/// access_token, password, signature, X-Amz-Signature, ...): the VALUE is the match, the name stays. Generic names
/// (code, session, auth, sig) count only inside a query or fragment (after <c>?</c>, <c>&amp;</c>, <c>#</c> or <c>;</c>),
/// so a log line "status code=200" is left alone.
/// </summary>
internal sealed class SecretQueryParameterDetector() : BuiltInDetector("secret_query_param", "credential")
{
    /// <summary>Parameter names longer than this are not in the list; bounds the backwards scan per '='.</summary>
    private const int MaxName = 32;

    /// <summary>Name → true when it is secret anywhere, false when only inside a query or fragment.</summary>
    internal static readonly FrozenDictionary<string, bool> Names = new Dictionary<string, bool>(StringComparer.OrdinalIgnoreCase)
    {
        ["token"] = true, ["api_key"] = true, ["apikey"] = true, ["api-key"] = true, ["access_token"] = true,
        ["refresh_token"] = true, ["id_token"] = true, ["password"] = true, ["passwd"] = true, ["secret"] = true,
        ["client_secret"] = true, ["signature"] = true, ["x-amz-signature"] = true, ["x-amz-credential"] = true,
        ["x-amz-security-token"] = true, ["x-goog-signature"] = true, ["x-goog-credential"] = true,
        ["awsaccesskeyid"] = true, ["sessionid"] = true, ["jsessionid"] = true, ["phpsessid"] = true, ["auth_token"] = true, ["private_token"] = true,
        ["sig"] = false, ["code"] = false, ["session"] = false, ["auth"] = false, ["key"] = false,
    }.ToFrozenDictionary(StringComparer.OrdinalIgnoreCase);

    private static readonly FrozenDictionary<string, bool>.AlternateLookup<ReadOnlySpan<char>> Lookup =
        Names.GetAlternateLookup<ReadOnlySpan<char>>();

    public override Prefilter Prefilter { get; } = new(4, 0, CharFlags.EqualsSign, CharFlags.None);

    protected override void FindCore(string text, TextView? view, List<DetectorMatch> matches)
    {
        int eq = text.IndexOf('=');
        while (eq >= 0)
        {
            int next = eq + 1;
            int ns = eq;
            while (ns > 0 && eq - ns < MaxName && IsNameChar(text[ns - 1]))
            {
                ns--;
            }

            if (ns < eq && Lookup.TryGetValue(text.AsSpan(ns, eq - ns), out bool strong))
            {
                char before = Chars.Prev(text, ns);
                bool inQuery = before is '?' or '&' or '#' or ';';
                bool fieldStart = ns == 0 || before is ',' or '"' or '\'' or '{' || char.IsWhiteSpace(before);
                if (inQuery || (strong && fieldStart))
                {
                    int end = eq + 1;
                    while (end < text.Length && text[end] is not ('&' or '#' or ';' or '"' or '\'' or '<' or '>') && !char.IsWhiteSpace(text[end]))
                    {
                        end++;
                    }

                    if (end > eq + 1)
                    {
                        Add(view, matches, eq + 1, end - eq - 1);
                        next = end;
                    }
                }
            }

            eq = next < text.Length ? text.IndexOf('=', next) : -1;
        }
    }

    internal static bool IsNameChar(char c) => char.IsAsciiLetterOrDigit(c) || c is '_' or '-' or '.';

    internal static bool IsSecretName(ReadOnlySpan<char> name) => Lookup.ContainsKey(name);
}
