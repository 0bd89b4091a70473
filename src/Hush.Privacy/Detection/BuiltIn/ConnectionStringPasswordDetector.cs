using System.Buffers;

namespace Hush.Privacy.Detection.BuiltIn;

/// <summary>
/// Passwords in connection strings and key/value text: <c>Password=</c>, <c>Pwd=</c>, <c>Passwd=</c> (any case)
/// up to <c>;</c> or end of line, quoted values up to the closing quote, and JSON-style <c>"password": "…"</c>.
/// The key must start a field (start, whitespace, <c>;</c>, <c>,</c>, <c>{</c> or a quote): query strings are left
/// to the query-parameter detector.
/// </summary>
internal sealed class ConnectionStringPasswordDetector() : BuiltInDetector("connection_string_password", "credential")
{
    private static readonly string[] Keys = ["password", "passwd", "pwd"];
    private static readonly SearchValues<string> KeySearch = SearchValues.Create(Keys, StringComparison.OrdinalIgnoreCase);

    public override Prefilter Prefilter { get; } = new(5, 0, CharFlags.None, CharFlags.EqualsSign | CharFlags.Colon);

    protected override void FindCore(string text, TextView? view, List<DetectorMatch> matches)
    {
        int i = 0;
        while (i < text.Length)
        {
            int p = IndexOfKeyStart(text, i);
            if (p < 0)
            {
                return;
            }

            string? key = null;
            foreach (string k in Keys)
            {
                if (Chars.MatchesIgnoreCase(text, p, k))
                {
                    key = k;
                    break;
                }
            }

            int next = p + 1;
            if (key is not null && IsFieldStart(text, p))
            {
                int end = TryValue(text, p + key.Length, out int valueStart);
                if (end > valueStart)
                {
                    Add(view, matches, valueStart, end - valueStart);
                    next = end;
                }
            }

            i = next;
        }
    }

    private static int IndexOfKeyStart(string s, int from)
    {
        int d = s.AsSpan(from).IndexOfAny(KeySearch);
        return d < 0 ? -1 : from + d;
    }

    private static bool IsFieldStart(string s, int p)
    {
        char c = Chars.Prev(s, p);
        return p == 0 || c is ';' or ',' or '{' or '"' or '\'' || char.IsWhiteSpace(c);
    }

    /// <summary>Parses the assignment after the key; returns the value end (and start), or -1.</summary>
    private static int TryValue(string s, int j, out int valueStart)
    {
        valueStart = -1;
        bool quotedKey = j < s.Length && s[j] is '"' or '\'';
        if (quotedKey)
        {
            j++;
        }

        while (j < s.Length && s[j] is ' ' or '\t')
        {
            j++;
        }

        if (j >= s.Length || s[j] is not ('=' or ':'))
        {
            return -1;
        }

        bool colon = s[j] == ':';
        if (colon && !quotedKey && j + 1 < s.Length && s[j + 1] == '/')
        {
            // "password://": a URL scheme, not an assignment.
            return -1;
        }

        j++;
        while (j < s.Length && s[j] is ' ' or '\t')
        {
            j++;
        }

        if (j < s.Length && s[j] is '"' or '\'')
        {
            char quote = s[j];
            valueStart = j + 1;
            int k = valueStart;
            while (k < s.Length)
            {
                if (s[k] == '\\' && colon && k + 1 < s.Length)
                {
                    k += 2;
                    continue;
                }

                if (s[k] == quote)
                {
                    if (!colon && k + 1 < s.Length && s[k + 1] == quote)
                    {
                        k += 2;
                        continue;
                    }

                    break;
                }

                k++;
            }

            return k;
        }

        valueStart = j;
        int e = j;
        while (e < s.Length && s[e] is not (';' or '\r' or '\n') && !(colon && (s[e] is ',' or '}' || char.IsWhiteSpace(s[e]))))
        {
            e++;
        }

        while (e > valueStart && s[e - 1] is ' ' or '\t')
        {
            e--;
        }

        return e;
    }
}
