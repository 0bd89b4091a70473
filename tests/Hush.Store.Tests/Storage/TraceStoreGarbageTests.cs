using System.Text;
using Hush.Store.Storage;

namespace Hush.Store.Tests.Storage;

/// <summary>Whatever lies in the data directory, Open either recovers or throws a clear exception; never a raw value in a message.</summary>
public sealed class TraceStoreGarbageTests : IDisposable
{
    private const string Planted = "svc-zebra-7731";

    private readonly TempDirectory _dir = new();
    private readonly KeyMaterial _kek = TestData.Kek();

    public void Dispose()
    {
        _kek.Dispose();
        _dir.Dispose();
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    public async Task Open_SegmentOfRandomBytes_OpensAndStaysUsable(int seed)
    {
        var random = new Random(seed);
        var directory = SegmentFiles.TenantDirectory(_dir.Path, "acme");
        Directory.CreateDirectory(directory);
        var garbage = new byte[random.Next(0, 5000)];
        random.NextBytes(garbage);
        if (seed % 2 == 0 && garbage.Length > 24)
        {
            // A valid segment header, then garbage frames.
            "HUSHSEG1"u8.CopyTo(garbage);
            Array.Clear(garbage, 8, 7);
            garbage[15] = 1;
        }

        File.WriteAllBytes(Path.Combine(directory, "0000000000000001.seg"), garbage);
        File.WriteAllBytes(Path.Combine(directory, "not-a-segment.seg"), garbage);

        using var store = TraceStore.Open(_dir.Path, _kek);
        Assert.Null(await store.FindTraceAsync("acme", Spans.Trace(1), null, null, default));
        store.Append("acme", Spans.Request("checkout", Spans.Span(1, 1)));
        Assert.NotNull(await store.FindTraceAsync("acme", Spans.Trace(1), null, null, default));
        _ = store.Verify("acme");
        _ = store.EnforceRetention();
    }

    [Fact]
    public async Task Open_LastSegmentHeaderCorrupted_KeepsItsIndexedBlocks()
    {
        using (var store = TraceStore.Open(_dir.Path, _kek))
        {
            store.Append("acme", Spans.Request("checkout", Spans.Span(1, 1)));
            store.Append("acme", Spans.Request("checkout", Spans.Span(2, 2)));
        }

        var path = Assert.Single(SegmentFiles.Paths(_dir.Path, "acme"));
        var length = new FileInfo(path).Length;
        using (var file = new FileStream(path, FileMode.Open, FileAccess.Write))
        {
            file.Write("XXXX"u8);
        }

        using var reopened = TraceStore.Open(_dir.Path, _kek);
        Assert.Equal(length, new FileInfo(path).Length);
        Assert.NotNull(await reopened.FindTraceAsync("acme", Spans.Trace(1), null, null, default));
        Assert.NotNull(await reopened.FindTraceAsync("acme", Spans.Trace(2), null, null, default));
    }

    [Theory]
    [InlineData("random")]
    [InlineData("text")]
    [InlineData("sqlite-header")]
    public void Open_IndexIsGarbage_ThrowsAClearErrorWithoutItsContent(string kind)
    {
        using (var store = TraceStore.Open(_dir.Path, _kek))
        {
            store.Append("acme", Spans.Request(Planted, Spans.Span(1, 1)));
        }

        var bytes = kind switch
        {
            "random" => RandomBytes(4096),
            "text" => Encoding.UTF8.GetBytes(string.Concat(Enumerable.Repeat(Planted + "\n", 300))),
            _ => [.. "SQLite format 3\0"u8, .. Encoding.UTF8.GetBytes(string.Concat(Enumerable.Repeat(Planted, 300)))],
        };
        File.WriteAllBytes(Path.Combine(_dir.Path, "index.db"), bytes);

        var error = Record.Exception(() => TraceStore.Open(_dir.Path, _kek).Dispose());
        Assert.NotNull(error);
        for (var e = error; e is not null; e = e.InnerException)
        {
            Assert.DoesNotContain(Planted, e.Message, StringComparison.Ordinal);
            Assert.DoesNotContain(Convert.ToHexString(Encoding.UTF8.GetBytes(Planted)), e.Message, StringComparison.OrdinalIgnoreCase);
        }

        Assert.Contains("index.db", error.Message + error.InnerException?.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Open_KeyRingIsGarbage_ThrowsKeyStoreException()
    {
        using (var store = TraceStore.Open(_dir.Path, _kek))
        {
            store.Append("acme", Spans.Request("checkout", Spans.Span(1, 1)));
        }

        File.WriteAllBytes(Path.Combine(_dir.Path, "keys", "keyring.bin"), RandomBytes(500));
        Assert.Throws<KeyStoreException>(() => TraceStore.Open(_dir.Path, _kek).Dispose());
    }

    [Fact]
    public void Open_WrongKek_ThrowsKeyStoreException()
    {
        using (var store = TraceStore.Open(_dir.Path, _kek))
        {
            store.Append("acme", Spans.Request("checkout", Spans.Span(1, 1)));
        }

        using var other = TestData.Kek(99);
        var error = Assert.Throws<KeyStoreException>(() => TraceStore.Open(_dir.Path, other).Dispose());
        Assert.Contains("different key-encryption key", error.Message, StringComparison.Ordinal);
    }

    private static byte[] RandomBytes(int length)
    {
        var bytes = new byte[length];
        new Random(length).NextBytes(bytes);
        return bytes;
    }
}
