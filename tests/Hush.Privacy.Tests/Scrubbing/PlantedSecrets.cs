using System.Text;
using Hush.Otlp;

namespace Hush.Privacy.Tests.Scrubbing;

/// <summary>
/// Secrets and personal values planted by the corpus and property tests, and every location of
/// a span they can be planted in. <see cref="Secret.Core"/> is the part that must never survive.
/// </summary>
internal static class PlantedSecrets
{
    public sealed record Secret(string Kind, string Text, string Core);

    public static readonly Secret[] All =
    [
        new("email", "maria.gonzalez@contoso.com", "maria.gonzalez@contoso.com"),
        new("payment_card", "4539 1488 0343 6467", "4539 1488 0343 6467"),
        new("payment_card_compact", "5500005555555559", "5500005555555559"),
        new("iban", "GB82WEST12345698765432", "GB82WEST12345698765432"),
        new("us_ssn", "536-22-8741", "536-22-8741"),
        new("phone", "+44 20 7946 0958", "+44 20 7946 0958"),
        new("ipv4", "203.0.113.195", "203.0.113.195"),
        new("jwt", "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U", "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"),
        new("aws_access_key", "AKIAQ3EGUVXZ4L7TPK2M", "AKIAQ3EGUVXZ4L7TPK2M"),
        new("github_token", "ghp_R8fT2kLm9QwXv4Zp7YbN3cJd6HsGa1EuKo5i", "ghp_R8fT2kLm9QwXv4Zp7YbN3cJd6HsGa1EuKo5i"),
        new("url_password", "postgres://admin:Zq7vK2pLw9@db.internal:5432/app", "Zq7vK2pLw9"),
        new("connection_string_password", "Server=db;User Id=sa;Password=Tr0ub4dorX3;", "Tr0ub4dorX3"),
        new("bearer", "Authorization: Bearer 7f9c2ba4e88f827d616045507605853e", "7f9c2ba4e88f827d616045507605853e"),
    ];

    /// <summary>Every place a span can carry text (item 3 of the issue).</summary>
    public static readonly string[] Locations =
    [
        "resource.attribute", "resource.schema_url", "scope.name", "scope.version", "scope.attribute", "scope.schema_url",
        "span.name", "span.attribute", "span.attribute.key", "span.array", "span.nested_map", "span.nested_map.key",
        "span.bytes", "span.tracestate", "event.name", "event.attribute", "link.attribute", "link.tracestate", "status.message",
    ];

    public static void Plant(TraceRequest request, string location, string text)
    {
        var rs = request.ResourceSpans[0];
        var ss = rs.ScopeSpans[0];
        var span = ss.Spans[0];
        switch (location)
        {
            case "resource.attribute": rs.Resource.Attributes.Add(new("deployment.owner", AnyValue.Of(text))); break;
            case "resource.schema_url": rs.SchemaUrl = "https://schemas.example/" + text; break;
            case "scope.name": ss.Scope.Name = "lib " + text; break;
            case "scope.version": ss.Scope.Version = text; break;
            case "scope.attribute": ss.Scope.Attributes.Add(new("scope.note", AnyValue.Of(text))); break;
            case "scope.schema_url": ss.SchemaUrl = text; break;
            case "span.name": span.Name = "POST " + text; break;
            case "span.attribute": span.Attributes.Add(new("app.note", AnyValue.Of("value " + text + " end"))); break;
            case "span.attribute.key": span.Attributes.Add(new("k " + text, AnyValue.Of("v"))); break;
            case "span.array": span.Attributes.Add(new("app.list", AnyValue.Of([AnyValue.Of("a"), AnyValue.Of(text)]))); break;
            case "span.nested_map": span.Attributes.Add(new("app.map", AnyValue.Of([new KeyValue("inner", AnyValue.Of([new KeyValue("leaf", AnyValue.Of(text))]))]))); break;
            case "span.nested_map.key": span.Attributes.Add(new("app.map2", AnyValue.Of([new KeyValue(text, AnyValue.Of("v"))]))); break;
            case "span.bytes": span.Attributes.Add(new("app.blob", AnyValue.Of(Encoding.UTF8.GetBytes("blob " + text)))); break;
            case "span.tracestate": span.TraceState = "congo=t61rcWkgMzE,vendor=" + text; break;
            case "event.name": span.Events.Add(new SpanEvent { Name = "failed for " + text }); break;
            case "event.attribute": span.Events.Add(new SpanEvent { Name = "exception", Attributes = [new("exception.message", AnyValue.Of("boom: " + text))] }); break;
            case "link.attribute": span.Links.Add(new SpanLink { TraceId = new TraceId(1, 2), SpanId = new SpanId(3), Attributes = [new("link.note", AnyValue.Of(text))] }); break;
            case "link.tracestate": span.Links.Add(new SpanLink { TraceId = new TraceId(1, 2), SpanId = new SpanId(3), TraceState = "vendor=" + text }); break;
            case "status.message": span.Status = new SpanStatus { Code = StatusCode.Error, Message = "error: " + text }; break;
            default: throw new ArgumentOutOfRangeException(nameof(location), location, null);
        }
    }

    /// <summary>The forms of a secret that count as a leak: raw, lower-cased and percent-encoded.</summary>
    public static bool Leaks(string output, string core)
    {
        var lower = output.ToLowerInvariant();
        return output.Contains(core, StringComparison.Ordinal)
            || lower.Contains(core.ToLowerInvariant(), StringComparison.Ordinal)
            || output.Contains(Uri.EscapeDataString(core), StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>Everything a reader of the scrubbed request could see: every string, and the OTLP/JSON encoding.</summary>
    public static string Visible(TraceRequest request) =>
        TestSupport.Dump(request) + "\n" + Encoding.UTF8.GetString(OtlpJson.Encode(request));
}
