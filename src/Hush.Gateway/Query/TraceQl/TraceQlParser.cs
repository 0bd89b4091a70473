using System.Text.RegularExpressions;
using Hush.Otlp;

namespace Hush.Gateway.Query.TraceQl;

/// <summary>
/// Parses the TraceQL subset Grafana's search builder writes: one spanset <c>{ ... }</c> (or <c>{}</c>) of
/// comparisons joined by <c>&amp;&amp;</c>, <c>||</c> and parentheses. Every other construct is refused with a
/// <see cref="TraceQlException"/> naming it.
/// </summary>
internal sealed class TraceQlParser
{
    /// <summary>A longer regular expression is refused: building its automaton costs memory proportional to it.</summary>
    public const int MaxRegexChars = 1024;

    /// <summary>Nesting beyond this is refused, so a hostile query cannot exhaust the stack.</summary>
    private const int MaxDepth = 64;

    private static readonly HashSet<string> AggregateFunctions = new(StringComparer.Ordinal)
    {
        "count", "avg", "min", "max", "sum", "quantile", "histogram",
    };

    private static readonly HashSet<string> MetricsFunctions = new(StringComparer.Ordinal)
    {
        "rate", "count_over_time", "min_over_time", "max_over_time", "avg_over_time", "sum_over_time",
        "quantile_over_time", "histogram_over_time", "compare", "topk", "bottomk",
    };

    private static readonly HashSet<string> UnsupportedIntrinsics = new(StringComparer.Ordinal)
    {
        "parent", "childCount", "traceID", "spanID", "parentID", "nestedSetLeft", "nestedSetRight", "nestedSetParent",
        "instrumentation", "statusCode", "true", "false", "nil",
    };

    private readonly List<Token> _tokens;
    private int _next;
    private int _depth;

    private TraceQlParser(List<Token> tokens) => _tokens = tokens;

    /// <summary>Parses <paramref name="text"/>; null for an empty spanset (or an empty query). Throws <see cref="TraceQlException"/>.</summary>
    public static TqlExpr? Parse(string text)
    {
        var parser = new TraceQlParser(TraceQlLexer.Tokenize(text ?? string.Empty));
        return parser.ParseQuery();
    }

    private Token Peek => _tokens[_next];

    private Token Take() => _tokens[_next++];

    private TqlExpr? ParseQuery()
    {
        if (Peek.Type == TokenType.End)
        {
            return null;
        }

        var first = Peek;
        switch (first.Type)
        {
            case TokenType.Identifier when Describe(first.Text) is { } described:
                throw Unsupported(described, first.Position);
            case TokenType.Identifier:
                throw new TraceQlException($"a query starts with a spanset '{{ ... }}' (position {first.Position})");
            case TokenType.LParen:
                throw Unsupported("parentheses around spansets", first.Position);
            case TokenType.Unsupported:
                throw Unsupported(first.Text, first.Position);
            case TokenType.LBrace:
                break;
            default:
                throw new TraceQlException($"a query starts with a spanset '{{ ... }}' (position {first.Position})");
        }

        Take();
        TqlExpr? filter = null;
        if (Peek.Type != TokenType.RBrace)
        {
            filter = ParseOr();
        }

        Expect(TokenType.RBrace, "'}' closing the spanset");
        var after = Peek;
        switch (after.Type)
        {
            case TokenType.End:
                return filter;
            case TokenType.Unsupported:
                throw Unsupported(after.Text, after.Position);
            case TokenType.And or TokenType.Or:
                throw Unsupported($"combining spansets with '{after.Text}' (multiple spansets)", after.Position);
            case TokenType.Op when after.Op is TqlOp.Gt or TqlOp.Lt or TqlOp.NotMatch:
                throw Unsupported($"structural operator '{after.Text}'", after.Position);
            case TokenType.LBrace:
                throw Unsupported("multiple spansets", after.Position);
            case TokenType.Identifier when after.Text is "with":
                throw Unsupported("query hints 'with(...)'", after.Position);
            default:
                throw new TraceQlException($"unexpected input after the spanset at position {after.Position}");
        }
    }

    private TqlExpr ParseOr()
    {
        var left = ParseAnd();
        while (Peek.Type == TokenType.Or)
        {
            Take();
            left = new TqlOr(left, ParseAnd());
        }

        return left;
    }

    private TqlExpr ParseAnd()
    {
        var left = ParsePrimary();
        while (Peek.Type == TokenType.And)
        {
            Take();
            left = new TqlAnd(left, ParsePrimary());
        }

        return left;
    }

    private TqlExpr ParsePrimary()
    {
        var token = Peek;
        switch (token.Type)
        {
            case TokenType.LParen:
                if (++_depth > MaxDepth)
                {
                    throw new TraceQlException($"the query nests parentheses deeper than {MaxDepth}");
                }

                Take();
                var inner = ParseOr();
                Expect(TokenType.RParen, "')'");
                _depth--;
                return inner;
            case TokenType.Identifier:
                return ParseComparison();
            case TokenType.Unsupported:
                throw Unsupported(token.Text, token.Position);
            case TokenType.String or TokenType.Number or TokenType.Duration:
                throw Unsupported("a literal on the left of a comparison (write the field first)", token.Position);
            case TokenType.LBrace:
                throw Unsupported("a spanset inside a spanset", token.Position);
            case TokenType.RBrace or TokenType.End:
                throw new TraceQlException($"a condition is missing at position {token.Position}");
            default:
                throw new TraceQlException($"unexpected '{token.Text}' at position {token.Position}");
        }
    }

    private TqlComparison ParseComparison()
    {
        var fieldToken = Take();
        if (Peek.Type == TokenType.LParen)
        {
            throw Unsupported(Describe(fieldToken.Text) ?? "a function call", fieldToken.Position);
        }

        var field = ResolveField(fieldToken);
        var opToken = Peek;
        if (opToken.Type == TokenType.Unsupported)
        {
            throw Unsupported(opToken.Text, opToken.Position);
        }

        if (opToken.Type != TokenType.Op)
        {
            throw opToken.Type is TokenType.RBrace or TokenType.And or TokenType.Or or TokenType.RParen
                ? Unsupported("a field without a comparison (existence tests are written '!= nil')", opToken.Position)
                : new TraceQlException($"expected a comparison operator (= != > >= < <= =~ !~) at position {opToken.Position}");
        }

        Take();
        var valueToken = Take();
        var literal = ReadLiteral(valueToken);
        if (Peek.Type == TokenType.Unsupported && Peek.Text.StartsWith("arithmetic", StringComparison.Ordinal))
        {
            throw Unsupported(Peek.Text, Peek.Position);
        }

        Check(field, opToken.Op, literal, valueToken.Position);
        Regex? regex = null;
        if (opToken.Op is TqlOp.Match or TqlOp.NotMatch)
        {
            regex = Compile(literal.Text, valueToken.Position);
        }

        return new TqlComparison(field, opToken.Op, literal, regex);
    }

    private static TqlField ResolveField(Token token)
    {
        var text = token.Text;

        // A quoted attribute name: the lexer put the scope's length in Int.
        if (token.Int > 0)
        {
            var scopeText = text[..(int)token.Int];
            return new TqlField(TqlFieldKind.Attribute, ScopeOf(scopeText), text[(int)token.Int..]);
        }

        if (text.StartsWith("span.", StringComparison.Ordinal))
        {
            return Attribute(TqlScope.Span, text["span.".Length..], token.Position);
        }

        if (text.StartsWith("resource.", StringComparison.Ordinal))
        {
            return Attribute(TqlScope.Resource, text["resource.".Length..], token.Position);
        }

        if (text.StartsWith('.'))
        {
            return Attribute(TqlScope.Any, text[1..], token.Position);
        }

        foreach (var scope in (string[])["event.", "link.", "instrumentation.", "scope.", "trace."])
        {
            if (text.StartsWith(scope, StringComparison.Ordinal))
            {
                throw Unsupported($"the '{scope[..^1]}' attribute scope (use span., resource. or .)", token.Position);
            }
        }

        if (text.Contains(':', StringComparison.Ordinal))
        {
            throw Unsupported("scoped intrinsics such as span:name (write the unscoped intrinsic, e.g. name, status, duration)", token.Position);
        }

        return text switch
        {
            "name" => new TqlField(TqlFieldKind.Name, TqlScope.Span, text),
            "status" => new TqlField(TqlFieldKind.Status, TqlScope.Span, text),
            "duration" => new TqlField(TqlFieldKind.Duration, TqlScope.Span, text),
            "kind" => new TqlField(TqlFieldKind.Kind, TqlScope.Span, text),
            "statusMessage" => new TqlField(TqlFieldKind.StatusMessage, TqlScope.Span, text),
            "traceDuration" => new TqlField(TqlFieldKind.TraceDuration, TqlScope.Span, text),
            "rootName" => new TqlField(TqlFieldKind.RootName, TqlScope.Span, text),
            "rootServiceName" => new TqlField(TqlFieldKind.RootServiceName, TqlScope.Span, text),
            _ when UnsupportedIntrinsics.Contains(text) => throw Unsupported($"'{text}' as a field", token.Position),
            _ => throw new TraceQlException(
                $"unknown intrinsic at position {token.Position}; attributes need a scope: span.x, resource.x or .x"),
        };
    }

    private static TqlScope ScopeOf(string scopeText) => scopeText switch
    {
        "span." => TqlScope.Span,
        "resource." => TqlScope.Resource,
        _ => TqlScope.Any,
    };

    private static TqlField Attribute(TqlScope scope, string key, int position)
    {
        if (key.Length == 0 || key.StartsWith('.') || key.EndsWith('.'))
        {
            throw new TraceQlException($"the attribute name at position {position} is empty or malformed");
        }

        return new TqlField(TqlFieldKind.Attribute, scope, key);
    }

    private static TqlLiteral ReadLiteral(Token token)
    {
        switch (token.Type)
        {
            case TokenType.String:
                return new TqlLiteral(TqlLiteralKind.String, Text: token.Text);
            case TokenType.Number:
                return token.IsFloat ? new TqlLiteral(TqlLiteralKind.Float, Float: token.Float) : new TqlLiteral(TqlLiteralKind.Int, Int: token.Int);
            case TokenType.Duration:
                return new TqlLiteral(TqlLiteralKind.Duration, Int: token.Int);
            case TokenType.Identifier:
                return token.Text switch
                {
                    "true" => new TqlLiteral(TqlLiteralKind.Bool, Bool: true),
                    "false" => new TqlLiteral(TqlLiteralKind.Bool, Bool: false),
                    "nil" => new TqlLiteral(TqlLiteralKind.Nil),
                    "error" => new TqlLiteral(TqlLiteralKind.Status, Status: StatusCode.Error),
                    "ok" => new TqlLiteral(TqlLiteralKind.Status, Status: StatusCode.Ok),
                    "unset" => new TqlLiteral(TqlLiteralKind.Status, Status: StatusCode.Unset),
                    "server" => new TqlLiteral(TqlLiteralKind.Kind, SpanKind: SpanKind.Server),
                    "client" => new TqlLiteral(TqlLiteralKind.Kind, SpanKind: SpanKind.Client),
                    "producer" => new TqlLiteral(TqlLiteralKind.Kind, SpanKind: SpanKind.Producer),
                    "consumer" => new TqlLiteral(TqlLiteralKind.Kind, SpanKind: SpanKind.Consumer),
                    "internal" => new TqlLiteral(TqlLiteralKind.Kind, SpanKind: SpanKind.Internal),
                    "unspecified" => new TqlLiteral(TqlLiteralKind.Kind, SpanKind: SpanKind.Unspecified),
                    _ => throw Unsupported("comparing a field with another field (the right side must be a literal)", token.Position),
                };
            case TokenType.Unsupported:
                throw Unsupported(token.Text, token.Position);
            default:
                throw new TraceQlException($"expected a value after the operator at position {token.Position}");
        }
    }

    /// <summary>Type rules: which literal kinds and operators each field takes.</summary>
    private static void Check(TqlField field, TqlOp op, TqlLiteral literal, int position)
    {
        var isEquality = op is TqlOp.Eq or TqlOp.Ne;
        var isRegex = op is TqlOp.Match or TqlOp.NotMatch;
        string? problem = field.Kind switch
        {
            TqlFieldKind.Status when literal.Kind != TqlLiteralKind.Status || !isEquality => "status compares with = or != to error, ok or unset",
            TqlFieldKind.Kind when literal.Kind != TqlLiteralKind.Kind || !isEquality => "kind compares with = or != to server, client, producer, consumer, internal or unspecified",
            TqlFieldKind.Duration or TqlFieldKind.TraceDuration when literal.Kind != TqlLiteralKind.Duration || isRegex => $"{field.Render()} compares with a duration such as 100ms",
            TqlFieldKind.Name or TqlFieldKind.StatusMessage or TqlFieldKind.RootName or TqlFieldKind.RootServiceName when literal.Kind != TqlLiteralKind.String =>
                $"{field.Render()} compares with a string",
            TqlFieldKind.Attribute when literal.Kind is TqlLiteralKind.Status or TqlLiteralKind.Kind => "status and kind keywords compare only with status and kind",
            TqlFieldKind.Attribute when literal.Kind is TqlLiteralKind.Nil or TqlLiteralKind.Bool && !isEquality => "nil and booleans compare only with = or !=",
            _ when isRegex && literal.Kind != TqlLiteralKind.String => "=~ and !~ take a string (a regular expression)",
            _ => null,
        };
        if (problem is not null)
        {
            throw new TraceQlException($"type mismatch at position {position}: {problem}");
        }
    }

    private static Regex Compile(string pattern, int position)
    {
        if (pattern.Length > MaxRegexChars)
        {
            throw new TraceQlException($"the regular expression at position {position} is longer than {MaxRegexChars} characters");
        }

        try
        {
            // Fully anchored like Tempo's, and linear-time: no pattern can make a search backtrack.
            return new Regex("^(?:" + pattern + ")$", RegexOptions.NonBacktracking | RegexOptions.CultureInvariant);
        }
        catch (Exception e) when (e is ArgumentException or NotSupportedException or OutOfMemoryException)
        {
            throw new TraceQlException(
                $"the regular expression at position {position} is invalid or uses a construct linear-time matching does not support (backreferences, lookarounds, atomic groups)");
        }
    }

    private void Expect(TokenType type, string what)
    {
        var token = Peek;
        if (token.Type == type)
        {
            Take();
            return;
        }

        if (token.Type == TokenType.Unsupported)
        {
            throw Unsupported(token.Text, token.Position);
        }

        throw new TraceQlException($"expected {what} at position {token.Position}");
    }

    /// <summary>Names a known unsupported construct that starts with <paramref name="identifier"/>.</summary>
    private static string? Describe(string identifier) => identifier switch
    {
        "select" => "select()",
        "by" => "grouping with by()",
        "coalesce" => "coalesce()",
        "with" => "query hints 'with(...)'",
        _ when AggregateFunctions.Contains(identifier) => $"aggregate function '{identifier}()'",
        _ when MetricsFunctions.Contains(identifier) => $"metrics function '{identifier}()'",
        _ => null,
    };

    /// <summary>Names the construct from a fixed vocabulary: nothing the caller typed is echoed, not even an identifier.</summary>
    private static TraceQlException Unsupported(string construct, int position) =>
        new($"unsupported TraceQL construct at position {position}: {construct}. Hush supports one spanset {{ ... }} with &&, ||, parentheses and comparisons");
}
