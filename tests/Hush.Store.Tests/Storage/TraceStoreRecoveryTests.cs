using System.Buffers.Binary;
using Hush.Store.Storage;

namespace Hush.Store.Tests.Storage;

public sealed class TraceStoreRecoveryTests : IDisposable
{
    private readonly TempDirectory _dir = new();
    private readonly KeyMaterial _kek = TestData.Kek();

    public void Dispose()
    {
        _kek.Dispose();
        _dir.Dispose();
    }

    public static TheoryData<string> TornTails => ["garbage", "half-frame", "length-only", "two-bytes"];

    [Theory]
    [MemberData(nameof(TornTails))]
    public async Task Open_TornTailOnLastSegment_CutsItAndKeepsEveryEarlierSpan(string tail)
    {
        using (var store = TraceStore.Open(_dir.Path, _kek))
        {
            for (var t = 1; t <= 4; t++)
            {
                store.Append("acme", Spans.Request("checkout", Spans.Span(t, t), Spans.Span(t, t + 100)));
            }
        }

        var path = Assert.Single(SegmentFiles.Paths(_dir.Path, "acme"));
        var length = new FileInfo(path).Length;
        var lastBlock = SegmentFiles.Read(path).Blocks[^1];
        using (var file = new FileStream(path, FileMode.Append))
        {
            var frameLength = new byte[4];
            BinaryPrimitives.WriteUInt32BigEndian(frameLength, (uint)lastBlock.Length);
            switch (tail)
            {
                case "garbage":
                    file.Write([0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5, 6, 7]);
                    break;
                case "half-frame":
                    // A crash in the middle of writing the next block.
                    file.Write(frameLength);
                    file.Write(lastBlock.AsSpan(0, lastBlock.Length / 2));
                    break;
                case "length-only":
                    file.Write(frameLength);
                    break;
                default:
                    file.Write(frameLength.AsSpan(0, 2));
                    break;
            }
        }

        using (var reopened = TraceStore.Open(_dir.Path, _kek))
        {
            Assert.Equal(length, new FileInfo(path).Length);
            for (var t = 1; t <= 4; t++)
            {
                var trace = await reopened.FindTraceAsync("acme", Spans.Trace(t), null, null, default);
                Assert.Equal(2, Spans.All(trace!).Count());
            }

            // Writing goes on (in a new segment) and the chain is intact.
            reopened.Append("acme", Spans.Request("checkout", Spans.Span(9, 9)));
            Assert.True(reopened.Verify("acme").IsIntact);
        }

        using (var again = TraceStore.Open(_dir.Path, _kek))
        {
            Assert.Equal((5L, 9L), again.Totals("acme"));
            Assert.NotNull(await again.FindTraceAsync("acme", Spans.Trace(9), null, null, default));
            Assert.True(again.Verify("acme").IsIntact);
        }
    }

    /// <summary>
    /// A crash after a segment was fsynced but before the index committed. Simulated honestly with two copies of the
    /// directory: the copy's index knows the state before the second write; the second write's segment bytes (made by
    /// the real store) are then put in the copy, exactly what the disk would hold after such a crash.
    /// </summary>
    [Fact]
    public async Task Open_SegmentWrittenButNotIndexed_IndexesItsBlocks()
    {
        var copy = Path.Combine(_dir.Path, "copy");
        var original = Path.Combine(_dir.Path, "original");
        using (var store = TraceStore.Open(original, _kek))
        {
            store.Append("acme", Spans.Request("checkout", Spans.Span(1, 1)));
        }

        CopyDirectory(original, copy);
        using (var store = TraceStore.Open(original, _kek))
        {
            store.Append("acme", Spans.Request("checkout", Spans.Span(2, 2)));
            store.Append("acme", Spans.Request("checkout", Spans.Span(3, 3), Spans.Span(1, 4)));
        }

        var segments = SegmentFiles.Paths(original, "acme");
        Assert.Equal(2, segments.Length);
        File.Copy(segments[1], Path.Combine(SegmentFiles.TenantDirectory(copy, "acme"), Path.GetFileName(segments[1])));

        using (var recovered = TraceStore.Open(copy, _kek))
        {
            Assert.Equal((3L, 4L), recovered.Totals("acme"));
            Assert.NotNull(await recovered.FindTraceAsync("acme", Spans.Trace(2), null, null, default));
            Assert.Equal(2, Spans.All((await recovered.FindTraceAsync("acme", Spans.Trace(1), null, null, default))!).Count());
            Assert.True(recovered.Verify("acme").IsIntact);
        }
    }

    /// <summary>The same crash, with the unindexed block at the end of the segment that holds indexed ones.</summary>
    [Fact]
    public async Task Open_BlockAppendedToAnIndexedSegmentButNotIndexed_IndexesIt()
    {
        var copy = Path.Combine(_dir.Path, "copy");
        var original = Path.Combine(_dir.Path, "original");
        using (var store = TraceStore.Open(original, _kek))
        {
            store.Append("acme", Spans.Request("checkout", Spans.Span(1, 1)));

            // Committed and fsynced: a copy now is what a crash right here leaves.
            CopyDirectory(original, copy);
            store.Append("acme", Spans.Request("checkout", Spans.Span(2, 2)));
        }

        var segment = Assert.Single(SegmentFiles.Paths(original, "acme"));
        Assert.Equal(2, SegmentFiles.Read(segment).Blocks.Count);
        File.Copy(segment, Path.Combine(SegmentFiles.TenantDirectory(copy, "acme"), Path.GetFileName(segment)), overwrite: true);

        using var recovered = TraceStore.Open(copy, _kek);
        Assert.Equal((2L, 2L), recovered.Totals("acme"));
        Assert.NotNull(await recovered.FindTraceAsync("acme", Spans.Trace(2), null, null, default));
        Assert.True(recovered.Verify("acme").IsIntact);
    }

    private static void CopyDirectory(string from, string to)
    {
        foreach (var file in Directory.GetFiles(from, "*", SearchOption.AllDirectories))
        {
            if (file.EndsWith("-shm", StringComparison.Ordinal))
            {
                continue;
            }

            var target = Path.Combine(to, Path.GetRelativePath(from, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            using var source = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            using var destination = File.Create(target);
            source.CopyTo(destination);
        }
    }
}
