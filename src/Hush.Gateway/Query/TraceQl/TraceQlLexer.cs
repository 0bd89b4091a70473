using System.Globalization;
using System.Text;

namespace Hush.Gateway.Query.TraceQl;

/// <summary>
/// A query Hush cannot run: malformed, or outside the supported subset. The message names the construct and the
/// character position, never the content of a literal (queries carry identifiers people search for).
/// </summary>
internal sealed class TraceQlException(string message) : Exception(message)
{
}

/// <summary>Token types of the TraceQL lexer.</summary>
internal enum TokenType
{
    End,
    LBrace,
    RBrace,
    LParen,
    RParen,
    And,
    Or,
    Op,
    String,
    Number,
    Duration,
    Identifier,

    /// <summary>A symbol the subset does not support (<c>|</c>, <c>&gt;&gt;</c>, <c>+</c>, <c>!</c>, ...); its text says which.</summary>
    Unsupported,
}

/// <summary>One token. <see cref="Text"/> of a string token is its decoded content: never put it in an error.</summary>
internal readonly record struct Token(TokenType Type, string Text, int Position, TqlOp Op = TqlOp.Eq, long Int = 0, double Float = 0, bool IsFloat = false);

/// <summary>Splits a TraceQL query into tokens.</summary>
internal static class TraceQlLexer
{
    /// <summary>A query longer than this is refused unparsed: Grafana's builder writes a few hundred characters.</summary>
    public const int MaxQueryChars = 8 * 1024;

    public static bool IsIdentifierChar(char c) => char.IsAsciiLetterOrDigit(c) || c is '_' or '.' or '-' or '/' or ':' or '@';

    public static List<Token> Tokenize(string text)
    {
        if (text.Length > MaxQueryChars)
        {
            throw new TraceQlException($"the query is {text.Length} characters; the limit is {MaxQueryChars}");
        }

        var tokens = new List<Token>();
        var i = 0;
        while (i < text.Length)
        {
            var c = text[i];
            if (char.IsWhiteSpace(c))
            {
                i++;
                continue;
            }

            var start = i;
            switch (c)
            {
                case '{':
                    tokens.Add(new Token(TokenType.LBrace, "{", start));
                    i++;
                    continue;
                case '}':
                    tokens.Add(new Token(TokenType.RBrace, "}", start));
                    i++;
                    continue;
                case '(':
                    tokens.Add(new Token(TokenType.LParen, "(", start));
                    i++;
                    continue;
                case ')':
                    tokens.Add(new Token(TokenType.RParen, ")", start));
                    i++;
                    continue;
                case '"':
                case '`':
                    tokens.Add(ReadString(text, ref i));
                    continue;
            }

            // A minus right after an operator starts a negative number; anywhere else it is arithmetic.
            if (char.IsAsciiDigit(c) || (c == '-' && i + 1 < text.Length && char.IsAsciiDigit(text[i + 1]) && PreviousIsOperator(tokens)))
            {
                tokens.Add(ReadNumber(text, ref i));
                continue;
            }

            if (Symbol(text, i) is { } symbol)
            {
                tokens.Add(symbol.Token with { Position = start });
                i += symbol.Length;
                continue;
            }

            if (IsIdentifierChar(c))
            {
                while (i < text.Length && IsIdentifierChar(text[i]))
                {
                    i++;
                }

                var identifier = text[start..i];

                // span."attribute with spaces": a scope followed directly by a quoted name.
                if (identifier is "span." or "resource." or "." && i < text.Length && text[i] == '"')
                {
                    var quoted = ReadString(text, ref i);
                    tokens.Add(new Token(TokenType.Identifier, identifier + quoted.Text, start, Int: identifier.Length));
                    continue;
                }

                tokens.Add(new Token(TokenType.Identifier, identifier, start));
                continue;
            }

            throw new TraceQlException($"unexpected character at position {start}");
        }

        tokens.Add(new Token(TokenType.End, string.Empty, text.Length));
        return tokens;
    }

    private static bool PreviousIsOperator(List<Token> tokens) => tokens.Count > 0 && tokens[^1].Type == TokenType.Op;

    private static (Token Token, int Length)? Symbol(string text, int i)
    {
        var rest = text.AsSpan(i);
        (Token, int) Op(TqlOp op, int length) => (new Token(TokenType.Op, text.Substring(i, length), i, op), length);
        (Token, int) Bad(string what, int length) => (new Token(TokenType.Unsupported, what, i), length);

        if (rest.StartsWith("&&"))
        {
            return (new Token(TokenType.And, "&&", i), 2);
        }

        if (rest.StartsWith("||"))
        {
            return (new Token(TokenType.Or, "||", i), 2);
        }

        if (rest.StartsWith("!>>") || rest.StartsWith("!<<") || rest.StartsWith("&>>") || rest.StartsWith("&<<"))
        {
            return Bad("structural operator '" + rest[..3].ToString() + "'", 3);
        }

        if (rest.StartsWith("&~") || rest.StartsWith("&>") || rest.StartsWith("&<"))
        {
            return Bad("structural operator '" + rest[..2].ToString() + "'", 2);
        }

        if (rest.StartsWith(">>") || rest.StartsWith("<<"))
        {
            return Bad("structural operator '" + rest[..2].ToString() + "'", 2);
        }

        if (rest.StartsWith("!="))
        {
            return Op(TqlOp.Ne, 2);
        }

        if (rest.StartsWith("=~"))
        {
            return Op(TqlOp.Match, 2);
        }

        if (rest.StartsWith("!~"))
        {
            return Op(TqlOp.NotMatch, 2);
        }

        if (rest.StartsWith(">="))
        {
            return Op(TqlOp.Ge, 2);
        }

        if (rest.StartsWith("<="))
        {
            return Op(TqlOp.Le, 2);
        }

        return rest[0] switch
        {
            '=' => Op(TqlOp.Eq, 1),
            '>' => Op(TqlOp.Gt, 1),
            '<' => Op(TqlOp.Lt, 1),
            '|' => Bad("pipeline '|'", 1),
            '&' => Bad("operator '&'", 1),
            '!' => Bad("negation '!'", 1),
            '~' => Bad("structural operator '~' (sibling)", 1),
            '+' or '*' or '%' or '^' => Bad("arithmetic '" + rest[0] + "'", 1),
            '-' when rest.Length < 2 || !char.IsAsciiLetter(rest[1]) => Bad("arithmetic '-'", 1),
            ',' => Bad("argument list ','", 1),
            '[' or ']' => Bad("array syntax '" + rest[0] + "'", 1),
            _ => null,
        };
    }

    private static Token ReadString(string text, ref int i)
    {
        var start = i;
        var quote = text[i++];
        var value = new StringBuilder();
        while (i < text.Length)
        {
            var c = text[i++];
            if (c == quote)
            {
                return new Token(TokenType.String, value.ToString(), start);
            }

            if (c == '\\' && quote == '"')
            {
                if (i >= text.Length)
                {
                    break;
                }

                var escaped = text[i++];
                value.Append(escaped switch
                {
                    'n' => '\n',
                    't' => '\t',
                    'r' => '\r',
                    '\\' or '"' => escaped,
                    _ => throw new TraceQlException($"unknown escape sequence in the string starting at position {start}"),
                });
                continue;
            }

            value.Append(c);
        }

        throw new TraceQlException($"the string starting at position {start} is not closed");
    }

    private static Token ReadNumber(string text, ref int i)
    {
        var start = i;
        if (text[i] == '-')
        {
            i++;
        }

        while (i < text.Length && (char.IsAsciiDigit(text[i]) || text[i] == '.'))
        {
            i++;
        }

        var number = text[start..i];
        var unitStart = i;
        while (i < text.Length && (char.IsAsciiLetter(text[i]) || text[i] == 'µ'))
        {
            i++;
        }

        var unit = text[unitStart..i];
        var isFloat = number.Contains('.', StringComparison.Ordinal);
        if (!double.TryParse(number, NumberStyles.AllowLeadingSign | NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var value)
            || double.IsInfinity(value))
        {
            throw new TraceQlException($"malformed number at position {start}");
        }

        if (unit.Length == 0)
        {
            if (!isFloat && !long.TryParse(number, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out _))
            {
                throw new TraceQlException($"the integer at position {start} is out of range");
            }

            return new Token(TokenType.Number, number, start, Int: isFloat ? 0 : long.Parse(number, CultureInfo.InvariantCulture), Float: value, IsFloat: isFloat);
        }

        double nanosPerUnit = unit switch
        {
            "ns" => 1,
            "us" or "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => throw new TraceQlException($"unknown duration unit at position {unitStart}; use ns, us, ms, s, m or h"),
        };
        var nanos = value * nanosPerUnit;
        if (nanos is > long.MaxValue or < long.MinValue)
        {
            throw new TraceQlException($"the duration at position {start} is out of range");
        }

        return new Token(TokenType.Duration, number + unit, start, Int: (long)nanos);
    }
}
