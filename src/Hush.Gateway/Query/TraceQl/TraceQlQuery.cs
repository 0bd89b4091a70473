using System.Text;
using Hush.Otlp;
using Hush.Store.Reading;

namespace Hush.Gateway.Query.TraceQl;

/// <summary>
/// A parsed TraceQL query, evaluated exactly on whole traces the store hands back. Values are compared with the
/// stored (already scrubbed) values: searching for a user means searching for their pseudonym.
/// </summary>
internal sealed class TraceQlQuery
{
    private TraceQlQuery(TqlExpr? filter)
    {
        Filter = filter;
        var conjuncts = new List<TqlExpr>();
        if (filter is not null)
        {
            Flatten(filter, conjuncts);
        }

        Hints = [.. conjuncts.OfType<TqlComparison>().Select(HintFor).OfType<TermHint>().Distinct()];
        var fields = new List<TqlField>();
        if (filter is not null)
        {
            Collect(filter, fields);
        }

        Fields = fields;
        if (filter is not null && fields.All(f => f.Kind is not (TqlFieldKind.TraceDuration or TqlFieldKind.RootName or TqlFieldKind.RootServiceName)))
        {
            SpanFilter = (resource, span) => Evaluate(filter, null, new SpanRef(resource, span));
            if (fields.Any(f => f.Kind is TqlFieldKind.Status or TqlFieldKind.Kind or TqlFieldKind.Duration))
            {
                IntrinsicFilter = span => MayHold(filter, span) != false;
            }
        }
    }

    /// <summary>The spanset's filter; null for <c>{}</c>, which every span matches.</summary>
    public TqlExpr? Filter { get; }

    /// <summary>Equalities every match satisfies (from the top-level conjunction only), for the store's index.</summary>
    public IReadOnlyList<TermHint> Hints { get; }

    /// <summary>Every field the query compares.</summary>
    public IReadOnlyList<TqlField> Fields { get; }

    /// <summary>
    /// The filter as a test of one span and its resource, for the store to skip traces without a matching span before
    /// assembling them (<see cref="TraceScan.SpanFilter"/>); null for <c>{}</c> and when the query reads a trace-level
    /// intrinsic (traceDuration, rootName, rootServiceName), which no single span decides.
    /// </summary>
    public Func<ResourceSpans, Span, bool>? SpanFilter { get; }

    /// <summary>
    /// With <see cref="SpanFilter"/>, when the query compares status, kind or duration: false only for a span whose
    /// intrinsics alone make the filter false, so the store need not decode it (<see cref="TraceScan.IntrinsicFilter"/>).
    /// </summary>
    public Func<SpanIntrinsics, bool>? IntrinsicFilter { get; }

    /// <summary>True when the query reads only intrinsics and <c>service.name</c>: what a viewer may filter on.</summary>
    public bool IsServiceLevel => Fields.All(f => f.Kind != TqlFieldKind.Attribute || f.IsServiceName);

    /// <summary>Parses a query; throws <see cref="TraceQlException"/> (answered 400) for anything outside the subset.</summary>
    public static TraceQlQuery Parse(string text) => new(TraceQlParser.Parse(text));

    /// <summary>The query text with every string literal passed through <paramref name="redact"/> (for the audit log).</summary>
    public string Render(Func<string, string>? redact = null)
    {
        if (Filter is null)
        {
            return "{}";
        }

        var text = new StringBuilder("{ ");
        Filter.Render(text, redact);
        return text.Append(" }").ToString();
    }

    /// <summary>The spans of <paramref name="trace"/> that match, in stored order.</summary>
    public List<SpanRef> Match(TraceView trace)
    {
        var matched = new List<SpanRef>();
        foreach (var span in trace.Spans)
        {
            if (Filter is null || Evaluate(Filter, trace, span))
            {
                matched.Add(span);
            }
        }

        return matched;
    }

    /// <summary>Whether <paramref name="span"/> satisfies <paramref name="expr"/>; <paramref name="trace"/> may be null only when no trace-level intrinsic is compared.</summary>
    public static bool Evaluate(TqlExpr expr, TraceView? trace, SpanRef span) => expr switch
    {
        TqlAnd and => Evaluate(and.Left, trace, span) && Evaluate(and.Right, trace, span),
        TqlOr or => Evaluate(or.Left, trace, span) || Evaluate(or.Right, trace, span),
        TqlComparison c => Compare(c, trace, span),
        _ => false,
    };

    /// <summary>
    /// The filter in three values over a span's intrinsics: true or false when they decide it, null when it depends on
    /// what is not known yet (a name, an attribute, the resource). The comparisons are those of <see cref="Compare"/>.
    /// </summary>
    private static bool? MayHold(TqlExpr expr, SpanIntrinsics span)
    {
        switch (expr)
        {
            case TqlAnd and:
                {
                    var left = MayHold(and.Left, span);
                    if (left == false)
                    {
                        return false;
                    }

                    var right = MayHold(and.Right, span);
                    return right == false ? false : left == true && right == true ? true : null;
                }

            case TqlOr or:
                {
                    var left = MayHold(or.Left, span);
                    if (left == true)
                    {
                        return true;
                    }

                    var right = MayHold(or.Right, span);
                    return right == true ? true : left == false && right == false ? false : null;
                }

            case TqlComparison c:
                return c.Field.Kind switch
                {
                    TqlFieldKind.Status => c.Op == TqlOp.Eq ? span.Status == c.Value.Status : span.Status != c.Value.Status,
                    TqlFieldKind.Kind => c.Op == TqlOp.Eq ? span.Kind == c.Value.SpanKind : span.Kind != c.Value.SpanKind,
                    TqlFieldKind.Duration => CompareNumber((double)span.DurationNanos, c.Value.Int, c.Op),
                    _ => null,
                };
            default:
                return false;
        }
    }

    private static bool Compare(TqlComparison c, TraceView? trace, SpanRef span)
    {
        var s = span.Span;
        switch (c.Field.Kind)
        {
            case TqlFieldKind.Name:
                return CompareString(s.Name, c);
            case TqlFieldKind.StatusMessage:
                return CompareString(s.Status.Message, c);
            case TqlFieldKind.RootName:
                return CompareString(trace!.RootName, c);
            case TqlFieldKind.RootServiceName:
                return CompareString(trace!.RootServiceName, c);
            case TqlFieldKind.Status:
                return c.Op == TqlOp.Eq ? s.Status.Code == c.Value.Status : s.Status.Code != c.Value.Status;
            case TqlFieldKind.Kind:
                return c.Op == TqlOp.Eq ? s.Kind == c.Value.SpanKind : s.Kind != c.Value.SpanKind;
            case TqlFieldKind.Duration:
                return CompareNumber((double)span.DurationNanos, c.Value.Int, c.Op);
            case TqlFieldKind.TraceDuration:
                return CompareNumber((double)trace!.DurationNanos, c.Value.Int, c.Op);
            default:
                return c.Field.Scope switch
                {
                    TqlScope.Span => CompareAttribute(s.Attributes, c),
                    TqlScope.Resource => CompareAttribute(span.Resource.Resource.Attributes, c),

                    // Unscoped: true when either the span's or the resource's attribute satisfies it, as in Tempo.
                    _ => CompareAttribute(s.Attributes, c) || CompareAttribute(span.Resource.Resource.Attributes, c),
                };
        }
    }

    private static bool CompareAttribute(List<KeyValue> attributes, TqlComparison c)
    {
        var found = TraceView.TryGet(attributes, c.Field.Key, out var value);
        if (c.Value.Kind == TqlLiteralKind.Nil)
        {
            return c.Op == TqlOp.Eq ? !found : found;
        }

        if (!found)
        {
            return false;
        }

        switch (c.Value.Kind)
        {
            case TqlLiteralKind.String:
                return value.StringValue is { } text && CompareString(text, c);
            case TqlLiteralKind.Bool:
                return value.Kind == AnyValueKind.Bool && (c.Op == TqlOp.Eq ? value.BoolValue == c.Value.Bool : value.BoolValue != c.Value.Bool);
            case TqlLiteralKind.Int:
            case TqlLiteralKind.Float:
                return value.Kind switch
                {
                    AnyValueKind.Int => CompareNumber(value.IntValue, c.Value.Number, c.Op),
                    AnyValueKind.Double => CompareNumber(value.DoubleValue, c.Value.Number, c.Op),
                    _ => false,
                };
            case TqlLiteralKind.Duration:
                return value.Kind == AnyValueKind.Int && CompareNumber(value.IntValue, c.Value.Int, c.Op);
            default:
                return false;
        }
    }

    private static bool CompareString(string actual, TqlComparison c) => c.Op switch
    {
        TqlOp.Eq => string.Equals(actual, c.Value.Text, StringComparison.Ordinal),
        TqlOp.Ne => !string.Equals(actual, c.Value.Text, StringComparison.Ordinal),
        TqlOp.Match => c.Regex!.IsMatch(actual),
        TqlOp.NotMatch => !c.Regex!.IsMatch(actual),
        TqlOp.Gt => string.CompareOrdinal(actual, c.Value.Text) > 0,
        TqlOp.Ge => string.CompareOrdinal(actual, c.Value.Text) >= 0,
        TqlOp.Lt => string.CompareOrdinal(actual, c.Value.Text) < 0,
        _ => string.CompareOrdinal(actual, c.Value.Text) <= 0,
    };

    private static bool CompareNumber(double actual, double expected, TqlOp op) => op switch
    {
        TqlOp.Eq => actual.Equals(expected),
        TqlOp.Ne => !actual.Equals(expected),
        TqlOp.Gt => actual > expected,
        TqlOp.Ge => actual >= expected,
        TqlOp.Lt => actual < expected,
        TqlOp.Le => actual <= expected,
        _ => false,
    };

    private static void Flatten(TqlExpr expr, List<TqlExpr> conjuncts)
    {
        if (expr is TqlAnd and)
        {
            Flatten(and.Left, conjuncts);
            Flatten(and.Right, conjuncts);
        }
        else
        {
            conjuncts.Add(expr);
        }
    }

    private static void Collect(TqlExpr expr, List<TqlField> fields)
    {
        switch (expr)
        {
            case TqlAnd and:
                Collect(and.Left, fields);
                Collect(and.Right, fields);
                break;
            case TqlOr or:
                Collect(or.Left, fields);
                Collect(or.Right, fields);
                break;
            case TqlComparison c:
                fields.Add(c.Field);
                break;
        }
    }

    /// <summary>
    /// A hint for a top-level string equality. Sound because every conjunct must hold on the matching span, and a
    /// string literal only ever equals a string value, which is what the store's index holds.
    /// </summary>
    private static TermHint? HintFor(TqlComparison c)
    {
        // The placeholder for a missing root names no stored span or service.
        if (c.Op != TqlOp.Eq || c.Value.Kind != TqlLiteralKind.String
            || (c.Field.Kind is TqlFieldKind.RootName or TqlFieldKind.RootServiceName && c.Value.Text == TraceView.MissingRoot))
        {
            return null;
        }

        return c.Field.Kind switch
        {
            TqlFieldKind.Name or TqlFieldKind.RootName => new TermHint(TermKind.SpanName, string.Empty, c.Value.Text),
            TqlFieldKind.RootServiceName => new TermHint(TermKind.ServiceName, string.Empty, c.Value.Text),
            TqlFieldKind.Attribute when c.Field.Scope == TqlScope.Resource && c.Field.Key == "service.name" =>
                new TermHint(TermKind.ServiceName, string.Empty, c.Value.Text),
            TqlFieldKind.Attribute => new TermHint(TermKind.Attribute, c.Field.Key, c.Value.Text),
            _ => null,
        };
    }
}
