using Hush.Otlp;

namespace Hush.Gateway.Tests.Query;

/// <summary>Small, fully known traces for the query tests.</summary>
internal static class QueryTestData
{
    /// <summary>1 700 000 000 s: 2023-11-14T22:13:20Z.</summary>
    public const ulong BaseNanos = 1_700_000_000_000_000_000;

    /// <summary>A value that stands for what a planted raw identifier would be: no response or error may echo it.</summary>
    public const string Planted = "PLANTED-9c1e-jane.doe@example.com";

    public static TraceId Id(int n) => new(0x0A0B0C0D0E0F1011, (ulong)n);

    /// <summary>
    /// A trace of <paramref name="service"/>: a server root "GET /checkout" (100 ms) and a client child "SELECT"
    /// (20 ms, error when <paramref name="error"/>), the child carrying <c>db.system</c>, <c>http.status_code</c> and
    /// a token <c>user.token</c>.
    /// </summary>
    public static TraceRequest Trace(int n, string service = "checkout", bool error = false, ulong offsetSeconds = 0, string token = "tok_aaaaaaaaaaaaaaaaaaaaaaaaaa", long statusCode = 200)
    {
        var start = BaseNanos + (offsetSeconds * 1_000_000_000);
        var root = new Span
        {
            TraceId = Id(n),
            SpanId = new SpanId(0x100 + (ulong)n),
            Name = "GET /checkout",
            Kind = SpanKind.Server,
            StartTimeUnixNano = start,
            EndTimeUnixNano = start + 100_000_000,
            Attributes = [new KeyValue("http.method", AnyValue.Of("GET")), new KeyValue("http.status_code", AnyValue.Of(statusCode))],
        };
        var child = new Span
        {
            TraceId = Id(n),
            SpanId = new SpanId(0x200 + (ulong)n),
            ParentSpanId = root.SpanId,
            Name = "SELECT",
            Kind = SpanKind.Client,
            StartTimeUnixNano = start + 10_000_000,
            EndTimeUnixNano = start + 30_000_000,
            Attributes = [new KeyValue("db.system", AnyValue.Of("postgresql")), new KeyValue("user.token", AnyValue.Of(token)), new KeyValue("retry", AnyValue.Of(false))],
            Status = error ? new SpanStatus { Code = StatusCode.Error, Message = "deadlock" } : new SpanStatus(),
        };
        var rs = new ResourceSpans
        {
            Resource = new Resource { Attributes = [new KeyValue("service.name", AnyValue.Of(service)), new KeyValue("deployment.environment", AnyValue.Of("prod"))] },
            ScopeSpans = [new ScopeSpans { Scope = new InstrumentationScope { Name = "test" }, Spans = [root, child] }],
        };
        return new TraceRequest { ResourceSpans = [rs] };
    }
}
