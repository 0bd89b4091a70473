using System.Text.Json.Nodes;
using Hush.Otlp;

namespace Hush.Gateway.Tests.Query;

/// <summary>Every endpoint's answer against a hand-written document of Tempo's shape.</summary>
public sealed class QueryApiShapeTests : IDisposable
{
    private readonly QueryHarness _h = new();
    private readonly string _engineer;

    public QueryApiShapeTests()
    {
        _engineer = _h.Key("acme", "engineer");
        _h.Reader.Add("acme", QueryTestData.Trace(1));
        _h.Reader.Add("globex", QueryTestData.Trace(9, service: "globex-svc"));
    }

    public void Dispose() => _h.Dispose();

    private static void AssertJson(string expected, string actual) =>
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse(expected), JsonNode.Parse(actual)), $"expected {expected}\nactual   {actual}");

    [Fact]
    public async Task Search_TraceQl_TempoShape()
    {
        var r = await _h.SendAsync("/api/search?q=" + Uri.EscapeDataString("{ span.db.system = \"postgresql\" }"), _engineer);

        Assert.Equal(200, r.Status);
        Assert.Equal("application/json", r.ContentType);
        const string spanSet = """
            {"spans":[{"spanID":"0000000000000201","name":"SELECT","startTimeUnixNano":"1700000000010000000","durationNanos":"20000000",
              "attributes":[{"key":"db.system","value":{"stringValue":"postgresql"}}]}],"matched":1}
            """;
        AssertJson(
            """
            {"traces":[{"traceID":"0a0b0c0d0e0f10110000000000000001","rootServiceName":"checkout","rootTraceName":"GET /checkout",
              "startTimeUnixNano":"1700000000000000000","durationMs":100,"spanSets":[SPANSET],"spanSet":SPANSET}],
             "metrics":{"inspectedTraces":1,"inspectedSpans":"2","completedJobs":1,"totalJobs":1}}
            """.Replace("SPANSET", spanSet, StringComparison.Ordinal),
            r.Text);
    }

    [Fact]
    public async Task Search_Empty_NoTraces()
    {
        var r = await _h.SendAsync("/api/search?q=" + Uri.EscapeDataString("{ name = \"nothing\" }"), _engineer);

        AssertJson("""{"traces":[],"metrics":{"inspectedTraces":0,"inspectedSpans":"0","completedJobs":1,"totalJobs":1}}""", r.Text);
    }

    [Fact]
    public async Task Search_LegacyTagsWithDurations_TempoShape()
    {
        var r = await _h.SendAsync("/api/search?tags=" + Uri.EscapeDataString("service.name=checkout db.system=postgresql") + "&minDuration=50ms&maxDuration=1s&spss=1", _engineer);

        Assert.Equal(200, r.Status);
        AssertJson(
            """
            {"traces":[{"traceID":"0a0b0c0d0e0f10110000000000000001","rootServiceName":"checkout","rootTraceName":"GET /checkout",
              "startTimeUnixNano":"1700000000000000000","durationMs":100,
              "spanSets":[{"spans":[{"spanID":"0000000000000101","name":"GET /checkout","startTimeUnixNano":"1700000000000000000","durationNanos":"100000000"}],"matched":2}],
              "spanSet":{"spans":[{"spanID":"0000000000000101","name":"GET /checkout","startTimeUnixNano":"1700000000000000000","durationNanos":"100000000"}],"matched":2}}],
             "metrics":{"inspectedTraces":1,"inspectedSpans":"2","completedJobs":1,"totalJobs":1}}
            """,
            r.Text);
    }

    [Fact]
    public async Task TraceById_V1Json_IsOtlpJsonWithHexIds()
    {
        _h.Reader.Add("acme", Solo());

        var r = await _h.SendAsync("/api/traces/" + SoloId, _engineer);

        Assert.Equal(200, r.Status);
        AssertJson(SoloJson, r.Text);
    }

    [Fact]
    public async Task TraceById_V2Json_WrapsTheTrace()
    {
        _h.Reader.Add("acme", Solo());

        var r = await _h.SendAsync("/api/v2/traces/" + SoloId, _engineer);

        AssertJson("{\"trace\":" + SoloJson + "}", r.Text);
    }

    [Fact]
    public async Task TraceById_Protobuf_V1IsTracesDataAndV2IsField1()
    {
        _h.Reader.Add("acme", Solo());
        var expected = OtlpProtobuf.Encode(Solo());

        var v1 = await _h.SendAsync("/api/traces/" + SoloId, _engineer, accept: "application/protobuf");
        var v2 = await _h.SendAsync("/api/v2/traces/" + SoloId, _engineer, accept: "application/protobuf");

        Assert.Equal("application/protobuf", v1.ContentType);
        Assert.Equal(expected, v1.Body);
        Assert.Equal(0x0A, v2.Body[0]);
        Assert.Equal(expected.Length, v2.Body[1]);
        Assert.Equal(expected, v2.Body[2..]);
        Assert.Equal(OtlpJson.Encode(OtlpProtobuf.DecodeTraceRequest(v1.Body)), OtlpJson.Encode(Solo()));
    }

    [Fact]
    public void WrapField1_LongMessage_UsesAMultiByteVarint()
    {
        var wrapped = Hush.Gateway.Query.QueryApi.WrapField1(new byte[300]);

        Assert.Equal(new byte[] { 0x0A, 0xAC, 0x02 }, wrapped[..3]);
        Assert.Equal(303, wrapped.Length);
    }

    [Fact]
    public async Task TraceById_ShortId_IsLeftPadded()
    {
        var trace = Solo();
        var span = trace.ResourceSpans[0].ScopeSpans[0].Spans[0];
        span.TraceId = new TraceId(0, 0xABC);
        _h.Reader.Add("acme", trace);

        var r = await _h.SendAsync("/api/traces/abc", _engineer);

        Assert.Equal(200, r.Status);
    }

    [Fact]
    public async Task TraceById_Unknown_404()
    {
        var r = await _h.SendAsync("/api/traces/0a0b0c0d0e0f10110000000000000077", _engineer);

        Assert.Equal(404, r.Status);
        Assert.Equal("trace not found\n", r.Text);
    }

    [Fact]
    public async Task TagsV1_TagNames()
    {
        var r = await _h.SendAsync("/api/search/tags", _engineer);

        AssertJson("""{"tagNames":["db.system","deployment.environment","http.method","http.status_code","retry","service.name","user.token"]}""", r.Text);
    }

    [Fact]
    public async Task TagsV2_Scopes()
    {
        var r = await _h.SendAsync("/api/v2/search/tags", _engineer);

        AssertJson(
            """
            {"scopes":[
              {"name":"span","tags":["db.system","http.method","http.status_code","retry","user.token"]},
              {"name":"resource","tags":["deployment.environment","service.name"]},
              {"name":"intrinsic","tags":["duration","kind","name","rootName","rootServiceName","status","statusMessage","traceDuration"]}]}
            """,
            r.Text);
    }

    [Fact]
    public async Task TagsV2_OneScope()
    {
        var r = await _h.SendAsync("/api/v2/search/tags?scope=resource", _engineer);

        AssertJson("""{"scopes":[{"name":"resource","tags":["deployment.environment","service.name"]}]}""", r.Text);
    }

    [Fact]
    public async Task TagValuesV1_Strings()
    {
        _h.Reader.Add("acme", QueryTestData.Trace(2, service: "billing"));

        var r = await _h.SendAsync("/api/search/tag/service.name/values", _engineer);

        AssertJson("""{"tagValues":["billing","checkout"]}""", r.Text);
    }

    [Fact]
    public async Task TagValuesV2_Typed()
    {
        var attribute = await _h.SendAsync("/api/v2/search/tag/span.http.status_code/values", _engineer);
        var status = await _h.SendAsync("/api/v2/search/tag/status/values", _engineer);
        var service = await _h.SendAsync("/api/v2/search/tag/resource.service.name/values", _engineer);
        var names = await _h.SendAsync("/api/v2/search/tag/name/values?q=" + Uri.EscapeDataString("{ kind = client }"), _engineer);

        AssertJson("""{"tagValues":[{"type":"int","value":"200"}]}""", attribute.Text);
        AssertJson("""{"tagValues":[{"type":"keyword","value":"unset"}]}""", status.Text);
        AssertJson("""{"tagValues":[{"type":"string","value":"checkout"}]}""", service.Text);
        AssertJson("""{"tagValues":[{"type":"string","value":"SELECT"}]}""", names.Text);
    }

    [Fact]
    public async Task EchoReadyBuildInfo()
    {
        var echo = await _h.SendAsync("/api/echo");
        var ready = await _h.SendAsync("/ready");
        var build = await _h.SendAsync("/api/status/buildinfo", _engineer);

        Assert.Equal((200, "echo"), (echo.Status, echo.Text));
        Assert.Equal((200, "ready\n"), (ready.Status, ready.Text));
        var node = JsonNode.Parse(build.Text)!.AsObject();
        Assert.Equal(["version", "revision", "branch", "buildUser", "buildDate", "goVersion"], node.Select(p => p.Key));
    }

    [Fact]
    public async Task OtherPaths_AreNotHandled()
    {
        foreach (var path in (string[])["/metrics", "/healthz", "/readyz", "/api", "/api/traces/", "/api/search/tag//values", "/api/v3/search"])
        {
            Assert.False((await _h.SendAsync(path, _engineer)).Handled, path);
        }
    }

    [Fact]
    public async Task WrongMethod_405()
    {
        var post = await _h.SendAsync("/api/search", _engineer, method: "POST", body: "{}");
        var get = await _h.SendAsync("/api/hush/resolve", _engineer);

        Assert.Equal(405, post.Status);
        Assert.Equal(405, get.Status);
    }

    private static readonly string SoloId = "0000000000000000000000000000beef";

    private const string SoloJson = """
        {"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"solo"}}]},
          "scopeSpans":[{"scope":{"name":"test"},"spans":[{"traceId":"0000000000000000000000000000beef","spanId":"00000000000000aa",
            "name":"only","kind":2,"startTimeUnixNano":"1700000000000000000","endTimeUnixNano":"1700000000005000000"}]}]}]}
        """;

    private static TraceRequest Solo() => new()
    {
        ResourceSpans =
        [
            new ResourceSpans
            {
                Resource = new Resource { Attributes = [new KeyValue("service.name", AnyValue.Of("solo"))] },
                ScopeSpans =
                [
                    new ScopeSpans
                    {
                        Scope = new InstrumentationScope { Name = "test" },
                        Spans = [new Span { TraceId = new TraceId(0, 0xBEEF), SpanId = new SpanId(0xAA), Name = "only", Kind = SpanKind.Server, StartTimeUnixNano = QueryTestData.BaseNanos, EndTimeUnixNano = QueryTestData.BaseNanos + 5_000_000 }],
                    },
                ],
            },
        ],
    };
}
