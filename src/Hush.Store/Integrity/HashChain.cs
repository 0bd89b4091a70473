using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace Hush.Store;

/// <summary>One link of a tenant's chain: a block's sequence number and digest (SHA-256 of header and ciphertext).</summary>
/// <param name="Sequence">The block's sequence number.</param>
/// <param name="Digest">32 bytes.</param>
public sealed record ChainEntry(ulong Sequence, byte[] Digest);

/// <summary>The authenticated end of a chain: how many links, the last sequence, the head and its HMAC.</summary>
/// <param name="Count">Links in the chain.</param>
/// <param name="LastSequence">The last link's sequence number (0 when empty).</param>
/// <param name="Head">head_n, 32 bytes.</param>
/// <param name="Mac">HMAC-SHA256 of <c>"hush/chain-head/v1" | count u64 | last sequence u64 | head</c>, 32 bytes.</param>
public sealed record SignedChainHead(ulong Count, ulong LastSequence, byte[] Head, byte[] Mac);

/// <summary>
/// A tenant's hash chain over its blocks: <c>head_0 = 32 zero bytes</c>,
/// <c>head_n = SHA256(head_{n-1} | digest_n | seq_n as u64 big-endian)</c>, with the head authenticated by
/// HMAC-SHA256 under <c>HKDF-SHA256(KEK, info "hush/chain/v1/" + tenant)</c>. Sequences strictly increase.
/// Not thread-safe: one writer per tenant appends.
/// </summary>
public sealed class HashChain
{
    /// <summary>Digest and head length.</summary>
    public const int HashBytes = 32;

    private readonly byte[] _macKey;
    private readonly byte[] _head = new byte[HashBytes];
    private readonly List<ChainEntry> _entries = [];
    private ulong _count;
    private ulong _lastSequence;

    /// <summary>Starts an empty chain for <paramref name="tenant"/>.</summary>
    public HashChain(string tenant, KeyMaterial kek)
    {
        ArgumentException.ThrowIfNullOrEmpty(tenant);
        ArgumentNullException.ThrowIfNull(kek);
        Tenant = tenant;
        _macKey = DeriveMacKey(kek, tenant);
    }

    /// <summary>The tenant.</summary>
    public string Tenant { get; }

    /// <summary>Links in the chain, including those appended before <see cref="Resume"/>.</summary>
    public ulong Count => _count;

    /// <summary>
    /// Continues a chain whose links are persisted elsewhere, from its head: <see cref="Entries"/> then holds only
    /// the links appended since. The caller checks the persisted head first (<see cref="ChainVerifier"/>).
    /// </summary>
    public static HashChain Resume(string tenant, KeyMaterial kek, ulong count, ulong lastSequence, ReadOnlySpan<byte> head)
    {
        if (head.Length != HashBytes)
        {
            throw new ArgumentException($"A chain head is {HashBytes} bytes.", nameof(head));
        }

        var chain = new HashChain(tenant, kek) { _count = count, _lastSequence = lastSequence };
        head.CopyTo(chain._head);
        return chain;
    }

    /// <summary>The links so far, in order (what a chain file would hold).</summary>
    public IReadOnlyList<ChainEntry> Entries => _entries;

    /// <summary>The SHA-256 digest of a whole block (header and ciphertext).</summary>
    public static byte[] Digest(ReadOnlySpan<byte> block) => SHA256.HashData(block);

    /// <summary>Appends a block (its sequence read from the header) and returns its link.</summary>
    /// <exception cref="ArgumentException">The block's header is invalid, or its sequence does not exceed the last one.</exception>
    public ChainEntry Append(ReadOnlySpan<byte> block)
    {
        if (!BlockHeader.TryRead(block, out var header, out var error))
        {
            throw new ArgumentException($"Not a block ({error}).", nameof(block));
        }

        if (_count > 0 && header.Sequence <= _lastSequence)
        {
            throw new ArgumentException($"Sequence {header.Sequence} does not follow {_lastSequence}.", nameof(block));
        }

        var entry = new ChainEntry(header.Sequence, Digest(block));
        Link(_head, entry, _head);
        _entries.Add(entry);
        _count++;
        _lastSequence = header.Sequence;
        return entry;
    }

    /// <summary>The current head, authenticated.</summary>
    public SignedChainHead SignHead() => Sign(_macKey, _count, _lastSequence, _head);

    /// <summary>The MAC of a removal record (retention or erasure) of this tenant: <c>HMAC(chain key, "hush/removal/v1" | record)</c>.</summary>
    public byte[] SignRemoval(ReadOnlySpan<byte> record) => RemovalMac(_macKey, record);

    internal static byte[] RemovalMac(byte[] macKey, ReadOnlySpan<byte> record)
    {
        var domain = "hush/removal/v1"u8;
        var input = new byte[domain.Length + record.Length];
        domain.CopyTo(input);
        record.CopyTo(input.AsSpan(domain.Length));
        return HMACSHA256.HashData(macKey, input);
    }

    internal static byte[] DeriveMacKey(KeyMaterial kek, string tenant)
    {
        var key = new byte[HashBytes];
        HKDF.DeriveKey(HashAlgorithmName.SHA256, kek.Span, key, salt: [], info: Encoding.UTF8.GetBytes("hush/chain/v1/" + tenant));
        return key;
    }

    /// <summary>head_n = SHA256(head_{n-1} | digest | seq).</summary>
    internal static void Link(ReadOnlySpan<byte> previous, ChainEntry entry, Span<byte> next)
    {
        Span<byte> input = stackalloc byte[HashBytes + HashBytes + 8];
        previous.CopyTo(input);
        entry.Digest.CopyTo(input[HashBytes..]);
        BinaryPrimitives.WriteUInt64BigEndian(input[(2 * HashBytes)..], entry.Sequence);
        SHA256.HashData(input, next);
    }

    internal static SignedChainHead Sign(byte[] macKey, ulong count, ulong lastSequence, ReadOnlySpan<byte> head)
        => new(count, lastSequence, head.ToArray(), HeadMac(macKey, count, lastSequence, head));

    internal static byte[] HeadMac(byte[] macKey, ulong count, ulong lastSequence, ReadOnlySpan<byte> head)
    {
        var domain = "hush/chain-head/v1"u8;
        Span<byte> input = stackalloc byte[domain.Length + 16 + HashBytes];
        domain.CopyTo(input);
        BinaryPrimitives.WriteUInt64BigEndian(input[domain.Length..], count);
        BinaryPrimitives.WriteUInt64BigEndian(input[(domain.Length + 8)..], lastSequence);
        head.CopyTo(input[(domain.Length + 16)..]);
        return HMACSHA256.HashData(macKey, input);
    }
}
