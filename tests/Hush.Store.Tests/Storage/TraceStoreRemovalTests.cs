using Hush.Otlp;
using Hush.Store.Storage;

namespace Hush.Store.Tests.Storage;

/// <summary>Retention, subject erasure, tenant erasure and rewrap: data goes, and the chain still verifies.</summary>
public sealed class TraceStoreRemovalTests : IDisposable
{
    private const string Pseudonym = "psn_abc123";

    private readonly TempDirectory _dir = new();
    private readonly KeyMaterial _kek = TestData.Kek();
    private readonly ManualTimeProvider _time = new(TestData.Epoch);

    public void Dispose()
    {
        _kek.Dispose();
        _dir.Dispose();
    }

    [Fact]
    public async Task EnforceRetention_BlocksOlderThanRetention_AreRemovedWithTheirSegments()
    {
        var options = new StoreOptions { Retention = TimeSpan.FromDays(1), SegmentMaxAge = TimeSpan.FromHours(1) };
        using var store = TraceStore.Open(_dir.Path, _kek, options, _time);
        store.Append("acme", Spans.Request("svc", Spans.Span(1, 1)));
        store.Append("acme", Spans.Request("svc", Spans.Span(2, 2)));
        _time.Advance(TimeSpan.FromHours(2));
        store.Append("acme", Spans.Request("svc", Spans.Span(3, 3)));
        store.Append("acme", Spans.Request("svc", Spans.Span(1, 4)));
        var segments = SegmentFiles.Paths(_dir.Path, "acme");
        Assert.Equal(2, segments.Length);

        // Not yet: the first segment is one day minus one minute old.
        _time.Advance(TimeSpan.FromHours(22) - TimeSpan.FromMinutes(1));
        Assert.Equal(new RemovalReport(0, 0, 0), store.EnforceRetention());

        _time.Advance(TimeSpan.FromMinutes(2));
        Assert.Equal(new RemovalReport(2, 2, 1), store.EnforceRetention());
        Assert.False(File.Exists(segments[0]));
        Assert.True(File.Exists(segments[1]));
        Assert.Null(await store.FindTraceAsync("acme", Spans.Trace(2), null, null, default));
        Assert.NotNull(await store.FindTraceAsync("acme", Spans.Trace(3), null, null, default));
        var trace1 = await store.FindTraceAsync("acme", Spans.Trace(1), null, null, default);
        Assert.Equal([4UL], Spans.All(trace1!).Select(s => s.SpanId.Value));
        Assert.Equal((2L, 2L), store.Totals("acme"));
        Assert.True(store.Verify("acme").IsIntact);

        // Everything expired, the current segment too; writing goes on in a new one.
        _time.Advance(TimeSpan.FromDays(2));
        Assert.Equal(new RemovalReport(2, 2, 1), store.EnforceRetention());
        Assert.Empty(SegmentFiles.Paths(_dir.Path, "acme"));
        store.Append("acme", Spans.Request("svc", Spans.Span(5, 5)));
        Assert.NotNull(await store.FindTraceAsync("acme", Spans.Trace(5), null, null, default));
        Assert.True(store.Verify("acme").IsIntact);
    }

    [Fact]
    public async Task EnforceRetention_PerTenantOverride_AppliesToThatTenantOnly()
    {
        var options = new StoreOptions { Retention = TimeSpan.FromDays(7), TenantRetention = new Dictionary<string, TimeSpan> { ["short"] = TimeSpan.FromHours(1) } };
        using (var store = TraceStore.Open(_dir.Path, _kek, options, _time))
        {
            store.Append("short", Spans.Request("svc", Spans.Span(1, 1)));
            store.Append("long", Spans.Request("svc", Spans.Span(1, 1)));
            _time.Advance(TimeSpan.FromHours(3));

            var report = store.EnforceRetention();
            Assert.Equal(1, report.Blocks);
            Assert.Null(await store.FindTraceAsync("short", Spans.Trace(1), null, null, default));
            Assert.NotNull(await store.FindTraceAsync("long", Spans.Trace(1), null, null, default));
            Assert.Empty(SegmentFiles.Paths(_dir.Path, "short"));
            Assert.Single(SegmentFiles.Paths(_dir.Path, "long"));
        }

        using var reopened = TraceStore.Open(_dir.Path, _kek, options, _time);
        Assert.True(reopened.Verify("short").IsIntact);
        Assert.True(reopened.Verify("long").IsIntact);
        Assert.Null(await reopened.FindTraceAsync("short", Spans.Trace(1), null, null, default));
    }

    [Fact]
    public async Task EraseMatching_PseudonymAnywhereInASpan_RemovesOnlyThoseSpans()
    {
        using var store = TraceStore.Open(_dir.Path, _kek, null, _time);
        var carrying = new List<Span>
        {
            Spans.Span(1, 11, attributes: new KeyValue("enduser.id", AnyValue.Of(Pseudonym))),
            Spans.Span(2, 21, attributes: new KeyValue("url.full", AnyValue.Of($"https://shop.example.com/users/{Pseudonym}/orders?page=2"))),
            Spans.Span(3, 31, attributes: new KeyValue("nested", AnyValue.Of([AnyValue.Of([new KeyValue("who", AnyValue.Of(Pseudonym))])]))),
        };
        var withEvent = Spans.Span(2, 22);
        withEvent.Events.Add(new SpanEvent { Name = "login", Attributes = [new KeyValue("user", AnyValue.Of(Pseudonym))] });
        carrying.Add(withEvent);
        var clean = new List<Span> { Spans.Span(1, 12), Spans.Span(2, 23), Spans.Span(3, 32), Spans.Span(4, 41, attributes: new KeyValue("enduser.id", AnyValue.Of("psn_other99"))) };

        // One block: the carrying spans, the clean spans, and a resource carrying the pseudonym.
        var resourceCarrying = Spans.Request([new KeyValue("service.name", AnyValue.Of("mobile")), new KeyValue("device.owner", AnyValue.Of(Pseudonym))], [Spans.Span(1, 13), Spans.Span(4, 42)]);
        store.Append("acme", Spans.Merge(Spans.Request("checkout", [.. carrying, .. clean]), resourceCarrying));

        // A second block without the pseudonym, and another tenant with it: both untouched.
        store.Append("acme", Spans.Request("checkout", Spans.Span(5, 51)));
        store.Append("beta", Spans.Request("checkout", Spans.Span(1, 11, attributes: new KeyValue("enduser.id", AnyValue.Of(Pseudonym)))));
        var oldBlock = SegmentFiles.Read(SegmentFiles.Paths(_dir.Path, "acme")[0]).Blocks[0];
        Assert.Equal((2L, 11L), store.Totals("acme"));

        var report = store.EraseMatching("acme", Pseudonym);

        Assert.Equal(new RemovalReport(1, 6, 0), report);
        Assert.Equal((2L, 5L), store.Totals("acme"));
        async Task<ulong[]> SpanIds(string tenant, int trace)
            => await store.FindTraceAsync(tenant, Spans.Trace(trace), null, null, default) is { } t ? [.. Spans.All(t).Select(s => s.SpanId.Value).Order()] : [];
        Assert.Equal(new[] { 12UL }, await SpanIds("acme", 1));
        Assert.Equal(new[] { 23UL }, await SpanIds("acme", 2));
        Assert.Equal(new[] { 32UL }, await SpanIds("acme", 3));
        Assert.Equal(new[] { 41UL }, await SpanIds("acme", 4));
        Assert.Equal(new[] { 51UL }, await SpanIds("acme", 5));
        Assert.Equal(new[] { 11UL }, await SpanIds("beta", 1));
        Assert.Equal(new RemovalReport(0, 0, 0), store.EraseMatching("acme", Pseudonym));

        // The old block is zeros now; its ciphertext is nowhere on disk.
        var segment = File.ReadAllBytes(SegmentFiles.Paths(_dir.Path, "acme")[0]);
        Assert.Equal(-1, segment.AsSpan().IndexOf(oldBlock.AsSpan(BlockHeader.Bytes, 32)));
        Assert.Equal(-1, segment.AsSpan().IndexOf(oldBlock.AsSpan(16, 12)));
        var (_, frames) = SegmentFiles.Read(SegmentFiles.Paths(_dir.Path, "acme")[0]);
        Assert.Equal(oldBlock.Length, frames[0].Length);
        Assert.False(frames[0].AsSpan().ContainsAnyExcept((byte)0));
        Assert.True(store.Verify("acme").IsIntact);
        Assert.True(store.Verify("beta").IsIntact);
    }

    [Fact]
    public async Task EraseMatching_ThenReopen_StaysErasedAndIntact()
    {
        using (var store = TraceStore.Open(_dir.Path, _kek))
        {
            store.Append("acme", Spans.Request("checkout", Spans.Span(1, 1, attributes: new KeyValue("u", AnyValue.Of(Pseudonym))), Spans.Span(1, 2)));
            store.EraseMatching("acme", Pseudonym);
        }

        using var reopened = TraceStore.Open(_dir.Path, _kek);
        var trace = await reopened.FindTraceAsync("acme", Spans.Trace(1), null, null, default);
        Assert.Equal([2UL], Spans.All(trace!).Select(s => s.SpanId.Value));
        Assert.True(reopened.Verify("acme").IsIntact);
        reopened.Append("acme", Spans.Request("checkout", Spans.Span(2, 3)));
        Assert.True(reopened.Verify("acme").IsIntact);
    }

    [Fact]
    public async Task EraseTenant_DestroysKeysDataAndDirectory_OtherTenantUntouched()
    {
        using (var store = TraceStore.Open(_dir.Path, _kek))
        {
            store.Append("acme", Spans.Request("checkout", Spans.Span(1, 1)));
            store.Append("beta", Spans.Request("checkout", Spans.Span(1, 2)));
            var acmeKeys = store.Keys.GetKeys("acme").Select(k => k.Id).ToList();

            var report = store.EraseTenant("acme");

            Assert.Equal(1, report.Blocks);
            Assert.Empty(store.Keys.GetKeys("acme"));
            Assert.All(acmeKeys, id => Assert.False(store.Keys.TryGetKey(id, out _)));
            Assert.False(Directory.Exists(SegmentFiles.TenantDirectory(_dir.Path, "acme")));
            Assert.Null(await store.FindTraceAsync("acme", Spans.Trace(1), null, null, default));
            Assert.Equal((0L, 0L), store.Totals("acme"));
            Assert.NotNull(await store.FindTraceAsync("beta", Spans.Trace(1), null, null, default));
            Assert.True(store.Verify("beta").IsIntact);
        }

        using var reopened = TraceStore.Open(_dir.Path, _kek);
        Assert.Empty(reopened.Keys.GetKeys("acme"));
        Assert.Null(await reopened.FindTraceAsync("acme", Spans.Trace(1), null, null, default));
        Assert.NotNull(await reopened.FindTraceAsync("beta", Spans.Trace(1), null, null, default));
        Assert.True(reopened.Verify("beta").IsIntact);
        Assert.DoesNotContain("acme", reopened.Tenants());
    }

    [Fact]
    public async Task Rewrap_AfterRotate_EveryLiveBlockUnderTheNewKeyAndReadable()
    {
        using (var store = TraceStore.Open(_dir.Path, _kek))
        {
            for (var t = 1; t <= 3; t++)
            {
                store.Append("acme", Spans.Request("checkout", Spans.Span(t, t), Spans.Span(t, t + 10)));
            }

            var old = store.Keys.GetActiveKey("acme").Id;
            var active = store.Keys.Rotate("acme").Id;
            Assert.NotEqual(old, active);
            store.Append("acme", Spans.Request("checkout", Spans.Span(4, 4)));

            Assert.Equal(new RewrapReport(3, 0), store.Rewrap("acme"));
            Assert.Equal(new RewrapReport(0, 0), store.Rewrap("acme"));

            var live = SegmentFiles.LiveBlocks(_dir.Path, "acme");
            Assert.Equal(4, live.Count);
            Assert.All(live, b => Assert.Equal(active, SegmentFiles.Header(b).KeyId));
            for (var t = 1; t <= 4; t++)
            {
                Assert.Equal(t == 4 ? 1 : 2, Spans.All((await store.FindTraceAsync("acme", Spans.Trace(t), null, null, default))!).Count());
            }

            Assert.Equal((4L, 7L), store.Totals("acme"));
            Assert.True(store.Verify("acme").IsIntact);
        }

        using var reopened = TraceStore.Open(_dir.Path, _kek);
        Assert.True(reopened.Verify("acme").IsIntact);
        Assert.NotNull(await reopened.FindTraceAsync("acme", Spans.Trace(1), null, null, default));
    }

    [Fact]
    public void Rewrap_CorruptedBlock_LeftAsItIsForVerify_TheOthersRewrapped()
    {
        using (var store = TraceStore.Open(_dir.Path, _kek))
        {
            for (var t = 1; t <= 3; t++)
            {
                store.Append("acme", Spans.Request("checkout", Spans.Span(t, t)));
            }

            store.Keys.Rotate("acme");
        }

        var segment = SegmentFiles.Paths(_dir.Path, "acme")[0];
        var (header, blocks) = SegmentFiles.Read(segment);
        blocks[1][^5] ^= 0x20;
        SegmentFiles.Write(segment, header, blocks);
        var tampered = File.ReadAllBytes(segment);

        using var reopened = TraceStore.Open(_dir.Path, _kek);
        Assert.Equal(new RewrapReport(2, 1), reopened.Rewrap("acme"));

        // The tampered block's bytes are where they were, and verify still names it: rewrap hid nothing.
        var after = File.ReadAllBytes(segment);
        Assert.True(after.AsSpan().IndexOf(blocks[1]) >= 0, "the tampered block was rewritten or zeroed");
        Assert.Equal(tampered.Length, after.Length);
        var report = reopened.Verify("acme");
        Assert.False(report.IsIntact);
        Assert.Contains(report.Findings, f => f.Kind == ChainFindingKind.Modified);
    }

    [Fact]
    public async Task EraseMatching_CorruptedBlock_CountedAsUnreadable_TheOthersSearched()
    {
        using (var store = TraceStore.Open(_dir.Path, _kek))
        {
            store.Append("acme", Spans.Request("checkout", Spans.Span(1, 1, attributes: [new("enduser.id", AnyValue.Of("usr_SUBJECT"))])));
            store.Append("acme", Spans.Request("checkout", Spans.Span(2, 2, attributes: [new("enduser.id", AnyValue.Of("usr_SUBJECT"))])));
        }

        var segment = SegmentFiles.Paths(_dir.Path, "acme")[0];
        var (header, blocks) = SegmentFiles.Read(segment);
        blocks[0][^5] ^= 0x20;
        SegmentFiles.Write(segment, header, blocks);

        using var reopened = TraceStore.Open(_dir.Path, _kek);
        var removed = reopened.EraseMatching("acme", "usr_SUBJECT");

        Assert.Equal(1, removed.Blocks);
        Assert.Equal(1, removed.Unreadable);
        Assert.Null(await reopened.FindTraceAsync("acme", Spans.Trace(2), null, null, default));
    }

    [Fact]
    public async Task EraseMatching_FindsTheNeedleInKeysBytesScopesAndLinkTraceState()
    {
        using var store = TraceStore.Open(_dir.Path, _kek);
        var inKey = Spans.Span(1, 1, attributes: [new("cart." + Pseudonym, AnyValue.Of(1L))]);
        var inBytes = Spans.Span(2, 2, attributes: [new("blob", AnyValue.Of(System.Text.Encoding.UTF8.GetBytes("owner=" + Pseudonym)))]);
        var inLink = Spans.Span(3, 3);
        inLink.Links.Add(new SpanLink { TraceId = Spans.Trace(9), SpanId = new SpanId(9), TraceState = "vendor=" + Pseudonym });
        var clean = Spans.Span(4, 4);
        store.Append("acme", Spans.Request("checkout", inKey, inBytes, inLink, clean));
        var scoped = Spans.Request("checkout", Spans.Span(5, 5));
        scoped.ResourceSpans[0].ScopeSpans[0].Scope.Attributes.Add(new("owner", AnyValue.Of(Pseudonym)));
        store.Append("acme", scoped);

        var removed = store.EraseMatching("acme", Pseudonym);

        Assert.Equal(4, removed.Spans);
        Assert.Equal(0, removed.Unreadable);
        Assert.NotNull(await store.FindTraceAsync("acme", Spans.Trace(4), null, null, default));
        foreach (var t in new[] { 1, 2, 3, 5 })
        {
            Assert.Null(await store.FindTraceAsync("acme", Spans.Trace(t), null, null, default));
        }
    }

    [Fact]
    public void EnforceRetention_SegmentLeftOnDiskByAnEarlierRun_IsDeletedByTheNext()
    {
        var options = new StoreOptions { Retention = TimeSpan.FromDays(1), SegmentMaxAge = TimeSpan.FromHours(1) };
        using var store = TraceStore.Open(_dir.Path, _kek, options, _time);
        store.Append("acme", Spans.Request("svc", Spans.Span(1, 1)));
        _time.Advance(TimeSpan.FromHours(2));
        store.Append("acme", Spans.Request("svc", Spans.Span(2, 2)));
        var old = SegmentFiles.Paths(_dir.Path, "acme")[0];
        var bytes = File.ReadAllBytes(old);
        _time.Advance(TimeSpan.FromHours(23));
        Assert.Equal(new RemovalReport(1, 1, 1), store.EnforceRetention());

        // The removal was committed but the file survived (a crash, or a delete that failed): nothing is live in it.
        File.WriteAllBytes(old, bytes);
        Assert.Equal(new RemovalReport(0, 0, 1), store.EnforceRetention());

        Assert.False(File.Exists(old));
        Assert.Single(SegmentFiles.Paths(_dir.Path, "acme"));
        Assert.Equal(new RemovalReport(0, 0, 0), store.EnforceRetention());
        Assert.True(store.Verify("acme").IsIntact);
    }

    [Fact]
    public async Task EraseMatching_SeveralNeedles_OnePassRewritesEachBlockOnce()
    {
        using var store = TraceStore.Open(_dir.Path, _kek);
        store.Append("acme", Spans.Request("checkout",
            Spans.Span(1, 1, attributes: [new("enduser.id", AnyValue.Of("psn_one"))]),
            Spans.Span(2, 2, attributes: [new("user.email", AnyValue.Of("psn_two"))]),
            Spans.Span(3, 3)));

        Assert.Equal(new RemovalReport(0, 0, 0), store.EraseMatching("acme"));
        Assert.Throws<ArgumentException>(() => store.EraseMatching("acme", "psn_one", string.Empty));
        Assert.Equal(new RemovalReport(1, 2, 0), store.EraseMatching("acme", "psn_one", "psn_two", "psn_one"));

        Assert.NotNull(await store.FindTraceAsync("acme", Spans.Trace(3), null, null, default));
        Assert.Null(await store.FindTraceAsync("acme", Spans.Trace(1), null, null, default));
        Assert.Null(await store.FindTraceAsync("acme", Spans.Trace(2), null, null, default));
    }
}
