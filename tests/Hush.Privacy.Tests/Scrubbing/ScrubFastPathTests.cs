using System.Globalization;
using Hush.Otlp;
using static Hush.Privacy.Tests.TestSupport;

namespace Hush.Privacy.Tests.Scrubbing;

/// <summary>The per-call pseudonym memo and the allocation-free clean path give the same output as the slow paths.</summary>
public sealed class ScrubFastPathTests
{
    [Fact]
    public void Scrub_RepeatedAndManyDistinctUserIds_EachPseudonymAsComputedAlone()
    {
        // 3,000 spans, 1,500 distinct ids: repeats hit the memo, ids past its bound are computed every time.
        var scope = new ScopeSpans();
        for (int i = 0; i < 3000; i++)
        {
            scope.Spans.Add(NewSpan("op", Attr("enduser.id", Id(i % 1500)), Attr("user.email", $"u{i % 1500}@example.com")));
        }

        var request = new TraceRequest { ResourceSpans = [new ResourceSpans { ScopeSpans = [scope] }] };
        DefaultScrubber().Scrub(request, Tenant);

        var pseudonymizer = PseudonymizerFor(Tenant);
        for (int i = 0; i < 3000; i++)
        {
            var attributes = scope.Spans[i].Attributes;
            Assert.Equal(pseudonymizer.Pseudonymize("user_id", Id(i % 1500)), attributes[0].Value.StringValue);
            Assert.Equal(pseudonymizer.Pseudonymize("email", $"u{i % 1500}@example.com"), attributes[1].Value.StringValue);
        }
    }

    [Fact]
    public void Scrub_CleanAttributes_AllocationDoesNotGrowWithTheirNumber()
    {
        var scrubber = DefaultScrubber();
        long one = AllocatedScrubbing(scrubber, 1);
        long many = AllocatedScrubbing(scrubber, 400);

        // Only the per-call session costs memory; clean strings, numbers under 7 digits, doubles and booleans add nothing.
        Assert.InRange(many - one, 0, 64);
    }

    private static long AllocatedScrubbing(PolicyScrubber scrubber, int groups)
    {
        long allocated = long.MaxValue;
        for (int round = 0; round < 30; round++)
        {
            var span = NewSpan("op");
            for (int g = 0; g < groups; g++)
            {
                span.Attributes.Add(Attr("server.address", new string("checkout.shop.internal".AsSpan())));
                span.Attributes.Add(Attr("app.request.id", new string("3f2a1b4c-1234-4def-8abc-0123456789ab".AsSpan())));
                span.Attributes.Add(Attr("server.port", 8080));
                span.Attributes.Add(Attr("http.response.body.size", 123_456));
                span.Attributes.Add(Attr("app.cart.total", AnyValue.Of(12.5)));
                span.Attributes.Add(Attr("app.cache.hit", AnyValue.Of(true)));
            }

            var request = Request(span);
            long before = GC.GetAllocatedBytesForCurrentThread();
            scrubber.Scrub(request, Tenant);
            allocated = Math.Min(allocated, GC.GetAllocatedBytesForCurrentThread() - before);
            Assert.Equal(groups * 6, span.Attributes.Count);
            if (round % 10 == 9)
            {
                // Let the JIT replace unoptimized code (which allocates in places optimized code does not).
                Thread.Sleep(50);
            }
        }

        return allocated;
    }

    private static string Id(int i) => "u-" + i.ToString(CultureInfo.InvariantCulture);
}
