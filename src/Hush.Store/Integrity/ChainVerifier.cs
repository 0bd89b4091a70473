using System.Security.Cryptography;

namespace Hush.Store;

/// <summary>What <see cref="ChainVerifier.Verify"/> found wrong with one block or link.</summary>
public enum ChainFindingKind
{
    /// <summary>A block whose digest differs from its link: bytes changed.</summary>
    Modified,

    /// <summary>An authentic block out of chain order.</summary>
    Reordered,

    /// <summary>A link with no block: a block was deleted.</summary>
    Removed,

    /// <summary>A block the chain never recorded.</summary>
    Injected,

    /// <summary>A block under another tenant's data key: copied across tenants.</summary>
    CrossTenantCopied,

    /// <summary>The links do not reproduce the authenticated head: the chain itself was edited, or the head was forged.</summary>
    HeadMismatch,
}

/// <summary>One finding: its kind, the index of the block in the input (-1 for a removed block or the head) and the sequence concerned.</summary>
public readonly record struct ChainFinding(ChainFindingKind Kind, int BlockIndex, ulong? Sequence);

/// <summary>The verdict over one tenant's blocks.</summary>
public sealed class ChainReport
{
    internal ChainReport(string tenant, int blocks, IReadOnlyList<ChainFinding> findings)
    {
        Tenant = tenant;
        BlocksChecked = blocks;
        Findings = findings;
    }

    /// <summary>The tenant verified.</summary>
    public string Tenant { get; }

    /// <summary>Blocks examined.</summary>
    public int BlocksChecked { get; }

    /// <summary>Everything found wrong, in block order; removed links last.</summary>
    public IReadOnlyList<ChainFinding> Findings { get; }

    /// <summary>True when nothing was found.</summary>
    public bool IsIntact => Findings.Count == 0;

    /// <summary>How many findings are of <paramref name="kind"/>.</summary>
    public int Count(ChainFindingKind kind)
    {
        var n = 0;
        foreach (var finding in Findings)
        {
            n += finding.Kind == kind ? 1 : 0;
        }

        return n;
    }
}

/// <summary>
/// Checks the blocks found on disk for one tenant against its chain links and authenticated head. First the
/// links must reproduce the head and its HMAC (else <see cref="ChainFindingKind.HeadMismatch"/>, and the links
/// cannot be trusted to classify). Then each block is matched to a link by digest; unmatched blocks are
/// cross-tenant copies (key id of another tenant), modified (their sequence, or their place, is an unmatched
/// link) or injected; unmatched links are removed; matched blocks off the longest in-order run are reordered.
/// </summary>
public static class ChainVerifier
{
    /// <summary>Verifies <paramref name="blocks"/> (in the order found) for <paramref name="tenant"/>.</summary>
    /// <param name="tenant">The tenant.</param>
    /// <param name="kek">The key-encryption key, from which the chain's MAC key is derived.</param>
    /// <param name="blocks">The blocks as read from the tenant's segments, in order.</param>
    /// <param name="links">The chain links as persisted.</param>
    /// <param name="head">The persisted authenticated head.</param>
    /// <param name="keyOwner">The tenant owning a key id, or null when unknown (e.g. a <see cref="KeyRing"/> lookup).</param>
    public static ChainReport Verify(
        string tenant,
        KeyMaterial kek,
        IReadOnlyList<ReadOnlyMemory<byte>> blocks,
        IReadOnlyList<ChainEntry> links,
        SignedChainHead head,
        Func<KeyId, string?> keyOwner)
    {
        ArgumentException.ThrowIfNullOrEmpty(tenant);
        ArgumentNullException.ThrowIfNull(kek);
        ArgumentNullException.ThrowIfNull(blocks);
        ArgumentNullException.ThrowIfNull(links);
        ArgumentNullException.ThrowIfNull(head);
        ArgumentNullException.ThrowIfNull(keyOwner);
        var findings = new List<ChainFinding>();
        if (!HeadMatches(tenant, kek, links, head))
        {
            findings.Add(new ChainFinding(ChainFindingKind.HeadMismatch, -1, null));
            return new ChainReport(tenant, blocks.Count, findings);
        }

        var linkByDigest = new Dictionary<string, int>(links.Count, StringComparer.Ordinal);
        var linkBySequence = new Dictionary<ulong, int>(links.Count);
        for (var i = 0; i < links.Count; i++)
        {
            linkByDigest[Convert.ToHexString(links[i].Digest)] = i;
            linkBySequence[links[i].Sequence] = i;
        }

        // Pass 1: exact matches by digest.
        var matched = new int[blocks.Count];
        var linkUsed = new bool[links.Count];
        for (var b = 0; b < blocks.Count; b++)
        {
            matched[b] = linkByDigest.TryGetValue(Convert.ToHexString(HashChain.Digest(blocks[b].Span)), out var l) && !linkUsed[l] ? l : -1;
            if (matched[b] >= 0)
            {
                linkUsed[matched[b]] = true;
            }
        }

        var inOrder = LongestIncreasingRun(matched);
        var kinds = new ChainFindingKind?[blocks.Count];
        var sequences = new ulong?[blocks.Count];

        // Pass 2: classify what did not match.
        for (var b = 0; b < blocks.Count; b++)
        {
            if (matched[b] >= 0)
            {
                sequences[b] = links[matched[b]].Sequence;
                kinds[b] = inOrder.Contains(b) ? null : ChainFindingKind.Reordered;
                continue;
            }

            var parsed = BlockHeader.TryRead(blocks[b].Span, out var header, out _);
            if (parsed && keyOwner(header.KeyId) is { } owner && !string.Equals(owner, tenant, StringComparison.Ordinal))
            {
                kinds[b] = ChainFindingKind.CrossTenantCopied;
                sequences[b] = header.Sequence;
                continue;
            }

            var link = parsed && linkBySequence.TryGetValue(header.Sequence, out var bySequence) && !linkUsed[bySequence]
                ? bySequence
                : GapLink(matched, b, linkUsed);
            if (link >= 0)
            {
                linkUsed[link] = true;
                kinds[b] = ChainFindingKind.Modified;
                sequences[b] = links[link].Sequence;
            }
            else
            {
                kinds[b] = ChainFindingKind.Injected;
                sequences[b] = parsed ? header.Sequence : null;
            }
        }

        for (var b = 0; b < blocks.Count; b++)
        {
            if (kinds[b] is { } kind)
            {
                findings.Add(new ChainFinding(kind, b, sequences[b]));
            }
        }

        for (var l = 0; l < links.Count; l++)
        {
            if (!linkUsed[l])
            {
                findings.Add(new ChainFinding(ChainFindingKind.Removed, -1, links[l].Sequence));
            }
        }

        return new ChainReport(tenant, blocks.Count, findings);
    }

    private static bool HeadMatches(string tenant, KeyMaterial kek, IReadOnlyList<ChainEntry> links, SignedChainHead head)
    {
        Span<byte> current = stackalloc byte[HashChain.HashBytes];
        current.Clear();
        foreach (var link in links)
        {
            if (link.Digest is not { Length: HashChain.HashBytes })
            {
                return false;
            }

            HashChain.Link(current, link, current);
        }

        var macKey = HashChain.DeriveMacKey(kek, tenant);
        var expectedMac = HashChain.HeadMac(macKey, (ulong)links.Count, links.Count == 0 ? 0 : links[^1].Sequence, current);
        CryptographicOperations.ZeroMemory(macKey);
        return head.Head is { Length: HashChain.HashBytes } && head.Mac is { Length: HashChain.HashBytes }
            && head.Count == (ulong)links.Count
            && CryptographicOperations.FixedTimeEquals(head.Head, current)
            && CryptographicOperations.FixedTimeEquals(head.Mac, expectedMac);
    }

    /// <summary>The one unused link between the links matched just before and just after block <paramref name="b"/>, or -1.</summary>
    private static int GapLink(int[] matched, int b, bool[] linkUsed)
    {
        var before = -1;
        for (var i = b - 1; i >= 0 && before < 0; i--)
        {
            before = matched[i];
        }

        var after = linkUsed.Length;
        for (var i = b + 1; i < matched.Length && after == linkUsed.Length; i++)
        {
            after = matched[i] >= 0 ? matched[i] : after;
        }

        for (var l = before + 1; l < after; l++)
        {
            if (!linkUsed[l])
            {
                return l;
            }
        }

        return -1;
    }

    /// <summary>Block indexes forming the longest run whose link indexes increase (patience sorting, O(n log n)).</summary>
    private static HashSet<int> LongestIncreasingRun(int[] matched)
    {
        var tails = new List<int>();
        var previous = new int[matched.Length];
        for (var b = 0; b < matched.Length; b++)
        {
            if (matched[b] < 0)
            {
                continue;
            }

            int lo = 0, hi = tails.Count;
            while (lo < hi)
            {
                var mid = (lo + hi) / 2;
                if (matched[tails[mid]] < matched[b])
                {
                    lo = mid + 1;
                }
                else
                {
                    hi = mid;
                }
            }

            previous[b] = lo > 0 ? tails[lo - 1] : -1;
            if (lo == tails.Count)
            {
                tails.Add(b);
            }
            else
            {
                tails[lo] = b;
            }
        }

        var run = new HashSet<int>();
        for (var b = tails.Count > 0 ? tails[^1] : -1; b >= 0; b = previous[b])
        {
            run.Add(b);
        }

        return run;
    }
}
