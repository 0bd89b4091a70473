using Hush.Otlp;
using Hush.Store.Storage;

namespace Hush.Store.Tests.Storage;

/// <summary>
/// Offline tampering with a closed store, then <see cref="TraceStore.Verify"/> after a normal <c>Open</c> (what
/// <c>hush verify</c> does). Tenant acme has segment 1 = blocks 1..3 and segment 2 = blocks 4..5; beta has 2 blocks.
/// </summary>
public sealed class TraceStoreTamperTests : IDisposable
{
    private readonly TempDirectory _dir = new();
    private readonly KeyMaterial _kek = TestData.Kek();

    public TraceStoreTamperTests()
    {
        for (var session = 0; session < 2; session++)
        {
            using var store = TraceStore.Open(_dir.Path, _kek);
            for (var i = 0; i < 3 - session; i++)
            {
                var n = (session * 10) + i + 1;
                store.Append("acme", Spans.Request("checkout", Spans.Span(n, n), Spans.Span(n, n + 100)));
                if (session == 0 && i < 2)
                {
                    store.Append("beta", Spans.Request("billing", Spans.Span(n, n + 500)));
                }
            }
        }

        Assert.Equal(2, SegmentFiles.Paths(_dir.Path, "acme").Length);
    }

    private string FirstSegment => SegmentFiles.Paths(_dir.Path, "acme")[0];

    private string LastSegment => SegmentFiles.Paths(_dir.Path, "acme")[^1];

    public void Dispose()
    {
        _kek.Dispose();
        _dir.Dispose();
    }

    [Fact]
    public void Verify_Untouched_IsIntact()
    {
        var report = Verify("acme");
        Assert.True(report.IsIntact);
        Assert.Equal(5, report.BlocksChecked);
        Assert.True(Verify("beta").IsIntact);
    }

    [Fact]
    public void Verify_ByteOfABlockChanged_ReportsModified()
    {
        var (header, blocks) = SegmentFiles.Read(FirstSegment);
        blocks[1][^5] ^= 0x20;
        SegmentFiles.Write(FirstSegment, header, blocks);

        var report = Verify("acme");
        Assert.Equal([(ChainFindingKind.Modified, 2UL)], Findings(report));
    }

    [Fact]
    public void Verify_ByteOfABlockInTheLastSegmentChanged_ReportsModified()
    {
        var (header, blocks) = SegmentFiles.Read(LastSegment);
        blocks[0][30] ^= 0x01;
        SegmentFiles.Write(LastSegment, header, blocks);

        Assert.Equal([(ChainFindingKind.Modified, 4UL)], Findings(Verify("acme")));
    }

    [Fact]
    public void Verify_TwoFramesSwapped_ReportsReordered()
    {
        var (header, blocks) = SegmentFiles.Read(FirstSegment);
        (blocks[0], blocks[1]) = (blocks[1], blocks[0]);
        SegmentFiles.Write(FirstSegment, header, blocks);

        var finding = Assert.Single(Verify("acme").Findings);
        Assert.Equal(ChainFindingKind.Reordered, finding.Kind);
        Assert.Contains(finding.Sequence, new ulong?[] { 1, 2 });
    }

    [Fact]
    public void Verify_FrameRemoved_ReportsRemoved()
    {
        var (header, blocks) = SegmentFiles.Read(FirstSegment);
        blocks.RemoveAt(1);
        SegmentFiles.Write(FirstSegment, header, blocks);

        var report = Verify("acme");
        Assert.Equal([(ChainFindingKind.Removed, 2UL)], Findings(report));
        Assert.Equal(4, report.BlocksChecked);
    }

    [Fact]
    public void Verify_WholeSegmentDeleted_ReportsItsBlocksRemoved()
    {
        File.Delete(FirstSegment);
        Assert.Equal([(ChainFindingKind.Removed, 1UL), (ChainFindingKind.Removed, 2UL), (ChainFindingKind.Removed, 3UL)], Findings(Verify("acme")));
    }

    [Fact]
    public void Verify_FrameOfTheSameTenantCopied_ReportsInjected()
    {
        var (header, blocks) = SegmentFiles.Read(FirstSegment);
        blocks.Insert(3, blocks[0]);
        SegmentFiles.Write(FirstSegment, header, blocks);

        Assert.Equal([(ChainFindingKind.Injected, 1UL)], Findings(Verify("acme")));
    }

    [Fact]
    public void Verify_FrameCopiedToTheEndOfTheLastSegment_ReportsInjected()
    {
        // Appended where a crash would leave a torn frame: recovery at Open must not silently cut a whole, authentic
        // block of another position (a crash cannot make one), or the injection would leave no trace.
        var (header, blocks) = SegmentFiles.Read(LastSegment);
        blocks.Add(SegmentFiles.Read(FirstSegment).Blocks[0]);
        SegmentFiles.Write(LastSegment, header, blocks);

        Assert.Equal([(ChainFindingKind.Injected, 1UL)], Findings(Verify("acme")));
    }

    [Fact]
    public void Verify_BlockOfAnotherStore_ReportsInjected()
    {
        byte[] foreign;
        using (var other = new TempDirectory())
        using (var otherKek = TestData.Kek(77))
        {
            using var store = TraceStore.Open(other.Path, otherKek);
            store.Append("acme", Spans.Request("checkout", Spans.Span(1, 1)));
            foreign = SegmentFiles.Read(SegmentFiles.Paths(other.Path, "acme")[0]).Blocks[0];
        }

        var (header, blocks) = SegmentFiles.Read(FirstSegment);
        blocks.Insert(1, foreign);
        SegmentFiles.Write(FirstSegment, header, blocks);

        Assert.Equal([(ChainFindingKind.Injected, 1UL)], Findings(Verify("acme")));
    }

    [Fact]
    public void Verify_BlockOfAnotherTenantCopiedIn_ReportsCrossTenantCopied()
    {
        var beta = SegmentFiles.Read(SegmentFiles.Paths(_dir.Path, "beta")[0]).Blocks[1];
        var (header, blocks) = SegmentFiles.Read(FirstSegment);
        blocks.Insert(2, beta);
        SegmentFiles.Write(FirstSegment, header, blocks);

        Assert.Equal([(ChainFindingKind.CrossTenantCopied, 2UL)], Findings(Verify("acme")));
        Assert.True(Verify("beta").IsIntact);
    }

    [Fact]
    public void Verify_BlockReplacedByAnotherTenantsBlock_ReportsCrossTenantCopiedAndRemoved()
    {
        var beta = SegmentFiles.Read(SegmentFiles.Paths(_dir.Path, "beta")[0]).Blocks[0];
        var (header, blocks) = SegmentFiles.Read(FirstSegment);
        blocks[0] = beta;
        SegmentFiles.Write(FirstSegment, header, blocks);

        Assert.Equal([(ChainFindingKind.CrossTenantCopied, 1UL), (ChainFindingKind.Removed, 1UL)], Findings(Verify("acme")));
    }

    [Fact]
    public void Verify_ChainHeadEditedInIndex_ReportsHeadMismatch()
    {
        IndexDatabase.Execute(_dir.Path, "UPDATE chains SET head = randomblob(32) WHERE tenant = 'acme'");
        Assert.Equal([(ChainFindingKind.HeadMismatch, (ulong?)null)], Verify("acme").Findings.Select(f => (f.Kind, f.Sequence)));
        Assert.True(Verify("beta").IsIntact);
    }

    [Fact]
    public void Verify_LinkDigestEditedInIndex_ReportsHeadMismatch()
    {
        IndexDatabase.Execute(_dir.Path, "UPDATE blocks SET digest = randomblob(32) WHERE tenant = 'acme' AND seq = 2");
        Assert.Equal(ChainFindingKind.HeadMismatch, Assert.Single(Verify("acme").Findings).Kind);
    }

    [Fact]
    public void Verify_LinkDeletedFromIndex_ReportsHeadMismatch()
    {
        IndexDatabase.Execute(_dir.Path, "DELETE FROM blocks WHERE tenant = 'acme' AND seq = 2");
        Assert.Equal(ChainFindingKind.HeadMismatch, Assert.Single(Verify("acme").Findings).Kind);
    }

    [Theory]
    [InlineData("UPDATE removals SET blocks = replace(blocks, '\"seq\":6', '\"seq\":2')")]
    [InlineData("UPDATE removals SET spans = spans + 1")]
    [InlineData("UPDATE removals SET kind = 'retention'")]
    [InlineData("UPDATE removals SET at = at - 1000")]
    public void Verify_RemovalRecordEdited_CountsAForgedRecord(string edit)
    {
        using (var store = TraceStore.Open(_dir.Path, _kek))
        {
            store.Append("acme", Spans.Request("checkout", Spans.Span(40, 40, attributes: new KeyValue("u", AnyValue.Of("psn_abc123")))));
            store.EraseMatching("acme", "psn_abc123");
            Assert.True(store.Verify("acme").IsIntact);
        }

        Assert.Equal(1, IndexDatabase.Execute(_dir.Path, edit));
        var report = Verify("acme");
        Assert.Equal(1, report.ForgedRemovalRecords);
        Assert.False(report.IsIntact);
    }

    [Fact]
    public void Verify_BlockMarkedRemovedWithoutARecord_IsNotIntact()
    {
        IndexDatabase.Execute(_dir.Path, "UPDATE blocks SET removed = 1 WHERE tenant = 'acme' AND seq = 2");
        var report = Verify("acme");
        Assert.Equal(1, report.UnaccountedRemovals);
        Assert.False(report.IsIntact);
    }

    [Fact]
    public void Verify_BlockMarkedRemovedAndDeletedWithoutARecord_ReportsRemoved()
    {
        IndexDatabase.Execute(_dir.Path, "UPDATE blocks SET removed = 1 WHERE tenant = 'acme' AND seq = 2");
        var (header, blocks) = SegmentFiles.Read(FirstSegment);
        blocks.RemoveAt(1);
        SegmentFiles.Write(FirstSegment, header, blocks);

        var report = Verify("acme");
        Assert.Equal([(ChainFindingKind.Removed, 2UL)], Findings(report));
        Assert.Equal(1, report.UnaccountedRemovals);
    }

    [Fact]
    public void Verify_RemovalRecordOfAnotherTenantCopied_DoesNotAccountForTheBlock()
    {
        using (var store = TraceStore.Open(_dir.Path, _kek))
        {
            store.Append("beta", Spans.Request("billing", Spans.Span(40, 40, attributes: new KeyValue("u", AnyValue.Of("psn_abc123")))));
            store.EraseMatching("beta", "psn_abc123");
        }

        // beta's signed record says block 3 of beta was removed; replayed for acme it must not cover acme's block 3.
        IndexDatabase.Execute(_dir.Path, "INSERT INTO removals(tenant, at, kind, blocks, spans, mac) SELECT 'acme', at, kind, blocks, spans, mac FROM removals WHERE tenant = 'beta'");
        IndexDatabase.Execute(_dir.Path, "UPDATE blocks SET removed = 1 WHERE tenant = 'acme' AND seq = 3");
        var report = Verify("acme");
        Assert.Equal(1, report.ForgedRemovalRecords);
        Assert.Equal(1, report.UnaccountedRemovals);
    }

    private StoreVerifyReport Verify(string tenant)
    {
        using var store = TraceStore.Open(_dir.Path, _kek);
        return store.Verify(tenant);
    }

    private static List<(ChainFindingKind, ulong)> Findings(StoreVerifyReport report) => [.. report.Findings.Select(f => (f.Kind, f.Sequence ?? ulong.MaxValue))];
}
