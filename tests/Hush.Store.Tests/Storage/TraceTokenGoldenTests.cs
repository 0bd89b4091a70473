using System.Security.Cryptography;
using System.Text;
using Hush.Otlp;
using Hush.Store.Storage;
using Microsoft.Data.Sqlite;

namespace Hush.Store.Tests.Storage;

/// <summary>
/// Freezes the trace tokens of the index, both versions: version 1 (truncated HMAC-SHA256, what stores written before
/// 2026-12 hold) and version 2 (one AES-256 block under <c>HKDF(KEK, "hush/index/v2/traces/" + tenant)</c>, written now).
/// The stores in <c>testdata/store-v1</c> and <c>testdata/store-v1-crash</c> were written by the store of commit
/// <c>5410316</c>, the last to write version-1 tokens, under <see cref="TestData.Kek"/>: they must stay readable as they
/// are. A change of the token function is a new version, never an edited expectation or a regenerated store.
/// </summary>
public sealed class TraceTokenGoldenTests : IDisposable
{
    private readonly TempDirectory _dir = new();
    private readonly KeyMaterial _kek = TestData.Kek();

    public void Dispose()
    {
        _kek.Dispose();
        SqliteConnection.ClearAllPools();
        _dir.Dispose();
    }

    private string IndexPath => Path.Combine(_dir.Path, StoreIndex.FileName);

    [Fact]
    public void TraceToken_BothVersions_AreFrozen()
    {
        var key = new IndexKey(_kek, "acme");
        (int Trace, string Version1, string Version2)[] cases =
        [
            (1, "10fd631bb7e7e39e73cac787717b817b", "732c7e1da987dad4a6bf0d428c3920e0"),
            (2, "d40e8305c9622d0eeb31c5c351dbddbc", "0ed9069e7fdc5594afcf230bfa6dc75e"),
            (4, "8fcfa994b4bdcb7d1ff0612ee7b6ffcb", "4bd56fb7f9ecc40248829a4561474576"),
        ];

        Assert.Equal(cases.Select(c => c.Version1), cases.Select(c => Hex(key.TraceToken(Spans.Trace(c.Trace), 1))));
        Assert.Equal(cases.Select(c => c.Version2), cases.Select(c => Hex(key.TraceToken(Spans.Trace(c.Trace), 2))));
    }

    [Fact]
    public void TraceToken_Version2_IsOneAesBlockOfTheTraceIdUnderTheTenantsDerivedKey()
    {
        var traceKey = new byte[32];
        HKDF.DeriveKey(HashAlgorithmName.SHA256, _kek.Span, traceKey, salt: [], info: Encoding.UTF8.GetBytes("hush/index/v2/traces/acme"));
        using var aes = Aes.Create();
        aes.Key = traceKey;
        var key = new IndexKey(_kek, "acme");

        foreach (var id in new[] { Spans.Trace(1), new TraceId(ulong.MaxValue, 0), new TraceId(0x0102030405060708, 0x090a0b0c0d0e0f10) })
        {
            var expected = aes.EncryptEcb(id.ToBytes(), PaddingMode.None);
            Assert.Equal(Convert.ToHexStringLower(expected), Hex(key.TraceToken(id, 2)));
        }

        // Another tenant's key gives other tokens.
        Assert.NotEqual(key.TraceToken(Spans.Trace(1), 2), new IndexKey(_kek, "globex").TraceToken(Spans.Trace(1), 2));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void TraceTokens_ManyAtOnce_EqualEachAlone(byte version)
    {
        var key = new IndexKey(_kek, "acme");
        var random = new Random(3);
        var ids = Enumerable.Range(0, 300).Select(_ => new TraceId((ulong)random.NextInt64(), (ulong)random.NextInt64())).ToArray();
        var bytes = new byte[ids.Length * IndexKey.TraceTokenBytes];

        key.TraceTokens(ids, version, bytes);

        for (var i = 0; i < ids.Length; i++)
        {
            Assert.Equal(key.TraceToken(ids[i], version), TraceKey.TokenOf(bytes.AsSpan(i * IndexKey.TraceTokenBytes, IndexKey.TraceTokenBytes)));
        }
    }

    [Fact]
    public async Task Append_NewStore_IndexesVersion2TokensInBlocksAndSealedSegments()
    {
        using (var store = TraceStore.Open(_dir.Path, _kek, new StoreOptions { SegmentMaxBytes = 1 }))
        {
            store.Append("acme", Spans.Request("checkout", Spans.Span(1, 1), Spans.Span(2, 2)));
            store.Append("acme", Spans.Request("checkout", Spans.Span(1, 3)));
        }

        var key = new IndexKey(_kek, "acme");
        Assert.Equal(
            Hex(key.TraceToken(Spans.Trace(1), 2)) + Hex(key.TraceToken(Spans.Trace(2), 2)),
            Text("SELECT lower(hex(traces)) FROM blocks WHERE seq = 1"));
        Assert.Equal("2,2", Text("SELECT group_concat(token_version) FROM blocks"));
        Assert.Equal("2", Text("SELECT group_concat(token_version) FROM sealed"));
        using var reopened = TraceStore.Open(_dir.Path, _kek);
        Assert.Equal("2,2", Text("SELECT group_concat(token_version) FROM (SELECT token_version FROM sealed ORDER BY segment)"));
        Assert.Equal(2, Spans.All((await reopened.FindTraceAsync("acme", Spans.Trace(1), null, null, default))!).Count());
    }

    [Fact]
    public async Task Open_StoreWithVersion1Tokens_FindsEveryTraceAndWritesVersion2Next()
    {
        CopyGolden("store-v1");
        using (var store = TraceStore.Open(_dir.Path, _kek, new StoreOptions { SegmentMaxBytes = 1 }))
        {
            // Segments 1 and 2 were sealed by the old store; 3 was left open and is sealed now, from its version-1 blob.
            Assert.Equal("1,1,1", Text("SELECT group_concat(token_version) FROM (SELECT token_version FROM sealed ORDER BY segment)"));
            Assert.Equal(new[] { 1, 3 }, await SpanIdsOf(store, 1));
            Assert.Equal(new[] { 2 }, await SpanIdsOf(store, 2));
            Assert.Equal(new[] { 4 }, await SpanIdsOf(store, 3));
            Assert.Equal(new[] { 5 }, await SpanIdsOf(store, 4));
            Assert.Equal(4, (await Spans.CollectAsync(store.ScanAsync("acme", new Hush.Store.Reading.TraceScan(), default))).Count);
            Assert.True(store.Verify("acme").IsIntact);

            // New blocks, in a new segment with version-2 tokens; trace 1 now spans both versions.
            store.Append("acme", Spans.Request("checkout", Spans.Span(1, 9), Spans.Span(7, 10)));
            Assert.Equal("1,1,1,2", Text("SELECT group_concat(token_version) FROM (SELECT token_version FROM blocks ORDER BY seq)"));
            Assert.Equal(new[] { 1, 3, 9 }, await SpanIdsOf(store, 1));
            Assert.Equal(new[] { 10 }, await SpanIdsOf(store, 7));
        }

        using var reopened = TraceStore.Open(_dir.Path, _kek);
        Assert.Equal("1,1,1,2", Text("SELECT group_concat(token_version) FROM (SELECT token_version FROM sealed ORDER BY segment)"));
        Assert.Equal(new[] { 1, 3, 9 }, await SpanIdsOf(reopened, 1));
        Assert.Equal(new[] { 10 }, await SpanIdsOf(reopened, 7));
        Assert.Empty(await SpanIdsOf(reopened, 8));
        Assert.True(reopened.Verify("acme").IsIntact);
    }

    /// <summary>A version-1 segment with a block the old store wrote and fsynced but did not index (a crash): indexed with version-1 tokens, as its neighbour.</summary>
    [Fact]
    public async Task Open_Version1SegmentWithAnUnindexedBlock_IndexesItWithTheSegmentsVersion()
    {
        CopyGolden("store-v1-crash");
        Assert.Equal(1, Count("SELECT count(*) FROM blocks"));

        using var store = TraceStore.Open(_dir.Path, _kek);

        Assert.Equal((2L, 3L), store.Totals("acme"));
        Assert.Equal("1,1", Text("SELECT group_concat(token_version) FROM (SELECT token_version FROM blocks ORDER BY seq)"));
        Assert.Equal(1, Count("SELECT token_version FROM sealed WHERE segment = 1"));
        Assert.Equal(new[] { 6, 8 }, await SpanIdsOf(store, 5));
        Assert.Equal(new[] { 7 }, await SpanIdsOf(store, 6));
        Assert.True(store.Verify("acme").IsIntact);
    }

    private static string Hex(UInt128 token)
    {
        var bytes = new byte[IndexKey.TraceTokenBytes];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt128BigEndian(bytes, token);
        return Convert.ToHexStringLower(bytes);
    }

    private static async Task<int[]> SpanIdsOf(TraceStore store, int trace)
        => await store.FindTraceAsync("acme", Spans.Trace(trace), null, null, default) is { } found
            ? [.. Spans.All(found).Select(s => (int)s.SpanId.Value).Order()]
            : [];

    private void CopyGolden(string name)
    {
        var from = TestData.TestdataPath(name);
        foreach (var file in Directory.GetFiles(from, "*", SearchOption.AllDirectories))
        {
            var target = Path.Combine(_dir.Path, Path.GetRelativePath(from, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
            if (!OperatingSystem.IsWindows())
            {
                File.SetUnixFileMode(target, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            }
        }
    }

    private long Count(string sql) => long.Parse(Text(sql), System.Globalization.CultureInfo.InvariantCulture);

    private string Text(string sql)
    {
        using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = IndexPath, Pooling = false }.ToString());
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        return Convert.ToString(command.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture) ?? string.Empty;
    }
}
