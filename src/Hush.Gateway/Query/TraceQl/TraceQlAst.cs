using System.Text;
using System.Text.RegularExpressions;
using Hush.Otlp;

namespace Hush.Gateway.Query.TraceQl;

/// <summary>A comparison operator of the supported TraceQL subset.</summary>
internal enum TqlOp
{
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
    Match,
    NotMatch,
}

/// <summary>What a field names: one of the supported intrinsics, or an attribute.</summary>
internal enum TqlFieldKind
{
    Name,
    Status,
    Duration,
    Kind,
    StatusMessage,
    TraceDuration,
    RootName,
    RootServiceName,
    Attribute,
}

/// <summary>Where an attribute is looked up: <c>span.</c>, <c>resource.</c>, or unscoped <c>.</c> (either).</summary>
internal enum TqlScope
{
    Span,
    Resource,
    Any,
}

/// <summary>The type of a literal.</summary>
internal enum TqlLiteralKind
{
    String,
    Int,
    Float,
    Bool,
    Duration,
    Nil,
    Status,
    Kind,
}

/// <summary>A field on the left of a comparison.</summary>
internal sealed record TqlField(TqlFieldKind Kind, TqlScope Scope, string Key)
{
    /// <summary>True for <c>resource.service.name</c> and <c>.service.name</c>.</summary>
    public bool IsServiceName => Kind == TqlFieldKind.Attribute && Scope != TqlScope.Span && Key == "service.name";

    public string Render() => Kind switch
    {
        TqlFieldKind.Attribute => (Scope switch { TqlScope.Span => "span.", TqlScope.Resource => "resource.", _ => "." }) + RenderKey(Key),
        TqlFieldKind.Name => "name",
        TqlFieldKind.Status => "status",
        TqlFieldKind.Duration => "duration",
        TqlFieldKind.Kind => "kind",
        TqlFieldKind.StatusMessage => "statusMessage",
        TqlFieldKind.TraceDuration => "traceDuration",
        TqlFieldKind.RootName => "rootName",
        _ => "rootServiceName",
    };

    private static string RenderKey(string key)
    {
        foreach (var c in key)
        {
            if (!TraceQlLexer.IsIdentifierChar(c))
            {
                return "\"" + key.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal) + "\"";
            }
        }

        return key;
    }
}

/// <summary>A literal on the right of a comparison. Only the member of its <see cref="Kind"/> is meaningful.</summary>
internal sealed record TqlLiteral(TqlLiteralKind Kind, string Text = "", long Int = 0, double Float = 0, bool Bool = false, StatusCode Status = StatusCode.Unset, SpanKind SpanKind = SpanKind.Unspecified)
{
    /// <summary>The number as a double, for <see cref="TqlLiteralKind.Int"/> and <see cref="TqlLiteralKind.Float"/>.</summary>
    public double Number => Kind == TqlLiteralKind.Int ? Int : Float;

    /// <summary>Renders the literal; <paramref name="redact"/> replaces string contents (for the audit log).</summary>
    public string Render(Func<string, string>? redact) => Kind switch
    {
        TqlLiteralKind.String => "\"" + (redact is null ? Text.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal) : redact(Text)) + "\"",
        TqlLiteralKind.Int => Int.ToString(),
        TqlLiteralKind.Float => Float.ToString("R"),
        TqlLiteralKind.Bool => Bool ? "true" : "false",
        TqlLiteralKind.Duration => Int + "ns",
        TqlLiteralKind.Nil => "nil",
        TqlLiteralKind.Status => Status.ToString().ToLowerInvariant(),
        _ => SpanKind.ToString().ToLowerInvariant(),
    };
}

/// <summary>A node of a spanset filter expression.</summary>
internal abstract record TqlExpr
{
    public abstract void Render(StringBuilder text, Func<string, string>? redact);
}

/// <summary><c>left &amp;&amp; right</c>.</summary>
internal sealed record TqlAnd(TqlExpr Left, TqlExpr Right) : TqlExpr
{
    public override void Render(StringBuilder text, Func<string, string>? redact)
    {
        RenderOperand(Left, text, redact);
        text.Append(" && ");
        RenderOperand(Right, text, redact);
    }

    private static void RenderOperand(TqlExpr operand, StringBuilder text, Func<string, string>? redact)
    {
        if (operand is TqlOr)
        {
            text.Append('(');
            operand.Render(text, redact);
            text.Append(')');
        }
        else
        {
            operand.Render(text, redact);
        }
    }
}

/// <summary><c>left || right</c>.</summary>
internal sealed record TqlOr(TqlExpr Left, TqlExpr Right) : TqlExpr
{
    public override void Render(StringBuilder text, Func<string, string>? redact)
    {
        Left.Render(text, redact);
        text.Append(" || ");
        Right.Render(text, redact);
    }
}

/// <summary><c>field op literal</c>; <see cref="Regex"/> is compiled (anchored, linear-time) for <c>=~</c> and <c>!~</c>.</summary>
internal sealed record TqlComparison(TqlField Field, TqlOp Op, TqlLiteral Value, Regex? Regex) : TqlExpr
{
    public static string OpText(TqlOp op) => op switch
    {
        TqlOp.Eq => "=",
        TqlOp.Ne => "!=",
        TqlOp.Gt => ">",
        TqlOp.Ge => ">=",
        TqlOp.Lt => "<",
        TqlOp.Le => "<=",
        TqlOp.Match => "=~",
        _ => "!~",
    };

    public override void Render(StringBuilder text, Func<string, string>? redact) =>
        text.Append(Field.Render()).Append(' ').Append(OpText(Op)).Append(' ').Append(Value.Render(redact));
}
