using Hush.Otlp;
using Hush.Store.Storage;

namespace Hush.Store.Tests.Storage;

public sealed class TraceStoreRoundTripTests : IDisposable
{
    private readonly TempDirectory _dir = new();
    private readonly KeyMaterial _kek = TestData.Kek();

    public void Dispose()
    {
        _kek.Dispose();
        _dir.Dispose();
    }

    [Fact]
    public async Task FindTrace_TraceSplitAcrossAppends_ReturnsEverySpanOnceUnderItsResource()
    {
        // Small blocks, so one Append packs several blocks and a trace lives in blocks of two calls.
        var options = new StoreOptions { BlockMaxSpans = 4 };
        using (var store = TraceStore.Open(_dir.Path, _kek, options))
        {
            var first = new List<Span>();
            for (var t = 1; t <= 5; t++)
            {
                for (var s = 1; s <= 3; s++)
                {
                    first.Add(Spans.Span(t, (t * 10) + s, name: $"op-{s}", startSeconds: (ulong)t, attributes: new KeyValue("n", AnyValue.Of((long)s))));
                }
            }

            store.Append("acme", Spans.Request("checkout", first));

            // The second call adds a span to traces 1..3 from another service, and re-sends span 11 (a client retry).
            var later = Enumerable.Range(1, 3).Select(t => Spans.Span(t, (t * 10) + 4, name: "charge", startSeconds: (ulong)t + 1));
            store.Append("acme", Spans.Merge(Spans.Request("payments", later), Spans.Request("checkout", Spans.Span(1, 11, name: "op-1", startSeconds: 1))));
            Assert.True(store.Totals("acme").Blocks >= 4);
            await AssertTracesAsync(store);
        }

        using (var reopened = TraceStore.Open(_dir.Path, _kek, options))
        {
            await AssertTracesAsync(reopened);
        }

        static async Task AssertTracesAsync(TraceStore store)
        {
            for (var t = 1; t <= 5; t++)
            {
                var trace = await store.FindTraceAsync("acme", Spans.Trace(t), null, null, default);
                Assert.NotNull(trace);
                var expected = Enumerable.Range(1, t <= 3 ? 4 : 3).Select(s => (ulong)((t * 10) + s));
                Assert.Equal(expected, Spans.All(trace).Select(s => s.SpanId.Value).Order());
                foreach (var resource in trace.ResourceSpans)
                {
                    foreach (var span in resource.ScopeSpans.SelectMany(ss => ss.Spans))
                    {
                        Assert.Equal(Spans.Trace(t), span.TraceId);
                        var charge = span.SpanId.Value % 10 == 4;
                        Assert.Equal(charge ? "payments" : "checkout", Spans.ServiceOf(resource));
                        Assert.Equal(charge ? "charge" : $"op-{span.SpanId.Value % 10}", span.Name);
                        Assert.Equal("tests", resource.ScopeSpans[0].Scope.Name);
                    }
                }
            }
        }
    }

    [Fact]
    public async Task FindTrace_UnknownTraceOrAnotherTenantsTrace_ReturnsNull()
    {
        using var store = TraceStore.Open(_dir.Path, _kek);
        store.Append("acme", Spans.Request("checkout", Spans.Span(1, 1)));
        store.Append("beta", Spans.Request("billing", Spans.Span(2, 2)));

        Assert.NotNull(await store.FindTraceAsync("acme", Spans.Trace(1), null, null, default));
        Assert.NotNull(await store.FindTraceAsync("beta", Spans.Trace(2), null, null, default));
        Assert.Null(await store.FindTraceAsync("acme", Spans.Trace(99), null, null, default));
        Assert.Null(await store.FindTraceAsync("acme", Spans.Trace(2), null, null, default));
        Assert.Null(await store.FindTraceAsync("beta", Spans.Trace(1), null, null, default));
        Assert.Null(await store.FindTraceAsync("gamma", Spans.Trace(1), null, null, default));
    }

    [Fact]
    public async Task FindTrace_SameTraceIdInTwoTenants_EachSeesOnlyItsOwnSpans()
    {
        using var store = TraceStore.Open(_dir.Path, _kek);
        store.Append("acme", Spans.Request("checkout", Spans.Span(7, 1)));
        store.Append("beta", Spans.Request("billing", Spans.Span(7, 2)));

        var acme = await store.FindTraceAsync("acme", Spans.Trace(7), null, null, default);
        var beta = await store.FindTraceAsync("beta", Spans.Trace(7), null, null, default);
        Assert.Equal([1UL], Spans.All(acme!).Select(s => s.SpanId.Value));
        Assert.Equal([2UL], Spans.All(beta!).Select(s => s.SpanId.Value));
    }

    [Fact]
    public async Task FindTrace_TimeWindow_FindsTheTraceOnlyWhenItHasASpanInside()
    {
        using var store = TraceStore.Open(_dir.Path, _kek);
        store.Append("acme", Spans.Request("checkout", Spans.Span(1, 1, startSeconds: 3600, durationNanos: 2 * Spans.Second)));
        var start = DateTimeOffset.FromUnixTimeMilliseconds((long)((Spans.BaseNanos / 1_000_000) + 3_600_000));
        var end = start.AddSeconds(2);

        async Task<bool> Found(DateTimeOffset? from, DateTimeOffset? to) => await store.FindTraceAsync("acme", Spans.Trace(1), from, to, default) is not null;

        Assert.True(await Found(start.AddMinutes(-1), end.AddMinutes(1)));
        Assert.True(await Found(start.AddSeconds(1), null));
        Assert.True(await Found(null, start.AddSeconds(1)));
        Assert.True(await Found(end, null));
        Assert.False(await Found(end.AddMilliseconds(1), null));
        Assert.False(await Found(null, start));
        Assert.False(await Found(start.AddHours(-2), start.AddHours(-1)));
        Assert.False(await Found(end.AddHours(1), end.AddHours(2)));
    }

    [Fact]
    public void Append_EmptyRequest_WritesNothing()
    {
        using var store = TraceStore.Open(_dir.Path, _kek);
        store.Append("acme", new TraceRequest());
        store.Append("acme", Spans.Request("checkout"));
        Assert.Equal((0L, 0L), store.Totals("acme"));
        Assert.Empty(SegmentFiles.Paths(_dir.Path, "acme"));
    }

    [Fact]
    public void Append_BigRequest_PacksWholeTracesIntoBlocksOfAtMostBlockMaxSpans()
    {
        using var store = TraceStore.Open(_dir.Path, _kek, new StoreOptions { BlockMaxSpans = 10 });
        var spans = new List<Span>();
        for (var t = 1; t <= 12; t++)
        {
            spans.AddRange(Enumerable.Range(0, 3).Select(s => Spans.Span(t, (t * 100) + s)));
        }

        // One trace bigger than a block gets a block of its own.
        spans.AddRange(Enumerable.Range(0, 25).Select(s => Spans.Span(50, 5000 + s)));
        store.Append("acme", Spans.Request("checkout", spans));

        Assert.Equal(61, store.Totals("acme").Spans);
        var blockOfTrace = new Dictionary<TraceId, ulong>();
        foreach (var block in SegmentFiles.LiveBlocks(_dir.Path, "acme"))
        {
            var sequence = SegmentFiles.Header(block).Sequence;
            Assert.True(BlockCodec.TryDecode(block, store.Keys, new BlockPosition("acme", 1, sequence), out var traces, out var error), error.ToString());
            var ids = Spans.All(traces).Select(s => s.TraceId).Distinct().ToList();
            Assert.True(traces.CountSpans() <= 10 || ids.Count == 1, $"block {sequence}: {traces.CountSpans()} spans of {ids.Count} traces");
            foreach (var id in ids)
            {
                // Whole traces: no trace is split over two blocks of one call.
                Assert.True(blockOfTrace.TryAdd(id, sequence), $"trace {id} in blocks {blockOfTrace.GetValueOrDefault(id)} and {sequence}");
            }
        }

        Assert.Equal(13, blockOfTrace.Count);
    }

    /// <summary>
    /// Pack deals whole traces out greedily in order of first appearance, each span under its own resource and scope in
    /// stored order: checked against that rule written plainly, for requests of interleaved traces over several
    /// resources and scopes. The blocks a request makes (and so their bytes) follow from it.
    /// </summary>
    [Fact]
    public void Pack_InterleavedTracesOverResourcesAndScopes_DealsWholeTracesInOrderOfFirstAppearance()
    {
        var random = new Random(17);
        for (var round = 0; round < 200; round++)
        {
            var maxSpans = random.Next(1, 40);
            var request = new TraceRequest();
            for (var r = 0; r < random.Next(1, 4); r++)
            {
                var resource = new ResourceSpans { Resource = new Resource { Attributes = [new KeyValue("service.name", AnyValue.Of($"svc-{r}"))] } };
                for (var c = 0; c < random.Next(1, 3); c++)
                {
                    var scope = new ScopeSpans { Scope = new InstrumentationScope { Name = $"scope-{c}" } };
                    for (var i = 0; i < random.Next(0, 60); i++)
                    {
                        scope.Spans.Add(Spans.Span(random.Next(1, 25), (round * 10_000) + (r * 1000) + (c * 100) + i));
                    }

                    resource.ScopeSpans.Add(scope);
                }

                request.ResourceSpans.Add(resource);
            }

            var chunks = TraceStore.Pack(request, maxSpans);

            var all = request.ResourceSpans.SelectMany(rs => rs.ScopeSpans.SelectMany(ss => ss.Spans.Select(span => (rs, ss, span)))).ToList();
            var order = all.Select(x => x.span.TraceId).Distinct().ToList();
            var expected = new List<List<TraceId>>();
            var filled = maxSpans;
            foreach (var id in order)
            {
                var size = all.Count(x => x.span.TraceId == id);
                if (all.Count > maxSpans && filled + size > maxSpans && filled > 0)
                {
                    expected.Add([]);
                    filled = 0;
                }

                if (expected.Count == 0)
                {
                    expected.Add([]);
                }

                expected[^1].Add(id);
                filled += size;
            }

            Assert.Equal(all.Count == 0 ? 0 : expected.Count, chunks.Count);
            for (var i = 0; i < chunks.Count; i++)
            {
                var traces = expected[i].ToHashSet();
                var got = chunks[i].ResourceSpans.SelectMany(rs => rs.ScopeSpans.SelectMany(ss => ss.Spans.Select(span => (rs.Resource, ss.Scope, span)))).ToList();
                Assert.Equal(all.Where(x => traces.Contains(x.span.TraceId)).Select(x => (x.rs.Resource, x.ss.Scope, x.span)), got);
            }
        }
    }
}
