using Hush.Otlp;
using Hush.Pipeline;
using Hush.Store.Journal;
using Hush.Store.Storage;

namespace Hush.Store.Tests.Storage;

/// <summary>
/// A full disk part way through a write (the store's <see cref="Implementation.WriteFaults"/> seam: half the bytes
/// land, then <c>ENOSPC</c>): nothing of the failed write is acknowledged, indexed or chained, everything accepted
/// before stays, and writing works again once there is room.
/// </summary>
public sealed class DiskFullTests : IDisposable
{
    private readonly TempDirectory _dir = new();
    private readonly KeyMaterial _kek = TestData.Kek();

    public void Dispose()
    {
        _kek.Dispose();
        _dir.Dispose();
    }

    [Fact]
    public async Task Append_DiskFullMidBlock_ThrowsAndLeavesTheStoreAsBefore_ThenWritesAgain()
    {
        using (var store = TraceStore.Open(_dir.Path, _kek))
        {
            store.Append("acme", Spans.Request("checkout", Spans.Span(1, 1), Spans.Span(1, 2)));
            var segment = Assert.Single(SegmentFiles.Paths(_dir.Path, "acme"));
            var length = new FileInfo(segment).Length;
            var totals = store.Totals("acme");

            store.Faults.FailNext(1);
            var full = Assert.Throws<IOException>(() => store.Append("acme", Spans.Request("checkout", Spans.Span(2, 1))));

            Assert.Equal(28, full.HResult);
            Assert.Equal(length, new FileInfo(segment).Length);
            Assert.Equal(totals, store.Totals("acme"));
            Assert.Null(await store.FindTraceAsync("acme", Spans.Trace(2), null, null, CancellationToken.None));
            Assert.True(store.Verify("acme").IsIntact);

            store.Append("acme", Spans.Request("checkout", Spans.Span(3, 1)));
            Assert.NotNull(await store.FindTraceAsync("acme", Spans.Trace(3), null, null, CancellationToken.None));
        }

        using var reopened = TraceStore.Open(_dir.Path, _kek);
        Assert.True(reopened.Verify("acme").IsIntact);
        Assert.Equal(2, Spans.All((await reopened.FindTraceAsync("acme", Spans.Trace(1), null, null, CancellationToken.None))!).Count());
        Assert.Null(await reopened.FindTraceAsync("acme", Spans.Trace(2), null, null, CancellationToken.None));
        Assert.NotNull(await reopened.FindTraceAsync("acme", Spans.Trace(3), null, null, CancellationToken.None));
        Assert.Equal((2, 3), reopened.Totals("acme"));
    }

    [Fact]
    public async Task Journal_DiskFullMidRecord_RefusesThatRequestOnly_AndRecoversExactlyTheAcknowledgedOnes()
    {
        using (var keys = KeyRing.Open(_dir.Path, _kek))
        {
            await using var journal = IngestJournal.Open(_dir.Path, keys);
            _ = await journal.AppendAsync("acme", Spans.Request("checkout", Spans.Span(1, 1)), CancellationToken.None);

            journal.Faults.FailNext(1);
            var full = await Assert.ThrowsAsync<JournalUnavailableException>(async () => await journal.AppendAsync("acme", Spans.Request("checkout", Spans.Span(2, 1)), CancellationToken.None));
            Assert.DoesNotContain("checkout", full.Message, StringComparison.Ordinal);

            _ = await journal.AppendAsync("acme", Spans.Request("checkout", Spans.Span(3, 1)), CancellationToken.None);
        }

        using var again = KeyRing.Open(_dir.Path, _kek);
        await using var reopened = IngestJournal.Open(_dir.Path, again);
        var recovered = reopened.Recover().Select(r => (int)Spans.TraceIdOf(r.Traces).Low).ToList();

        Assert.Equal([1, 3], recovered);
    }
}
