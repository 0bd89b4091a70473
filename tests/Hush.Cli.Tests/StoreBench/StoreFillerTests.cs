using Hush.Cli.Loadgen;
using Hush.Cli.StoreBench;
using Hush.Otlp;
using Hush.Store;
using Hush.Store.Storage;

namespace Hush.Cli.Tests.StoreBench;

public sealed class StoreFillerTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "hush-fill-" + Guid.NewGuid().ToString("N")[..12]);
    private readonly KeyMaterial _kek = KeyMaterial.Copy(new byte[KeyMaterial.KeyBytes]);

    public void Dispose()
    {
        _kek.Dispose();
        if (Directory.Exists(_directory))
        {
            Directory.Delete(_directory, recursive: true);
        }
    }

    [Fact]
    public async Task Fill_TwoThreads_WritesExactlyTheSpansAndSampledIdsAreFound()
    {
        using var store = TraceStore.Open(_directory, _kek);
        var options = new StoreFillOptions { Tenant = "acme", Spans = 5_000, Batch = 700, Threads = 2, SampleIds = 200, Window = TimeSpan.FromHours(1) };

        var report = StoreFiller.Fill(store, options, TextWriter.Null, default);

        Assert.Equal(5_000, report.Spans);
        Assert.Equal(5_000, store.Totals("acme").Spans);
        Assert.Equal(200, report.SampledIds.Count);
        var path = Path.Combine(_directory, "ids.txt");
        StoreFiller.WriteIds(path, report.SampledIds);
        var ids = StoreReadBench.ReadIds(path, out var errors);
        Assert.Empty(errors);
        Assert.Equal(report.SampledIds, ids);

        var read = await StoreReadBench.RunAsync(store, "acme", ids, calls: 50, warmup: 5, seed: 1, default);
        Assert.Equal(0, read.Missing);
        Assert.Equal(50, read.Known.Count);
        Assert.Equal(50, read.Unknown.Count);
        Assert.True(read.SpansRead >= 50 * SpanMixGenerator.MinTraceSpans / 2);
    }

    [Fact]
    public async Task Fill_SpansSpreadOverTheWindow_NoPlantedValueStored()
    {
        using var store = TraceStore.Open(_directory, _kek);
        var report = StoreFiller.Fill(store, new StoreFillOptions { Tenant = "acme", Spans = 3_000, Batch = 500, Window = TimeSpan.FromHours(2) }, TextWriter.Null, default);

        var starts = new List<ulong>();
        await foreach (var trace in store.ScanAsync("acme", new Hush.Store.Reading.TraceScan(), default))
        {
            foreach (var span in trace.ResourceSpans.SelectMany(rs => rs.ScopeSpans).SelectMany(ss => ss.Spans))
            {
                starts.Add(span.StartTimeUnixNano);
                var text = span.Name + string.Join(',', span.Attributes.Select(a => a.Value.StringValue));
                Assert.DoesNotContain(SpanMixGenerator.PlantedValues, text.Contains);
            }
        }

        Assert.Equal(3_000, starts.Count);
        var from = (ulong)report.From.ToUnixTimeMilliseconds() * 1_000_000UL;
        Assert.True(starts.Min() >= from - 1_000_000_000UL);
        Assert.True(starts.Max() - starts.Min() > (ulong)TimeSpan.FromHours(1).Ticks * 100);
    }

    [Fact]
    public void ReadIds_GarbageLines_NamedByLineNeverEchoed()
    {
        Directory.CreateDirectory(_directory);
        var path = Path.Combine(_directory, "ids.txt");
        File.WriteAllLines(path, ["# sampled", new TraceId(1, 2).ToString(), "not-an-id-secret", string.Empty, "00000000000000000000000000000000"]);

        var ids = StoreReadBench.ReadIds(path, out var errors);

        Assert.Equal([new TraceId(1, 2)], ids);
        Assert.Equal(["line 3 is not a trace id (32 hex digits)", "line 5 is not a trace id (32 hex digits)"], errors);
    }

    [Fact]
    public void Validate_BadOptions_ReportsEveryError()
    {
        var errors = new StoreFillOptions { Tenant = " ", Spans = 0, Batch = 0, Services = 0, Threads = 0, Window = TimeSpan.Zero, SampleIds = -1 }.Validate().ToList();

        Assert.Equal(7, errors.Count);
    }
}
