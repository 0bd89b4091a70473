using System.Buffers.Binary;
using Hush.Otlp;
using Hush.Store;

namespace Hush.Store.Tests.Blocks;

public sealed class BlockCodecTests
{
    private static readonly byte[] FixedNonce = [0xA0, 0xA1, 0xA2, 0xA3, 0xA4, 0xA5, 0xA6, 0xA7, 0xA8, 0xA9, 0xAA, 0xAB];

    private static DataKey FixedKey(string tenant = "acme")
        => new(new KeyId(0x0123456789ABCDEFUL), tenant, TestData.Epoch, TestData.Kek(0x40));

    private static DataKey? Resolve(KeyId id, DataKey key) => id == key.Id ? key : null;

    [Fact]
    public void Encode_TryDecode_RoundTripsTheRequest()
    {
        var key = FixedKey();
        var request = TestData.Request(50);
        var position = new BlockPosition("acme", 3, 17);
        var block = BlockCodec.Encode(request, key, position);

        Assert.True(BlockCodec.TryDecode(block, id => Resolve(id, key), position, out var decoded, out var error), error.ToString());
        Assert.Equal(OtlpProtobuf.Encode(request), OtlpProtobuf.Encode(decoded));
        Assert.True(BlockHeader.TryRead(block, out var header, out _));
        Assert.Equal(BlockCompression.Brotli, header.Compression);
        Assert.Equal(17UL, header.Sequence);
        Assert.True(block.Length < OtlpProtobuf.Encode(request).Length);
    }

    [Fact]
    public void PreparedThenSealed_IsTheBlockEncodeWrites()
    {
        var key = FixedKey();
        var request = TestData.Request(30);
        var position = new BlockPosition("acme", 2, 9);

        using var pending = BlockCodec.Prepare(request);
        var sealedBlock = pending.Seal(key, position, FixedNonce);

        Assert.Equal(BlockCodec.Encode(request, key, position, FixedNonce, compress: true), sealedBlock);
        Assert.True(BlockCodec.TryDecode(sealedBlock, id => Resolve(id, key), position, out var decoded, out var error), error.ToString());
        Assert.Equal(OtlpProtobuf.Encode(request), OtlpProtobuf.Encode(decoded));
        Assert.Throws<ObjectDisposedException>(() => pending.Seal(key, position, FixedNonce));
    }

    [Fact]
    public void PreparedBlock_NotSealed_IsClearedWhenDisposed()
    {
        var pending = BlockCodec.Prepare(TestData.Request(5, service: "planted-service-zz"), compress: false);
        var bytes = pending.Unsealed!;
        Assert.NotEqual(-1, bytes.AsSpan().IndexOf("planted-service-zz"u8));

        // Another tenant's key is refused before anything is written; the block still waits, and is cleared on disposal.
        Assert.Throws<ArgumentException>(() => pending.Seal(FixedKey("globex"), new BlockPosition("acme", 1, 1), FixedNonce));
        pending.Dispose();

        Assert.All(bytes, b => Assert.Equal(0, b));
        Assert.Null(pending.Unsealed);
    }

    [Fact]
    public void Encode_NeverRevealsPlaintext()
    {
        var key = FixedKey();
        var block = BlockCodec.Encode(TestData.Request(5, service: "planted-service-zz"), key, new BlockPosition("acme", 1, 1), FixedNonce, compress: false);
        Assert.Equal(-1, block.AsSpan().IndexOf("planted-service-zz"u8));
    }

    [Theory]
    [InlineData("globex", 3UL, 17UL)]
    [InlineData("acme", 4UL, 17UL)]
    public void TryDecode_MovedToAnotherTenantOrSegment_FailsToDecrypt(string tenant, ulong segment, ulong sequence)
    {
        var key = FixedKey();
        var block = BlockCodec.Encode(TestData.Request(4), key, new BlockPosition("acme", 3, 17));
        var moved = new BlockPosition(tenant, segment, sequence);
        // A resolver that ignores tenancy, so the associated data alone must refuse the move.
        var keyForAnyone = new DataKey(key.Id, tenant, key.CreatedAt, key.Material);
        Assert.False(BlockCodec.TryDecode(block, _ => keyForAnyone, moved, out _, out var error));
        Assert.Equal(BlockError.AuthenticationFailed, error);
    }

    [Fact]
    public void TryDecode_MovedToAnotherSequence_IsRefused()
    {
        var key = FixedKey();
        var block = BlockCodec.Encode(TestData.Request(4), key, new BlockPosition("acme", 3, 17));
        Assert.False(BlockCodec.TryDecode(block, id => Resolve(id, key), new BlockPosition("acme", 3, 18), out _, out var error));
        Assert.Equal(BlockError.WrongPosition, error);

        // Rewriting the header's sequence to match breaks the tag.
        BinaryPrimitives.WriteUInt64BigEndian(block.AsSpan(28), 18);
        Assert.False(BlockCodec.TryDecode(block, id => Resolve(id, key), new BlockPosition("acme", 3, 18), out _, out error));
        Assert.Equal(BlockError.AuthenticationFailed, error);
    }

    [Fact]
    public void TryDecode_KeyOfAnotherTenant_IsWrongTenant()
    {
        var key = FixedKey("globex");
        var block = BlockCodec.Encode(TestData.Request(2), key, new BlockPosition("globex", 1, 1));
        Assert.False(BlockCodec.TryDecode(block, id => Resolve(id, key), new BlockPosition("acme", 1, 1), out _, out var error));
        Assert.Equal(BlockError.WrongTenant, error);
    }

    [Fact]
    public void TryDecode_HeaderFieldsAreValidated()
    {
        var key = FixedKey();
        var position = new BlockPosition("acme", 1, 1);
        var block = BlockCodec.Encode(TestData.Request(2), key, position);

        Assert.Equal(BlockError.BadMagic, Error(Patch(block, 0, 0x00)));
        Assert.Equal(BlockError.UnsupportedVersion, Error(Patch(block, 5, 0x02)));
        Assert.Equal(BlockError.UnknownFlags, Error(Patch(block, 6, 0x80)));
        Assert.Equal(BlockError.UnknownFlags, Error(Patch(block, 7, 0x07)));
        Assert.Equal(BlockError.UnknownKey, Error(Patch(block, 8, (byte)(block[8] ^ 1))));
        Assert.Equal(BlockError.InvalidLength, Error(Patch(block, 36, 0xFF)));
        Assert.Equal(BlockError.Truncated, Error(Patch(block, 43, (byte)(block[43] + 1))));
        Assert.Equal(BlockError.AuthenticationFailed, Error(Patch(block, 50, (byte)(block[50] ^ 1))));
        Assert.Equal(BlockError.AuthenticationFailed, Error(Patch(block, block.Length - 1, (byte)(block[^1] ^ 1))));
        Assert.Equal(BlockError.InvalidLength, Error([.. block, 0]));
        Assert.Equal(BlockError.Truncated, Error(block[..10]));

        BlockError Error(byte[] bytes)
        {
            Assert.False(BlockCodec.TryDecode(bytes, id => Resolve(id, key), position, out _, out var error));
            return error;
        }
    }

    [Fact]
    public void TryDecode_AnyTruncationOrSingleBitFlip_ReturnsTypedErrorNeverThrows()
    {
        var key = FixedKey();
        var position = new BlockPosition("acme", 1, 1);
        var block = BlockCodec.Encode(TestData.Request(3), key, position);
        for (var length = 0; length < block.Length; length++)
        {
            Assert.False(BlockCodec.TryDecode(block.AsSpan(0, length), id => Resolve(id, key), position, out _, out var error));
            Assert.NotEqual(BlockError.None, error);
        }

        for (var i = 0; i < block.Length; i++)
        {
            for (var bit = 0; bit < 8; bit++)
            {
                var copy = (byte[])block.Clone();
                copy[i] ^= (byte)(1 << bit);
                Assert.False(BlockCodec.TryDecode(copy, id => Resolve(id, key), position, out _, out var error));
                Assert.NotEqual(BlockError.None, error);
            }
        }
    }

    [Fact]
    public void TryDecode_RandomBytes_NeverThrow()
    {
        var key = FixedKey();
        var random = new Random(5);
        for (var i = 0; i < 2000; i++)
        {
            var bytes = new byte[random.Next(0, 200)];
            random.NextBytes(bytes);
            if (bytes.Length >= 4 && i % 2 == 0)
            {
                "HUSB"u8.CopyTo(bytes);
            }

            Assert.False(BlockCodec.TryDecode(bytes, id => Resolve(id, key), new BlockPosition("acme", 1, 1), out _, out _));
        }
    }

    /// <summary>
    /// Freezes block format v1: the uncompressed golden is byte-for-byte reproducible (AES-GCM is deterministic
    /// given key and nonce); the Brotli golden must keep decoding (Brotli's output may change with the runtime,
    /// its format does not). Bump <see cref="BlockHeader.CurrentVersion"/> rather than edit these files.
    /// </summary>
    [Theory]
    [InlineData("block-v1.bin", true)]
    [InlineData("block-v1-uncompressed.bin", false)]
    public void Block_V1_GoldenBytes(string file, bool compress)
    {
        var key = FixedKey();
        var position = new BlockPosition("acme", 7, 42);
        var request = TestData.Request(3);
        var produced = BlockCodec.Encode(request, key, position, FixedNonce, compress);
        if (Environment.GetEnvironmentVariable("HUSH_WRITE_GOLDEN") == "1" && !File.Exists(TestData.SourceTestdataPath(file)))
        {
            File.WriteAllBytes(TestData.SourceTestdataPath(file), produced);
            return;
        }

        var golden = File.ReadAllBytes(TestData.TestdataPath(file));
        if (!compress)
        {
            Assert.Equal(Convert.ToHexString(golden), Convert.ToHexString(produced));
        }

        // The header, byte by byte (README.md, "Block format v1").
        Assert.Equal("HUSB"u8.ToArray(), golden[0..4]);
        Assert.Equal(new byte[] { 0x00, 0x01 }, golden[4..6]);
        Assert.Equal(new byte[] { 0x00, compress ? (byte)0x01 : (byte)0x00 }, golden[6..8]);
        Assert.Equal(new byte[] { 0x01, 0x23, 0x45, 0x67, 0x89, 0xAB, 0xCD, 0xEF }, golden[8..16]);
        Assert.Equal(FixedNonce, golden[16..28]);
        Assert.Equal(new byte[] { 0, 0, 0, 0, 0, 0, 0, 42 }, golden[28..36]);
        Assert.Equal((uint)OtlpProtobuf.Encode(request).Length, BinaryPrimitives.ReadUInt32BigEndian(golden.AsSpan(36)));
        Assert.Equal((uint)(golden.Length - BlockHeader.Bytes), BinaryPrimitives.ReadUInt32BigEndian(golden.AsSpan(40)));

        Assert.True(BlockCodec.TryDecode(golden, id => Resolve(id, key), position, out var decoded, out var error), error.ToString());
        Assert.Equal(OtlpProtobuf.Encode(request), OtlpProtobuf.Encode(decoded));
    }

    private static byte[] Patch(byte[] block, int offset, byte value)
    {
        var copy = (byte[])block.Clone();
        copy[offset] = value;
        return copy;
    }
}
