using Hush.Otlp;
using Hush.Store.Journal;
using Hush.Store.Reading;
using Hush.Store.Storage;

namespace Hush.Store.Tests.Storage;

/// <summary>Whoever copies the data directory without the KEK learns no service name, span name or attribute value.</summary>
public sealed class StolenDirectoryTests : IDisposable
{
    private static readonly string[] Planted =
    [
        "svc-zebra-7731",
        "span-quokka-4410",
        "value-narwhal-9921",
        "key-okapi-5157",
        "event-axolotl-2286",
        "resource-tapir-6043",
    ];

    private readonly TempDirectory _dir = new();
    private readonly KeyMaterial _kek = TestData.Kek();

    public void Dispose()
    {
        _kek.Dispose();
        _dir.Dispose();
    }

    [Fact]
    public async Task DataDirectory_WhileOpenAndAfterDispose_HoldsNoPlantedString()
    {
        var store = TraceStore.Open(_dir.Path, _kek, new StoreOptions { BlockMaxSpans = 8 });
        var journal = IngestJournal.Open(_dir.Path, store.Keys);
        try
        {
            for (var batch = 0; batch < 5; batch++)
            {
                var request = PlantedRequest(batch);
                store.Append("acme", request);

                // Held in the journal, never released: the journal file stays on disk.
                await journal.AppendAsync("acme", PlantedRequest(batch + 100), default);
            }

            // Reads, hinted scans (the hint values must not be persisted either), an erasure and a retention run write
            // to the index and its WAL too.
            Assert.NotNull(await store.FindTraceAsync("acme", Spans.Trace(1), null, null, default));
            var hints = new TermHint[] { new(TermKind.ServiceName, string.Empty, Planted[0]), new(TermKind.SpanName, string.Empty, Planted[1] + "-0"), new(TermKind.Attribute, Planted[3], Planted[2] + "-0") };
            Assert.NotEmpty(await Spans.CollectAsync(store.ScanAsync("acme", new TraceScan { Hints = hints }, default)));
            store.EraseMatching("acme", Planted[2] + "-3");
            store.EnforceRetention();

            // Open: the index's WAL is not checkpointed yet, the journal file is open.
            Assert.True(File.Exists(Path.Combine(_dir.Path, "index.db-wal")));
            AssertNothingPlanted();
        }
        finally
        {
            await journal.DisposeAsync();
            store.Dispose();
        }

        Assert.NotEmpty(Directory.GetFiles(Path.Combine(_dir.Path, IngestJournal.DirectoryName)));
        AssertNothingPlanted();
    }

    private static TraceRequest PlantedRequest(int batch)
    {
        var spans = Enumerable.Range(0, 10).Select(i =>
        {
            var span = Spans.Span(i + 1, (batch * 100) + i + 1, $"{Planted[1]}-{i}", (ulong)i, attributes: [new KeyValue(Planted[3], AnyValue.Of($"{Planted[2]}-{i}")), new KeyValue("url.full", AnyValue.Of($"https://shop.example.com/{Planted[2]}?q={Planted[0]}"))]);
            span.Events.Add(new SpanEvent { Name = Planted[4], Attributes = [new KeyValue("e", AnyValue.Of(Planted[4]))] });
            span.Status = new SpanStatus { Message = Planted[1], Code = StatusCode.Error };
            return span;
        });
        return Spans.Request([new KeyValue("service.name", AnyValue.Of(Planted[0])), new KeyValue("host.name", AnyValue.Of(Planted[5]))], spans);
    }

    private void AssertNothingPlanted()
    {
        var files = Directory.GetFiles(_dir.Path, "*", SearchOption.AllDirectories);
        Assert.Contains(files, f => f.EndsWith(".seg", StringComparison.Ordinal));
        Assert.Contains(files, f => f.EndsWith(".wal", StringComparison.Ordinal));
        Assert.Contains(files, f => f.EndsWith("index.db", StringComparison.Ordinal));
        Assert.Contains(files, f => f.EndsWith("keyring.bin", StringComparison.Ordinal));
        PlantedScan.AssertNoneIn(_dir.Path, Planted);

        // Nor the trace ids: the index holds keyed tokens of them (an AES block under the tenant's trace key), not the ids.
        PlantedScan.AssertNoBytesIn(_dir.Path, Enumerable.Range(1, 10).Select(t => (Spans.Trace(t).ToBytes(), $"trace id {t}")));
    }
}
