using System.Text.RegularExpressions;
using Hush.Otlp;
using Hush.Pipeline;
using Hush.Store.Storage;
using Microsoft.Extensions.Logging.Abstractions;

namespace Hush.Store.Tests.Storage;

/// <summary>
/// Issue 5 item 10: what the store exporter puts on <c>/metrics</c>: bytes, blocks and spans per tenant, append
/// latency, every signed removal by kind (retention, erasure) and unreadable blocks. Labels carry tenant names and
/// removal kinds only, never a value a span carried.
/// </summary>
public sealed class StoreExporterMetricsTests : IDisposable
{
    private const string Subject = "psn_PLANTED_subject";

    private readonly TempDirectory _dir = new();
    private readonly KeyMaterial _kek = TestData.Kek();
    private readonly ManualTimeProvider _time = new(DateTimeOffset.FromUnixTimeSeconds(1_700_000_000));

    public void Dispose()
    {
        _kek.Dispose();
        _dir.Dispose();
    }

    [Fact]
    public async Task Metrics_PerTenantTotals_AppendLatency_RemovalsByKind_UnreadableBlocks()
    {
        var options = new StoreOptions { Retention = TimeSpan.FromDays(1), SegmentMaxAge = TimeSpan.FromHours(1) };
        var metrics = new HushMetrics();
        await using var exporter = new StoreExporter("store", TraceStore.Open(_dir.Path, _kek, options, _time), null, metrics, NullLogger.Instance, _time);
        await ExportAsync(exporter, "acme", Spans.Span(1, 1), Spans.Span(1, 2));
        await ExportAsync(exporter, "acme", Spans.Span(2, 3, attributes: [new KeyValue("enduser.id", AnyValue.Of(Subject))]));
        await ExportAsync(exporter, "beta", Spans.Span(3, 4));

        var text = metrics.ToText();
        Assert.Equal(2, Value(text, "hush_store_tenant_blocks", "tenant=\"acme\""));
        Assert.Equal(3, Value(text, "hush_store_tenant_spans", "tenant=\"acme\""));
        Assert.Equal(1, Value(text, "hush_store_tenant_spans", "tenant=\"beta\""));
        Assert.InRange(Value(text, "hush_store_tenant_bytes", "tenant=\"acme\""), 100, 100_000);
        Assert.Equal(3, Value(text, "hush_store_append_duration_seconds_count", null));
        Assert.Equal(0, Value(text, "hush_store_unreadable_blocks_total", null));

        Assert.Equal(1, exporter.Store.EraseMatching("acme", Subject).Spans);
        _time.Advance(TimeSpan.FromDays(2));
        exporter.Store.Append("beta", Spans.Request("svc", Spans.Span(4, 5)));
        Assert.Equal(3, exporter.RunRetention()!.Spans);

        text = metrics.ToText();
        Assert.Equal(1, Value(text, "hush_store_removals_total", "tenant=\"acme\",kind=\"erasure\""));
        Assert.Equal(1, Value(text, "hush_store_removed_spans_total", "tenant=\"acme\",kind=\"erasure\""));
        Assert.Equal(2, Value(text, "hush_store_removed_spans_total", "tenant=\"acme\",kind=\"retention\""));
        Assert.Equal(1, Value(text, "hush_store_removed_spans_total", "tenant=\"beta\",kind=\"retention\""));
        Assert.Equal(1, Value(text, "hush_store_tenant_spans", "tenant=\"beta\""));
        Assert.DoesNotMatch(new Regex("^hush_store_tenant_spans\\{tenant=\"acme\"\\}", RegexOptions.Multiline), text);

        // A block that no longer decrypts: the read skips it and the counter says so.
        var segment = SegmentFiles.Paths(_dir.Path, "beta")[^1];
        var (header, blocks) = SegmentFiles.Read(segment);
        blocks[^1][^5] ^= 0x20;
        SegmentFiles.Write(segment, header, blocks);
        Assert.Null(await exporter.Store.FindTraceAsync("beta", Spans.Trace(4), null, null, default));
        text = metrics.ToText();
        Assert.Equal(1, Value(text, "hush_store_unreadable_blocks_total", null));
        Assert.DoesNotContain("PLANTED", text, StringComparison.Ordinal);
    }

    private static async Task ExportAsync(StoreExporter exporter, string tenant, params Span[] spans)
    {
        var batch = new SpanBatch(tenant, Spans.Request("checkout", spans), spans.Length);
        Assert.Equal(ExportOutcome.Success, await exporter.ExportAsync(batch, CancellationToken.None));
    }

    /// <summary>The value of <paramref name="name"/> with exactly these labels (null: none) in the exposition text.</summary>
    private static double Value(string text, string name, string? labels)
    {
        var series = labels is null ? name : $"{name}{{{labels}}}";
        var match = Regex.Match(text, "^" + Regex.Escape(series) + " (\\S+)$", RegexOptions.Multiline);
        Assert.True(match.Success, $"no series {series} in:\n{text}");
        return double.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
    }
}
