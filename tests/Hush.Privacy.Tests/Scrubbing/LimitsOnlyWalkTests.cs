using System.Globalization;
using System.Text;
using Hush.Otlp;
using Hush.Privacy.Scrubbing;
using static Hush.Privacy.Tests.TestSupport;

namespace Hush.Privacy.Tests.Scrubbing;

/// <summary>
/// Under a policy with no detectors, no rules and detect mode, the scrubber only applies the limits: the short walk
/// must leave every request exactly as the general walk does (same fields, same nulls and empties, same report, same
/// counters), including requests whose nesting exceeds the depth limit and requests with null entries that fail a span.
/// </summary>
public sealed class LimitsOnlyWalkTests
{
    private static readonly string[] Policies =
    [
        "version: 1\nmode: detect\ndetectors:\n  builtin: none\nspan_names: detect\nrules: []\n",
        "version: 1\ndetectors:\n  builtin: none\nspan_names: url\nlimits:\n  max_depth: 2\n",
        "version: 1\ndetectors:\n  builtin: none\nspan_names: detect\naccounting:\n  span_attribute: true\nlimits:\n  max_depth: 1\n",
        "version: 1\ndetectors:\n  builtin: none\nspan_names: url\naccounting:\n  span_attribute: true\nlimits:\n  max_depth: 3\n  oversized_value: redact\n",
        "version: 1\ndetectors:\n  builtin: none\nspan_names: detect\naccounting:\n  span_attribute: true\n",
    ];

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public void Run_LimitsOnlyPolicy_SameResultAsGeneralWalk(int policyIndex)
    {
        var policy = Compile(Policies[policyIndex]);
        Assert.True(policy.OnlyLimitsApply);
        var changedSomething = false;
        for (var seed = 0; seed < 400; seed++)
        {
            var shortCounters = new PrivacyCounters();
            var generalCounters = new PrivacyCounters();
            var shortRequest = RandomRequest(new Random(seed));
            var generalRequest = RandomRequest(new Random(seed));
            var before = Canonical(generalRequest);

            var shortReport = new ScrubSession(Scrubber(policy, shortCounters), policy, Tenant).Run(shortRequest);
            var generalReport = new ScrubSession(Scrubber(policy, generalCounters), policy, Tenant, generalWalk: true).Run(generalRequest);

            Assert.Equal(Canonical(generalRequest), Canonical(shortRequest));
            Assert.Equal(generalReport, shortReport);
            Assert.Equal(Counts(generalCounters), Counts(shortCounters));
            changedSomething |= before != Canonical(generalRequest);
        }

        // The requests must exercise the limits, or the comparison proves nothing.
        Assert.True(changedSomething);
    }

    /// <summary>
    /// A request in wire form is let through undecoded only when the policy provably changes nothing; then it is what the
    /// object walk would have made of it, and otherwise it is decoded (its bytes cleared and given back at once) and
    /// scrubbed like any other. Same spans, report and counters as scrubbing the decoded request, under every policy.
    /// </summary>
    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(-1)]
    public void Scrub_WireForm_SameResultAsTheDecodedRequest_AndStaysBytesOnlyWhenNothingChanges(int policyIndex)
    {
        var policy = policyIndex < 0 ? Default() : Compile(Policies[policyIndex]);
        var kept = 0;
        var decoded = 0;
        for (var seed = 0; seed < 400; seed++)
        {
            byte[] bytes;
            try
            {
                bytes = OtlpProtobuf.Encode(RandomRequest(new Random(seed)));
            }
            catch (NullReferenceException)
            {
                // The generator plants null entries, which no wire request can carry.
                continue;
            }

            var owner = new Owner();
            if (!OtlpProtobuf.TryKeepWireForm(bytes, owner, null, out var wire))
            {
                continue;
            }

            var objectCounters = new PrivacyCounters();
            var wireCounters = new PrivacyCounters();
            var reference = OtlpProtobuf.DecodeTraceRequest(bytes);
            var referenceReport = Scrubber(policy, objectCounters).Scrub(reference, Tenant);
            var before = Canonical(reference);
            var report = Scrubber(policy, wireCounters).Scrub(wire, Tenant);

            if (wire.IsWireForm)
            {
                kept++;
                Assert.Equal(0, owner.Disposals);
                Assert.Equal(Canonical(OtlpProtobuf.DecodeTraceRequest(bytes)), before);
            }
            else
            {
                decoded++;
                Assert.Equal(1, owner.Disposals);
            }

            Assert.Equal(before, Canonical(wire));
            Assert.Equal(referenceReport, report);
            Assert.Equal(Counts(objectCounters), Counts(wireCounters));
        }

        // Policies 1 and 3 rewrite span names, the default one detects: each request must be decoded under them. Policies
        // 0 and 4 (which accounts per span) keep requests as bytes and decode those with a sanitizable schema URL or
        // nesting past the limit (policy 2's depth limit of 1 meets nested values in nearly every generated request).
        Assert.True(decoded > 0);
        if (policyIndex is 1 or 3 or -1)
        {
            Assert.Equal(0, kept);
        }
        else if (policyIndex is 0 or 4)
        {
            Assert.True(kept > 5, $"only {kept} requests kept");
        }
    }

    [Fact]
    public void MayLeaveUnchanged_OnlyForPoliciesThatChangeNothing()
    {
        Assert.True(Scrubber(Compile(Policies[0])).MayLeaveUnchanged(-1));
        Assert.True(Scrubber(Compile(Policies[2])).MayLeaveUnchanged(0));
        Assert.False(Scrubber(Compile(Policies[2])).MayLeaveUnchanged(1));
        Assert.False(Scrubber(Compile(Policies[1])).MayLeaveUnchanged(-1));
        Assert.False(Scrubber(Default()).MayLeaveUnchanged(-1));
    }

    [Fact]
    public void Scrub_WireFormUnderTheDefaultPolicy_IsDecodedAndScrubbed()
    {
        var request = Request(NewSpan("GET /", Attr("user.email", "alice@example.com"), Attr("note", "card 4111 1111 1111 1111")));
        var owner = new Owner();
        Assert.True(OtlpProtobuf.TryKeepWireForm(OtlpProtobuf.Encode(request), owner, null, out var wire));

        DefaultScrubber().Scrub(wire, Tenant);

        Assert.False(wire.IsWireForm);
        Assert.Equal(1, owner.Disposals);
        var text = Dump(wire);
        Assert.DoesNotContain("alice@example.com", text, StringComparison.Ordinal);
        Assert.DoesNotContain("4111 1111 1111 1111", text, StringComparison.Ordinal);
        Assert.Equal(-1, OtlpProtobuf.Encode(wire).AsSpan().IndexOf("alice@example.com"u8));
    }

    [Fact]
    public void Run_DepthBeyondLimit_ShortWalkDropsIt()
    {
        var policy = Compile("version: 1\ndetectors:\n  builtin: none\nspan_names: detect\nlimits:\n  max_depth: 1\n");
        var nested = AnyValue.Of([AnyValue.Of([AnyValue.Of("deep")]), AnyValue.Of("shallow")]);
        var span = NewSpan("op", Attr("list", nested), Attr("map", AnyValue.Of([new KeyValue("inner", AnyValue.Of([new KeyValue("x", AnyValue.Of(1))]))])));

        var report = Scrubber(policy).Scrub(Request(span), Tenant);

        var list = span.Attributes[0].Value.ArrayValue!;
        Assert.Equal("shallow", Assert.Single(list).StringValue);
        Assert.Empty(span.Attributes[1].Value.KeyValueListValue!);
        Assert.Equal(2, report.DepthLimited);
    }

    [Theory]
    [InlineData("version: 1\nspan_names: detect\n")]
    [InlineData("version: 1\ndetectors:\n  builtin: none\nrules:\n  - keys: [a]\n    class: c\n    action: drop\n")]
    [InlineData("version: 1\nmode: allowlist\ndetectors:\n  builtin: none\nrules:\n  - keys: [service.name]\n    class: c\n    action: keep\n")]
    [InlineData("version: 1\ndetectors:\n  builtin: none\n  custom:\n    - name: e\n      class: e\n      pattern: 'EMP-[0-9]{6}'\n")]
    public void OnlyLimitsApply_PolicyThatCanChangeValues_False(string yaml) => Assert.False(Compile(yaml).OnlyLimitsApply);

    private static TraceRequest RandomRequest(Random random)
    {
        var request = new TraceRequest();
        for (var r = random.Next(1, 3); r > 0; r--)
        {
            if (random.Next(40) == 0)
            {
                request.ResourceSpans.Add(null!);
                continue;
            }

            var rs = new ResourceSpans { SchemaUrl = RandomUrl(random), Resource = random.Next(8) == 0 ? null! : new Resource { Attributes = Attributes(random, 0) } };
            for (var s = random.Next(0, 3); s > 0; s--)
            {
                var ss = new ScopeSpans
                {
                    SchemaUrl = RandomUrl(random),
                    Scope = random.Next(6) == 0 ? null! : new InstrumentationScope { Name = Text(random)!, Version = Text(random)!, Attributes = Attributes(random, 0) },
                };
                for (var n = random.Next(0, 5); n > 0; n--)
                {
                    ss.Spans.Add(random.Next(60) == 0 ? null! : RandomSpan(random));
                }

                rs.ScopeSpans.Add(ss);
            }

            request.ResourceSpans.Add(rs);
        }

        return request;
    }

    private static Span RandomSpan(Random random)
    {
        var span = NewSpan(Text(random)!);
        span.TraceState = Text(random)!;
        span.Attributes = random.Next(20) == 0 ? null! : Attributes(random, 0);
        span.Status = random.Next(4) == 0 ? null! : new SpanStatus { Message = Text(random)! };
        span.Events = random.Next(10) == 0 ? null! : [];
        for (var e = random.Next(0, 3); e > 0 && span.Events is not null; e--)
        {
            span.Events.Add(random.Next(50) == 0 ? null! : new SpanEvent { Name = Text(random)!, Attributes = Attributes(random, 0) });
        }

        span.Links = random.Next(10) == 0 ? null! : [];
        for (var l = random.Next(0, 2); l > 0 && span.Links is not null; l--)
        {
            span.Links.Add(new SpanLink { TraceState = Text(random)!, Attributes = Attributes(random, 0) });
        }

        return span;
    }

    private static List<KeyValue> Attributes(Random random, int depth)
    {
        var list = new List<KeyValue>();
        for (var n = random.Next(0, depth == 0 ? 6 : 3); n > 0; n--)
        {
            list.Add(new KeyValue(random.Next(30) == 0 ? null! : "k" + random.Next(5).ToString(CultureInfo.InvariantCulture), Value(random, depth)));
        }

        return list;
    }

    private static AnyValue Value(Random random, int depth) => random.Next(depth > 5 ? 6 : 9) switch
    {
        0 => AnyValue.Of(Text(random) ?? string.Empty),
        1 => AnyValue.Of(random.NextInt64(-10_000_000_000, 10_000_000_000)),
        2 => AnyValue.Of(random.NextDouble() * 1e9),
        3 => AnyValue.Of(random.Next(2) == 0),
        4 => AnyValue.Of(RandomBytes(random)),
        5 => AnyValue.Empty,
        6 or 7 => AnyValue.Of(ArrayOf(random, depth + 1)),
        _ => AnyValue.Of(Attributes(random, depth + 1)),
    };

    private static List<AnyValue> ArrayOf(Random random, int depth)
    {
        var items = new List<AnyValue>();
        for (var n = random.Next(0, 4); n > 0; n--)
        {
            items.Add(Value(random, depth));
        }

        return items;
    }

    private static byte[] RandomBytes(Random random)
    {
        var bytes = new byte[random.Next(0, 12)];
        random.NextBytes(bytes);
        return random.Next(2) == 0 ? bytes : Encoding.UTF8.GetBytes("tok=" + random.Next());
    }

    private static string? Text(Random random) => random.Next(7) switch
    {
        0 => null,
        1 => string.Empty,
        2 => "GET /api/users/42?email=a@b.test&token=s3cr3t",
        3 => "user 4111 1111 1111 1111 mail bob@example.com",
        4 => new string('x', random.Next(1, 70_000)),
        _ => "op-" + random.Next(100).ToString(CultureInfo.InvariantCulture),
    };

    private static string RandomUrl(Random random) => random.Next(4) switch
    {
        0 => null!,
        1 => string.Empty,
        2 => "https://opentelemetry.io/schemas/1.26.0",
        _ => "https://user:pw@schemas.test/1.0?api_key=abc123&x=1",
    };

    /// <summary>Every field the scrubber may touch, with nulls told apart from empties.</summary>
    private static string Canonical(TraceRequest request)
    {
        var sb = new StringBuilder();
        foreach (var rs in request.ResourceSpans)
        {
            if (rs is null)
            {
                sb.Append("rs:null\n");
                continue;
            }

            sb.Append("rs ").Append(Str(rs.SchemaUrl)).Append('\n');
            AppendAttributes(sb, rs.Resource?.Attributes);
            foreach (var ss in rs.ScopeSpans)
            {
                sb.Append(" ss ").Append(Str(ss.SchemaUrl)).Append(' ').Append(Str(ss.Scope?.Name)).Append(' ').Append(Str(ss.Scope?.Version)).Append('\n');
                AppendAttributes(sb, ss.Scope?.Attributes);
                foreach (var span in ss.Spans)
                {
                    if (span is null)
                    {
                        sb.Append("  span:null\n");
                        continue;
                    }

                    sb.Append("  span ").Append(Str(span.Name)).Append(' ').Append(Str(span.TraceState)).Append(' ').Append(Str(span.Status?.Message)).Append('\n');
                    AppendAttributes(sb, span.Attributes);
                    foreach (var ev in span.Events ?? [])
                    {
                        sb.Append("   event ").Append(Str(ev?.Name)).Append('\n');
                        AppendAttributes(sb, ev?.Attributes);
                    }

                    foreach (var link in span.Links ?? [])
                    {
                        sb.Append("   link ").Append(Str(link.TraceState)).Append('\n');
                        AppendAttributes(sb, link.Attributes);
                    }
                }
            }
        }

        return sb.ToString();
    }

    private static void AppendAttributes(StringBuilder sb, List<KeyValue>? attributes)
    {
        if (attributes is null)
        {
            sb.Append("{null}");
            return;
        }

        sb.Append('{');
        foreach (var kv in attributes)
        {
            sb.Append(Str(kv.Key)).Append('=');
            AppendValue(sb, kv.Value);
            sb.Append(';');
        }

        sb.Append('}');
    }

    private static void AppendValue(StringBuilder sb, AnyValue value)
    {
        sb.Append(value.Kind).Append(':');
        switch (value.Kind)
        {
            case AnyValueKind.String:
                sb.Append(Str(value.StringValue));
                break;
            case AnyValueKind.Bytes:
                sb.Append(Convert.ToHexString(value.BytesValue!));
                break;
            case AnyValueKind.Array:
                sb.Append('[');
                foreach (var item in value.ArrayValue!)
                {
                    AppendValue(sb, item);
                    sb.Append(',');
                }

                sb.Append(']');
                break;
            case AnyValueKind.KeyValueList:
                AppendAttributes(sb, value.KeyValueListValue);
                break;
            default:
                sb.Append(value.IntValue).Append('/').Append(value.DoubleValue.ToString("R", CultureInfo.InvariantCulture)).Append('/').Append(value.BoolValue);
                break;
        }
    }

    private static string Str(string? s) => s is null ? "<null>" : "\"" + (s.Length > 80 ? s[..40] + "..." + s.Length.ToString(CultureInfo.InvariantCulture) : s) + "\"";

    private sealed class Owner : IDisposable
    {
        public int Disposals { get; private set; }

        public void Dispose() => Disposals++;
    }

    private static string Counts(PrivacyCounters counters) =>
        string.Join(";", counters.Snapshot().Select(s => $"{s.Rule}/{s.DataClass}/{s.Action}={s.Count}").Order(StringComparer.Ordinal));
}
