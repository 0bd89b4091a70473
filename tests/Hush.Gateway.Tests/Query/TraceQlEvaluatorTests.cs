using Hush.Gateway.Query.TraceQl;

namespace Hush.Gateway.Tests.Query;

public sealed class TraceQlEvaluatorTests
{
    private static readonly TraceView Ok = new(QueryTestData.Trace(1));
    private static readonly TraceView Failed = new(QueryTestData.Trace(2, service: "billing", error: true));

    [Theory]
    [InlineData("{}", 2)]
    [InlineData("{ name = \"SELECT\" }", 1)]
    [InlineData("{ name != \"SELECT\" }", 1)]
    [InlineData("{ kind = server }", 1)]
    [InlineData("{ kind != server }", 1)]
    [InlineData("{ status = unset }", 2)]
    [InlineData("{ status = error }", 0)]
    [InlineData("{ duration > 50ms }", 1)]
    [InlineData("{ duration >= 20ms }", 2)]
    [InlineData("{ duration = 20ms }", 1)]
    [InlineData("{ duration < 20ms }", 0)]
    [InlineData("{ traceDuration = 100ms }", 2)]
    [InlineData("{ traceDuration > 100ms }", 0)]
    [InlineData("{ rootName = \"GET /checkout\" }", 2)]
    [InlineData("{ rootServiceName = \"checkout\" }", 2)]
    [InlineData("{ rootServiceName =~ \"check.*\" }", 2)]
    [InlineData("{ span.http.status_code = 200 }", 1)]
    [InlineData("{ span.http.status_code >= 200.0 }", 1)]
    [InlineData("{ span.http.status_code = \"200\" }", 0)]
    [InlineData("{ span.db.system = \"postgresql\" }", 1)]
    [InlineData("{ span.db.system =~ \"post.*\" }", 1)]
    [InlineData("{ span.db.system !~ \"post.*\" }", 0)]
    [InlineData("{ span.db.system > \"mysql\" }", 1)]
    [InlineData("{ span.retry = false }", 1)]
    [InlineData("{ span.retry != true }", 1)]
    [InlineData("{ span.db.system = nil }", 1)]
    [InlineData("{ span.db.system != nil }", 1)]
    [InlineData("{ span.missing = \"x\" }", 0)]
    [InlineData("{ span.missing != \"x\" }", 0)]
    [InlineData("{ resource.service.name = \"checkout\" }", 2)]
    [InlineData("{ span.service.name = \"checkout\" }", 0)]
    [InlineData("{ .service.name = \"checkout\" }", 2)]
    [InlineData("{ .db.system = \"postgresql\" }", 1)]
    [InlineData("{ .deployment.environment = \"prod\" && kind = client }", 1)]
    [InlineData("{ name = \"SELECT\" || name = \"GET /checkout\" }", 2)]
    [InlineData("{ (name = \"SELECT\" || kind = server) && duration < 50ms }", 1)]
    [InlineData("{ name = \"SELECT\" && kind = server }", 0)]
    public void Match_OnAKnownTrace_MatchesTheExpectedSpans(string query, int spans)
    {
        Assert.Equal(spans, TraceQlQuery.Parse(query).Match(Ok).Count);
    }

    [Theory]
    [InlineData("{ name = \"SELECT\" }")]
    [InlineData("{ status = error }")]
    [InlineData("{ duration > 50ms }")]
    [InlineData("{ span.db.system = nil }")]
    [InlineData("{ .service.name = \"checkout\" }")]
    [InlineData("{ resource.service.name = \"billing\" && status = error && duration > 1ms }")]
    [InlineData("{ (name = \"SELECT\" || kind = server) && duration < 50ms }")]
    [InlineData("{ statusMessage = \"deadlock\" || span.missing != nil }")]
    public void SpanFilter_SpanLevelQuery_HoldsOnSomeSpanExactlyWhenTheTraceMatches(string text)
    {
        var query = TraceQlQuery.Parse(text);

        Assert.NotNull(query.SpanFilter);
        foreach (var view in new[] { Ok, Failed })
        {
            Assert.Equal(query.Match(view).Count > 0, view.Spans.Any(s => query.SpanFilter(s.Resource, s.Span)));

            // The intrinsic filter may say yes to a span that does not match, never no to one that does.
            foreach (var span in view.Spans.Where(s => query.SpanFilter(s.Resource, s.Span)))
            {
                Assert.True(query.IntrinsicFilter?.Invoke(Intrinsics(span)) ?? true);
            }
        }
    }

    [Theory]
    [InlineData("{ status = error }", 2)]
    [InlineData("{ duration > 50ms && name = \"SELECT\" }", 1)]
    [InlineData("{ kind = server || span.db.system = \"postgresql\" }", 0)]
    [InlineData("{ (status = error || kind = client) && duration >= 20ms }", 1)]
    [InlineData("{ span.db.system = nil && status != error }", 0)]
    public void IntrinsicFilter_OnTheSpansOfAKnownTrace_RulesOutOnlyThoseItsIntrinsicsDecide(string text, int ruledOut)
    {
        var query = TraceQlQuery.Parse(text);

        Assert.Equal(ruledOut, Ok.Spans.Count(s => !query.IntrinsicFilter!(Intrinsics(s))));
    }

    [Fact]
    public void IntrinsicFilter_NoIntrinsicCompared_IsNone()
    {
        Assert.Null(TraceQlQuery.Parse("{ resource.service.name = \"checkout\" && name = \"SELECT\" }").IntrinsicFilter);
        Assert.Null(TraceQlQuery.Parse("{ status = error && traceDuration > 1ms }").IntrinsicFilter);
    }

    private static Hush.Store.Reading.SpanIntrinsics Intrinsics(SpanRef span)
        => new(span.Span.StartTimeUnixNano, span.Span.EndTimeUnixNano, span.Span.Kind, span.Span.Status.Code);

    [Theory]
    [InlineData("{}")]
    [InlineData("{ traceDuration > 50ms }")]
    [InlineData("{ rootName = \"GET /checkout\" && status = error }")]
    [InlineData("{ name = \"SELECT\" || rootServiceName = \"checkout\" }")]
    public void SpanFilter_EmptyOrTraceLevelQuery_IsNone(string text)
    {
        Assert.Null(TraceQlQuery.Parse(text).SpanFilter);
    }

    [Fact]
    public void Match_ErrorStatusAndMessage()
    {
        Assert.Single(TraceQlQuery.Parse("{ status = error }").Match(Failed));
        Assert.Single(TraceQlQuery.Parse("{ statusMessage = \"deadlock\" }").Match(Failed));
        Assert.Single(TraceQlQuery.Parse("{ status != unset }").Match(Failed));
    }

    [Fact]
    public void TraceView_RootAndBounds()
    {
        Assert.Equal("GET /checkout", Ok.RootName);
        Assert.Equal("checkout", Ok.RootServiceName);
        Assert.Equal(100_000_000UL, Ok.DurationNanos);
        Assert.Equal(QueryTestData.BaseNanos, Ok.StartUnixNano);
    }

    [Fact]
    public void TraceView_NoRootSpan_UsesTempoPlaceholder()
    {
        var trace = QueryTestData.Trace(3);
        trace.ResourceSpans[0].ScopeSpans[0].Spans.RemoveAt(0);

        var view = new TraceView(trace);

        Assert.Equal(TraceView.MissingRoot, view.RootName);
        Assert.Equal(TraceView.MissingRoot, view.RootServiceName);
        Assert.Empty(TraceQlQuery.Parse("{ rootServiceName = \"<root span not yet received>\" }").Hints);
    }

    [Fact]
    public void IsServiceLevel_OnlyIntrinsicsAndServiceName()
    {
        Assert.True(TraceQlQuery.Parse("{ resource.service.name = \"a\" && status = error && duration > 1s }").IsServiceLevel);
        Assert.True(TraceQlQuery.Parse("{ .service.name = \"a\" || name = \"x\" }").IsServiceLevel);
        Assert.False(TraceQlQuery.Parse("{ span.user.email = \"x\" }").IsServiceLevel);
        Assert.False(TraceQlQuery.Parse("{ span.service.name = \"x\" }").IsServiceLevel);
    }
}
