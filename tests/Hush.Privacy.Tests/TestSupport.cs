using Hush.Otlp;
using Hush.Privacy.Transforms;

namespace Hush.Privacy.Tests;

/// <summary>Shared builders: policies from YAML, scrubbers with a fixed key, realistic spans.</summary>
internal static class TestSupport
{
    public const string Tenant = "acme";

    public static readonly byte[] MasterSecret = [.. Enumerable.Range(1, 32).Select(i => (byte)i)];

    public static CompiledPolicy Compile(string yaml)
    {
        var result = PolicyLoader.LoadYaml(yaml, "test.yaml");
        Assert.True(result.Success, string.Join(Environment.NewLine, result.Errors));
        return result.Policy!;
    }

    public static CompiledPolicy Default() => PolicyLoader.LoadDefault().Policy!;

    public static PolicyScrubber Scrubber(CompiledPolicy policy, PrivacyCounters? counters = null, ITokenVault? vault = null) =>
        new(PolicyProvider.FromPolicy(policy), new DerivedPseudonymKeyProvider(MasterSecret), vault ?? new InMemoryTokenVault(), counters ?? new PrivacyCounters());

    public static PolicyScrubber DefaultScrubber(PrivacyCounters? counters = null) => Scrubber(Default(), counters);

    public static Pseudonymizer PseudonymizerFor(string tenant) =>
        new(new DerivedPseudonymKeyProvider(MasterSecret).GetKey(tenant));

    public static Span NewSpan(string name = "GET /api/orders/{id}", params KeyValue[] attributes) => new()
    {
        TraceId = new TraceId(0x0102030405060708, 0x090a0b0c0d0e0f10),
        SpanId = new SpanId(0x1112131415161718),
        ParentSpanId = new SpanId(0x2122232425262728),
        Name = name,
        Kind = SpanKind.Server,
        StartTimeUnixNano = 1_700_000_000_000_000_000,
        EndTimeUnixNano = 1_700_000_000_250_000_000,
        Attributes = [.. attributes],
        Status = new SpanStatus { Code = StatusCode.Ok },
    };

    public static TraceRequest Request(Span span, params KeyValue[] resource) => new()
    {
        ResourceSpans =
        [
            new ResourceSpans
            {
                Resource = new Resource { Attributes = [.. resource] },
                ScopeSpans = [new ScopeSpans { Scope = new InstrumentationScope { Name = "io.opentelemetry.aspnetcore", Version = "1.9.0" }, Spans = [span] }],
            },
        ],
    };

    public static KeyValue Attr(string key, string value) => new(key, AnyValue.Of(value));

    public static KeyValue Attr(string key, long value) => new(key, AnyValue.Of(value));

    public static KeyValue Attr(string key, AnyValue value) => new(key, value);

    /// <summary>Scrubs one attribute under the policy; returns its value or null when dropped.</summary>
    public static AnyValue? ScrubOne(CompiledPolicy policy, string key, AnyValue value, string tenant = Tenant)
    {
        var span = NewSpan("op", new KeyValue(key, value));
        Scrubber(policy).Scrub(Request(span), tenant);
        var found = span.Attributes.Where(a => a.Key == key).ToList();
        return found.Count == 0 ? null : found[0].Value;
    }

    public static string? ScrubOne(CompiledPolicy policy, string key, string value, string tenant = Tenant) =>
        ScrubOne(policy, key, AnyValue.Of(value), tenant)?.StringValue;

    /// <summary>Every string in the request (keys, values, names, messages, bytes decoded), for leak checks.</summary>
    public static string Dump(TraceRequest request)
    {
        var sb = new System.Text.StringBuilder();
        foreach (var rs in request.ResourceSpans)
        {
            sb.Append(rs.SchemaUrl).Append('\n');
            DumpAttrs(sb, rs.Resource.Attributes);
            foreach (var ss in rs.ScopeSpans)
            {
                sb.Append(ss.Scope.Name).Append('\n').Append(ss.Scope.Version).Append('\n').Append(ss.SchemaUrl).Append('\n');
                DumpAttrs(sb, ss.Scope.Attributes);
                foreach (var span in ss.Spans)
                {
                    sb.Append(span.Name).Append('\n').Append(span.TraceState).Append('\n').Append(span.Status.Message).Append('\n');
                    DumpAttrs(sb, span.Attributes);
                    foreach (var ev in span.Events)
                    {
                        sb.Append(ev.Name).Append('\n');
                        DumpAttrs(sb, ev.Attributes);
                    }

                    foreach (var link in span.Links)
                    {
                        sb.Append(link.TraceState).Append('\n');
                        DumpAttrs(sb, link.Attributes);
                    }
                }
            }
        }

        return sb.ToString();
    }

    private static void DumpAttrs(System.Text.StringBuilder sb, List<KeyValue> attrs)
    {
        foreach (var kv in attrs)
        {
            sb.Append(kv.Key).Append('=');
            DumpValue(sb, kv.Value);
            sb.Append('\n');
        }
    }

    private static void DumpValue(System.Text.StringBuilder sb, AnyValue v)
    {
        switch (v.Kind)
        {
            case AnyValueKind.String: sb.Append(v.StringValue); break;
            case AnyValueKind.Int: sb.Append(v.IntValue); break;
            case AnyValueKind.Double: sb.Append(v.DoubleValue.ToString("R")); break;
            case AnyValueKind.Bool: sb.Append(v.BoolValue); break;
            case AnyValueKind.Bytes: sb.Append(System.Text.Encoding.Latin1.GetString(v.BytesValue!)); break;
            case AnyValueKind.Array:
                foreach (var item in v.ArrayValue!)
                {
                    DumpValue(sb, item);
                    sb.Append(';');
                }

                break;
            case AnyValueKind.KeyValueList: DumpAttrs(sb, v.KeyValueListValue!); break;
        }
    }
}
