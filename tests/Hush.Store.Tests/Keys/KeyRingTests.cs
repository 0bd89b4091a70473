using Hush.Store;

namespace Hush.Store.Tests.Keys;

public sealed class KeyRingTests
{
    [Fact]
    public void KeyMaterial_ToString_IsRedacted()
    {
        using var kek = TestData.Kek();
        Assert.Equal("[REDACTED]", kek.ToString());
        Assert.Equal("[REDACTED]", $"{kek}");
    }

    [Fact]
    public void KeyEncryptionKey_ReadOrCreateFile_CreatesOwnerOnlyAndReadsSameKeyBack()
    {
        using var dir = new TempDirectory();
        var path = KeyEncryptionKey.DefaultPath(dir.Path);
        using var first = KeyEncryptionKey.Load(dir.Path, null, _ => null, out var source);
        using var second = KeyEncryptionKey.ReadOrCreateFile(path);
        Assert.Equal(path, source);
        Assert.True(first.Span.SequenceEqual(second.Span));
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(Path.GetDirectoryName(path)!));
        }

        Assert.Empty(Directory.GetFiles(Path.GetDirectoryName(path)!, "*.tmp-*"));
    }

    [Fact]
    public void KeyEncryptionKey_FileOpenToOthers_IsRefusedNamingTheFile()
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }

        using var dir = new TempDirectory();
        var path = KeyEncryptionKey.DefaultPath(dir.Path);
        KeyEncryptionKey.ReadOrCreateFile(path).Dispose();
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.OtherRead);
        var ex = Assert.Throws<KeyStoreException>(() => KeyEncryptionKey.ReadOrCreateFile(path));
        Assert.Contains(path, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void KeyEncryptionKey_FromEnvironmentAndSecretPath_DecodeBase64AndRaw()
    {
        using var dir = new TempDirectory();
        var raw = Enumerable.Range(0, 32).Select(i => (byte)i).ToArray();
        using var fromEnv = KeyEncryptionKey.Load(dir.Path, null, name => name == KeyEncryptionKey.EnvironmentVariable ? Convert.ToBase64String(raw) : null, out var source);
        Assert.Equal("$HUSH_STORE_KEK", source);
        Assert.True(fromEnv.Span.SequenceEqual(raw));

        var secret = Path.Combine(dir.Path, "mounted");
        File.WriteAllBytes(secret, raw);
        using var fromSecret = KeyEncryptionKey.Load(dir.Path, secret, _ => Convert.ToBase64String(new byte[32]), out source);
        Assert.Equal(secret, source);
        Assert.True(fromSecret.Span.SequenceEqual(raw));
        Assert.False(File.Exists(KeyEncryptionKey.DefaultPath(dir.Path)));
    }

    [Fact]
    public void KeyEncryptionKey_BadSecret_ErrorNamesSourceNeverContent()
    {
        using var dir = new TempDirectory();
        const string planted = "c2VjcmV0LXZhbHVlLXRoYXQtaXMtdG9vLXNob3J0";
        var ex = Assert.Throws<KeyStoreException>(() => KeyEncryptionKey.Load(dir.Path, null, _ => planted, out _));
        Assert.Contains("HUSH_STORE_KEK", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(planted, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void KeyRing_GetActiveKey_CreatesOncePersistsAndReloads()
    {
        using var dir = new TempDirectory();
        using var kek = TestData.Kek();
        KeyId id;
        using (var ring = KeyRing.Open(dir.Path, kek))
        {
            id = ring.GetActiveKey("acme").Id;
            Assert.Equal(id, ring.GetActiveKey("acme").Id);
            Assert.NotEqual(id, ring.GetActiveKey("globex").Id);
        }

        using var reopened = KeyRing.Open(dir.Path, kek);
        Assert.Equal(id, reopened.GetActiveKey("acme").Id);
        Assert.Equal(2, reopened.Tenants.Count);
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(reopened.FilePath));
        }
    }

    [Fact]
    public void KeyRing_Rotate_NewActiveKeyOldKeysStillReadBlocks()
    {
        using var dir = new TempDirectory();
        using var kek = TestData.Kek();
        using var ring = KeyRing.Open(dir.Path, kek);
        var old = ring.GetActiveKey("acme");
        var position = new BlockPosition("acme", 1, 1);
        var block = BlockCodec.Encode(TestData.Request(3), old, position);

        var rotated = ring.Rotate("acme");
        Assert.NotEqual(old.Id, rotated.Id);
        Assert.Equal(rotated.Id, ring.GetActiveKey("acme").Id);
        Assert.Equal(2, ring.GetKeys("acme").Count);

        using var reopened = KeyRing.Open(dir.Path, kek);
        Assert.Equal(rotated.Id, reopened.GetActiveKey("acme").Id);
        Assert.True(BlockCodec.TryDecode(block, reopened, position, out var request, out var error), error.ToString());
        Assert.Equal(3, request.ResourceSpans[0].ScopeSpans[0].Spans.Count);
    }

    [Fact]
    public void KeyRing_Destroy_RemovesEveryKeyOfTheTenantOnlyAndBlocksBecomeUnreadable()
    {
        using var dir = new TempDirectory();
        using var kek = TestData.Kek();
        using var ring = KeyRing.Open(dir.Path, kek);
        var position = new BlockPosition("acme", 1, 1);
        var block = BlockCodec.Encode(TestData.Request(2), ring.GetActiveKey("acme"), position);
        ring.Rotate("acme");
        var other = ring.GetActiveKey("globex");

        Assert.Equal(2, ring.Destroy("acme"));
        Assert.Empty(ring.GetKeys("acme"));
        Assert.False(BlockCodec.TryDecode(block, ring, position, out _, out var error));
        Assert.Equal(BlockError.UnknownKey, error);

        using var reopened = KeyRing.Open(dir.Path, kek);
        Assert.Empty(reopened.GetKeys("acme"));
        Assert.Equal(other.Id, reopened.GetActiveKey("globex").Id);
        Assert.False(BlockCodec.TryDecode(block, reopened, position, out _, out _));
    }

    [Fact]
    public void KeyRing_WrongKek_ClearErrorNamingTheFile()
    {
        using var dir = new TempDirectory();
        using (var ring = KeyRing.Open(dir.Path, TestData.Kek(1)))
        {
            ring.GetActiveKey("acme");
        }

        using var wrong = TestData.Kek(2);
        var ex = Assert.Throws<KeyStoreException>(() => KeyRing.Open(dir.Path, wrong));
        Assert.Contains(KeyRing.DefaultPath(dir.Path), ex.Message, StringComparison.Ordinal);
        Assert.Contains("different key-encryption key", ex.Message, StringComparison.Ordinal);
        Assert.Equal(KeyRing.DefaultPath(dir.Path), ex.Location);
    }

    [Fact]
    public void KeyRing_CorruptFile_EveryFlippedByteOrTruncationIsAClearError()
    {
        using var dir = new TempDirectory();
        using var kek = TestData.Kek();
        using (var ring = KeyRing.Open(dir.Path, kek))
        {
            ring.GetActiveKey("acme");
            ring.Rotate("acme");
        }

        var path = KeyRing.DefaultPath(dir.Path);
        var original = File.ReadAllBytes(path);
        for (var i = 0; i < original.Length; i++)
        {
            var copy = (byte[])original.Clone();
            copy[i] ^= 0x40;
            File.WriteAllBytes(path, copy);
            var ex = Assert.Throws<KeyStoreException>(() => KeyRing.Open(dir.Path, kek));
            Assert.Contains(path, ex.Message, StringComparison.Ordinal);
        }

        for (var length = 0; length < original.Length; length += 7)
        {
            File.WriteAllBytes(path, original.AsSpan(0, length).ToArray());
            Assert.Throws<KeyStoreException>(() => KeyRing.Open(dir.Path, kek));
        }
    }

    [Fact]
    public void KeyRing_DiagnosticsNeverContainKeyBytes()
    {
        using var dir = new TempDirectory();
        using var kek = TestData.Kek();
        using var ring = KeyRing.Open(dir.Path, kek);
        var key = ring.GetActiveKey("acme");
        var hex = Convert.ToHexString(key.Material.Span);
        var b64 = Convert.ToBase64String(key.Material.Span);
        foreach (var text in new[] { ring.ToString(), key.ToString(), key.Material.ToString() })
        {
            Assert.DoesNotContain(hex, text, StringComparison.OrdinalIgnoreCase);
            Assert.DoesNotContain(b64, text, StringComparison.Ordinal);
        }

        Assert.Contains("[REDACTED]", key.ToString(), StringComparison.Ordinal);
    }

    /// <summary>Freezes the key ring file v1 (seeded randomness, fixed clock). Bump the version rather than edit it.</summary>
    [Fact]
    public void KeyRingFile_V1_GoldenBytes()
    {
        using var kek = TestData.Kek();
        using var dir = new TempDirectory();
        var path = Path.Combine(dir.Path, "keys", KeyRing.FileName);
        using (var ring = KeyRing.OpenFile(path, kek, new FixedTimeProvider(TestData.Epoch), new SeededRandomSource(7)))
        {
            ring.GetActiveKey("acme");
            ring.Rotate("acme");
            ring.GetActiveKey("globex");
        }

        var golden = TestData.TestdataPath("keyring-v1.bin");
        if (Environment.GetEnvironmentVariable("HUSH_WRITE_GOLDEN") == "1" && !File.Exists(TestData.SourceTestdataPath("keyring-v1.bin")))
        {
            File.Copy(path, TestData.SourceTestdataPath("keyring-v1.bin"));
            return;
        }

        var expected = File.ReadAllBytes(golden);
        Assert.Equal(Convert.ToHexString(expected), Convert.ToHexString(File.ReadAllBytes(path)));
        Assert.Equal("HUSHKEYS"u8.ToArray(), expected[..8]);
        Assert.Equal(new byte[] { 0, 1, 0, 0 }, expected[8..12]);
        Assert.Equal(new byte[] { 0, 0, 0, 3 }, expected[28..32]);

        File.WriteAllBytes(path, expected);
        using var reopened = KeyRing.OpenFile(path, kek, TimeProvider.System, new SeededRandomSource(1));
        Assert.Equal(2, reopened.GetKeys("acme").Count);
        Assert.Equal(TestData.Epoch, reopened.GetKeys("globex")[0].CreatedAt);
    }
}
