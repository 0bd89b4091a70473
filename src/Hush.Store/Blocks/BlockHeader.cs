using System.Buffers.Binary;

namespace Hush.Store;

/// <summary>How a block's payload was compressed before encryption (the low bits of the header flags).</summary>
public enum BlockCompression : ushort
{
    /// <summary>Stored as is: compression would not have shrunk it.</summary>
    None = 0,

    /// <summary>Brotli (RFC 7932).</summary>
    Brotli = 1,
}

/// <summary>Why a block could not be read. Persisted nowhere; the values may be renumbered.</summary>
public enum BlockError
{
    /// <summary>The block is valid.</summary>
    None,

    /// <summary>Fewer bytes than the header, or than the header says follow it.</summary>
    Truncated,

    /// <summary>The block does not start with the block magic.</summary>
    BadMagic,

    /// <summary>A format version this build does not read.</summary>
    UnsupportedVersion,

    /// <summary>Flags name an unknown compression or set reserved bits.</summary>
    UnknownFlags,

    /// <summary>A length field is zero, too large, or inconsistent with the other, or bytes follow the block.</summary>
    InvalidLength,

    /// <summary>The header's sequence number is not the one expected at this position.</summary>
    WrongPosition,

    /// <summary>No key with the header's key id (destroyed, or never this store's).</summary>
    UnknownKey,

    /// <summary>The key id belongs to another tenant: a block copied across tenants.</summary>
    WrongTenant,

    /// <summary>AES-GCM authentication failed: modified, or moved to another tenant, segment or position.</summary>
    AuthenticationFailed,

    /// <summary>The decrypted payload does not decompress to the declared length.</summary>
    DecompressionFailed,

    /// <summary>The payload is not a valid OTLP request.</summary>
    InvalidPayload,
}

/// <summary>
/// The fixed 60-byte header in front of every block's ciphertext; all integers big-endian. Layout (format
/// version 1, frozen by <c>testdata/block-v1.bin</c>; see README.md):
/// <c>0 magic "HUSB" | 4 version u16 | 6 flags u16 | 8 key id (8) | 16 nonce (12) | 28 sequence u64 |
/// 36 plaintext length u32 | 40 ciphertext length u32 | 44 tag (16)</c>.
/// </summary>
public readonly record struct BlockHeader(
    ushort Version,
    BlockCompression Compression,
    KeyId KeyId,
    ulong Sequence,
    int PlaintextLength,
    int CiphertextLength)
{
    /// <summary>Header length in bytes.</summary>
    public const int Bytes = 60;

    /// <summary>The format version this build writes and reads.</summary>
    public const ushort CurrentVersion = 1;

    /// <summary>Bytes of the header the AES-GCM tag authenticates (everything before the tag).</summary>
    public const int AuthenticatedBytes = 44;

    /// <summary>Largest payload before compression: 16x the gateway's 4 MiB default request cap; bounds the allocation a corrupt header can cause.</summary>
    public const int MaxPlaintextBytes = 64 * 1024 * 1024;

    internal const int NonceOffset = 16;
    internal const int NonceBytes = 12;
    internal const int TagOffset = 44;
    internal const int TagBytes = 16;

    /// <summary>Flag bits that select the compression; the others are reserved and must be zero.</summary>
    private const ushort CompressionMask = 0x000F;

    /// <summary>The four bytes every block starts with.</summary>
    public static ReadOnlySpan<byte> Magic => "HUSB"u8;

    /// <summary>Header plus ciphertext.</summary>
    public int TotalLength => Bytes + CiphertextLength;

    /// <summary>
    /// Reads and validates a header: magic, version, flags and both lengths are checked before any is used.
    /// Does not require the ciphertext to follow (a segment reader uses <see cref="TotalLength"/> to frame).
    /// </summary>
    public static bool TryRead(ReadOnlySpan<byte> source, out BlockHeader header, out BlockError error)
    {
        header = default;
        if (source.Length < Bytes)
        {
            error = source.Length >= 4 && !source.StartsWith(Magic) ? BlockError.BadMagic : BlockError.Truncated;
            return false;
        }

        if (!source.StartsWith(Magic))
        {
            error = BlockError.BadMagic;
            return false;
        }

        var version = BinaryPrimitives.ReadUInt16BigEndian(source[4..]);
        if (version != CurrentVersion)
        {
            error = BlockError.UnsupportedVersion;
            return false;
        }

        var flags = BinaryPrimitives.ReadUInt16BigEndian(source[6..]);
        var compression = (BlockCompression)(flags & CompressionMask);
        if ((flags & ~CompressionMask) != 0 || compression is not (BlockCompression.None or BlockCompression.Brotli))
        {
            error = BlockError.UnknownFlags;
            return false;
        }

        var plaintext = BinaryPrimitives.ReadUInt32BigEndian(source[36..]);
        var ciphertext = BinaryPrimitives.ReadUInt32BigEndian(source[40..]);
        if (plaintext is 0 or > MaxPlaintextBytes || ciphertext == 0
            || (compression == BlockCompression.None ? ciphertext != plaintext : ciphertext > MaxCompressedBytes((int)plaintext)))
        {
            error = BlockError.InvalidLength;
            return false;
        }

        header = new BlockHeader(version, compression, KeyId.Read(source[8..]), BinaryPrimitives.ReadUInt64BigEndian(source[28..]), (int)plaintext, (int)ciphertext);
        error = BlockError.None;
        return true;
    }

    /// <summary>Writes the header's fields (not nonce and tag) into <paramref name="destination"/>.</summary>
    internal void WriteFields(Span<byte> destination)
    {
        Magic.CopyTo(destination);
        BinaryPrimitives.WriteUInt16BigEndian(destination[4..], Version);
        BinaryPrimitives.WriteUInt16BigEndian(destination[6..], (ushort)Compression);
        KeyId.Write(destination[8..]);
        BinaryPrimitives.WriteUInt64BigEndian(destination[28..], Sequence);
        BinaryPrimitives.WriteUInt32BigEndian(destination[36..], (uint)PlaintextLength);
        BinaryPrimitives.WriteUInt32BigEndian(destination[40..], (uint)CiphertextLength);
    }

    internal static long MaxCompressedBytes(int plaintextLength) => System.IO.Compression.BrotliEncoder.GetMaxCompressedLength(plaintextLength);
}
