using Hush.Otlp;
using Hush.Pipeline.Tests.Support;

namespace Hush.Pipeline.Tests.Exporters;

public sealed class SimpleExporterTests
{
    [Fact]
    public async Task NopExporter_Export_CountsSpans()
    {
        var metrics = new HushMetrics();
        await using var exporter = new NopExporter("nop", metrics);

        Assert.Equal(ExportOutcome.Success, await exporter.ExportAsync(new SpanBatch("t", TestData.Request(3), 3), CancellationToken.None));
        await exporter.ExportAsync(new SpanBatch("t", TestData.Request(2), 2), CancellationToken.None);

        Assert.Contains("hush_exporter_spans_sent_total{exporter=\"nop\"} 5", metrics.ToText());
    }

    [Fact]
    public async Task DebugExporter_Export_LogsCountsPerTenantAndServiceButNoValues()
    {
        var metrics = new HushMetrics();
        var logs = new CollectingLoggerFactory();
        await using var exporter = new DebugExporter("debug", logs, metrics);
        var traces = TestData.Request(3, service: "checkout");
        traces.ResourceSpans.AddRange(TestData.Request(2, service: "cart").ResourceSpans);
        traces.ResourceSpans.AddRange(TestData.Request(1, service: "checkout").ResourceSpans);
        traces.ResourceSpans.Add(new ResourceSpans { ScopeSpans = [new ScopeSpans { Spans = [new Span { Name = "no-service" }] }] });

        await exporter.ExportAsync(new SpanBatch("acme", traces, 7), CancellationToken.None);

        var line = Assert.Single(logs.Entries).Message;
        Assert.StartsWith("exporter debug: tenant acme: 7 spans in 4 resources; by service: (unknown)=1, cart=2, checkout=4", line, StringComparison.Ordinal);
        Assert.DoesNotContain(TestData.Secret, line, StringComparison.Ordinal);
        Assert.DoesNotContain("GET /users", line, StringComparison.Ordinal);
        Assert.DoesNotContain("no-service", line, StringComparison.Ordinal);
        Assert.Contains("hush_exporter_spans_sent_total{exporter=\"debug\"} 7", metrics.ToText());
    }

    [Fact]
    public void DebugExporter_ManyLongServiceNames_LineBounded()
    {
        var traces = new TraceRequest();
        for (var i = 0; i < 100; i++)
        {
            traces.ResourceSpans.AddRange(TestData.Request(1, service: new string('s', 500) + i).ResourceSpans);
        }

        var text = DebugExporter.DescribeServices(traces);

        Assert.True(text.Length < 20 * 80, $"length {text.Length}");
        Assert.EndsWith("and 80 more services", text, StringComparison.Ordinal);
    }

    [Fact]
    public void PassThroughPrivacyStage_Scrub_LeavesRequestUnchanged()
    {
        var request = TestData.Request(2);
        PassThroughPrivacyStage.Instance.Scrub(request, TestData.Context());
        Assert.Equal(TestData.Secret, TestData.Attribute(request.ResourceSpans[0].ScopeSpans[0].Spans[0], "user.email"));
        Assert.Same(PassThroughPrivacyStage.Instance, PassThroughPrivacyStage.Instance);
    }
}
