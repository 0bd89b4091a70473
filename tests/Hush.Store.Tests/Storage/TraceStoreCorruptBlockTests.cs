using Hush.Otlp;
using Hush.Store.Reading;
using Hush.Store.Storage;
using Microsoft.Extensions.Logging;

namespace Hush.Store.Tests.Storage;

/// <summary>
/// A block damaged on disk after it was written (bit rot, a bad copy, tampering), then read through the query API
/// (<see cref="Reading.ITraceReader"/>): the other traces are still served, the damaged block's spans are not, nothing
/// throws, an error line names the tenant and block (and no span content), and <see cref="TraceStore.Verify"/> names it too.
/// Blocks: 1 = trace 1 and span 41 of trace 4; 2 = trace 2 and span 42 of trace 4; 3 = trace 3.
/// </summary>
public sealed class TraceStoreCorruptBlockTests : IDisposable
{
    private const string SecretName = "charge card 4111111111111111";
    private const string SecretValue = "alice.liddell@example.com";
    private const int UnreadableEventId = 6015;

    private readonly TempDirectory _dir = new();
    private readonly KeyMaterial _kek = TestData.Kek();
    private readonly CapturingLogger _log = new();

    public TraceStoreCorruptBlockTests()
    {
        using var store = TraceStore.Open(_dir.Path, _kek);
        store.Append("acme", Spans.Request("checkout", Spans.Span(1, 11), Spans.Span(4, 41, startSeconds: 1)));
        store.Append("acme", Spans.Request("checkout", Spans.Span(2, 21, SecretName, attributes: new KeyValue("user.email", AnyValue.Of(SecretValue))), Spans.Span(4, 42, SecretName, startSeconds: 2)));
        store.Append("acme", Spans.Request("checkout", Spans.Span(3, 31, startSeconds: 3)));
    }

    public void Dispose()
    {
        _kek.Dispose();
        _dir.Dispose();
    }

    [Fact]
    public async Task FindTraceAsync_BlockModifiedOnDisk_OtherTracesServedDamagedOnesOnlyFromIntactBlocks()
    {
        CorruptBlock(index: 1);
        using var store = Open();

        Assert.Equal(string.Empty, await SpanIdsAsync(store, 2));
        Assert.Equal("11", await SpanIdsAsync(store, 1));
        Assert.Equal("31", await SpanIdsAsync(store, 3));

        // Trace 4 is partial: the span of the intact block, not the one of the damaged block.
        Assert.Equal("41", await SpanIdsAsync(store, 4));
        AssertUnreadableLogged(sequence: 2);
    }

    [Fact]
    public async Task ScanAsync_BlockModifiedOnDisk_ReturnsEveryOtherTraceWithoutThrowing()
    {
        CorruptBlock(index: 1);
        using var store = Open();

        var traces = await Spans.CollectAsync(store.ScanAsync("acme", new TraceScan(), default));

        // Newest first; trace 4 without its span of the damaged block, trace 2 not at all.
        Assert.Equal(["3:31", "4:41", "1:11"], traces.Select(t => $"{Spans.TraceIdOf(t).Low}:{SpanIds(t)}"));
        AssertUnreadableLogged(sequence: 2);
    }

    [Fact]
    public async Task Verify_AfterReadingAModifiedBlock_NamesThatBlock()
    {
        CorruptBlock(index: 1);
        using var store = Open();
        await Spans.CollectAsync(store.ScanAsync("acme", new TraceScan(), default));

        var report = store.Verify("acme");

        Assert.False(report.IsIntact);
        var finding = Assert.Single(report.Findings);
        Assert.Equal((ChainFindingKind.Modified, 2UL), (finding.Kind, finding.Sequence!.Value));
    }

    [Fact]
    public async Task FindTraceAsync_SegmentFileGone_LoggedAndOtherSegmentsServed()
    {
        // A second session writes a second segment; the first one is then deleted behind the store's back.
        using (var second = TraceStore.Open(_dir.Path, _kek))
        {
            second.Append("acme", Spans.Request("checkout", Spans.Span(5, 51, startSeconds: 5)));
        }

        using var store = Open();
        File.Delete(SegmentFiles.Paths(_dir.Path, "acme")[0]);

        Assert.Equal(string.Empty, await SpanIdsAsync(store, 1));
        Assert.Equal("51", await SpanIdsAsync(store, 5));
        var traces = await Spans.CollectAsync(store.ScanAsync("acme", new TraceScan(), default));
        Assert.Equal([5], traces.Select(t => (int)Spans.TraceIdOf(t).Low));
        // Every read of a block of the lost segment says so (the lookup, then the scan's), naming the error kind only.
        var lines = _log.Entries.Where(e => e.EventId == UnreadableEventId).Select(e => e.Text).ToList();
        Assert.Contains(lines, l => l.StartsWith("store: tenant acme: block 1 unreadable (FileNotFoundException)", StringComparison.Ordinal));
        Assert.All(lines, l => Assert.Contains("(FileNotFoundException); run 'hush store verify'", l, StringComparison.Ordinal));
        Assert.DoesNotContain(_dir.Path, _log.AllText, StringComparison.Ordinal);
    }

    private TraceStore Open() => TraceStore.Open(_dir.Path, _kek, logger: _log);

    private void CorruptBlock(int index)
    {
        var segment = Assert.Single(SegmentFiles.Paths(_dir.Path, "acme"));
        var (header, blocks) = SegmentFiles.Read(segment);
        blocks[index][^5] ^= 0x20;
        SegmentFiles.Write(segment, header, blocks);
    }

    private void AssertUnreadableLogged(ulong sequence)
    {
        var lines = _log.Entries.Where(e => e.EventId == UnreadableEventId).ToList();
        Assert.NotEmpty(lines);
        Assert.All(lines, line =>
        {
            Assert.True(line.Level >= LogLevel.Warning, line.Level.ToString());
            Assert.Contains($"tenant acme: block {sequence} unreadable", line.Text, StringComparison.Ordinal);
            Assert.Contains("hush store verify", line.Text, StringComparison.Ordinal);
        });

        foreach (var content in new[] { SecretName, SecretValue, "4111", "alice", "checkout" })
        {
            Assert.DoesNotContain(content, _log.AllText, StringComparison.Ordinal);
        }
    }

    private static async Task<string> SpanIdsAsync(TraceStore store, int trace) => SpanIds(await store.FindTraceAsync("acme", Spans.Trace(trace), null, null, default));

    private static string SpanIds(TraceRequest? trace) => trace is null ? string.Empty : string.Join(',', Spans.All(trace).Select(s => s.SpanId.Value).Order());
}
