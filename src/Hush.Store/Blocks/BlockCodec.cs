using System.Buffers;
using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using Hush.Otlp;
using Hush.Pipeline.Implementation;

namespace Hush.Store;

/// <summary>
/// Turns a batch of one tenant's (already scrubbed) spans into a block and back: OTLP protobuf, then Brotli,
/// then AES-256-GCM under the tenant's data key with a random 12-byte nonce. The associated data is
/// <c>"hush/block/v1" | tenant length u16 | tenant | segment u64 | sequence u64 | header bytes 0..43</c>, so a
/// block moved to another tenant, segment or position, or with any header field changed, fails to decrypt.
/// Decoding never throws on bad input: it returns a <see cref="BlockError"/>.
/// </summary>
public static class BlockCodec
{
    /// <summary>
    /// Brotli quality 0, window 22. Measured on the 512-span benchmark request (534,065 bytes of OTLP, one
    /// shared 2-core machine): q0 71.9 KB (7.4x) in 1.4 ms; q1 63.8 KB (8.4x) in 2.1 ms; q2 58.0 KB (9.2x) in
    /// 4.3 ms; q5 49.4 KB (10.8x) in 18.9 ms. The write path must reach 200,000 spans/s per core, 2.56 ms per
    /// 512 spans for encode + compress + encrypt + index: only q0 leaves room for the rest. q1 costs 50% more
    /// time for 11% fewer bytes; raise it here if disk matters more than CPU (the reader does not care).
    /// </summary>
    internal const int BrotliQuality = 0;

    internal const int BrotliWindow = 22;

    private static ReadOnlySpan<byte> AadDomain => "hush/block/v1"u8;

    /// <summary>Encodes <paramref name="request"/> as the block at <paramref name="position"/>, encrypted under <paramref name="key"/>.</summary>
    /// <exception cref="ArgumentException">The key is not the tenant's, or the request encodes to more than <see cref="BlockHeader.MaxPlaintextBytes"/>.</exception>
    public static byte[] Encode(TraceRequest request, DataKey key, BlockPosition position)
    {
        using var pending = Prepare(request);
        return pending.Seal(key, position);
    }

    /// <summary>The test seam: a fixed nonce, and optionally no compression, freeze the bytes for golden tests.</summary>
    internal static byte[] Encode(TraceRequest request, DataKey key, BlockPosition position, ReadOnlySpan<byte> nonce, bool compress)
    {
        using var pending = Prepare(request, compress);
        return pending.Seal(key, position, nonce);
    }

    /// <summary>
    /// The half of <see cref="Encode(TraceRequest, DataKey, BlockPosition)"/> that needs no position: the OTLP encoding
    /// and its compression, laid out where the block's ciphertext will go. The store prepares each block right after it
    /// has read the same spans for the index (while they are in the cache) and outside the tenant's lock, then seals the
    /// blocks in order under the lock (<see cref="PendingBlock.Seal(DataKey, BlockPosition)"/>).
    /// </summary>
    /// <exception cref="ArgumentException">The request encodes to nothing or to more than <see cref="BlockHeader.MaxPlaintextBytes"/>.</exception>
    internal static PendingBlock Prepare(TraceRequest request, bool compress = true)
    {
        ArgumentNullException.ThrowIfNull(request);

        // One pass: the encoder writes into the pooled writer (one GetSpan of its estimate, rarely a second).
        var plaintext = new PooledBufferWriter();
        byte[]? compressed = null;
        var compressedLength = 0;
        try
        {
            OtlpProtobuf.Encode(request, plaintext);
            var plaintextLength = plaintext.WrittenCount;
            if (plaintextLength is 0 or > BlockHeader.MaxPlaintextBytes)
            {
                throw new ArgumentException($"A block holds 1 to {BlockHeader.MaxPlaintextBytes} bytes of OTLP, not {plaintextLength}.", nameof(request));
            }

            ReadOnlySpan<byte> payload = plaintext.WrittenMemory.Span;
            var compression = BlockCompression.None;
            if (compress)
            {
                compressed = ArrayPool<byte>.Shared.Rent(BrotliEncoder.GetMaxCompressedLength(plaintextLength));
                if (BrotliEncoder.TryCompress(payload, compressed, out compressedLength, BrotliQuality, BrotliWindow) && compressedLength < plaintextLength)
                {
                    payload = compressed.AsSpan(0, compressedLength);
                    compression = BlockCompression.Brotli;
                }
            }

            var block = GC.AllocateUninitializedArray<byte>(BlockHeader.Bytes + payload.Length);
            payload.CopyTo(block.AsSpan(BlockHeader.Bytes));
            return new PendingBlock(block, compression, plaintextLength);
        }
        finally
        {
            // Buffers that held telemetry are cleared (as far as they were used) before they go back to the pool.
            plaintext.Dispose();
            if (compressed is not null)
            {
                CryptographicOperations.ZeroMemory(compressed.AsSpan(0, Math.Min(compressedLength, compressed.Length)));
                ArrayPool<byte>.Shared.Return(compressed);
            }
        }
    }

    /// <summary>
    /// Validates, decrypts and decodes the block expected at <paramref name="position"/>, with the key its header
    /// names from <paramref name="keys"/>. Every header field is checked before use; nothing throws on bad input.
    /// </summary>
    public static bool TryDecode(ReadOnlySpan<byte> block, KeyRing keys, BlockPosition position, [NotNullWhen(true)] out TraceRequest? request, out BlockError error)
    {
        ArgumentNullException.ThrowIfNull(keys);
        return TryDecode(block, Resolver(keys), position, out request, out error);
    }

    /// <summary>
    /// <see cref="TryDecode(ReadOnlySpan{byte}, KeyRing, BlockPosition, out TraceRequest?, out BlockError)"/> keeping only
    /// the spans of <paramref name="traceId"/>: the whole block is still authenticated and decompressed, but only that
    /// trace's spans are decoded (a block of ~1,000 spans decodes ~7). Resources and scopes without one are left out.
    /// </summary>
    public static bool TryDecodeTrace(ReadOnlySpan<byte> block, KeyRing keys, BlockPosition position, TraceId traceId, [NotNullWhen(true)] out TraceRequest? request, out BlockError error)
    {
        ArgumentNullException.ThrowIfNull(keys);
        ArgumentOutOfRangeException.ThrowIfEqual(traceId.IsEmpty, true, nameof(traceId));
        return TryDecode(block, Resolver(keys), position, out request, out error, traceId);
    }

    private static Func<KeyId, DataKey?> Resolver(KeyRing keys) => id => keys.TryGetKey(id, out var key) ? key : null;

    internal static bool TryDecode(ReadOnlySpan<byte> block, Func<KeyId, DataKey?> resolve, BlockPosition position, [NotNullWhen(true)] out TraceRequest? request, out BlockError error, TraceId only = default)
    {
        request = null;
        if (!TryOpen(block, resolve, position, out var plaintext, out error))
        {
            return false;
        }

        using (plaintext)
        {
            return TryDecode(plaintext.Otlp, out request, out error, only);
        }
    }

    /// <summary>
    /// Validates, decrypts and decompresses the block into pooled memory, for a reader that looks at the OTLP bytes
    /// before deciding what to decode (<see cref="TryDecode(ReadOnlySpan{byte}, out TraceRequest?, out BlockError, TraceId)"/>).
    /// Dispose clears and returns it.
    /// </summary>
    internal static bool TryOpen(ReadOnlySpan<byte> block, KeyRing keys, BlockPosition position, [NotNullWhen(true)] out BlockPlaintext? plaintext, out BlockError error)
    {
        ArgumentNullException.ThrowIfNull(keys);
        return TryOpen(block, Resolver(keys), position, out plaintext, out error);
    }

    /// <summary>Decodes opened OTLP bytes (all spans, or those of <paramref name="only"/>); false for a payload that does not parse.</summary>
    internal static bool TryDecode(ReadOnlySpan<byte> otlp, [NotNullWhen(true)] out TraceRequest? request, out BlockError error, TraceId only = default)
    {
        try
        {
            request = only.IsEmpty ? OtlpProtobuf.DecodeTraceRequest(otlp) : OtlpProtobuf.DecodeTraceRequest(otlp, only);
            error = BlockError.None;
            return true;
        }
        catch (OtlpDecodeException)
        {
            request = null;
            error = BlockError.InvalidPayload;
            return false;
        }
    }

    private static bool TryOpen(ReadOnlySpan<byte> block, Func<KeyId, DataKey?> resolve, BlockPosition position, [NotNullWhen(true)] out BlockPlaintext? plaintext, out BlockError error)
    {
        plaintext = null;
        if (!BlockHeader.TryRead(block, out var header, out error))
        {
            return false;
        }

        if (block.Length != header.TotalLength)
        {
            error = block.Length < header.TotalLength ? BlockError.Truncated : BlockError.InvalidLength;
            return false;
        }

        if (header.Sequence != position.Sequence)
        {
            error = BlockError.WrongPosition;
            return false;
        }

        if (resolve(header.KeyId) is not { } key)
        {
            error = BlockError.UnknownKey;
            return false;
        }

        if (!string.Equals(key.Tenant, position.Tenant, StringComparison.Ordinal))
        {
            error = BlockError.WrongTenant;
            return false;
        }

        var opened = new BlockPlaintext(header.CiphertextLength);
        if (!TryDecrypt(block, key, position, opened.Payload))
        {
            opened.Dispose();
            error = BlockError.AuthenticationFailed;
            return false;
        }

        if (header.Compression == BlockCompression.Brotli && !opened.TryDecompress(header.PlaintextLength))
        {
            opened.Dispose();
            error = BlockError.DecompressionFailed;
            return false;
        }

        plaintext = opened;
        error = BlockError.None;
        return true;
    }

    /// <summary>Encrypts the payload that follows the header of <paramref name="block"/> in place, and writes the tag; the header fields and nonce are written.</summary>
    internal static void Encrypt(Span<byte> block, DataKey key, BlockPosition position)
    {
        var rented = RentAad(block, position, out var aadLength);
        try
        {
            using var aes = new AesGcm(key.Material.Span, BlockHeader.TagBytes);
            aes.Encrypt(
                block.Slice(BlockHeader.NonceOffset, BlockHeader.NonceBytes),
                block[BlockHeader.Bytes..],
                block[BlockHeader.Bytes..],
                block.Slice(BlockHeader.TagOffset, BlockHeader.TagBytes),
                rented.AsSpan(0, aadLength));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    /// <summary>Decrypts the ciphertext of <paramref name="block"/> into <paramref name="destination"/>; false when authentication fails.</summary>
    private static bool TryDecrypt(ReadOnlySpan<byte> block, DataKey key, BlockPosition position, Span<byte> destination)
    {
        var rented = RentAad(block, position, out var aadLength);
        try
        {
            using var aes = new AesGcm(key.Material.Span, BlockHeader.TagBytes);
            aes.Decrypt(
                block.Slice(BlockHeader.NonceOffset, BlockHeader.NonceBytes),
                block[BlockHeader.Bytes..],
                block.Slice(BlockHeader.TagOffset, BlockHeader.TagBytes),
                destination,
                rented.AsSpan(0, aadLength));
            return true;
        }
        catch (AuthenticationTagMismatchException)
        {
            return false;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    /// <summary>The associated data: domain, tenant (length-prefixed), segment, expected sequence, then header bytes 0..43.</summary>
    private static byte[] RentAad(ReadOnlySpan<byte> block, BlockPosition position, out int length)
    {
        var tenantLength = Encoding.UTF8.GetByteCount(position.Tenant);
        length = AadDomain.Length + 2 + tenantLength + 8 + 8 + BlockHeader.AuthenticatedBytes;
        var rented = ArrayPool<byte>.Shared.Rent(length);
        var aad = rented.AsSpan(0, length);
        AadDomain.CopyTo(aad);
        var offset = AadDomain.Length;
        BinaryPrimitives.WriteUInt16BigEndian(aad[offset..], (ushort)tenantLength);
        offset += 2 + Encoding.UTF8.GetBytes(position.Tenant, aad[(offset + 2)..]);
        BinaryPrimitives.WriteUInt64BigEndian(aad[offset..], position.Segment);
        BinaryPrimitives.WriteUInt64BigEndian(aad[(offset + 8)..], position.Sequence);
        block[..BlockHeader.AuthenticatedBytes].CopyTo(aad[(offset + 16)..]);
        return rented;
    }
}

/// <summary>
/// A block prepared by <see cref="BlockCodec.Prepare"/>: its compressed (or raw) OTLP already where the ciphertext goes,
/// waiting for the header, the nonce and the encryption, which need the key and the position. Sealing encrypts it in
/// place and hands the array over; disposing an unsealed one (a write that failed first) clears the telemetry in it.
/// </summary>
internal sealed class PendingBlock : IDisposable
{
    private readonly BlockCompression _compression;
    private readonly int _plaintextLength;
    private byte[]? _block;

    internal PendingBlock(byte[] block, BlockCompression compression, int plaintextLength)
    {
        _block = block;
        _compression = compression;
        _plaintextLength = plaintextLength;
    }

    /// <summary>The block's array while it waits (null once sealed or disposed): for tests.</summary>
    internal byte[]? Unsealed => _block;

    /// <summary>Writes the header and <paramref name="nonce"/>, encrypts under <paramref name="key"/> for <paramref name="position"/>, and returns the block. Once only.</summary>
    /// <exception cref="ArgumentException">The key is not the tenant's.</exception>
    public byte[] Seal(DataKey key, BlockPosition position, ReadOnlySpan<byte> nonce)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(position.Tenant);
        ObjectDisposedException.ThrowIf(_block is null, this);
        if (!string.Equals(key.Tenant, position.Tenant, StringComparison.Ordinal))
        {
            throw new ArgumentException($"Data key {key.Id} belongs to tenant {key.Tenant}, not {position.Tenant}.", nameof(key));
        }

        var block = _block;
        var header = new BlockHeader(BlockHeader.CurrentVersion, _compression, key.Id, position.Sequence, _plaintextLength, block.Length - BlockHeader.Bytes);
        header.WriteFields(block);
        nonce.CopyTo(block.AsSpan(BlockHeader.NonceOffset, BlockHeader.NonceBytes));
        BlockCodec.Encrypt(block, key, position);
        _block = null;
        return block;
    }

    /// <summary><see cref="Seal(DataKey, BlockPosition, ReadOnlySpan{byte})"/> with a fresh random nonce.</summary>
    public byte[] Seal(DataKey key, BlockPosition position)
    {
        Span<byte> nonce = stackalloc byte[BlockHeader.NonceBytes];
        RandomNumberGenerator.Fill(nonce);
        return Seal(key, position, nonce);
    }

    public void Dispose()
    {
        if (_block is not null)
        {
            CryptographicOperations.ZeroMemory(_block);
            _block = null;
        }
    }
}

/// <summary>
/// A block's OTLP bytes, decrypted (and decompressed) into pooled buffers. Disposing clears them as far as they were
/// used, as encoding does (a rented array can be twice the block, and a search opens dozens), and returns them.
/// </summary>
internal sealed class BlockPlaintext : IDisposable
{
    private readonly int _payloadLength;
    private byte[]? _payload;
    private byte[]? _plaintext;
    private int _plaintextLength;

    public BlockPlaintext(int payloadLength)
    {
        _payloadLength = payloadLength;
        _payload = ArrayPool<byte>.Shared.Rent(payloadLength);
    }

    /// <summary>The decrypted payload (compressed or not).</summary>
    public Span<byte> Payload => _payload.AsSpan(0, _payloadLength);

    /// <summary>The OTLP bytes: the decompressed payload, or the payload itself when it was stored uncompressed.</summary>
    public ReadOnlySpan<byte> Otlp => _plaintext is not null ? _plaintext.AsSpan(0, _plaintextLength) : Payload;

    public bool TryDecompress(int plaintextLength)
    {
        _plaintext = ArrayPool<byte>.Shared.Rent(plaintextLength);
        _plaintextLength = plaintextLength;
        return BrotliDecoder.TryDecompress(Payload, _plaintext.AsSpan(0, plaintextLength), out var written) && written == plaintextLength;
    }

    public void Dispose()
    {
        if (_payload is not null)
        {
            CryptographicOperations.ZeroMemory(_payload.AsSpan(0, _payloadLength));
            ArrayPool<byte>.Shared.Return(_payload);
            _payload = null;
        }

        if (_plaintext is not null)
        {
            CryptographicOperations.ZeroMemory(_plaintext.AsSpan(0, _plaintextLength));
            ArrayPool<byte>.Shared.Return(_plaintext);
            _plaintext = null;
        }
    }
}
