using System.Text;
using System.Text.Json;
using Hush.Gateway.Configuration;
using Hush.Gateway.Query.Audit;
using Hush.Gateway.Tests.Support;
using Hush.Otlp;

namespace Hush.Gateway.Tests.Query;

/// <summary>Roles, tenant isolation, authentication failures, limits, auditing and leak-freedom of the query API.</summary>
public sealed class QueryApiSecurityTests : IDisposable
{
    private const string Planted = QueryTestData.Planted;
    private const string Justification = "incident INC-4711: customer reports a double charge";
    private static readonly string GlobexId = QueryTestData.Id(9).ToString();
    private static readonly string AcmeId = QueryTestData.Id(1).ToString();

    private readonly QueryHarness _h = new();
    private readonly string _acmeToken;
    private readonly string _globexToken;

    public QueryApiSecurityTests()
    {
        _acmeToken = _h.Vault.Tokenize("acme", "email", Planted);
        _globexToken = _h.Vault.Tokenize("globex", "email", "globex-person@example.com");
        _h.Reader.Add("acme", QueryTestData.Trace(1, token: _acmeToken));
        var globex = QueryTestData.Trace(9, service: "globex-svc", token: _globexToken);
        globex.ResourceSpans[0].ScopeSpans[0].Spans[0].Attributes.Add(new KeyValue("globex.only", AnyValue.Of("globex-value")));
        _h.Reader.Add("globex", globex);
    }

    public void Dispose()
    {
        Assert.DoesNotContain(Planted, _h.Logs.AllText, StringComparison.Ordinal);
        Assert.DoesNotContain(Planted, _h.AuditText, StringComparison.Ordinal);
        _h.Dispose();
    }

    private static string ResolveBody(string token, string traceId, string justification = Justification) =>
        JsonSerializer.Serialize(new { token, traceId, justification });

    // ---- role matrix ----

    public static TheoryData<string, string, string?> Endpoints => new()
    {
        { "buildinfo", "/api/status/buildinfo", "viewer,engineer,investigator,admin" },
        { "trace v1", "/api/traces/" + AcmeId, "engineer,investigator" },
        { "trace v2", "/api/v2/traces/" + AcmeId, "engineer,investigator" },
        { "search", "/api/search?q=%7B%7D", "viewer,engineer,investigator" },
        { "search legacy", "/api/search?tags=service.name%3Dcheckout", "viewer,engineer,investigator" },
        { "tags v1", "/api/search/tags", "viewer,engineer,investigator" },
        { "tags v2", "/api/v2/search/tags", "viewer,engineer,investigator" },
        { "tag values v1", "/api/search/tag/service.name/values", "viewer,engineer,investigator" },
        { "tag values v2", "/api/v2/search/tag/resource.service.name/values", "viewer,engineer,investigator" },
        { "attribute values v2", "/api/v2/search/tag/span.db.system/values", "engineer,investigator" },
        { "attribute search", "/api/search?q=" + Uri.EscapeDataString("{ span.db.system = \"postgresql\" }"), "engineer,investigator" },
        { "resolve", "POST /api/hush/resolve", "investigator" },
        { "audit", "/api/hush/audit", "admin" },
    };

    [Theory]
    [MemberData(nameof(Endpoints))]
    public async Task RoleMatrix_EachRoleOnEachEndpoint_AllowedOr403(string name, string endpoint, string? allowed)
    {
        foreach (var role in (string[])["viewer", "engineer", "investigator", "admin"])
        {
            var key = _h.Key("acme", role);
            var post = endpoint.StartsWith("POST ", StringComparison.Ordinal);
            var r = post
                ? await _h.SendAsync(endpoint[5..], key, method: "POST", body: ResolveBody(_acmeToken, AcmeId))
                : await _h.SendAsync(endpoint, key);
            var mayAccess = allowed!.Split(',').Contains(role);

            if (mayAccess)
            {
                Assert.True(r.Status == 200, $"{role} on {name}: {r.Status} {r.Text}");
            }
            else
            {
                Assert.True(r.Status == 403, $"{role} on {name}: expected 403, got {r.Status}");
            }
        }
    }

    [Fact]
    public async Task Viewer_SearchResultsCarryNoAttributes()
    {
        var viewer = _h.Key("acme", "viewer");

        var r = await _h.SendAsync("/api/search?q=" + Uri.EscapeDataString("{ resource.service.name = \"checkout\" }"), viewer);

        Assert.Equal(200, r.Status);
        Assert.Contains("\"spanSets\"", r.Text, StringComparison.Ordinal);
        Assert.DoesNotContain("attributes", r.Text, StringComparison.Ordinal);
        Assert.DoesNotContain(_acmeToken, r.Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Admin_AuditReading_SeesOnlyItsTenantsRecords()
    {
        var admin = _h.Key("acme", "admin");
        await _h.SendAsync("/api/search?q=%7B%7D", _h.Key("acme", "engineer"));
        await _h.SendAsync("/api/search?q=%7B%7D", _h.Key("globex", "engineer"));

        var r = await _h.SendAsync("/api/hush/audit?action=search", admin);

        Assert.Equal(200, r.Status);
        var records = JsonDocument.Parse(r.Text).RootElement.GetProperty("records");
        Assert.Equal(1, records.GetArrayLength());
        Assert.Equal("acme", records[0].GetProperty("tenant").GetString());
    }

    // ---- tenant isolation ----

    [Fact]
    public async Task CrossTenant_EveryEndpoint_RevealsNothingOfTheOtherTenant()
    {
        var key = _h.Key("acme", "engineer", "investigator", "admin");
        var unknown = QueryTestData.Id(77).ToString();

        foreach (var version in (string[])["/api/traces/", "/api/v2/traces/"])
        {
            var other = await _h.SendAsync(version + GlobexId, key);
            var none = await _h.SendAsync(version + unknown, key);
            Assert.Equal(404, other.Status);
            Assert.Equal((none.Status, none.Text, none.ContentType), (other.Status, other.Text, other.ContentType));
        }

        var all = await _h.SendAsync("/api/search?q=%7B%7D&limit=100", key);
        Assert.DoesNotContain(GlobexId, all.Text, StringComparison.Ordinal);
        Assert.DoesNotContain("globex", all.Text, StringComparison.Ordinal);
        var targeted = await _h.SendAsync("/api/search?q=" + Uri.EscapeDataString("{ resource.service.name = \"globex-svc\" }"), key);
        Assert.Contains("\"traces\":[]", targeted.Text, StringComparison.Ordinal);
        var legacy = await _h.SendAsync("/api/search?tags=service.name%3Dglobex-svc", key);
        Assert.Contains("\"traces\":[]", legacy.Text, StringComparison.Ordinal);

        foreach (var path in (string[])["/api/search/tags", "/api/v2/search/tags", "/api/search/tag/service.name/values", "/api/v2/search/tag/.service.name/values", "/api/v2/search/tag/span.globex.only/values"])
        {
            var r = await _h.SendAsync(path, key);
            Assert.Equal(200, r.Status);
            Assert.DoesNotContain("globex", r.Text, StringComparison.Ordinal);
        }

        var otherTrace = await _h.SendAsync("/api/hush/resolve", key, method: "POST", body: ResolveBody(_globexToken, GlobexId));
        var noTrace = await _h.SendAsync("/api/hush/resolve", key, method: "POST", body: ResolveBody(_globexToken, unknown));
        var ownTraceOtherToken = await _h.SendAsync("/api/hush/resolve", key, method: "POST", body: ResolveBody(_globexToken, AcmeId));
        Assert.Equal(404, otherTrace.Status);
        Assert.Equal((noTrace.Status, noTrace.Text), (otherTrace.Status, otherTrace.Text));
        Assert.Equal((noTrace.Status, noTrace.Text), (ownTraceOtherToken.Status, ownTraceOtherToken.Text));
        Assert.DoesNotContain("globex-person", otherTrace.Text + ownTraceOtherToken.Text, StringComparison.Ordinal);

        var audit = await _h.SendAsync("/api/hush/audit?limit=1000", key);
        Assert.DoesNotContain("\"tenant\":\"globex\"", audit.Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CrossTenant_HeaderNamingAnotherTenant_403OnEveryEndpointAndAudited()
    {
        var key = _h.Key("acme", "engineer", "investigator", "admin");
        string[] paths =
        [
            "/api/traces/" + GlobexId, "/api/v2/traces/" + GlobexId, "/api/search?q=%7B%7D", "/api/search/tags", "/api/v2/search/tags",
            "/api/search/tag/service.name/values", "/api/v2/search/tag/name/values", "/api/status/buildinfo", "/api/hush/audit",
        ];

        foreach (var path in paths)
        {
            var r = await _h.SendAsync(path, key, tenant: "globex");
            Assert.True(r.Status == 403, path);
            Assert.DoesNotContain("globex", r.Text, StringComparison.Ordinal);
        }

        var resolve = await _h.SendAsync("/api/hush/resolve", key, tenant: "globex", method: "POST", body: ResolveBody(_globexToken, GlobexId));
        Assert.Equal(403, resolve.Status);
        var denied = _h.AuditText.Split('\n', StringSplitOptions.RemoveEmptyEntries).Count(l => l.Contains("\"reason\":\"tenant_mismatch\"", StringComparison.Ordinal) && l.Contains("\"decision\":\"deny\"", StringComparison.Ordinal));
        Assert.Equal(paths.Length + 1, denied);
        Assert.Contains("[4301]", _h.Logs.AllText, StringComparison.Ordinal);
    }

    [Fact]
    public async Task OwnTenantHeader_IsAccepted()
    {
        var r = await _h.SendAsync("/api/search?q=%7B%7D", _h.Key("acme", "engineer"), tenant: "acme");

        Assert.Equal(200, r.Status);
        Assert.Contains(AcmeId, r.Text, StringComparison.Ordinal);
    }

    // ---- authentication ----

    [Fact]
    public async Task NoCredential_NotLoopback_401WithChallenge()
    {
        var r = await _h.SendAsync("/api/search?q=%7B%7D");

        Assert.Equal(401, r.Status);
        Assert.Contains("Basic", r.Headers.WWWAuthenticate.ToString(), StringComparison.Ordinal);
        Assert.Contains("\"identity\":\"anonymous\"", _h.AuditText, StringComparison.Ordinal);
        Assert.Contains("\"reason\":\"missing\"", _h.AuditText, StringComparison.Ordinal);
    }

    [Fact]
    public async Task DevMode_Loopback_EngineerOnTenantDevOnly()
    {
        _h.Reader.Add("dev", QueryTestData.Trace(5));

        var search = await _h.SendAsync("/api/search?q=%7B%7D", loopback: true);
        var trace = await _h.SendAsync("/api/traces/" + QueryTestData.Id(5), loopback: true);
        var acme = await _h.SendAsync("/api/traces/" + AcmeId, loopback: true);
        var resolve = await _h.SendAsync("/api/hush/resolve", loopback: true, method: "POST", body: ResolveBody(_acmeToken, AcmeId));
        var audit = await _h.SendAsync("/api/hush/audit", loopback: true);
        var otherTenant = await _h.SendAsync("/api/search?q=%7B%7D", loopback: true, tenant: "acme");

        Assert.Equal(200, search.Status);
        Assert.Contains(QueryTestData.Id(5).ToString(), search.Text, StringComparison.Ordinal);
        Assert.Equal(200, trace.Status);
        Assert.Equal(404, acme.Status);
        Assert.Equal(403, resolve.Status);
        Assert.Equal(403, audit.Status);
        Assert.Equal(403, otherTenant.Status);
        Assert.Contains("\"identity\":\"dev:loopback\"", _h.AuditText, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RequiredMode_Loopback_401()
    {
        using var h = new QueryHarness(QueryConfig.Default with { Auth = new QueryAuthConfig { Mode = QueryAuthMode.Required } });

        Assert.Equal(401, (await h.SendAsync("/api/search", loopback: true)).Status);
    }

    [Fact]
    public async Task DevMode_BadCredentialFromLoopback_StillRefused()
    {
        Assert.Equal(401, (await _h.SendAsync("/api/search", "hushk_nope", loopback: true)).Status);
    }

    [Theory]
    [InlineData("Token abc")]
    [InlineData("Bearer ")]
    [InlineData("Bearer hushk_aaaaaaaaaa_bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb")]
    [InlineData("Bearer hushk_short")]
    [InlineData("Bearer hush_aaaaaaaaaa_bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb")]
    [InlineData("Bearer eyJhbGciOiJSUzI1NiJ9.e30.sig")]
    [InlineData("Basic !!!notbase64")]
    [InlineData("Basic Zm9vYmFy")]
    [InlineData("Basic Zm9vOg==")]
    [InlineData("Bearer " + Planted)]
    [InlineData("\u0001\u0002")]
    public async Task BadCredential_401WithoutEchoingIt(string authorization)
    {
        var r = await _h.SendAsync("/api/search", authorization: authorization);

        Assert.Equal(401, r.Status);
        Assert.DoesNotContain("aaaaaaaaaa", r.Text + _h.AuditText + _h.Logs.AllText, StringComparison.Ordinal);
        Assert.DoesNotContain("jane.doe", r.Text + _h.AuditText + _h.Logs.AllText, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ApiKey_AsBasicPassword_Accepted()
    {
        var key = _h.Key("acme", "engineer");

        var r = await _h.SendAsync("/api/search?q=%7B%7D", authorization: "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes("grafana:" + key)));

        Assert.Equal(200, r.Status);
    }

    [Fact]
    public async Task ApiKey_Revoked_RefusedAfterRecheck()
    {
        var (key, info) = _h.Keys.Create("acme", [], "x", ["engineer"]);
        Assert.Equal(200, (await _h.SendAsync("/api/search", key)).Status);

        _h.Keys.Revoke(info.Id);
        ((ManualClock)_h.Clock).Advance(TimeSpan.FromSeconds(2));
        var r = await _h.SendAsync("/api/search", key);

        Assert.Equal(401, r.Status);
        Assert.Contains("revoked", r.Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ApiKey_WithoutAKnownRole_Refused()
    {
        var key = _h.Keys.Create("acme", [], "x", ["superuser"]).Token;

        Assert.Equal(401, (await _h.SendAsync("/api/search", key)).Status);
    }

    // ---- limits ----

    [Fact]
    public async Task RateLimit_PerIdentity_429WithRetryAfter()
    {
        using var h = new QueryHarness(QueryConfig.Default with { Limits = new QueryLimitsConfig { RequestsPerMinute = 10 } });
        var key = h.Key("acme", "engineer");
        var other = h.Key("acme", "engineer");

        var first = await h.SendAsync("/api/search", key);
        var second = await h.SendAsync("/api/search", key);
        var someoneElse = await h.SendAsync("/api/search", other);
        ((ManualClock)h.Clock).Advance(TimeSpan.FromSeconds(7));
        var later = await h.SendAsync("/api/search", key);

        Assert.Equal(200, first.Status);
        Assert.Equal(429, second.Status);
        Assert.Equal("6", second.Headers.RetryAfter.ToString());
        Assert.Equal(200, someoneElse.Status);
        Assert.Equal(200, later.Status);
        Assert.Contains("\"reason\":\"rate_limited\"", h.AuditText, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Search_LimitIsCappedAndEnumerationStops()
    {
        using var h = new QueryHarness(QueryConfig.Default with { Limits = new QueryLimitsConfig { MaxSearchLimit = 3 } });
        for (var i = 1; i <= 10; i++)
        {
            h.Reader.Add("acme", QueryTestData.Trace(i, offsetSeconds: (ulong)i));
        }

        var r = await h.SendAsync("/api/search?q=%7B%7D&limit=1000", h.Key("acme", "engineer"));

        Assert.Equal(3, JsonDocument.Parse(r.Text).RootElement.GetProperty("traces").GetArrayLength());
        Assert.Equal(3, h.Reader.Yielded);
        Assert.Contains(QueryTestData.Id(10).ToString(), r.Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Search_DefaultLimitIs20()
    {
        for (var i = 1; i <= 30; i++)
        {
            _h.Reader.Add("acme", QueryTestData.Trace(100 + i));
        }

        var r = await _h.SendAsync("/api/search", _h.Key("acme", "engineer"));

        Assert.Equal(20, JsonDocument.Parse(r.Text).RootElement.GetProperty("traces").GetArrayLength());
    }

    [Fact]
    public async Task Search_PassesHintsAndWindowToTheReader()
    {
        await _h.SendAsync("/api/search?start=1700000000&end=1700000100&q=" + Uri.EscapeDataString("{ resource.service.name = \"checkout\" && status = error }"), _h.Key("acme", "engineer"));

        var scan = Assert.Single(_h.Reader.Scans);
        Assert.Equal(DateTimeOffset.FromUnixTimeSeconds(1_700_000_000), scan.Start);
        Assert.Equal(DateTimeOffset.FromUnixTimeSeconds(1_700_000_100), scan.End);
        Assert.Equal([new Hush.Store.Reading.TermHint(Hush.Store.Reading.TermKind.ServiceName, "", "checkout")], scan.Hints);
    }

    [Fact]
    public async Task Timeout_SearchAnswersWhatItFound_TraceById504()
    {
        using var h = new QueryHarness(QueryConfig.Default with { Limits = new QueryLimitsConfig { Timeout = TimeSpan.FromMilliseconds(200) } }, time: TimeProvider.System);
        h.Reader.Add("acme", QueryTestData.Trace(1));
        h.Reader.Delay = ct => Task.Delay(TimeSpan.FromSeconds(30), ct);
        var key = h.Key("acme", "engineer");

        var search = await h.SendAsync("/api/search?q=%7B%7D", key);
        var trace = await h.SendAsync("/api/traces/" + AcmeId, key);

        Assert.Equal(200, search.Status);
        Assert.Contains("\"traces\":[]", search.Text, StringComparison.Ordinal);
        Assert.Equal(504, trace.Status);
    }

    [Fact]
    public async Task NoStore_503ButEchoAndReadyAnswer()
    {
        using var h = new QueryHarness(withReader: false);
        var key = h.Key("acme", "engineer");

        Assert.Equal(503, (await h.SendAsync("/api/search", key)).Status);
        Assert.Equal(503, (await h.SendAsync("/api/traces/" + AcmeId, key)).Status);
        Assert.Contains("no store configured", (await h.SendAsync("/api/search/tags", key)).Text, StringComparison.Ordinal);
        Assert.Equal(200, (await h.SendAsync("/api/echo")).Status);
        Assert.Equal(200, (await h.SendAsync("/ready")).Status);
    }

    [Fact]
    public async Task AuditUnwritable_NothingIsServed()
    {
        var key = _h.Key("acme", "engineer");
        var auditDir = AuditLog.DirectoryFor(_h.DataDir);
        Directory.Delete(auditDir, recursive: true);
        File.WriteAllText(auditDir, "not a directory");

        var r = await _h.SendAsync("/api/traces/" + AcmeId, key);

        Assert.Equal(503, r.Status);
        Assert.DoesNotContain(AcmeId, r.Text, StringComparison.Ordinal);
        Assert.Contains("[4303]", _h.Logs.AllText, StringComparison.Ordinal);
        File.Delete(auditDir);
        Directory.CreateDirectory(auditDir);
    }

    // ---- resolve ----

    [Fact]
    public async Task Resolve_Investigator_GetsTheValue_AuditHasJustificationButNotTheValue()
    {
        var key = _h.Key("acme", "investigator");

        var r = await _h.SendAsync("/api/hush/resolve", key, method: "POST", body: ResolveBody(_acmeToken, AcmeId));

        Assert.Equal(200, r.Status);
        Assert.Equal(Planted, JsonDocument.Parse(r.Text).RootElement.GetProperty("value").GetString());
        Assert.Equal("no-store", r.Headers.CacheControl.ToString());
        var record = _h.AuditText.Split('\n').Single(l => l.Contains("\"action\":\"resolve\"", StringComparison.Ordinal));
        Assert.Contains(Justification, record, StringComparison.Ordinal);
        Assert.Contains(_acmeToken, record, StringComparison.Ordinal);
        Assert.Contains("\"decision\":\"allow\"", record, StringComparison.Ordinal);
        Assert.Contains("\"results\":1", record, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("not json")]
    [InlineData("[]")]
    [InlineData("{}")]
    [InlineData("{\"token\":5,\"traceId\":\"x\",\"justification\":\"y\"}")]
    [InlineData("{\"token\":\"tok_x\",\"traceId\":\"zz\",\"justification\":\"long enough justification here\"}")]
    [InlineData("{\"token\":\"tok_x\",\"traceId\":\"0a0b0c0d0e0f10110000000000000001\",\"justification\":\"short\"}")]
    [InlineData("{\"token\":\"tok x;drop\",\"traceId\":\"0a0b0c0d0e0f10110000000000000001\",\"justification\":\"long enough justification here\"}")]
    [InlineData("{\"token\":\"" + Planted + "\",\"traceId\":\"" + Planted + "\",\"justification\":\"long enough justification here\"}")]
    public async Task Resolve_Garbage_400WithoutEcho(string body)
    {
        var r = await _h.SendAsync("/api/hush/resolve", _h.Key("acme", "investigator"), method: "POST", body: body);

        Assert.Equal(400, r.Status);
        Assert.DoesNotContain("jane.doe", r.Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Resolve_HugeBody_413()
    {
        var r = await _h.SendAsync("/api/hush/resolve", _h.Key("acme", "investigator"), method: "POST", body: new string('x', 20_000));

        Assert.Equal(413, r.Status);
    }

    [Fact]
    public async Task Resolve_RateLimitedPerInvestigator()
    {
        using var h = new QueryHarness(QueryConfig.Default with { Limits = new QueryLimitsConfig { ResolvesPerHour = 1 } });
        var token = h.Vault.Tokenize("acme", "email", Planted);
        h.Reader.Add("acme", QueryTestData.Trace(1, token: token));
        var key = h.Key("acme", "investigator");

        var first = await h.SendAsync("/api/hush/resolve", key, method: "POST", body: ResolveBody(token, AcmeId));
        var second = await h.SendAsync("/api/hush/resolve", key, method: "POST", body: ResolveBody(token, AcmeId));

        Assert.Equal(200, first.Status);
        Assert.Equal(429, second.Status);
        Assert.NotEmpty(second.Headers.RetryAfter.ToString());
        Assert.DoesNotContain(Planted, second.Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Resolve_NoVault_503()
    {
        using var h = new QueryHarness(withVault: false);
        h.Reader.Add("acme", QueryTestData.Trace(1));

        var r = await h.SendAsync("/api/hush/resolve", h.Key("acme", "investigator"), method: "POST", body: ResolveBody("tok_aaaaaaaaaaaaaaaaaaaaaaaaaa", AcmeId));

        Assert.Equal(503, r.Status);
    }

    // ---- garbage and leaks ----

    [Theory]
    [InlineData("/api/traces/not-hex")]
    [InlineData("/api/traces/0a0b0c0d0e0f101100000000000000010")]
    [InlineData("/api/traces/00000000000000000000000000000000")]
    [InlineData("/api/v2/traces/" + Planted)]
    [InlineData("/api/traces/abc?start=yesterday")]
    [InlineData("/api/traces/abc?start=10&end=5")]
    [InlineData("/api/search?limit=-1")]
    [InlineData("/api/search?limit=ten")]
    [InlineData("/api/search?spss=0")]
    [InlineData("/api/search?start=-5")]
    [InlineData("/api/search?end=99999999999999999999")]
    [InlineData("/api/search?minDuration=fast")]
    [InlineData("/api/search?maxDuration=5parsecs")]
    [InlineData("/api/search?q=%7B")]
    [InlineData("/api/search?q=%7B%7D%20%7C%20count()")]
    [InlineData("/api/search?tags=novalue")]
    [InlineData("/api/search?tags=k%3D%22unclosed")]
    [InlineData("/api/v2/search/tags?scope=everything")]
    [InlineData("/api/v2/search/tag/duration/values")]
    [InlineData("/api/v2/search/tag/bare/values")]
    [InlineData("/api/v2/search/tag/name/values?q=%7B%7C")]
    [InlineData("/api/search/tags?start=x")]
    [InlineData("/api/hush/audit?limit=0")]
    public async Task GarbageParameters_400(string path)
    {
        var r = await _h.SendAsync(path, _h.Key("acme", "engineer", "admin"));

        Assert.True(r.Status == 400, $"{path}: {r.Status} {r.Text}");
        Assert.Equal("text/plain; charset=utf-8", r.ContentType);
    }

    [Theory]
    [InlineData("/api/search?q=")]
    [InlineData("/api/search?tags=")]
    [InlineData("/api/traces/")]
    public async Task PlantedValueInAnyParameter_NeverEchoedOrLogged(string prefix)
    {
        var suffixes = new[] { Uri.EscapeDataString("{ span.email = \"" + Planted + "\" && }"), Uri.EscapeDataString("email=\"" + Planted), Uri.EscapeDataString(Planted) };
        foreach (var suffix in suffixes)
        {
            var r = await _h.SendAsync(prefix + suffix, _h.Key("acme", "engineer"));

            Assert.DoesNotContain("jane.doe", r.Text, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Audit_SearchRecord_RedactsLiteralsAndKeepsTheShape()
    {
        var key = _h.Key("acme", "engineer");

        await _h.SendAsync("/api/search?limit=5&q=" + Uri.EscapeDataString("{ span.user.email = \"" + Planted + "\" && duration > 1s }") + "&unknown=" + Uri.EscapeDataString(Planted), key);
        await _h.SendAsync("/api/search?q=" + Uri.EscapeDataString("{ span.user.email = \"" + Planted + "\" && }"), key);
        await _h.SendAsync("/api/search?tags=" + Uri.EscapeDataString("user.email=" + Planted), key);

        var lines = _h.AuditText.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(3, lines.Length);
        var first = JsonDocument.Parse(lines[0]).RootElement;
        Assert.Equal("search", first.GetProperty("action").GetString());
        Assert.Equal("acme", first.GetProperty("tenant").GetString());
        Assert.StartsWith("apikey:", first.GetProperty("identity").GetString(), StringComparison.Ordinal);
        Assert.Matches("^\\{ span.user.email = \"h:[0-9a-f]{12}\" && duration > 1000000000ns \\}$", first.GetProperty("params").GetProperty("q").GetString());
        Assert.Equal("5", first.GetProperty("params").GetProperty("limit").GetString());
        Assert.Equal("[not recorded]", first.GetProperty("params").GetProperty("unknown").GetString());
        Assert.Equal(0, first.GetProperty("results").GetInt32());
        Assert.Contains("[unparsable", lines[1], StringComparison.Ordinal);
        Assert.Contains("\"decision\":\"error\"", lines[1], StringComparison.Ordinal);
        Assert.Matches("user\\.email=h:[0-9a-f]{12}", lines[2]);
        Assert.True(AuditReader.Verify(_h.DataDir).Intact);
    }
}
