namespace Hush.Privacy.Transforms;

/// <summary>
/// Reduces SQL to its shape: string literals (with <c>''</c> escapes, <c>E'..'</c>, <c>N'..'</c>, <c>X'..'</c>,
/// <c>B'..'</c>), numbers, hex (<c>0x..</c>) and dollar-quoted bodies (<c>$$..$$</c>, <c>$tag$..$tag$</c>) become
/// <c>?</c>; <c>IN (?, ?, ?)</c> becomes <c>IN (?)</c>; <c>--</c> and <c>/* */</c> comments are removed. Keywords,
/// identifiers (also <c>"quoted"</c> and <c>`quoted`</c>), parameters (<c>$1</c>, <c>@p</c>, <c>:name</c>) and
/// punctuation are kept. An unterminated literal or comment turns the rest of the text into one <c>?</c>
/// (fail closed: whatever follows may be the literal's content).
/// </summary>
public static class SqlNormalizer
{
    /// <summary>Normalizes <paramref name="sql"/>; linear time, never throws.</summary>
    public static string Normalize(string sql) => Normalize(sql, null);

    /// <summary>
    /// <see cref="Normalize(string)"/> that hands back a result already in <paramref name="recent"/> (a direct-mapped
    /// table of one caller, length a power of two) instead of a new string, and records new ones there: statements of
    /// one shape with other literals normalize to the same text.
    /// </summary>
    internal static string Normalize(string sql, string?[]? recent)
    {
        ArgumentNullException.ThrowIfNull(sql);
        var sb = TextBuilder.Rent(sql.Length);
        try
        {
            return Normalize(sql, sb, recent);
        }
        finally
        {
            sb.Return();
        }
    }

    private static string Normalize(string sql, TextBuilder sb, string?[]? recent)
    {
        int i = 0;
        int n = sql.Length;
        while (i < n)
        {
            char c = sql[i];
            char next = i + 1 < n ? sql[i + 1] : '\0';
            if (c == '-' && next == '-')
            {
                int eol = sql.AsSpan(i).IndexOfAny('\n', '\r');
                i = eol < 0 ? n : i + eol;
                continue;
            }

            if (c == '/' && next == '*')
            {
                int close = sql.IndexOf("*/", i + 2, StringComparison.Ordinal);
                if (close < 0)
                {
                    return FailClosed(sb, recent);
                }

                i = close + 2;
                SeparateIfNeeded(sb, sql, i);
                continue;
            }

            if (c == '\'')
            {
                int end = SkipQuoted(sql, i, '\'', backslashEscapes: false);
                if (end < 0)
                {
                    return FailClosed(sb, recent);
                }

                sb.Append('?');
                i = end;
                continue;
            }

            if (c == '"' || c == '`')
            {
                int end = SkipQuoted(sql, i, c, backslashEscapes: false);
                if (end < 0)
                {
                    return FailClosed(sb, recent);
                }

                sb.Append(sql, i, end - i);
                i = end;
                continue;
            }

            if (c == '$')
            {
                int tagEnd = DollarTagEnd(sql, i);
                if (tagEnd > 0)
                {
                    string tag = sql[i..tagEnd];
                    int close = sql.IndexOf(tag, tagEnd, StringComparison.Ordinal);
                    if (close < 0)
                    {
                        return FailClosed(sb, recent);
                    }

                    sb.Append('?');
                    i = close + tag.Length;
                    continue;
                }

                // $1 positional parameter: keep.
                int p = i + 1;
                while (p < n && char.IsAsciiDigit(sql[p]))
                {
                    p++;
                }

                sb.Append(sql, i, p - i);
                i = p;
                continue;
            }

            if (IsIdentStart(c))
            {
                int end = i + 1;
                while (end < n && IsIdentPart(sql[end]))
                {
                    end++;
                }

                // Prefixed string literals: E'..' (backslash escapes), N'..', X'..', B'..', U&'..'.
                int len = end - i;
                if (end < n && sql[end] == '\'' && len == 1 && (c | 0x20) is 'e' or 'n' or 'x' or 'b')
                {
                    int close = SkipQuoted(sql, end, '\'', backslashEscapes: (c | 0x20) == 'e');
                    if (close < 0)
                    {
                        return FailClosed(sb, recent);
                    }

                    sb.Append('?');
                    i = close;
                    continue;
                }

                sb.Append(sql, i, len);
                i = end;
                continue;
            }

            if (char.IsAsciiDigit(c) || (c == '.' && char.IsAsciiDigit(next) && !PrevIsIdent(sb)))
            {
                i = SkipNumber(sql, i);
                sb.Append('?');
                continue;
            }

            if ((c == '@' || c == ':') && IsIdentStart(next))
            {
                // Named parameters (@p0, :name) are kept whole, so their digits are not taken for numbers.
                int end = i + 1;
                while (end < n && IsIdentPart(sql[end]))
                {
                    end++;
                }

                sb.Append(sql, i, end - i);
                i = end;
                continue;
            }

            sb.Append(c);
            i++;
        }

        return CollapseInLists(sb, recent);
    }

    private static string FailClosed(TextBuilder sb, string?[]? recent)
    {
        sb.Append('?');
        return CollapseInLists(sb, recent);
    }

    private static void SeparateIfNeeded(TextBuilder sb, string sql, int i)
    {
        if (sb.Length > 0 && IsIdentPart(sb[^1]) && i < sql.Length && IsIdentPart(sql[i]))
        {
            sb.Append(' ');
        }
    }

    private static bool PrevIsIdent(TextBuilder sb) => sb.Length > 0 && IsIdentPart(sb[^1]);

    private static bool IsIdentStart(char c) => char.IsAsciiLetter(c) || c == '_' || (c >= 0x80 && char.IsLetter(c));

    private static bool IsIdentPart(char c) => char.IsAsciiLetterOrDigit(c) || c is '_' or '$' || (c >= 0x80 && char.IsLetterOrDigit(c));

    /// <summary>Returns the index after the closing quote, or -1 when unterminated. Doubled quotes escape.</summary>
    private static int SkipQuoted(string s, int open, char quote, bool backslashEscapes)
    {
        int i = open + 1;
        while (i < s.Length)
        {
            char c = s[i];
            if (backslashEscapes && c == '\\')
            {
                i += 2;
                continue;
            }

            if (c == quote)
            {
                if (i + 1 < s.Length && s[i + 1] == quote)
                {
                    i += 2;
                    continue;
                }

                return i + 1;
            }

            i++;
        }

        return -1;
    }

    /// <summary>For <c>$$</c> or <c>$tag$</c> at <paramref name="i"/> returns the index after the tag, else -1.</summary>
    private static int DollarTagEnd(string s, int i)
    {
        int j = i + 1;
        if (j < s.Length && (char.IsAsciiLetter(s[j]) || s[j] == '_'))
        {
            while (j < s.Length && (char.IsAsciiLetterOrDigit(s[j]) || s[j] == '_'))
            {
                j++;
            }
        }

        return j < s.Length && s[j] == '$' ? j + 1 : -1;
    }

    private static int SkipNumber(string s, int i)
    {
        int n = s.Length;
        if (s[i] == '0' && i + 1 < n && (s[i + 1] | 0x20) == 'x')
        {
            int h = i + 2;
            while (h < n && char.IsAsciiHexDigit(s[h]))
            {
                h++;
            }

            return h;
        }

        while (i < n && (char.IsAsciiDigit(s[i]) || s[i] == '.' || s[i] == '_'))
        {
            i++;
        }

        if (i < n && (s[i] | 0x20) == 'e')
        {
            int e = i + 1;
            if (e < n && s[e] is '+' or '-')
            {
                e++;
            }

            if (e < n && char.IsAsciiDigit(s[e]))
            {
                i = e;
                while (i < n && char.IsAsciiDigit(s[i]))
                {
                    i++;
                }
            }
        }

        return i;
    }

    /// <summary>Rewrites every <c>IN (?, ?, ...)</c> list of only placeholders to <c>IN (?)</c>, any case and spacing.</summary>
    private static string CollapseInLists(TextBuilder normalized, string?[]? recent)
    {
        ReadOnlySpan<char> s = normalized.AsSpan();
        int paren = s.IndexOf('(');
        if (paren < 0)
        {
            return normalized.ToString(recent);
        }

        // Built at the first list that collapses: most statements with parentheses (INSERT columns, calls) have none.
        TextBuilder? sb = null;
        int copied = 0;
        while (paren >= 0)
        {
            int close = -1;
            if (PrecededByIn(s, paren))
            {
                int placeholders = 0;
                int j = paren + 1;
                while (j < s.Length && (s[j] is '?' or ',' || char.IsWhiteSpace(s[j])))
                {
                    placeholders += s[j] == '?' ? 1 : 0;
                    j++;
                }

                if (j < s.Length && s[j] == ')' && placeholders > 0)
                {
                    close = j;
                }
            }

            if (close >= 0)
            {
                sb ??= TextBuilder.Rent(s.Length);
                sb.Append(s[copied..paren]).Append("(?)");
                copied = close + 1;
            }

            int from = Math.Max(paren + 1, copied);
            int next = from < s.Length ? s[from..].IndexOf('(') : -1;
            paren = next < 0 ? -1 : from + next;
        }

        if (sb is null)
        {
            return normalized.ToString(recent);
        }

        try
        {
            sb.Append(s[copied..]);
            return sb.ToString(recent);
        }
        finally
        {
            sb.Return();
        }
    }

    private static bool PrecededByIn(ReadOnlySpan<char> s, int paren)
    {
        int j = paren - 1;
        while (j >= 0 && char.IsWhiteSpace(s[j]))
        {
            j--;
        }

        return j >= 1 && (s[j] | 0x20) == 'n' && (s[j - 1] | 0x20) == 'i' && (j < 2 || !IsIdentPart(s[j - 2]));
    }
}
