using Hush.Gateway.Query;

namespace Hush.Gateway.Tests.Query;

/// <summary>The query API's counters and latency histogram on <c>/metrics</c>, and what their labels may never carry.</summary>
public sealed class QueryMetricsTests : IDisposable
{
    private const string SecretLiteral = "PLANTED-literal-4711";
    private const string ForeignTenant = "tenant-from-a-header-0815";

    private readonly QueryHarness _h = new();

    public QueryMetricsTests()
    {
        _h.Reader.Add("acme", QueryTestData.Trace(1));
        _h.Reader.Add("acme", QueryTestData.Trace(2, service: "payments", error: true));
    }

    public void Dispose() => _h.Dispose();

    [Fact]
    public async Task Requests_AppearByEndpointOutcomeAndRole()
    {
        var engineer = _h.Key("acme", "engineer");
        Assert.Equal(200, (await _h.SendAsync("/api/v2/traces/" + QueryTestData.Id(1), engineer, accept: "application/protobuf")).Status);
        Assert.Equal(404, (await _h.SendAsync("/api/v2/traces/" + QueryTestData.Id(99), engineer)).Status);
        Assert.Equal(200, (await _h.SendAsync("/api/search?q=" + Uri.EscapeDataString("{ status = error }"), engineer)).Status);
        Assert.Equal(400, (await _h.SendAsync("/api/search?q=" + Uri.EscapeDataString("{ nonsense"), engineer)).Status);
        Assert.Equal(401, (await _h.SendAsync("/api/search?q=%7B%7D", "hushk_not_a_key")).Status);
        Assert.Equal(403, (await _h.SendAsync("/api/v2/traces/" + QueryTestData.Id(1), _h.Key("acme", "viewer"))).Status);

        var text = _h.Metrics.ToText();

        Assert.Contains("hush_query_requests_total{endpoint=\"trace\",outcome=\"ok\",role=\"engineer\"} 1\n", text, StringComparison.Ordinal);
        Assert.Contains("hush_query_requests_total{endpoint=\"trace\",outcome=\"not_found\",role=\"engineer\"} 1\n", text, StringComparison.Ordinal);
        Assert.Contains("hush_query_requests_total{endpoint=\"search\",outcome=\"ok\",role=\"engineer\"} 1\n", text, StringComparison.Ordinal);
        Assert.Contains("hush_query_requests_total{endpoint=\"search\",outcome=\"bad_request\",role=\"engineer\"} 1\n", text, StringComparison.Ordinal);
        Assert.Contains("hush_query_requests_total{endpoint=\"search\",outcome=\"unauthenticated\",role=\"none\"} 1\n", text, StringComparison.Ordinal);
        Assert.Contains("hush_query_requests_total{endpoint=\"trace\",outcome=\"forbidden_role\",role=\"viewer\"} 1\n", text, StringComparison.Ordinal);
        Assert.Contains("hush_query_denied_total{endpoint=\"search\",reason=\"unauthenticated\"} 1\n", text, StringComparison.Ordinal);
        Assert.Contains("hush_query_denied_total{endpoint=\"trace\",reason=\"forbidden_role\"} 1\n", text, StringComparison.Ordinal);
        Assert.Contains("hush_query_results_total{endpoint=\"search\"} 1\n", text, StringComparison.Ordinal);
        Assert.Matches("hush_query_results_total\\{endpoint=\"trace\"\\} [1-9]", text);
        Assert.Contains("# TYPE hush_query_request_duration_seconds histogram\n", text, StringComparison.Ordinal);
        Assert.Contains("hush_query_request_duration_seconds_bucket{endpoint=\"trace\",outcome=\"ok\",le=\"+Inf\"} 1\n", text, StringComparison.Ordinal);
        Assert.Contains("hush_query_request_duration_seconds_count{endpoint=\"trace\",outcome=\"error\"} 2\n", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Labels_NeverCarryTraceIdTenantHeaderQueryTextOrIdentity()
    {
        var engineer = _h.Key("acme", "engineer");
        var investigator = _h.Key("acme", "investigator");
        await _h.SendAsync("/api/v2/traces/" + QueryTestData.Id(1), engineer);
        await _h.SendAsync("/api/v2/traces/" + QueryTestData.Id(1), engineer, tenant: ForeignTenant);
        await _h.SendAsync("/api/search?q=" + Uri.EscapeDataString($"{{ span.user = \"{SecretLiteral}\" }}"), engineer);
        await _h.SendAsync("/api/search?q=" + Uri.EscapeDataString("{ " + SecretLiteral), engineer);
        await _h.SendAsync("/api/search/tag/" + SecretLiteral + "/values", engineer);
        await _h.SendAsync("/api/hush/resolve", investigator, method: "POST", body: $"{{\"traceID\":\"{QueryTestData.Id(1)}\",\"token\":\"{SecretLiteral}\",\"justification\":\"incident 42: {SecretLiteral} needs a look\"}}");
        await _h.SendAsync("/api/search?q=%7B%7D", "hushk_" + SecretLiteral);

        var text = _h.Metrics.ToText();

        Assert.Contains("hush_query_requests_total{endpoint=\"trace\",outcome=\"tenant_mismatch\",role=\"engineer\"} 1\n", text, StringComparison.Ordinal);
        Assert.Contains("hush_query_resolves_total{outcome=", text, StringComparison.Ordinal);
        Assert.DoesNotContain(QueryTestData.Id(1).ToString(), text, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain(ForeignTenant, text, StringComparison.Ordinal);
        Assert.DoesNotContain(SecretLiteral, text, StringComparison.Ordinal);
        Assert.DoesNotContain("acme", text, StringComparison.Ordinal);
        Assert.DoesNotContain("apikey:", text, StringComparison.Ordinal);
        Assert.DoesNotContain("user", text, StringComparison.Ordinal);

        // Every label value is from the fixed vocabularies.
        foreach (System.Text.RegularExpressions.Match m in System.Text.RegularExpressions.Regex.Matches(text, "(\\w+)=\"([^\"]*)\""))
        {
            Assert.Matches("^(trace|search|tags|tag_values|resolve|audit_read|buildinfo|ok|error|none|viewer|engineer|investigator|admin|resolved|[a-z_]+|[0-9.]+|\\+Inf)$", m.Groups[2].Value);
            Assert.True(m.Groups[2].Value.Length <= 20, m.Value);
        }
    }

    [Theory]
    [InlineData(200, "", "ok")]
    [InlineData(401, "bad_signature", "unauthenticated")]
    [InlineData(503, "unavailable", "auth_unavailable")]
    [InlineData(403, "tenant_mismatch", "tenant_mismatch")]
    [InlineData(500, "something-new", "other")]
    public void OutcomeOf_MapsToTheFixedVocabulary(int status, string reason, string expected) =>
        Assert.Equal(expected, QueryMetrics.OutcomeOf(status, reason));
}
