using System.Globalization;
using Hush.Otlp;
using static Hush.Privacy.Tests.TestSupport;

namespace Hush.Privacy.Tests.Scrubbing;

/// <summary>The per-call clean-value memo, the counter identity cache and the key identity cache change no output.</summary>
public sealed class ScrubMemoTests
{
    [Fact]
    public void Scrub_RepeatedCleanValuesPastTheMemoBound_SecretsStillFoundEverywhere()
    {
        // 2,000 spans: a repeated clean value, 1,000 distinct clean values (past the memo's bound) and, on every
        // tenth span, a value that equals a clean one plus a planted email. Nothing the memo holds can hide it.
        var scope = new ScopeSpans();
        for (int i = 0; i < 2000; i++)
        {
            string distinct = "order-" + (i % 1000).ToString(CultureInfo.InvariantCulture);
            scope.Spans.Add(NewSpan(
                "op",
                Attr("server.address", new string("checkout.shop.internal".AsSpan())),
                Attr("app.note", distinct),
                Attr("app.contact", i % 10 == 0 ? distinct + " jane.doe@example.com" : distinct)));
        }

        var counters = new PrivacyCounters();
        DefaultScrubber(counters).Scrub(new TraceRequest { ResourceSpans = [new ResourceSpans { ScopeSpans = [scope] }] }, Tenant);

        for (int i = 0; i < 2000; i++)
        {
            var attributes = scope.Spans[i].Attributes;
            string distinct = "order-" + (i % 1000).ToString(CultureInfo.InvariantCulture);
            Assert.Equal("checkout.shop.internal", attributes[0].Value.StringValue);
            Assert.Equal(distinct, attributes[1].Value.StringValue);
            string contact = attributes[2].Value.StringValue!;
            Assert.DoesNotContain("jane.doe@example.com", contact, StringComparison.Ordinal);
            Assert.StartsWith(distinct, contact, StringComparison.Ordinal);
        }

        Assert.Equal(200, counters.Total("pseudonymize"));
    }

    [Fact]
    public void Add_EqualLabelsInDistinctInstances_OneCounter()
    {
        var counters = new PrivacyCounters();
        for (int i = 0; i < 100; i++)
        {
            // Fresh instances defeat the identity cache: the dictionary must still find the same cell.
            counters.Add(new string("rule".AsSpan()), new string("email".AsSpan()), i % 2 == 0 ? "redact" : new string("redact".AsSpan()));
            counters.Add("other", "ip", "generalize", 2);
        }

        var snapshot = counters.Snapshot();
        Assert.Equal(2, snapshot.Count);
        Assert.Equal(new PrivacyCounterSample("other", "ip", "generalize", 200), snapshot[0]);
        Assert.Equal(new PrivacyCounterSample("rule", "email", "redact", 100), snapshot[1]);
    }

    [Fact]
    public void Scrub_ManyKeysSharingCacheSlots_EachGetsItsOwnRule()
    {
        // 3,000 distinct keys (many share identity-cache slots) interleaved with rule keys, in fresh instances.
        var scrubber = DefaultScrubber();
        for (int round = 0; round < 3; round++)
        {
            var span = NewSpan("op");
            for (int i = 0; i < 1000; i++)
            {
                span.Attributes.Add(Attr("app.k" + (i + (round * 1000)).ToString(CultureInfo.InvariantCulture), "v"));
                span.Attributes.Add(Attr(new string("db.password".AsSpan()), "hunter2"));
                span.Attributes.Add(Attr(new string("user.id".AsSpan()), "u-1"));
            }

            scrubber.Scrub(Request(span), Tenant);

            Assert.Equal(2000, span.Attributes.Count);
            string pseudonym = PseudonymizerFor(Tenant).Pseudonymize("user_id", "u-1");
            for (int i = 0; i < 1000; i++)
            {
                Assert.Equal("v", span.Attributes[2 * i].Value.StringValue);
                Assert.Equal(pseudonym, span.Attributes[(2 * i) + 1].Value.StringValue);
            }
        }
    }

    [Fact]
    public void Scrub_SecretsSharingTheRecentCleanSlotOfACleanValue_StillFound()
    {
        // Same length and the same five sampled chars (first, quarter, middle, three quarters, last) as the clean value
        // before it: the same clean-table slot, whatever the table's size.
        var span = NewSpan("op");
        for (int i = 0; i < 50; i++)
        {
            span.Attributes.Add(Attr("app.c", "ref 0000000100000000 k"));
            span.Attributes.Add(Attr("app.d", "ref 4011111111110114 k"));
        }

        var counters = new PrivacyCounters();
        DefaultScrubber(counters).Scrub(Request(span), Tenant);

        for (int i = 0; i < 50; i++)
        {
            Assert.Equal("ref 0000000100000000 k", span.Attributes[2 * i].Value.StringValue);
            Assert.DoesNotContain("4011", span.Attributes[(2 * i) + 1].Value.StringValue, StringComparison.Ordinal);
        }

        Assert.Equal(50, counters.Total("redact"));
    }

    [Fact]
    public void Scrub_CallEnded_NoValueOfTheRequestKeptByTheThread()
    {
        var span = NewSpan("op");
        for (int i = 0; i < 300; i++)
        {
            span.Attributes.Add(Attr("app.note", "clean value " + i.ToString(CultureInfo.InvariantCulture)));
        }

        DefaultScrubber().Scrub(Request(span), Tenant);

        Assert.Equal(0, Privacy.Scrubbing.ScrubSession.CleanValuesHeldByThisThread());
    }

    [Fact]
    public void Scrub_SameStatementInBothSqlKeys_BothNormalizedAndCounted()
    {
        const string Sql = "SELECT * FROM users WHERE email = 'jane.doe@example.com' AND id = 42";
        var span = NewSpan("op");
        for (int i = 0; i < 20; i++)
        {
            span.Attributes.Add(Attr("db.statement", new string(Sql.AsSpan())));
            span.Attributes.Add(Attr("db.query.text", new string(Sql.AsSpan())));
            span.Attributes.Add(Attr("url.full", "https://shop.test/api/users/jane.doe@example.com?token=abc123def456"));
        }

        var counters = new PrivacyCounters();
        DefaultScrubber(counters).Scrub(Request(span), Tenant);

        foreach (var kv in span.Attributes)
        {
            Assert.DoesNotContain("jane.doe", kv.Value.StringValue, StringComparison.Ordinal);
            Assert.DoesNotContain("abc123", kv.Value.StringValue, StringComparison.Ordinal);
        }

        Assert.Equal("SELECT * FROM users WHERE email = ? AND id = ?", span.Attributes[0].Value.StringValue);
        Assert.Equal(span.Attributes[0].Value.StringValue, span.Attributes[1].Value.StringValue);
        Assert.Equal(40, counters.Total("sql"));
        Assert.Equal(20, counters.Total("url"));
    }
}
