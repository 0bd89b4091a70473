using Hush.Store;

namespace Hush.Store.Tests.Integrity;

public sealed class ChainVerifierTests : IDisposable
{
    private readonly TempDirectory _dir = new();
    private readonly KeyMaterial _kek = TestData.Kek();
    private readonly KeyRing _ring;

    public ChainVerifierTests() => _ring = KeyRing.Open(_dir.Path, _kek);

    public void Dispose()
    {
        _ring.Dispose();
        _kek.Dispose();
        _dir.Dispose();
    }

    private (List<ReadOnlyMemory<byte>> Blocks, HashChain Chain) Write(string tenant, int count, ulong firstSequence = 1)
    {
        var chain = new HashChain(tenant, _kek);
        var blocks = new List<ReadOnlyMemory<byte>>();
        for (var i = 0; i < count; i++)
        {
            var block = BlockCodec.Encode(TestData.Request(2), _ring.GetActiveKey(tenant), new BlockPosition(tenant, 1, firstSequence + (ulong)i));
            chain.Append(block);
            blocks.Add(block);
        }

        return (blocks, chain);
    }

    private ChainReport Verify(string tenant, List<ReadOnlyMemory<byte>> blocks, HashChain chain, SignedChainHead? head = null)
        => ChainVerifier.Verify(tenant, _kek, blocks, chain.Entries, head ?? chain.SignHead(), id => _ring.TryGetKey(id, out var key) ? key.Tenant : null);

    [Fact]
    public void Verify_UntouchedBlocks_IsIntact()
    {
        var (blocks, chain) = Write("acme", 6);
        var report = Verify("acme", blocks, chain);
        Assert.True(report.IsIntact);
        Assert.Equal(6, report.BlocksChecked);
    }

    [Fact]
    public void Verify_ModifiedBlock_IsReportedModified()
    {
        var (blocks, chain) = Write("acme", 5);
        var modified = blocks[2].ToArray();
        modified[^3] ^= 0x01;
        blocks[2] = modified;
        var report = Verify("acme", blocks, chain);
        Assert.Equal([new ChainFinding(ChainFindingKind.Modified, 2, 3)], report.Findings);
    }

    [Fact]
    public void Verify_BlockWithCorruptHeader_IsReportedModified()
    {
        var (blocks, chain) = Write("acme", 5);
        var modified = blocks[1].ToArray();
        modified[0] = 0;
        blocks[1] = modified;
        var report = Verify("acme", blocks, chain);
        Assert.Equal([new ChainFinding(ChainFindingKind.Modified, 1, 2)], report.Findings);
    }

    [Fact]
    public void Verify_SwappedBlocks_AreReportedReordered()
    {
        var (blocks, chain) = Write("acme", 5);
        (blocks[1], blocks[3]) = (blocks[3], blocks[1]);
        var report = Verify("acme", blocks, chain);
        Assert.Equal(0, report.Count(ChainFindingKind.Modified));
        Assert.InRange(report.Count(ChainFindingKind.Reordered), 1, 2);
        Assert.Equal(report.Findings.Count, report.Count(ChainFindingKind.Reordered));
    }

    [Fact]
    public void Verify_LastBlockMovedToFront_OnlyItIsReordered()
    {
        var (blocks, chain) = Write("acme", 6);
        var last = blocks[^1];
        blocks.RemoveAt(blocks.Count - 1);
        blocks.Insert(0, last);
        var report = Verify("acme", blocks, chain);
        Assert.Equal([new ChainFinding(ChainFindingKind.Reordered, 0, 6)], report.Findings);
    }

    [Fact]
    public void Verify_RemovedBlocks_AreReportedRemovedWithTheirSequence()
    {
        var (blocks, chain) = Write("acme", 5);
        blocks.RemoveAt(4);
        blocks.RemoveAt(1);
        var report = Verify("acme", blocks, chain);
        Assert.Equal(
            [new ChainFinding(ChainFindingKind.Removed, -1, 2), new ChainFinding(ChainFindingKind.Removed, -1, 5)],
            report.Findings);
    }

    [Fact]
    public void Verify_InjectedBlock_IsReportedInjected()
    {
        var (blocks, chain) = Write("acme", 4);
        var forged = BlockCodec.Encode(TestData.Request(1), _ring.GetActiveKey("acme"), new BlockPosition("acme", 1, 99));
        blocks.Insert(2, forged);
        var report = Verify("acme", blocks, chain);
        Assert.Equal([new ChainFinding(ChainFindingKind.Injected, 2, 99)], report.Findings);
    }

    [Fact]
    public void Verify_BlockCopiedFromAnotherTenant_IsReportedCrossTenant()
    {
        var (blocks, chain) = Write("acme", 4);
        var (other, _) = Write("globex", 4);
        blocks[2] = other[2];
        var report = Verify("acme", blocks, chain);
        Assert.Equal([new ChainFinding(ChainFindingKind.CrossTenantCopied, 2, 3), new ChainFinding(ChainFindingKind.Removed, -1, 3)], report.Findings);
    }

    [Fact]
    public void Verify_EditedLinksOrForgedHead_IsHeadMismatch()
    {
        var (blocks, chain) = Write("acme", 4);
        var links = chain.Entries.ToList();
        links.RemoveAt(3);
        blocks.RemoveAt(3);
        var truncated = ChainVerifier.Verify("acme", _kek, blocks, links, chain.SignHead(), _ => "acme");
        Assert.Equal([new ChainFinding(ChainFindingKind.HeadMismatch, -1, null)], truncated.Findings);

        var head = chain.SignHead();
        var forgedHead = head with { Mac = new byte[32] };
        Assert.Equal(ChainFindingKind.HeadMismatch, Assert.Single(Verify("acme", blocks, chain, forgedHead).Findings).Kind);

        // A head signed for another tenant (its MAC key differs) does not verify either.
        var report = ChainVerifier.Verify("globex", _kek, blocks, chain.Entries, head, _ => "acme");
        Assert.Equal(ChainFindingKind.HeadMismatch, Assert.Single(report.Findings).Kind);
    }

    [Fact]
    public void HashChain_HeadIsTheDocumentedFormula()
    {
        var (_, chain) = Write("acme", 2);
        var expected = new byte[32];
        foreach (var entry in chain.Entries)
        {
            var sequence = new byte[8];
            System.Buffers.Binary.BinaryPrimitives.WriteUInt64BigEndian(sequence, entry.Sequence);
            expected = System.Security.Cryptography.SHA256.HashData([.. expected, .. entry.Digest, .. sequence]);
        }

        var head = chain.SignHead();
        Assert.Equal(expected, head.Head);
        Assert.Equal(2UL, head.Count);
        Assert.Throws<ArgumentException>(() => chain.Append(BlockCodec.Encode(TestData.Request(1), _ring.GetActiveKey("acme"), new BlockPosition("acme", 1, 2))));
    }
}
