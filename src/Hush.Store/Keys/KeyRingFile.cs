using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace Hush.Store;

/// <summary>One key as the key ring file holds it, unwrapped.</summary>
internal sealed record KeyRingEntry(string Tenant, KeyId Id, bool Active, long CreatedUnixMs, KeyMaterial Key);

/// <summary>
/// The key ring file, version 1 (layout in README.md): magic, version, a KEK check value (so a wrong KEK is
/// told apart from a corrupt file), the entries with each data key wrapped by AES-256-GCM under the KEK, and
/// an HMAC-SHA256 trailer over everything before it under a key derived from the KEK (so removing, reordering
/// or re-flagging entries is detected, not just changing a wrapped key).
/// </summary>
internal static class KeyRingFile
{
    public static ReadOnlySpan<byte> Magic => "HUSHKEYS"u8;

    public const ushort Version = 1;
    public const int HeaderBytes = 32;
    public const int CheckBytes = 16;
    public const int MacBytes = 32;
    public const int NonceBytes = 12;
    public const int TagBytes = 16;
    public const byte ActiveFlag = 0x01;

    /// <summary>UTF-8 bytes of a tenant name; the gateway's tenant ids are far shorter.</summary>
    public const int MaxTenantBytes = 255;

    /// <summary>About 150,000 keys; bounds what a corrupt or hostile file makes us read.</summary>
    public const int MaxFileBytes = 16 * 1024 * 1024;

    /// <summary>Fixed part of an entry: tenant length (2), key id (8), flags (1), created (8), nonce, wrapped key, tag.</summary>
    public const int EntryFixedBytes = 2 + KeyId.Bytes + 1 + 8 + NonceBytes + KeyMaterial.KeyBytes + TagBytes;

    private static ReadOnlySpan<byte> CheckInput => "hush keyring kek check"u8;

    private static ReadOnlySpan<byte> WrapDomain => "hush/dek/v1"u8;

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    public static byte[] Write(IReadOnlyList<KeyRingEntry> entries, KeyMaterial kek, IRandomSource random)
    {
        var size = HeaderBytes + MacBytes;
        foreach (var entry in entries)
        {
            size += EntryFixedBytes + Encoding.UTF8.GetByteCount(entry.Tenant);
        }

        var file = new byte[size];
        Magic.CopyTo(file);
        BinaryPrimitives.WriteUInt16BigEndian(file.AsSpan(8), Version);
        KekCheck(kek, file.AsSpan(12, CheckBytes));
        BinaryPrimitives.WriteUInt32BigEndian(file.AsSpan(28), (uint)entries.Count);

        using var aes = new AesGcm(kek.Span, TagBytes);
        var offset = HeaderBytes;
        Span<byte> aad = stackalloc byte[WrapDomain.Length + 2 + MaxTenantBytes + KeyId.Bytes];
        foreach (var entry in entries)
        {
            var tenantLength = Encoding.UTF8.GetBytes(entry.Tenant, file.AsSpan(offset + 2));
            BinaryPrimitives.WriteUInt16BigEndian(file.AsSpan(offset), (ushort)tenantLength);
            var tenant = file.AsSpan(offset + 2, tenantLength);
            offset += 2 + tenantLength;
            entry.Id.Write(file.AsSpan(offset));
            file[offset + 8] = entry.Active ? ActiveFlag : (byte)0;
            BinaryPrimitives.WriteInt64BigEndian(file.AsSpan(offset + 9), entry.CreatedUnixMs);
            var nonce = file.AsSpan(offset + 17, NonceBytes);
            random.Fill(nonce);
            var wrapped = file.AsSpan(offset + 17 + NonceBytes, KeyMaterial.KeyBytes);
            var tag = file.AsSpan(offset + 17 + NonceBytes + KeyMaterial.KeyBytes, TagBytes);
            var aadLength = WrapAad(tenant, entry.Id, aad);
            aes.Encrypt(nonce, entry.Key.Span, wrapped, tag, aad[..aadLength]);
            offset += EntryFixedBytes - 2;
        }

        Mac(kek, file.AsSpan(0, offset), file.AsSpan(offset, MacBytes));
        return file;
    }

    /// <exception cref="KeyStoreException">The file is corrupt or sealed under another KEK; the message names <paramref name="path"/>.</exception>
    public static List<KeyRingEntry> Read(ReadOnlySpan<byte> file, KeyMaterial kek, string path)
    {
        if (file.Length < HeaderBytes + MacBytes || !file.StartsWith(Magic))
        {
            throw Corrupt(path, "it does not start with a key ring header");
        }

        var version = BinaryPrimitives.ReadUInt16BigEndian(file[8..]);
        if (version != Version)
        {
            throw new KeyStoreException($"The key ring {path} has format version {version}; this build reads version {Version}.", path);
        }

        if (BinaryPrimitives.ReadUInt16BigEndian(file[10..]) != 0)
        {
            throw Corrupt(path, "reserved header bytes are set");
        }

        Span<byte> expected = stackalloc byte[MacBytes];
        KekCheck(kek, expected[..CheckBytes]);
        if (!CryptographicOperations.FixedTimeEquals(expected[..CheckBytes], file.Slice(12, CheckBytes)))
        {
            throw new KeyStoreException($"The key ring {path} was sealed under a different key-encryption key; check the key file, {KeyEncryptionKey.EnvironmentVariable} or the mounted secret.", path);
        }

        var body = file[..^MacBytes];
        Mac(kek, body, expected);
        if (!CryptographicOperations.FixedTimeEquals(expected, file[^MacBytes..]))
        {
            throw Corrupt(path, "its authentication code does not match (modified or truncated)");
        }

        var count = BinaryPrimitives.ReadUInt32BigEndian(file[28..]);
        if (count > (uint)(body.Length - HeaderBytes) / EntryFixedBytes)
        {
            throw Corrupt(path, "the entry count exceeds the file");
        }

        var entries = new List<KeyRingEntry>((int)count);
        using var aes = new AesGcm(kek.Span, TagBytes);
        var offset = HeaderBytes;
        Span<byte> aad = stackalloc byte[WrapDomain.Length + 2 + MaxTenantBytes + KeyId.Bytes];
        for (var i = 0; i < count; i++)
        {
            if (body.Length - offset < EntryFixedBytes)
            {
                throw Corrupt(path, $"entry {i} is truncated");
            }

            var tenantLength = BinaryPrimitives.ReadUInt16BigEndian(body[offset..]);
            if (tenantLength is 0 or > MaxTenantBytes || body.Length - offset < EntryFixedBytes + tenantLength)
            {
                throw Corrupt(path, $"entry {i} has an invalid tenant length");
            }

            var tenantBytes = body.Slice(offset + 2, tenantLength);
            string tenant;
            try
            {
                tenant = StrictUtf8.GetString(tenantBytes);
            }
            catch (DecoderFallbackException)
            {
                throw Corrupt(path, $"entry {i} has a tenant that is not UTF-8");
            }

            offset += 2 + tenantLength;
            var id = KeyId.Read(body[offset..]);
            var flags = body[offset + 8];
            if ((flags & ~ActiveFlag) != 0)
            {
                throw Corrupt(path, $"entry {i} has unknown flags");
            }

            var created = BinaryPrimitives.ReadInt64BigEndian(body[(offset + 9)..]);
            var nonce = body.Slice(offset + 17, NonceBytes);
            var wrapped = body.Slice(offset + 17 + NonceBytes, KeyMaterial.KeyBytes);
            var tag = body.Slice(offset + 17 + NonceBytes + KeyMaterial.KeyBytes, TagBytes);
            var key = new byte[KeyMaterial.KeyBytes];
            try
            {
                aes.Decrypt(nonce, wrapped, tag, key, aad[..WrapAad(tenantBytes, id, aad)]);
            }
            catch (AuthenticationTagMismatchException)
            {
                throw Corrupt(path, $"data key {id} does not unwrap");
            }

            entries.Add(new KeyRingEntry(tenant, id, (flags & ActiveFlag) != 0, created, KeyMaterial.Own(key)));
            offset += EntryFixedBytes - 2;
        }

        if (offset != body.Length)
        {
            throw Corrupt(path, "bytes follow the last entry");
        }

        return entries;
    }

    private static int WrapAad(ReadOnlySpan<byte> tenant, KeyId id, Span<byte> destination)
    {
        WrapDomain.CopyTo(destination);
        var offset = WrapDomain.Length;
        BinaryPrimitives.WriteUInt16BigEndian(destination[offset..], (ushort)tenant.Length);
        tenant.CopyTo(destination[(offset + 2)..]);
        offset += 2 + tenant.Length;
        id.Write(destination[offset..]);
        return offset + KeyId.Bytes;
    }

    private static void KekCheck(KeyMaterial kek, Span<byte> destination)
    {
        Span<byte> key = stackalloc byte[32];
        Span<byte> full = stackalloc byte[32];
        HKDF.DeriveKey(HashAlgorithmName.SHA256, kek.Span, key, [], "hush/keyring/v1/check"u8);
        HMACSHA256.HashData(key, CheckInput, full);
        full[..destination.Length].CopyTo(destination);
        CryptographicOperations.ZeroMemory(key);
    }

    private static void Mac(KeyMaterial kek, ReadOnlySpan<byte> data, Span<byte> destination)
    {
        Span<byte> key = stackalloc byte[32];
        HKDF.DeriveKey(HashAlgorithmName.SHA256, kek.Span, key, [], "hush/keyring/v1/mac"u8);
        HMACSHA256.HashData(key, data, destination);
        CryptographicOperations.ZeroMemory(key);
    }

    private static KeyStoreException Corrupt(string path, string reason)
        => new($"The key ring {path} is corrupt: {reason}. Restore it from a backup; without it the tenant data it protects is unreadable.", path);
}
