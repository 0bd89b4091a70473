using Hush.Gateway.Query.TraceQl;
using Hush.Otlp;
using Hush.Store.Reading;

namespace Hush.Gateway.Tests.Query;

public sealed class TraceQlParserTests
{
    private const string Secret = "PLANTED-9c1e-jane.doe@example.com";

    [Theory]
    [InlineData("", "{}")]
    [InlineData("{}", "{}")]
    [InlineData("{ }", "{}")]
    [InlineData("{ name = \"GET /checkout\" }", "{ name = \"GET /checkout\" }")]
    [InlineData("{ status = error }", "{ status = error }")]
    [InlineData("{ status != ok }", "{ status != ok }")]
    [InlineData("{ status = unset }", "{ status = unset }")]
    [InlineData("{ kind = server }", "{ kind = server }")]
    [InlineData("{ duration > 100ms }", "{ duration > 100000000ns }")]
    [InlineData("{ duration >= 1.5s && duration < 2m }", "{ duration >= 1500000000ns && duration < 120000000000ns }")]
    [InlineData("{ traceDuration <= 1h }", "{ traceDuration <= 3600000000000ns }")]
    [InlineData("{ duration > 10us || duration < 5ns }", "{ duration > 10000ns || duration < 5ns }")]
    [InlineData("{ statusMessage =~ \"dead.*\" }", "{ statusMessage =~ \"dead.*\" }")]
    [InlineData("{ rootName !~ \"GET .*\" }", "{ rootName !~ \"GET .*\" }")]
    [InlineData("{ rootServiceName = `checkout` }", "{ rootServiceName = \"checkout\" }")]
    [InlineData("{ span.http.status_code >= 500 }", "{ span.http.status_code >= 500 }")]
    [InlineData("{ span.ratio < -0.5 }", "{ span.ratio < -0.5 }")]
    [InlineData("{ resource.service.name = \"checkout\" && .db.system = \"postgresql\" }", "{ resource.service.name = \"checkout\" && .db.system = \"postgresql\" }")]
    [InlineData("{ span.retry = false }", "{ span.retry = false }")]
    [InlineData("{ span.user.id != nil }", "{ span.user.id != nil }")]
    [InlineData("{ .a = 1 && (.b = 2 || .c = 3) }", "{ .a = 1 && (.b = 2 || .c = 3) }")]
    [InlineData("{ (.a = 1) }", "{ .a = 1 }")]
    [InlineData("{ span.\"attr with space\" = \"x\" }", "{ span.\"attr with space\" = \"x\" }")]
    [InlineData("{ name = \"quote \\\" and \\\\ slash\" }", "{ name = \"quote \\\" and \\\\ slash\" }")]
    [InlineData("{.a=1&&.b=\"x\"}", "{ .a = 1 && .b = \"x\" }")]
    public void Parse_SupportedQuery_RoundTrips(string query, string rendered)
    {
        Assert.Equal(rendered, TraceQlQuery.Parse(query).Render());
    }

    public static TheoryData<string, string> Unsupported => new()
    {
        { "{ } | count() > 2", "pipeline '|'" },
        { "{ .a = 1 } | select(span.b)", "pipeline '|'" },
        { "{ .a = 1 } | by(resource.service.name)", "pipeline '|'" },
        { "{ .a = 1 } | avg(duration) > 1s", "pipeline '|'" },
        { "{ .a = 1 } | rate()", "pipeline '|'" },
        { "count() > 1", "aggregate function 'count()'" },
        { "avg(duration) > 1s", "aggregate function 'avg()'" },
        { "max(duration) > 1s", "aggregate function 'max()'" },
        { "select(span.a)", "select()" },
        { "by(span.a)", "grouping with by()" },
        { "rate() by (span.a)", "metrics function 'rate()'" },
        { "quantile_over_time(duration, .9)", "metrics function 'quantile_over_time()'" },
        { "{ .a = 1 } >> { .b = 2 }", "structural operator '>>'" },
        { "{ .a = 1 } << { .b = 2 }", "structural operator '<<'" },
        { "{ .a = 1 } > { .b = 2 }", "structural operator '>'" },
        { "{ .a = 1 } < { .b = 2 }", "structural operator '<'" },
        { "{ .a = 1 } ~ { .b = 2 }", "structural operator '~' (sibling)" },
        { "{ .a = 1 } !>> { .b = 2 }", "structural operator '!>>'" },
        { "{ .a = 1 } &>> { .b = 2 }", "structural operator '&>>'" },
        { "{ .a = 1 } !~ { .b = 2 }", "structural operator '!~'" },
        { "{ .a = 1 } && { .b = 2 }", "multiple spansets" },
        { "{ .a = 1 } || { .b = 2 }", "multiple spansets" },
        { "{ .a = 1 } { .b = 2 }", "multiple spansets" },
        { "({ .a = 1 }) && ({ .b = 2 })", "parentheses around spansets" },
        { "{ .a = 1 } with (most_recent=true)", "query hints 'with(...)'" },
        { "{ !(.a = 1) }", "negation '!'" },
        { "{ duration + 1s > 2s }", "arithmetic '+'" },
        { "{ span.a * 2 > 2 }", "arithmetic '*'" },
        { "{ span.a = 1 - 2 }", "arithmetic '-'" },
        { "{ event.name = \"x\" }", "the 'event' attribute scope" },
        { "{ link.traceID = \"x\" }", "the 'link' attribute scope" },
        { "{ instrumentation.name = \"x\" }", "the 'instrumentation' attribute scope" },
        { "{ span:name = \"x\" }", "scoped intrinsics" },
        { "{ trace:duration > 1s }", "scoped intrinsics" },
        { "{ parent = nil }", "'parent' as a field" },
        { "{ childCount > 1 }", "'childCount' as a field" },
        { "{ traceID = \"x\" }", "'traceID' as a field" },
        { "{ span.a }", "a field without a comparison" },
        { "{ true }", "'true' as a field" },
        { "{ \"x\" = name }", "a literal on the left" },
        { "{ .a = .b }", "comparing a field with another field" },
        { "{ { .a = 1 } }", "a spanset inside a spanset" },
        { "{ coalesce(.a) = 1 }", "coalesce()" },
        { "{ .a = [1, 2] }", "array syntax '['" },
    };

    [Theory]
    [MemberData(nameof(Unsupported))]
    public void Parse_UnsupportedConstruct_NamesIt(string query, string construct)
    {
        var error = Assert.Throws<TraceQlException>(() => TraceQlQuery.Parse(query));

        Assert.Contains("unsupported TraceQL construct", error.Message, StringComparison.Ordinal);
        Assert.Contains(construct, error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("{")]
    [InlineData("}")]
    [InlineData("{ name = }")]
    [InlineData("{ name = \"unclosed }")]
    [InlineData("{ name \"x\" }")]
    [InlineData("{ name = \"x\" ")]
    [InlineData("{ name = \"x\" && }")]
    [InlineData("{ (name = \"x\" }")]
    [InlineData("{ name = \"x\") }")]
    [InlineData("{ unknownthing = 1 }")]
    [InlineData("{ span. = 1 }")]
    [InlineData("{ duration > 5parsecs }")]
    [InlineData("{ duration > \"5s\" }")]
    [InlineData("{ status = \"error\" }")]
    [InlineData("{ status > error }")]
    [InlineData("{ kind = error }")]
    [InlineData("{ name = 5 }")]
    [InlineData("{ span.a =~ 5 }")]
    [InlineData("{ span.a > nil }")]
    [InlineData("{ span.a = error }")]
    [InlineData("{ span.a = 99999999999999999999 }")]
    [InlineData("{ name = \"bad \\q escape\" }")]
    [InlineData("{ name = \"x\" } extra")]
    [InlineData("name = \"x\"")]
    [InlineData("{ name # \"x\" }")]
    [InlineData("\u0000\u0001\u0002")]
    [InlineData("{ span.a = 1.2.3 }")]
    public void Parse_Garbage_ThrowsTraceQlException(string query)
    {
        Assert.Throws<TraceQlException>(() => TraceQlQuery.Parse(query));
    }

    [Theory]
    [InlineData("{ name =~ \"(a\" }")]
    [InlineData("{ name =~ \"(a)\\\\1\" }")]
    [InlineData("{ name =~ \"(?=a)b\" }")]
    [InlineData("{ name =~ \"(?>a)\" }")]
    public void Parse_RegexLinearTimeCannotRun_ThrowsNamingThePosition(string query)
    {
        var error = Assert.Throws<TraceQlException>(() => TraceQlQuery.Parse(query));

        Assert.Contains("regular expression at position", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_TooLongQuery_Refused()
    {
        Assert.Throws<TraceQlException>(() => TraceQlQuery.Parse("{ name = \"" + new string('a', 9000) + "\" }"));
    }

    [Fact]
    public void Parse_DeepNesting_RefusedWithoutStackOverflow()
    {
        var query = "{ " + new string('(', 5000) + ".a = 1" + new string(')', 5000) + " }";

        Assert.Throws<TraceQlException>(() => TraceQlQuery.Parse(query));
    }

    [Theory]
    [InlineData("{ name = \"" + Secret + "\" && }")]
    [InlineData("{ name = \"" + Secret + "\" } | count()")]
    [InlineData("{ name =~ \"" + Secret + "(\" }")]
    [InlineData("{ span.email = \"" + Secret + "\" } >> { }")]
    [InlineData("{ duration = \"" + Secret + "\" }")]
    [InlineData("{ name = \"" + Secret)]
    [InlineData("{ " + Secret + " = 1 }")]
    [InlineData("{ span:" + Secret + " = 1 }")]
    [InlineData("{ " + Secret + "(1) = 1 }")]
    [InlineData(Secret + "(1)")]
    public void Parse_Error_NeverEchoesALiteral(string query)
    {
        var error = Assert.Throws<TraceQlException>(() => TraceQlQuery.Parse(query));

        Assert.DoesNotContain("jane.doe", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("PLANTED", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Render_WithRedaction_ReplacesEveryStringLiteral()
    {
        var query = TraceQlQuery.Parse("{ span.email = \"" + Secret + "\" || name =~ \"" + Secret + ".*\" && duration > 1s }");

        var rendered = query.Render(_ => "h:xyz");

        Assert.Equal("{ span.email = \"h:xyz\" || name =~ \"h:xyz\" && duration > 1000000000ns }", rendered);
    }

    [Fact]
    public void Hints_Conjunction_EveryStringEqualityBecomesAHint()
    {
        var query = TraceQlQuery.Parse("{ resource.service.name = \"checkout\" && name = \"GET /\" && span.db.system = \"pg\" && duration > 1s && .x = 5 && span.y != \"n\" }");

        Assert.Equal(
            [
                new TermHint(TermKind.ServiceName, "", "checkout"),
                new TermHint(TermKind.SpanName, "", "GET /"),
                new TermHint(TermKind.Attribute, "db.system", "pg"),
            ],
            query.Hints);
    }

    [Fact]
    public void Hints_Disjunction_NoHintFromTheOrButFromTheTopLevelAnd()
    {
        var query = TraceQlQuery.Parse("{ rootServiceName = \"a\" && (name = \"x\" || name = \"y\") }");

        Assert.Equal([new TermHint(TermKind.ServiceName, "", "a")], query.Hints);
        Assert.Empty(TraceQlQuery.Parse("{ name = \"x\" || name = \"y\" }").Hints);
    }

    [Fact]
    public void Regex_IsFullyAnchored()
    {
        var query = TraceQlQuery.Parse("{ name =~ \"GET\" }");
        var view = new TraceView(QueryTestData.Trace(1));

        Assert.Empty(query.Match(view));
        Assert.Single(TraceQlQuery.Parse("{ name =~ \"GET.*\" }").Match(view));
    }

    [Fact]
    public void Parse_LiteralsHaveTheirTypes()
    {
        var c = (TqlComparison)TraceQlParser.Parse("{ duration > 2ms }")!;

        Assert.Equal(TqlLiteralKind.Duration, c.Value.Kind);
        Assert.Equal(2_000_000, c.Value.Int);
        Assert.Equal(StatusCode.Error, ((TqlComparison)TraceQlParser.Parse("{ status = error }")!).Value.Status);
        Assert.Equal(TqlLiteralKind.Nil, ((TqlComparison)TraceQlParser.Parse("{ .a = nil }")!).Value.Kind);
        Assert.Equal(TqlLiteralKind.Float, ((TqlComparison)TraceQlParser.Parse("{ .a = 1.5 }")!).Value.Kind);
    }
}
