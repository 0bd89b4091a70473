using System.Globalization;
using System.Text.RegularExpressions;
using Hush.Pipeline;
using Hush.Store.Storage;

namespace Hush.Store.Tests.Storage;

/// <summary>
/// The exporter's own retention job, driven by its timer on a fake clock (no sleeping): expired segments are deleted
/// at the first tick after they expire, the removal is recorded (Verify accounts for it), and the
/// <c>hush_store_retention_*</c> counters move. Retention here is one hour; ticks come every <see cref="StoreExporter.RetentionInterval"/>.
/// </summary>
public sealed class StoreExporterRetentionTests : IDisposable
{
    private static readonly TimeSpan Retention = TimeSpan.FromHours(1);

    private readonly TempDirectory _dir = new();
    private readonly KeyMaterial _kek = TestData.Kek();
    private readonly TimerClock _clock = new(TestData.Epoch);
    private readonly HushMetrics _metrics = new();
    private readonly CapturingLogger _log = new();

    public void Dispose()
    {
        _kek.Dispose();
        _dir.Dispose();
    }

    [Fact]
    public async Task Timer_SegmentPastRetention_DeletedAtTheNextTickAndRecorded()
    {
        await using (var exporter = Exporter())
        {
            exporter.Store.Append("acme", Spans.Request("checkout", Spans.Span(1, 11), Spans.Span(1, 12), Spans.Span(2, 21)));
            exporter.Store.Append("beta", Spans.Request("billing", Spans.Span(1, 11)));
            _clock.Advance(TimeSpan.FromMinutes(30));
            exporter.Store.Append("beta", Spans.Request("billing", Spans.Span(3, 31)));

            // At 60 minutes a block written at 0 is exactly as old as retention: kept until the tick after.
            _clock.Advance(TimeSpan.FromMinutes(30.5));
            Assert.Single(SegmentFiles.Paths(_dir.Path, "acme"));
            Assert.Equal(0, Counter("hush_store_retention_spans_removed_total"));

            _clock.Advance(TimeSpan.FromMinutes(1));

            Assert.Empty(SegmentFiles.Paths(_dir.Path, "acme"));
            Assert.Null(await exporter.Store.FindTraceAsync("acme", Spans.Trace(1), null, null, default));
            Assert.Equal(3, Counter("hush_store_retention_spans_removed_total"));
            Assert.Equal(0, Counter("hush_store_retention_failures_total"));

            // beta's one segment still holds a block inside retention, so the whole segment stays.
            Assert.NotNull(await exporter.Store.FindTraceAsync("beta", Spans.Trace(1), null, null, default));

            // Later, nothing is due; then beta's last block expires and its segment goes at that tick.
            _clock.Advance(TimeSpan.FromMinutes(28));
            Assert.Equal(3, Counter("hush_store_retention_spans_removed_total"));
            _clock.Advance(TimeSpan.FromMinutes(2));
            Assert.Empty(SegmentFiles.Paths(_dir.Path, "beta"));
            Assert.Equal(5, Counter("hush_store_retention_spans_removed_total"));
        }

        // Recorded: the signed removal records account for every deleted block.
        using var reopened = TraceStore.Open(_dir.Path, _kek, new StoreOptions { Retention = Retention }, _clock);
        foreach (var tenant in new[] { "acme", "beta" })
        {
            var report = reopened.Verify(tenant);
            Assert.True(report.IsIntact, $"{tenant}: {report.Findings.Count} findings, {report.UnaccountedRemovals} unaccounted removals");
            Assert.Equal((0L, 0L), reopened.Totals(tenant));
        }
    }

    [Fact]
    public async Task Timer_StartedWithExpiredData_RemovesItAtTheFirstTick()
    {
        using (var store = TraceStore.Open(_dir.Path, _kek, new StoreOptions { Retention = Retention }, _clock))
        {
            store.Append("acme", Spans.Request("checkout", Spans.Span(1, 11)));
        }

        _clock.Advance(TimeSpan.FromHours(2));
        await using var exporter = Exporter();
        Assert.Single(SegmentFiles.Paths(_dir.Path, "acme"));

        // The first tick is due at once (start), not one interval later.
        _clock.Advance(TimeSpan.Zero);

        Assert.Empty(SegmentFiles.Paths(_dir.Path, "acme"));
        Assert.Equal(1, Counter("hush_store_retention_spans_removed_total"));
    }

    [Fact]
    public async Task Timer_RunFails_CountedLoggedWithoutPathAndTheNextTickStillRuns()
    {
        await using var exporter = Exporter();
        exporter.Store.Append("acme", Spans.Request("checkout", Spans.Span(1, 11)));

        // The tenant's directory vanishes under the store: deleting the expired segment throws.
        var tenantDirectory = SegmentFiles.TenantDirectory(_dir.Path, "acme");
        Directory.Delete(tenantDirectory, recursive: true);
        _clock.Advance(Retention + TimeSpan.FromMinutes(1.5));

        Assert.Equal(1, Counter("hush_store_retention_failures_total"));
        var line = Assert.Single(_log.Entries, e => e.EventId == 6021);
        Assert.Contains("retention run failed (DirectoryNotFoundException)", line.Text, StringComparison.Ordinal);
        Assert.DoesNotContain(_dir.Path, _log.AllText, StringComparison.Ordinal);

        // The timer survives the failure: data written now expires and goes at a later tick.
        exporter.Store.Append("beta", Spans.Request("billing", Spans.Span(2, 21), Spans.Span(2, 22)));
        _clock.Advance(Retention + TimeSpan.FromMinutes(1));
        Assert.Empty(SegmentFiles.Paths(_dir.Path, "beta"));
        Assert.Equal(2, Counter("hush_store_retention_spans_removed_total"));
    }

    private StoreExporter Exporter()
        => new("store", TraceStore.Open(_dir.Path, _kek, new StoreOptions { Retention = Retention }, _clock), null, _metrics, _log, _clock);

    private long Counter(string name)
    {
        var match = Regex.Match(_metrics.ToText(), $"^{name}(?:{{}})? (\\d+)$", RegexOptions.Multiline);
        Assert.True(match.Success, name + " not exposed");
        return long.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture);
    }
}
