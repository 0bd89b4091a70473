using System.Text;
using Hush.Otlp;
using Hush.Privacy.Detection;
using Hush.Privacy.Transforms;
using static Hush.Privacy.Tests.TestSupport;

namespace Hush.Privacy.Tests.Scrubbing;

public sealed class PolicyScrubberTests
{
    private const string Email = "alice.liddell@example.com";

    private const string ActionsPolicy = """
        version: 1
        detectors:
          builtin: [email]
        rules:
          - name: gone
            keys: [secret.thing]
            action: drop
          - name: hidden
            keys: [customer.note]
            class: note
            action: redact
          - name: masked
            keys: [account.number]
            class: account
            action: mask
            keep_last: 4
          - name: users
            keys: [user.id, enduser.id]
            class: user_id
            action: pseudonymize
          - name: vaulted
            keys: [order.customer]
            class: customer
            action: tokenize
          - name: general
            keys: [client.address, birth_date]
            class: ip_or_date
            action: generalize
          - name: sql
            keys: [db.statement]
            class: sql
            action: sql
          - name: url
            keys: [url.full]
            class: url
            action: url
          - name: short
            keys: [message]
            class: text
            action: truncate
            max_chars: 10
          - name: trusted
            keys: [debug.blob]
            action: keep
            detect: false
          - name: allowed
            keys: [app.comment]
            action: keep
        """;

    private static readonly CompiledPolicy Actions = Compile(ActionsPolicy);

    [Fact]
    public void Scrub_DropRule_RemovesTheAttribute()
    {
        Assert.Null(ScrubOne(Actions, "secret.thing", "hunter2"));
    }

    [Fact]
    public void Scrub_RedactRule_ReplacesWholeValueWithTypedPlaceholder()
    {
        Assert.Equal(Redactor.Placeholder("note"), ScrubOne(Actions, "customer.note", "call me on Sunday"));
    }

    [Fact]
    public void Scrub_MaskRule_KeepsLastCharacters()
    {
        Assert.Equal(Masker.Mask("DE89370400440532013000", 4), ScrubOne(Actions, "account.number", "DE89370400440532013000"));
    }

    [Fact]
    public void Scrub_PseudonymizeRule_UsesTenantKeyedPseudonym()
    {
        var expected = PseudonymizerFor(Tenant).Pseudonymize("user_id", "u-12345");

        Assert.Equal(expected, ScrubOne(Actions, "user.id", "u-12345"));
        Assert.NotEqual("u-12345", expected);
    }

    [Fact]
    public void Scrub_TokenizeRule_ValueResolvesThroughTheVault()
    {
        var vault = new InMemoryTokenVault();
        var span = NewSpan("op", Attr("order.customer", "cust-991"));

        Scrubber(Actions, vault: vault).Scrub(Request(span), Tenant);

        var token = span.Attributes[0].Value.StringValue!;
        Assert.NotEqual("cust-991", token);
        Assert.True(vault.TryResolve(Tenant, token, out var raw));
        Assert.Equal("cust-991", raw);
    }

    [Fact]
    public void Scrub_GeneralizeRule_IpToPrefixDateToYearOtherwiseRedacted()
    {
        Assert.True(Generalizer.TryGeneralizeIp("203.0.113.77", out var prefix));
        Assert.True(Generalizer.TryGeneralizeDate("1984-03-21", out var year));

        Assert.Equal(prefix, ScrubOne(Actions, "client.address", "203.0.113.77"));
        Assert.Equal(year, ScrubOne(Actions, "birth_date", "1984-03-21"));
        Assert.Equal(Redactor.Placeholder("ip_or_date"), ScrubOne(Actions, "client.address", "not an address"));
    }

    [Fact]
    public void Scrub_SqlRule_NormalizesLiterals()
    {
        const string sql = "SELECT * FROM users WHERE name = 'Alice' AND age = 42";

        Assert.Equal(SqlNormalizer.Normalize(sql), ScrubOne(Actions, "db.statement", sql));
        Assert.DoesNotContain("Alice", ScrubOne(Actions, "db.statement", sql), StringComparison.Ordinal);
    }

    [Fact]
    public void Scrub_UrlRule_SanitizesUrl()
    {
        const string url = "https://shop.example/search?q=shoes&session=abc123";

        Assert.Equal(UrlSanitizer.Sanitize(url), ScrubOne(Actions, "url.full", url));
    }

    [Fact]
    public void Scrub_TruncateRule_CutsToMaxChars()
    {
        Assert.Equal(Truncator.Truncate("0123456789abcdef", 10), ScrubOne(Actions, "message", "0123456789abcdef"));
    }

    [Fact]
    public void Scrub_KeepWithDetectFalse_PassesValueUnchecked()
    {
        Assert.Equal("owner " + Email, ScrubOne(Actions, "debug.blob", "owner " + Email));
    }

    [Fact]
    public void Scrub_KeepRule_StillRunsDetectors()
    {
        Assert.Equal("owner " + Redactor.Placeholder("email"), ScrubOne(Actions, "app.comment", "owner " + Email));
    }

    [Fact]
    public void Scrub_UnlistedKey_DetectorRedactsOnlyTheMatchedText()
    {
        Assert.Equal("sent to " + Redactor.Placeholder("email") + " today", ScrubOne(Actions, "note", "sent to " + Email + " today"));
    }

    [Fact]
    public void Scrub_OnDetectPseudonymize_ReplacesMatchInline()
    {
        var policy = Compile("version: 1\ndetectors:\n  builtin: [email]\non_detect:\n  email: pseudonymize\n");
        var expected = PseudonymizerFor(Tenant).Pseudonymize("email", Email);

        Assert.Equal("to " + expected, ScrubOne(policy, "note", "to " + Email));
    }

    [Fact]
    public void Scrub_OnDetectDrop_DropsAttribute()
    {
        var policy = Compile("version: 1\ndetectors:\n  builtin: [email]\non_detect:\n  email: drop\n");

        Assert.Null(ScrubOne(policy, "note", "to " + Email));
    }

    [Fact]
    public void Scrub_AllowlistMode_DropsUnlistedKeysKeepsListed()
    {
        var policy = Compile("""
            version: 1
            mode: allowlist
            detectors:
              builtin: [email]
            rules:
              - keys: [http.route, "http.*method"]
                action: keep
            """);
        var span = NewSpan("op", Attr("http.route", "/a/{id}"), Attr("http.request.method", "GET"), Attr("custom.thing", "x"), Attr("http.route2", Email));

        var report = Scrubber(policy).Scrub(Request(span), Tenant);

        Assert.Equal(["http.route", "http.request.method"], span.Attributes.Select(a => a.Key));
        Assert.Equal(2, report.ValuesDropped);
    }

    [Fact]
    public void Scrub_AllowlistPseudonymizeUnknown_PseudonymizesUnlistedValues()
    {
        var policy = Compile("version: 1\nmode: allowlist\nunknown_keys: pseudonymize\nrules:\n  - keys: [a]\n    action: keep\n");

        Assert.Equal(PseudonymizerFor(Tenant).Pseudonymize("unlisted", "v"), ScrubOne(policy, "b", "v"));
    }

    [Fact]
    public void Scrub_EveryLocation_IsScrubbed()
    {
        var span = NewSpan("GET /users/" + Email, Attr("note", Email));
        span.TraceState = "vendor=" + Email + ",other=ok";
        span.Status = new SpanStatus { Code = StatusCode.Error, Message = "no user " + Email };
        span.Events.Add(new SpanEvent { Name = "lookup " + Email, Attributes = [Attr("exception.message", "bad " + Email)] });
        span.Links.Add(new SpanLink { TraceState = "k=" + Email, Attributes = [Attr("peer", Email)] });
        var request = Request(span, Attr("service.name", "checkout"), Attr("owner", Email));
        request.ResourceSpans[0].SchemaUrl = "https://schemas.example/" + Email;
        var scope = request.ResourceSpans[0].ScopeSpans[0];
        scope.Scope.Name = "lib-" + Email;
        scope.Scope.Version = Email;
        scope.Scope.Attributes.Add(Attr("maintainer", Email));
        scope.SchemaUrl = Email;
        span.Attributes.Add(Attr("tags", AnyValue.Of([AnyValue.Of("x"), AnyValue.Of(Email), AnyValue.Of([AnyValue.Of(Email)])])));
        span.Attributes.Add(Attr("ctx", AnyValue.Of([new KeyValue("who", AnyValue.Of(Email)), new KeyValue(Email, AnyValue.Of("key is pii"))])));
        span.Attributes.Add(Attr("blob", AnyValue.Of(Encoding.UTF8.GetBytes("utf8 " + Email))));
        span.Attributes.Add(Attr(Email, "the key itself"));

        var report = Scrubber(Actions).Scrub(request, Tenant);

        var dump = Dump(request);
        Assert.DoesNotContain(Email, dump, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("other=ok", span.TraceState, StringComparison.Ordinal);
        Assert.Contains("checkout", dump, StringComparison.Ordinal);
        Assert.Equal("key is pii", span.Attributes.Single(a => a.Key == "ctx").Value.KeyValueListValue![1].Value.StringValue);
        Assert.True(report.ValuesChanged >= 17, $"changed {report.ValuesChanged}");
        Assert.Equal(0, report.SpansDropped);
        Assert.Equal(new TraceId(0x0102030405060708, 0x090a0b0c0d0e0f10), span.TraceId);
        Assert.Equal(1_700_000_000_250_000_000UL, span.EndTimeUnixNano);
        Assert.Equal(StatusCode.Error, span.Status.Code);
    }

    [Fact]
    public void Scrub_PiiKeyWithDropOnDetect_DropsTheAttribute()
    {
        var policy = Compile("version: 1\ndetectors:\n  builtin: [email]\non_detect:\n  email: drop\n");
        var span = NewSpan("op", Attr(Email, "v"), Attr("fine", "v"));

        Scrubber(policy).Scrub(Request(span), Tenant);

        Assert.Equal(["fine"], span.Attributes.Select(a => a.Key));
    }

    [Fact]
    public void Scrub_InvalidUtf8Bytes_KeptWhenCleanRedactedWhenSecretEmbedded()
    {
        byte[] clean = [0xff, 0x00, 0x81, 0x42, 0xfe];
        byte[] dirty = [0xff, .. Encoding.ASCII.GetBytes(" " + Email + " "), 0xfe];

        Assert.Equal(clean, ScrubOne(Actions, "raw", AnyValue.Of(clean))!.Value.BytesValue);
        var scrubbed = ScrubOne(Actions, "raw", AnyValue.Of(dirty))!.Value;
        Assert.Equal(Redactor.Placeholder("binary"), scrubbed.StringValue);
    }

    [Fact]
    public void Scrub_InvalidUtf8UnderPseudonymizeRule_PseudonymizesBase64Form()
    {
        byte[] raw = [0xff, 0x10, 0x20];

        Assert.Equal(PseudonymizerFor(Tenant).Pseudonymize("user_id", Convert.ToBase64String(raw)), ScrubOne(Actions, "user.id", AnyValue.Of(raw))!.Value.StringValue);
    }

    [Fact]
    public void Scrub_ValidUtf8BytesWithSecret_StaysBytesWithSecretRemoved()
    {
        var value = ScrubOne(Actions, "raw", AnyValue.Of(Encoding.UTF8.GetBytes("to " + Email)))!.Value;

        Assert.Equal(AnyValueKind.Bytes, value.Kind);
        Assert.Equal("to " + Redactor.Placeholder("email"), Encoding.UTF8.GetString(value.BytesValue!));
    }

    [Fact]
    public void Scrub_NumericUserId_IsPseudonymized()
    {
        Assert.Equal(PseudonymizerFor(Tenant).Pseudonymize("user_id", "12345"), ScrubOne(Actions, "user.id", AnyValue.Of(12345L))!.Value.StringValue);
    }

    [Fact]
    public void Scrub_SmallNumbersAndBools_Unchanged()
    {
        Assert.Equal(AnyValue.Of(200L), ScrubOne(Actions, "http.response.status_code", AnyValue.Of(200L)));
        Assert.Equal(AnyValue.Of(true), ScrubOne(Actions, "cache.hit", AnyValue.Of(true)));
        Assert.Equal(AnyValue.Of(0.25), ScrubOne(Actions, "ratio", AnyValue.Of(0.25)));
    }

    [Fact]
    public void Scrub_NestingDeeperThanLimit_IsDroppedAndCounted()
    {
        var policy = Compile("version: 1\nlimits:\n  max_depth: 3\n");
        var inner = AnyValue.Of(Email);
        for (var i = 0; i < 10; i++)
        {
            inner = AnyValue.Of([inner]);
        }

        var span = NewSpan("op", Attr("deep", inner));
        var report = Scrubber(policy).Scrub(Request(span), Tenant);

        Assert.Equal(1, report.DepthLimited);
        Assert.DoesNotContain(Email, Dump(Request(span)), StringComparison.Ordinal);
    }

    [Fact]
    public void Scrub_VeryDeepNesting_DoesNotOverflowTheStack()
    {
        var inner = AnyValue.Of("x");
        for (var i = 0; i < 100_000; i++)
        {
            inner = AnyValue.Of([new KeyValue("k", inner)]);
        }

        var span = NewSpan("op", Attr("deep", inner));
        var report = DefaultScrubber().Scrub(Request(span), Tenant);

        Assert.Equal(1, report.DepthLimited);
    }

    [Fact]
    public void Scrub_OversizedValue_TruncatedToScannedPrefixAndScrubbed()
    {
        var big = "to " + Email + " " + new string('x', DetectorSet.MaxScanChars * 2) + Email;

        var result = ScrubOne(Actions, "note", big)!;

        Assert.True(result.Length <= DetectorSet.MaxScanChars + 16);
        Assert.DoesNotContain(Email, result, StringComparison.Ordinal);
        Assert.StartsWith("to " + Redactor.Placeholder("email"), result, StringComparison.Ordinal);
    }

    [Fact]
    public void Scrub_OversizedValueWithRedactLimit_BecomesPlaceholder()
    {
        var policy = Compile("version: 1\nlimits:\n  oversized_value: redact\n");

        Assert.Equal(Redactor.Placeholder("oversized"), ScrubOne(policy, "note", new string('a', DetectorSet.MaxScanChars + 1)));
    }

    [Fact]
    public void Scrub_PathologicalCustomPatternOnLargeValue_FinishesQuickly()
    {
        var policy = Compile("""
            version: 1
            detectors:
              builtin: [email]
              custom:
                - name: evil
                  class: evil
                  pattern: '(a+)+$'
            """);
        var value = new string('a', 100_000) + "!";
        var sw = System.Diagnostics.Stopwatch.StartNew();

        var result = ScrubOne(policy, "note", value);

        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(10), $"took {sw.Elapsed}");
        Assert.NotNull(result);
    }

    [Fact]
    public void Scrub_AccountingOn_AddsCountsByClassNeverValues()
    {
        var policy = Compile("""
            version: 1
            detectors:
              builtin: [email]
            accounting:
              span_attribute: true
            rules:
              - keys: [user.id]
                class: user_id
                action: pseudonymize
            """);
        var span = NewSpan("op", Attr("a", Email), Attr("b", "x " + Email), Attr("user.id", "u1"));

        Scrubber(policy).Scrub(Request(span), Tenant);

        Assert.Equal("email:2,user_id:1", span.Attributes.Single(a => a.Key == "hush.redacted").Value.StringValue);
    }

    [Fact]
    public void Scrub_AccountingOff_AddsNothing()
    {
        var span = NewSpan("op", Attr("a", Email));

        Scrubber(Actions).Scrub(Request(span), Tenant);

        Assert.DoesNotContain(span.Attributes, a => a.Key == "hush.redacted");
    }

    [Fact]
    public void Scrub_Counters_LabelledByRuleClassAction()
    {
        var counters = new PrivacyCounters();
        var span = NewSpan("op", Attr("user.id", "u1"), Attr("enduser.id", "u2"), Attr("note", Email), Attr("secret.thing", "s"));

        Scrubber(Actions, counters).Scrub(Request(span), Tenant);

        var samples = counters.Snapshot();
        Assert.Contains(new PrivacyCounterSample("users", "user_id", "pseudonymize", 2), samples);
        Assert.Contains(new PrivacyCounterSample("gone", "sensitive", "drop", 1), samples);
        Assert.Contains(new PrivacyCounterSample("detector/email", "email", "redact", 1), samples);
        Assert.DoesNotContain(samples, s => s.Rule.Contains("alice", StringComparison.Ordinal) || s.DataClass.Contains("alice", StringComparison.Ordinal));
    }

    /// <summary>
    /// A session tallies its actions and adds them to the shared counters once: every action still counts exactly once,
    /// also past the number of kinds a session tallies (40 rules here) and when the same kinds repeat on many spans.
    /// </summary>
    [Fact]
    public void Scrub_ManyKindsAndRepeats_EveryActionCountedOnce()
    {
        var rules = string.Concat(Enumerable.Range(0, 40).Select(i => $"  - {{ name: r{i}, keys: [\"k{i}\"], class: c{i}, action: redact }}\n"));
        var policy = Compile("version: 1\nmode: detect\nrules:\n" + rules);
        var counters = new PrivacyCounters();
        var request = new TraceRequest { ResourceSpans = [new ResourceSpans { ScopeSpans = [new ScopeSpans { Spans = [] }] }] };
        for (var s = 0; s < 3; s++)
        {
            var attributes = Enumerable.Range(0, 40).Select(i => Attr($"k{i}", $"v{i}")).Append(Attr("note", Email)).ToArray();
            request.ResourceSpans[0].ScopeSpans[0].Spans.Add(NewSpan("op", attributes));
        }

        Scrubber(policy, counters).Scrub(request, Tenant);

        var samples = counters.Snapshot();
        for (var i = 0; i < 40; i++)
        {
            Assert.Contains(new PrivacyCounterSample($"r{i}", $"c{i}", "redact", 3), samples);
        }

        Assert.Contains(new PrivacyCounterSample("detector/email", "email", "redact", 3), samples);
        Assert.Equal(41, samples.Count);
    }

    [Fact]
    public void Scrub_SpansThatFail_RemovedAndTheOthersKeptInOrder()
    {
        var first = NewSpan("first", Attr("note", Email));
        var second = NewSpan("second", Attr("note", Email));
        var request = new TraceRequest { ResourceSpans = [new ResourceSpans { ScopeSpans = [new ScopeSpans { Spans = [null!, first, null!, second, null!] }] }] };

        var report = DefaultScrubber().Scrub(request, Tenant);

        Assert.Equal(3, report.SpansDropped);
        var spans = request.ResourceSpans[0].ScopeSpans[0].Spans;
        Assert.Equal(["first", "second"], spans.Select(s => s.Name));
        Assert.All(spans, s => Assert.DoesNotContain(Email, s.Attributes[0].Value.StringValue, StringComparison.Ordinal));
    }

    [Fact]
    public void Scrub_TwoCalls_CountersAddUp()
    {
        var counters = new PrivacyCounters();
        var scrubber = Scrubber(Actions, counters);

        scrubber.Scrub(Request(NewSpan("op", Attr("user.id", "u1"), Attr("note", Email))), Tenant);
        scrubber.Scrub(Request(NewSpan("op", Attr("user.id", "u2"), Attr("note", Email))), Tenant);

        var samples = counters.Snapshot();
        Assert.Contains(new PrivacyCounterSample("users", "user_id", "pseudonymize", 2), samples);
        Assert.Contains(new PrivacyCounterSample("detector/email", "email", "redact", 2), samples);
    }

    [Fact]
    public void ScrubAttribute_OneValue_Counted()
    {
        var counters = new PrivacyCounters();

        var (_, kept, _) = Scrubber(Actions, counters).ScrubAttribute("note", AnyValue.Of(Email), Tenant);

        Assert.True(kept);
        Assert.Contains(new PrivacyCounterSample("detector/email", "email", "redact", 1), counters.Snapshot());
    }

    [Fact]
    public void Scrub_NullsAndEmptyPieces_DoNotThrow()
    {
        var request = new TraceRequest
        {
            ResourceSpans =
            [
                new ResourceSpans { Resource = null!, ScopeSpans = null! },
                new ResourceSpans { ScopeSpans = [new ScopeSpans { Scope = null!, Spans = [new Span { Name = null!, TraceState = null!, Attributes = null!, Events = null!, Links = null!, Status = null! }] }] },
                new ResourceSpans { ScopeSpans = [new ScopeSpans { Spans = null! }] },
            ],
        };
        request.ResourceSpans[1].ScopeSpans[0].Spans.Add(NewSpan("op", new KeyValue(null!, AnyValue.Of((string)null!))));

        var report = DefaultScrubber().Scrub(request, Tenant);
        DefaultScrubber().Scrub(null!, null!);

        Assert.Equal(0, report.SpansDropped);
    }

    [Fact]
    public void Scrub_TransformThrows_SpanRemovedNotPassedOn()
    {
        var span = NewSpan("op", Attr("order.customer", "cust-991"));
        var other = NewSpan("ok", Attr("fine", "v"));
        var request = Request(span);
        request.ResourceSpans[0].ScopeSpans[0].Spans.Add(other);

        var report = Scrubber(Actions, vault: new ThrowingVault()).Scrub(request, Tenant);

        Assert.Equal(1, report.SpansDropped);
        Assert.Same(other, Assert.Single(request.ResourceSpans[0].ScopeSpans[0].Spans));
        Assert.DoesNotContain("cust-991", Dump(request), StringComparison.Ordinal);
    }

    [Fact]
    public void Scrub_CustomDetectorClass_RedactsWithItsPlaceholder()
    {
        var policy = Compile("""
            version: 1
            detectors:
              builtin: none
              custom:
                - name: employee_id
                  class: employee_id
                  pattern: 'EMP-[0-9]{6}'
            """);

        Assert.Equal("by " + Redactor.Placeholder("employee_id"), ScrubOne(policy, "note", "by EMP-123456"));
    }

    [Fact]
    public void Scrub_NestedMapKeyPath_MatchesParentDotChildRule()
    {
        var policy = Compile("version: 1\nrules:\n  - keys: [http.request.header.authorization]\n    class: credential\n    action: drop\n");
        var headers = AnyValue.Of([new KeyValue("authorization", AnyValue.Of("Basic eDp5")), new KeyValue("accept", AnyValue.Of("text/html"))]);

        var result = ScrubOne(policy, "http.request.header", headers)!.Value;

        var remaining = Assert.Single(result.KeyValueListValue!);
        Assert.Equal("accept", remaining.Key);
    }

    [Fact]
    public void Scrub_TraceStateWithDropOnDetect_RemovesOnlyThatMember()
    {
        var policy = Compile("version: 1\ndetectors:\n  builtin: [email]\non_detect:\n  email: drop\n");
        var span = NewSpan("op");
        span.TraceState = "a=1,b=" + Email + ",c=3";

        Scrubber(policy).Scrub(Request(span), Tenant);

        Assert.Equal("a=1,c=3", span.TraceState);
    }

    private sealed class ThrowingVault : ITokenVault
    {
        public string Tokenize(string tenant, string dataClass, string value) => throw new InvalidOperationException("vault down");

        public bool TryResolve(string tenant, string token, out string? value) => throw new InvalidOperationException("vault down");
    }

    [Fact]
    public void Scrub_RepeatedSpanNames_CleanKeptDirtyScrubbedEveryTime()
    {
        var scrubber = Scrubber(Actions);
        for (var i = 0; i < 3; i++)
        {
            var clean = NewSpan("GET /api/orders/{id}");
            var dirty = NewSpan("GET /users/" + Email);
            var request = Request(clean);
            request.ResourceSpans[0].ScopeSpans[0].Spans.Add(dirty);

            scrubber.Scrub(request, Tenant);

            Assert.Equal("GET /api/orders/{id}", clean.Name);
            Assert.DoesNotContain(Email, dirty.Name, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Scrub_SameUserUnderDifferentKeys_SamePseudonym()
    {
        var span = NewSpan("op", Attr("user.id", "42-abc"), Attr("enduser.id", "42-abc"));

        Scrubber(Actions).Scrub(Request(span), Tenant);

        Assert.Equal(span.Attributes[0].Value, span.Attributes[1].Value);
    }

    [Fact]
    public void Scrub_DifferentTenants_DifferentPseudonyms()
    {
        Assert.NotEqual(ScrubOne(Actions, "user.id", "42-abc", "tenant-a"), ScrubOne(Actions, "user.id", "42-abc", "tenant-b"));
    }
}
