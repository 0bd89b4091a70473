namespace Hush.Pipeline.Tests.Metrics;

public sealed class HushMetricsTests
{
    private static HushMetrics Sample()
    {
        var metrics = new HushMetrics();
        var refused = metrics.Counter("hush_pipeline_spans_refused_total", "Spans refused.", "pipeline", "reason");
        refused.WithLabels("traces", "queue_full").Add(3);
        refused.WithLabels("traces", "not_running").Add(1);
        metrics.Counter("hush_up_total", "Unlabelled counter.");
        metrics.Counter("hush_escape_total", "Help with \\ backslash\nand newline.", "value").WithLabels("quote\" back\\ nl\n").Add(2);
        metrics.Gauge("hush_pipeline_queue_spans", "Queued spans.", ["pipeline"], () => [new(["traces"], 42)]);
        metrics.Gauge("hush_pipeline_queue_spans", "Queued spans.", ["pipeline"], () => [new(["audit"], 0.5)]);
        metrics.Gauge("hush_ratio", "An unlabelled gauge.", () => double.PositiveInfinity);
        return metrics;
    }

    [Fact]
    public void ToText_SampleRegistry_MatchesGoldenFile()
    {
        var expected = File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "testdata", "metrics-golden.txt"));
        Assert.Equal(expected, Sample().ToText());
    }

    [Fact]
    public void WriteTo_Stream_WritesSameUtf8AsToText()
    {
        var metrics = Sample();
        using var stream = new MemoryStream();
        metrics.WriteTo(stream);
        Assert.Equal(metrics.ToText(), System.Text.Encoding.UTF8.GetString(stream.ToArray()));
    }

    [Fact]
    public void Counter_SameNameTwice_ReturnsSameFamilyAndCounter()
    {
        var metrics = new HushMetrics();
        var a = metrics.Counter("x_total", "help", "l");
        var b = metrics.Counter("x_total", "help", "l");
        Assert.Same(a, b);
        a.WithLabels("v").Add(2);
        b.WithLabels("v").Add();
        Assert.Same(a.WithLabels("v"), b.WithLabels("v"));
        Assert.Equal(3, b.WithLabels("v").Value);
    }

    [Fact]
    public void Counter_SameNameOtherLabels_Throws()
    {
        var metrics = new HushMetrics();
        metrics.Counter("x_total", "help", "a");
        Assert.Throws<ArgumentException>(() => metrics.Counter("x_total", "help", "b"));
        Assert.Throws<ArgumentException>(() => metrics.Gauge("x_total", "help", () => 1));
    }

    [Theory]
    [InlineData("")]
    [InlineData("1abc")]
    [InlineData("has space")]
    [InlineData("dash-name")]
    public void Counter_InvalidName_Throws(string name)
    {
        Assert.ThrowsAny<ArgumentException>(() => new HushMetrics().Counter(name, "help"));
    }

    [Fact]
    public void WithLabels_WrongNumberOfValues_Throws()
    {
        var family = new HushMetrics().Counter("x_total", "help", "a", "b");
        Assert.Throws<ArgumentException>(() => family.WithLabels("only-one"));
    }

    [Fact]
    public void Add_Negative_Throws()
    {
        var counter = new HushMetrics().Counter("x_total", "help").WithLabels();
        Assert.Throws<ArgumentOutOfRangeException>(() => counter.Add(-1));
    }

    [Fact]
    public async Task Add_ConcurrentFromManyThreads_NoLostIncrements()
    {
        var counter = new HushMetrics().Counter("x_total", "help", "a").WithLabels("v");
        await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => Task.Run(() =>
        {
            for (var i = 0; i < 10_000; i++)
            {
                counter.Add();
            }
        })));
        Assert.Equal(40_000, counter.Value);
    }

    [Fact]
    public void Gauge_ReaderThrows_OtherSeriesStillRendered()
    {
        var metrics = new HushMetrics();
        metrics.Gauge("g", "help", ["k"], () => throw new InvalidOperationException());
        metrics.Gauge("g", "help", ["k"], () => [new(["ok"], 1)]);
        Assert.Equal("# HELP g help\n# TYPE g gauge\ng{k=\"ok\"} 1\n", metrics.ToText());
    }

    [Fact]
    public void Gauge_UnlabelledRegisteredTwice_ReplacesReader()
    {
        var metrics = new HushMetrics();
        metrics.Gauge("g", "help", () => 1);
        metrics.Gauge("g", "help", () => 2);
        Assert.Equal("# HELP g help\n# TYPE g gauge\ng 2\n", metrics.ToText());
    }
}

public sealed class PipelineMetricsGoldenTests
{
    [Fact]
    public async Task ToText_PipelineAndExportersAfterTraffic_MatchesGoldenFile()
    {
        var metrics = new HushMetrics();
        var logs = new Support.CollectingLoggerFactory();
        var exporter = new OtlpHttpExporter(
            "otlphttp/tempo", new OtlpHttpExporterOptions { Endpoint = new Uri("http://127.0.0.1:9/") }, metrics, logs, TimeProvider.System);
        var pipeline = new TracePipeline(
            "traces",
            new PipelineOptions { BatchTimeout = TimeSpan.FromMilliseconds(5) },
            PassThroughPrivacyStage.Instance,
            [new Support.DelegateProcessor("filter/x", b => b)],
            [new NopExporter("nop", metrics)],
            metrics,
            logs,
            TimeProvider.System);
        pipeline.Submit(Support.TestData.Request(2), Support.TestData.Context());
        await pipeline.StartAsync(CancellationToken.None);
        pipeline.Submit(Support.TestData.Request(3), Support.TestData.Context());
        await pipeline.StopAsync(CancellationToken.None);
        await exporter.DisposeAsync();

        var expected = File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "testdata", "pipeline-metrics-golden.txt"));
        Assert.Equal(expected, metrics.ToText());
    }

    [Fact]
    public void Histogram_RendersCumulativeBucketsSumAndCount()
    {
        var metrics = new HushMetrics();
        var h = metrics.Histogram("hush_test_seconds", "A test histogram.", [0.01, 0.1, 1], "endpoint");
        var trace = h.WithLabels("trace");
        trace.Observe(0.005);
        trace.Observe(0.01);
        trace.Observe(0.5);
        trace.Observe(7);

        Assert.Equal(
            "# HELP hush_test_seconds A test histogram.\n# TYPE hush_test_seconds histogram\n"
            + "hush_test_seconds_bucket{endpoint=\"trace\",le=\"0.01\"} 2\n"
            + "hush_test_seconds_bucket{endpoint=\"trace\",le=\"0.1\"} 2\n"
            + "hush_test_seconds_bucket{endpoint=\"trace\",le=\"1\"} 3\n"
            + "hush_test_seconds_bucket{endpoint=\"trace\",le=\"+Inf\"} 4\n"
            + "hush_test_seconds_sum{endpoint=\"trace\"} 7.515\n"
            + "hush_test_seconds_count{endpoint=\"trace\"} 4\n",
            metrics.ToText());
        Assert.Same(h, metrics.Histogram("hush_test_seconds", "A test histogram.", [0.01, 0.1, 1], "endpoint"));
        Assert.Throws<ArgumentException>(() => metrics.Histogram("hush_test_seconds", "A test histogram.", [0.5], "endpoint"));
        Assert.Throws<ArgumentException>(() => metrics.Histogram("hush_other_seconds", "x", [1, 0.5]));
    }
    [Fact]
    public void OncePerScrape_FamiliesOfOneScrapeShareOneRead_AndTheNextScrapeReadsAfresh()
    {
        var metrics = new HushMetrics();
        var reads = 0;
        var value = 3.0;
        var totals = HushMetrics.OncePerScrape(() =>
        {
            reads++;
            return value;
        });
        metrics.Gauge("hush_a", "a", ["t"], () => [new KeyValuePair<string[], double>(["x"], totals())]);
        metrics.Gauge("hush_b", "b", ["t"], () => [new KeyValuePair<string[], double>(["x"], totals() * 2)]);

        Assert.Contains("hush_a{t=\"x\"} 3\n", metrics.ToText());
        Assert.Equal(1, reads);

        value = 5;
        var second = metrics.ToText();
        Assert.Equal(2, reads);
        Assert.Contains("hush_a{t=\"x\"} 5\n", second);
        Assert.Contains("hush_b{t=\"x\"} 10\n", second);

        // Outside a scrape nothing is shared.
        totals();
        totals();
        Assert.Equal(4, reads);
    }
}
