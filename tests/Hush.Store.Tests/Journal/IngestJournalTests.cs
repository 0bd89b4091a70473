using Hush.Otlp;
using Hush.Pipeline;
using Hush.Store.Journal;
using Hush.Store.Tests.Storage;

namespace Hush.Store.Tests.Journal;

public sealed class IngestJournalTests : IDisposable
{
    private readonly TempDirectory _dir = new();
    private readonly KeyMaterial _kek = TestData.Kek();

    public void Dispose()
    {
        _kek.Dispose();
        _dir.Dispose();
    }

    private string JournalDirectory => Path.Combine(_dir.Path, IngestJournal.DirectoryName);

    private string[] JournalFiles => Directory.Exists(JournalDirectory) ? [.. Directory.GetFiles(JournalDirectory, "*.wal").Order(StringComparer.Ordinal)] : [];

    private static TraceRequest Record(int n, string service = "checkout")
        => Spans.Request(service, Spans.Span(n, n, $"op-{n}", (ulong)n, attributes: new KeyValue("n", AnyValue.Of((long)n))), Spans.Span(n, n + 1000, "child"));

    private async Task AppendAsync(int count, Func<int, string> tenant, int from = 1)
    {
        using var keys = KeyRing.Open(_dir.Path, _kek);
        await using var journal = IngestJournal.Open(_dir.Path, keys);
        for (var i = from; i < from + count; i++)
        {
            _ = await journal.AppendAsync(tenant(i), Record(i), default);
        }
    }

    [Fact]
    public async Task Recover_RecordsNotReleased_YieldsEachWithTheSameSpans()
    {
        await AppendAsync(25, i => i % 2 == 0 ? "acme" : "beta");
        Assert.NotEmpty(JournalFiles);

        using var keys = KeyRing.Open(_dir.Path, _kek);
        await using var journal = IngestJournal.Open(_dir.Path, keys);
        Assert.Equal(25, journal.RecoveredCount);
        var recovered = journal.Recover().ToList();

        Assert.Equal(25, recovered.Count);
        for (var i = 0; i < recovered.Count; i++)
        {
            var n = i + 1;
            Assert.Equal(n % 2 == 0 ? "acme" : "beta", recovered[i].Tenant);
            Assert.Equal(OtlpProtobuf.Encode(Record(n)), OtlpProtobuf.Encode(recovered[i].Traces));
        }
    }

    [Fact]
    public async Task Recover_AllReleased_DeletesTheFiles()
    {
        await AppendAsync(10, _ => "acme");
        using var keys = KeyRing.Open(_dir.Path, _kek);
        await using (var journal = IngestJournal.Open(_dir.Path, keys))
        {
            var recovered = journal.Recover().ToList();
            Assert.Equal(10, recovered.Count);
            Assert.NotEmpty(JournalFiles);
            foreach (var record in recovered.Take(9))
            {
                record.Receipt.Release();
            }

            Assert.NotEmpty(JournalFiles);
            recovered[^1].Receipt.Release();
            recovered[^1].Receipt.Release();
            Assert.Empty(JournalFiles);
        }

        await using var again = IngestJournal.Open(_dir.Path, keys);
        Assert.Equal(0, again.RecoveredCount);
    }

    [Fact]
    public async Task Append_ReleasedThenDisposed_LeavesNoFile()
    {
        using var keys = KeyRing.Open(_dir.Path, _kek);
        await using (var journal = IngestJournal.Open(_dir.Path, keys))
        {
            var receipts = await Task.WhenAll(Enumerable.Range(1, 50).Select(i => journal.AppendAsync("acme", Record(i), default).AsTask()));
            Assert.NotEmpty(JournalFiles);
            foreach (var receipt in receipts)
            {
                receipt.Release();
            }
        }

        Assert.Empty(JournalFiles);
        await using var reopened = IngestJournal.Open(_dir.Path, keys);
        Assert.Empty(reopened.Recover());
    }

    [Fact]
    public async Task Dispose_OneRecordOfAFileNotReleased_KeepsTheFileForTheNextStart()
    {
        using var keys = KeyRing.Open(_dir.Path, _kek);
        await using (var journal = IngestJournal.Open(_dir.Path, keys))
        {
            _ = await journal.AppendAsync("acme", Record(1), default);
            (await journal.AppendAsync("acme", Record(2), default)).Release();
        }

        await using var reopened = IngestJournal.Open(_dir.Path, keys);
        var recovered = reopened.Recover().ToList();

        // Released records are not forgotten one by one: a file goes once every receipt of it is released.
        Assert.Contains(recovered, r => Spans.All(r.Traces).Any(s => s.SpanId == Spans.Id(1)));
    }

    public static TheoryData<string> TornTails => ["garbage", "truncated-mid-record", "truncated-in-length", "zeros"];

    [Theory]
    [MemberData(nameof(TornTails))]
    public async Task Open_TornTail_KeepsTheWholeRecordsBeforeIt(string tail)
    {
        await AppendAsync(6, _ => "acme");
        var path = Assert.Single(JournalFiles);
        var length = new FileInfo(path).Length;
        using (var file = new FileStream(path, FileMode.Open, FileAccess.Write))
        {
            switch (tail)
            {
                case "garbage":
                    file.Position = length;
                    file.Write([0, 0, 0, 40, 9, 9, 9, 9, 9, 9, 9, 9, 0, 4, 0x61, 0x63, 0x6d, 0x65, 1, 2, 3]);
                    break;
                case "truncated-mid-record":
                    file.SetLength(length - 25);
                    break;
                case "truncated-in-length":
                    file.Position = length;
                    file.Write([0, 0]);
                    break;
                default:
                    file.Position = length;
                    file.Write(new byte[300]);
                    break;
            }
        }

        using var keys = KeyRing.Open(_dir.Path, _kek);
        await using var journal = IngestJournal.Open(_dir.Path, keys);
        var recovered = journal.Recover().ToList();
        var expected = tail == "truncated-mid-record" ? 5 : 6;
        Assert.Equal(Enumerable.Range(1, expected).Select(n => Spans.Id(n)), recovered.Select(r => Spans.All(r.Traces).First().SpanId));
        Assert.True(new FileInfo(path).Length <= length);

        // New records go on after the cut.
        var receipt = await journal.AppendAsync("acme", Record(99), default);
        receipt.Release();
    }

    [Fact]
    public async Task Open_CorruptRecordInTheMiddle_KeepsTheRecordsBeforeIt()
    {
        await AppendAsync(4, _ => "acme");
        var path = Assert.Single(JournalFiles);
        var bytes = File.ReadAllBytes(path);
        bytes[^60] ^= 0x01;
        File.WriteAllBytes(path, bytes);

        using var keys = KeyRing.Open(_dir.Path, _kek);
        await using var journal = IngestJournal.Open(_dir.Path, keys);
        Assert.Equal(3, journal.Recover().Count());
    }

    [Fact]
    public async Task Open_RecordsOfATenantWhoseKeysWereDestroyed_AreSkippedAndLaterRecordsKept()
    {
        await AppendAsync(12, i => i % 3 == 0 ? "gone" : "acme");
        using (var keys = KeyRing.Open(_dir.Path, _kek))
        {
            Assert.True(keys.Destroy("gone") > 0);
        }

        using var reopened = KeyRing.Open(_dir.Path, _kek);
        await using var journal = IngestJournal.Open(_dir.Path, reopened);
        var recovered = journal.Recover().ToList();
        Assert.All(recovered, r => Assert.Equal("acme", r.Tenant));
        Assert.Equal([1, 2, 4, 5, 7, 8, 10, 11], recovered.Select(r => (int)Spans.All(r.Traces).First().SpanId.Value));
        foreach (var record in recovered)
        {
            record.Receipt.Release();
        }

        Assert.Empty(JournalFiles);
    }

    [Fact]
    public async Task Open_SeveralFilesLeftOver_RecoversThemInOrderAndNumbersNewFilesAfterThem()
    {
        await AppendAsync(3, _ => "acme");
        await AppendAsync(3, _ => "acme", from: 4);
        Assert.Equal(2, JournalFiles.Length);

        using var keys = KeyRing.Open(_dir.Path, _kek);
        await using var journal = IngestJournal.Open(_dir.Path, keys);
        var receipt = await journal.AppendAsync("acme", Record(7), default);
        Assert.Equal(3, JournalFiles.Length);
        Assert.Equal([1, 2, 3, 4, 5, 6], journal.Recover().Select(r => (int)Spans.All(r.Traces).First().SpanId.Value));
        receipt.Release();
    }

    [Fact]
    public async Task Open_GarbageFiles_AreIgnoredOrDropped()
    {
        Directory.CreateDirectory(JournalDirectory);
        var random = new Random(5);
        var garbage = new byte[3000];
        random.NextBytes(garbage);
        File.WriteAllBytes(Path.Combine(JournalDirectory, "0000000000000001.wal"), garbage);
        File.WriteAllBytes(Path.Combine(JournalDirectory, "0000000000000002.wal"), [.. "HUSHWAL1"u8, 0, 0, 0, 0, 0, 0, 0, 2, .. garbage]);
        File.WriteAllBytes(Path.Combine(JournalDirectory, "notes.wal"), garbage);

        using var keys = KeyRing.Open(_dir.Path, _kek);
        await using var journal = IngestJournal.Open(_dir.Path, keys);
        Assert.Empty(journal.Recover());
        (await journal.AppendAsync("acme", Record(1), default)).Release();
    }

    [Fact]
    public async Task Append_JournalOverItsLimit_RefusesWithJournalUnavailable()
    {
        using var keys = KeyRing.Open(_dir.Path, _kek);
        await using var journal = IngestJournal.Open(_dir.Path, keys, new JournalOptions(MaxTotalBytes: 2000));
        var receipts = new List<IJournalReceipt>();
        var refused = await Assert.ThrowsAsync<JournalUnavailableException>(async () =>
        {
            for (var i = 1; i < 100; i++)
            {
                receipts.Add(await journal.AppendAsync("acme", Record(i), default));
            }
        });
        Assert.NotEmpty(receipts);
        Assert.DoesNotContain("op-", refused.Message, StringComparison.Ordinal);
    }
}
