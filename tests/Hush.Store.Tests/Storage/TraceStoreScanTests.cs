using Hush.Otlp;
using Hush.Store.Reading;
using Hush.Store.Storage;

namespace Hush.Store.Tests.Storage;

public sealed class TraceStoreScanTests : IDisposable
{
    private readonly TempDirectory _dir = new();
    private readonly KeyMaterial _kek = TestData.Kek();

    public void Dispose()
    {
        _kek.Dispose();
        _dir.Dispose();
    }

    [Fact]
    public async Task Scan_NoHints_YieldsTracesNewestFirstAcrossBlocks()
    {
        using var store = TraceStore.Open(_dir.Path, _kek);

        // Block 1 holds trace 1 (ends at 100 s) and trace 2 (ends at 10 s); block 2 holds trace 3 (ends at 50 s).
        store.Append("acme", Spans.Request("svc", Spans.Span(1, 1, startSeconds: 99, durationNanos: Spans.Second), Spans.Span(2, 2, startSeconds: 9, durationNanos: Spans.Second)));
        store.Append("acme", Spans.Request("svc", Spans.Span(3, 3, startSeconds: 49, durationNanos: Spans.Second)));

        var traces = await Spans.CollectAsync(store.ScanAsync("acme", new TraceScan(), default));
        Assert.Equal([Spans.Trace(1), Spans.Trace(3), Spans.Trace(2)], traces.Select(Spans.TraceIdOf));
    }

    [Fact]
    public async Task Scan_TraceWhoseLatestSpanIsInAnOlderBlock_IsOrderedByItsLatestSpan()
    {
        using var store = TraceStore.Open(_dir.Path, _kek);
        store.Append("acme", Spans.Request("svc", Spans.Span(1, 1, startSeconds: 10), Spans.Span(2, 2, startSeconds: 30)));
        store.Append("acme", Spans.Request("svc", Spans.Span(1, 3, startSeconds: 50), Spans.Span(3, 4, startSeconds: 20)));

        var traces = await Spans.CollectAsync(store.ScanAsync("acme", new TraceScan(), default));
        Assert.Equal([Spans.Trace(1), Spans.Trace(2), Spans.Trace(3)], traces.Select(Spans.TraceIdOf));
        Assert.Equal(2, Spans.All(traces[0]).Count());
    }

    [Fact]
    public async Task Scan_SpanFilter_SkipsTracesWithoutAMatchingSpanAndKeepsOnesMatchingInAnotherBlock()
    {
        using var store = TraceStore.Open(_dir.Path, _kek);

        // Trace 1's slow span is in the second block, its newest span in the first; traces 2 and 3 live in one block each.
        store.Append("acme", Spans.Request("svc", Spans.Span(1, 1, startSeconds: 10, durationNanos: 5 * Spans.Second), Spans.Span(2, 2, startSeconds: 30), Spans.Span(3, 3, startSeconds: 20, durationNanos: 2 * Spans.Second)));
        store.Append("acme", Spans.Request("svc", Spans.Span(1, 4, startSeconds: 50), Spans.Span(4, 5, startSeconds: 40)));
        var progress = new ScanProgress();

        var traces = await Spans.CollectAsync(store.ScanAsync("acme", new TraceScan { SpanFilter = (_, span) => span.EndTimeUnixNano - span.StartTimeUnixNano >= Spans.Second, Progress = progress }, default));

        Assert.Equal([Spans.Trace(1), Spans.Trace(3)], traces.Select(Spans.TraceIdOf));
        Assert.Equal(2, Spans.All(traces[0]).Count());
        Assert.Equal(4, progress.Traces);
        Assert.Equal(5, progress.Spans);
    }

    [Fact]
    public async Task Scan_IntrinsicFilter_FindsWhatTheSpanFilterAloneFindsInTheSameOrder()
    {
        using var store = TraceStore.Open(_dir.Path, _kek);

        // Slow error spans in some traces of each block; trace 1 is spread over both blocks, its slow error span in the older.
        Span Slow(int trace, int span, ulong at, StatusCode code)
        {
            var s = Spans.Span(trace, span, startSeconds: at, durationNanos: 2 * Spans.Second, attributes: new KeyValue("db.system", AnyValue.Of(trace % 2 == 0 ? "postgresql" : "redis")));
            s.Status = new SpanStatus { Code = code };
            return s;
        }

        store.Append("acme", Spans.Request("svc", Slow(1, 1, 10, StatusCode.Error), Slow(2, 2, 30, StatusCode.Error), Slow(3, 3, 20, StatusCode.Ok), Spans.Span(4, 4, startSeconds: 25)));
        store.Append("acme", Spans.Request("svc", Spans.Span(1, 5, startSeconds: 50), Slow(6, 6, 40, StatusCode.Error), Slow(8, 8, 45, StatusCode.Error), Spans.Span(7, 7, startSeconds: 41)));
        static bool Matches(ResourceSpans _, Span span) => span.Status.Code == StatusCode.Error && span.EndTimeUnixNano - span.StartTimeUnixNano > Spans.Second;
        static bool MayMatch(SpanIntrinsics span) => span.Status == StatusCode.Error && span.DurationNanos > Spans.Second;

        var plain = await Spans.CollectAsync(store.ScanAsync("acme", new TraceScan { SpanFilter = Matches }, default));
        var progress = new ScanProgress();
        var lazy = await Spans.CollectAsync(store.ScanAsync("acme", new TraceScan { SpanFilter = Matches, IntrinsicFilter = MayMatch, Progress = progress }, default));
        var attribute = await Spans.CollectAsync(store.ScanAsync("acme", new TraceScan { SpanFilter = (r, s) => Matches(r, s) && s.Attributes.Any(a => a.Value.StringValue == "postgresql"), IntrinsicFilter = MayMatch }, default));

        Assert.Equal([Spans.Trace(1), Spans.Trace(8), Spans.Trace(6), Spans.Trace(2)], plain.Select(Spans.TraceIdOf));
        Assert.Equal(plain.Select(OtlpProtobuf.Encode), lazy.Select(OtlpProtobuf.Encode));
        Assert.Equal([Spans.Trace(8), Spans.Trace(6), Spans.Trace(2)], attribute.Select(Spans.TraceIdOf));
        Assert.Equal(7, progress.Traces);
        Assert.Equal(8, progress.Spans);
    }

    [Fact]
    public async Task Scan_MaxTraces_StopsAfterLookingAtThatManyAndYieldsWhatItFound()
    {
        using var store = TraceStore.Open(_dir.Path, _kek);
        for (var t = 1; t <= 6; t++)
        {
            store.Append("acme", Spans.Request("svc", Spans.Span(t, t, startSeconds: (ulong)(10 * t))));
        }

        var progress = new ScanProgress();
        var traces = await Spans.CollectAsync(store.ScanAsync("acme", new TraceScan { MaxTraces = 4, Progress = progress, SpanFilter = (_, span) => span.SpanId != Spans.Id(5) }, default));

        Assert.Equal([Spans.Trace(6), Spans.Trace(4), Spans.Trace(3)], traces.Select(Spans.TraceIdOf));
        Assert.Equal(4, progress.Traces);
    }

    [Fact]
    public async Task Scan_Hints_NarrowToTracesThatMayMatch()
    {
        using var store = TraceStore.Open(_dir.Path, _kek);
        var groups = new[] { ("checkout", "GET /cart", "/cart"), ("payments", "POST /pay", "/pay"), ("search", "GET /search", "/search") };
        for (var g = 0; g < groups.Length; g++)
        {
            var (service, name, route) = groups[g];
            store.Append("acme", Spans.Request(service, Enumerable.Range(1, 3).Select(i => Spans.Span((g * 10) + i, (g * 10) + i, name, (ulong)((g * 10) + i), attributes: new KeyValue("http.route", AnyValue.Of(route))))));
        }

        async Task<int[]> Scan(params TermHint[] hints)
            => [.. (await Spans.CollectAsync(store.ScanAsync("acme", new TraceScan { Hints = hints }, default))).Select(t => (int)Spans.TraceIdOf(t).Low).Order()];

        Assert.Equal(new[] { 11, 12, 13 }, await Scan(new TermHint(TermKind.ServiceName, string.Empty, "payments")));
        Assert.Equal(new[] { 1, 2, 3 }, await Scan(new TermHint(TermKind.SpanName, string.Empty, "GET /cart")));
        Assert.Equal(new[] { 21, 22, 23 }, await Scan(new TermHint(TermKind.Attribute, "http.route", "/search")));
        Assert.Equal(new[] { 21, 22, 23 }, await Scan(new TermHint(TermKind.Attribute, "service.name", "search")));
        Assert.Equal(new[] { 11, 12, 13 }, await Scan(new TermHint(TermKind.ServiceName, string.Empty, "payments"), new TermHint(TermKind.SpanName, string.Empty, "POST /pay")));
        Assert.Empty(await Scan(new TermHint(TermKind.ServiceName, string.Empty, "payments"), new TermHint(TermKind.SpanName, string.Empty, "GET /cart")));
        Assert.Empty(await Scan(new TermHint(TermKind.ServiceName, string.Empty, "nowhere")));
        Assert.Empty(await Scan(new TermHint(TermKind.Attribute, "other.key", "/cart")));
        Assert.Equal(9, (await Scan()).Length);
    }

    [Fact]
    public async Task Scan_HintsHeldBySpansInDifferentBlocksOfOneTrace_FindsTheTrace()
    {
        using var store = TraceStore.Open(_dir.Path, _kek);
        store.Append("acme", Spans.Request("frontend", Spans.Span(1, 1, "GET /checkout")));
        store.Append("acme", Spans.Request("payments", Spans.Span(1, 2, "charge card", startSeconds: 1)));

        var traces = await Spans.CollectAsync(store.ScanAsync("acme", new TraceScan { Hints = [new TermHint(TermKind.ServiceName, string.Empty, "frontend"), new TermHint(TermKind.SpanName, string.Empty, "charge card")] }, default));
        var trace = Assert.Single(traces);
        Assert.Equal(2, Spans.All(trace).Count());
    }

    [Fact]
    public async Task Scan_TimeWindow_SkipsTracesOutsideIt()
    {
        using var store = TraceStore.Open(_dir.Path, _kek);
        store.Append("acme", Spans.Request("svc", Spans.Span(1, 1, startSeconds: 0)));
        store.Append("acme", Spans.Request("svc", Spans.Span(2, 2, startSeconds: 3600)));
        store.Append("acme", Spans.Request("svc", Spans.Span(3, 3, startSeconds: 7200)));
        var at = DateTimeOffset.FromUnixTimeMilliseconds((long)(Spans.BaseNanos / 1_000_000));

        var traces = await Spans.CollectAsync(store.ScanAsync("acme", new TraceScan { Start = at.AddMinutes(30), End = at.AddMinutes(90) }, default));
        Assert.Equal([Spans.Trace(2)], traces.Select(Spans.TraceIdOf));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public async Task Scan_RandomData_NeverMissesAMatchingTraceAndIsNewestFirst(int seed)
    {
        var random = new Random(seed);
        string[] services = ["checkout", "payments", "search", "auth"];
        string[] names = ["GET /a", "GET /b", "POST /c", "SELECT x", "publish"];
        string[] routes = ["/a", "/b", "/c", "/d"];
        string[] outcomes = ["ok", "fail"];
        using var store = TraceStore.Open(_dir.Path, _kek, new StoreOptions { BlockMaxSpans = random.Next(3, 40) });

        var all = new List<(string Service, Span Span)>();
        var nextSpan = 1;
        for (var t = 1; t <= 80; t++)
        {
            for (var s = random.Next(1, 7); s > 0; s--)
            {
                var span = Spans.Span(t, nextSpan++, names[random.Next(names.Length)], (ulong)random.Next(0, 3600), (ulong)random.Next(1, 100) * Spans.Second / 10, new KeyValue("route", AnyValue.Of(routes[random.Next(routes.Length)])));
                if (random.Next(3) == 0)
                {
                    span.Events.Add(new SpanEvent { Name = "e", Attributes = [new KeyValue("outcome", AnyValue.Of(outcomes[random.Next(2)]))] });
                }

                all.Add((services[random.Next(services.Length)], span));
            }
        }

        // Appended in random order and random batches, so traces span calls and blocks.
        var shuffled = all.OrderBy(_ => random.Next()).ToList();
        for (var i = 0; i < shuffled.Count;)
        {
            var batch = shuffled.Skip(i).Take(random.Next(1, 30)).ToList();
            i += batch.Count;
            store.Append("acme", Spans.Merge([.. batch.GroupBy(b => b.Service).Select(g => Spans.Request(g.Key, g.Select(b => b.Span)))]));
        }

        for (var q = 0; q < 40; q++)
        {
            var hints = new List<TermHint>();
            for (var h = random.Next(0, 4); h > 0; h--)
            {
                hints.Add(random.Next(5) switch
                {
                    0 => new TermHint(TermKind.ServiceName, string.Empty, services[random.Next(services.Length)]),
                    1 => new TermHint(TermKind.SpanName, string.Empty, names[random.Next(names.Length)]),
                    2 => new TermHint(TermKind.Attribute, "route", routes[random.Next(routes.Length)]),
                    3 => new TermHint(TermKind.Attribute, "outcome", outcomes[random.Next(2)]),
                    _ => new TermHint(TermKind.Attribute, "service.name", services[random.Next(services.Length)]),
                });
            }

            DateTimeOffset? start = null, end = null;
            if (random.Next(3) == 0)
            {
                var from = random.Next(0, 3000);
                start = DateTimeOffset.FromUnixTimeMilliseconds((long)(Spans.BaseNanos / 1_000_000) + (from * 1000L));
                end = start.Value.AddSeconds(random.Next(1, 1200));
            }

            var startNanos = start is { } s0 ? (ulong)s0.ToUnixTimeMilliseconds() * 1_000_000 : 0;
            var endNanos = end is { } e0 ? (ulong)e0.ToUnixTimeMilliseconds() * 1_000_000 : ulong.MaxValue;
            var expected = all
                .Where(x => x.Span.EndTimeUnixNano >= startNanos && x.Span.StartTimeUnixNano < endNanos)
                .GroupBy(x => x.Span.TraceId)
                .Where(g => hints.All(h => g.Any(x => Holds(h, x.Service, x.Span))))
                .Select(g => g.Key)
                .ToHashSet();

            var found = await Spans.CollectAsync(store.ScanAsync("acme", new TraceScan { Start = start, End = end, Hints = hints }, default));
            var ids = found.Select(Spans.TraceIdOf).ToList();
            Assert.Equal(ids.Count, ids.Distinct().Count());
            Assert.Empty(expected.Except(ids));
            if (hints.Count == 0)
            {
                var ends = found.Select(Spans.LatestEnd).ToList();
                Assert.Equal(ends.OrderDescending(), ends);
            }
        }

        static bool Holds(TermHint hint, string service, Span span) => hint.Kind switch
        {
            TermKind.ServiceName => service == hint.Value,
            TermKind.SpanName => span.Name == hint.Value,
            _ => (hint.Key == "service.name" && service == hint.Value)
                || span.Attributes.Concat(span.Events.SelectMany(e => e.Attributes)).Any(kv => kv.Key == hint.Key && kv.Value.StringValue == hint.Value),
        };
    }
}
