using System.Buffers.Binary;
using Hush.Otlp;
using Hush.Store.Reading;
using Hush.Store.Storage;
using Microsoft.Data.Sqlite;

namespace Hush.Store.Tests.Storage;

/// <summary>
/// The trace-by-id index: keys of the open segment in memory, of complete segments sorted into <c>trace_keys</c>;
/// sealing after a crash and from an index of the earlier layout; and the keyed hashes behind it.
/// </summary>
public sealed class TraceIndexTests : IDisposable
{
    private readonly TempDirectory _dir = new();
    private readonly KeyMaterial _kek = TestData.Kek();

    public void Dispose()
    {
        _kek.Dispose();
        _dir.Dispose();
    }

    /// <summary>Trace keys sealed into the index for tenant acme (24-byte entries in bucket blobs).</summary>
    private const string KeysOfAcme = "SELECT coalesce(sum(length(entries)), 0) / 24 FROM trace_keys WHERE tenant = 'acme'";

    private string IndexPath => Path.Combine(_dir.Path, StoreIndex.FileName);

    /// <summary>Small segments: each request below fills one, so a trace written over three requests spans segments.</summary>
    private static StoreOptions SmallSegments => new() { SegmentMaxBytes = 1 };

    [Fact]
    public async Task FindTrace_TraceSpreadOverSealedAndOpenSegments_ReturnsEverySpanOnce()
    {
        using var store = TraceStore.Open(_dir.Path, _kek, SmallSegments);
        for (var round = 0; round < 3; round++)
        {
            store.Append("acme", Spans.Request("checkout", Spans.Span(7, 10 + round), Spans.Span(100 + round, 1)));
        }

        Assert.Equal(3, SegmentFiles.Paths(_dir.Path, "acme").Length);

        var trace = await store.FindTraceAsync("acme", Spans.Trace(7), null, null, CancellationToken.None);

        Assert.NotNull(trace);
        Assert.Equal([10, 11, 12], Spans.All(trace).Select(s => (int)s.SpanId.Value).Order());
        Assert.Equal(2, Count("SELECT count(*) FROM sealed WHERE tenant = 'acme'"));
    }

    [Fact]
    public async Task ScanAsync_TraceSpreadOverSealedAndOpenSegments_ComesWholeAndOnce()
    {
        using var store = TraceStore.Open(_dir.Path, _kek, SmallSegments);
        for (var round = 0; round < 4; round++)
        {
            store.Append("acme", Spans.Request("checkout", Spans.Span(7, 10 + round), Spans.Span(200 + round, 1)));
        }

        var traces = await Spans.CollectAsync(store.ScanAsync("acme", new TraceScan(), CancellationToken.None));

        Assert.Equal(5, traces.Count);
        var spread = Assert.Single(traces, t => Spans.TraceIdOf(t) == Spans.Trace(7));
        Assert.Equal([10, 11, 12, 13], Spans.All(spread).Select(s => (int)s.SpanId.Value).Order());
        Assert.Equal(3, Count("SELECT count(*) FROM sealed WHERE tenant = 'acme' AND filter IS NOT NULL"));
    }

    [Fact]
    public async Task ScanAsync_MorePagesOfBlocksThanOne_ReturnsEveryTraceOnceNewestFirst()
    {
        using var store = TraceStore.Open(_dir.Path, _kek);
        var order = Enumerable.Range(1, 300).OrderBy(t => (t * 7919) % 300).ToList();
        foreach (var t in order)
        {
            store.Append("acme", Spans.Request("checkout", Spans.Span(t, 1, startSeconds: (ulong)t)));
        }

        var traces = await Spans.CollectAsync(store.ScanAsync("acme", new TraceScan(), CancellationToken.None));

        Assert.Equal(Enumerable.Range(1, 300).Reverse(), traces.Select(t => (int)Spans.TraceIdOf(t).Low));
    }

    [Fact]
    public async Task FindTrace_SegmentOfThousandsOfTraces_FindsEachInItsBucketAndNoOther()
    {
        using var store = TraceStore.Open(_dir.Path, _kek, SmallSegments);
        store.Append("acme", Spans.Request("checkout", Enumerable.Range(1, 3000).Select(t => Spans.Span(t, t))));
        store.Append("acme", Spans.Request("checkout", Spans.Span(5000, 1)));

        Assert.Equal(3000, Count(KeysOfAcme));
        Assert.InRange(Count("SELECT bits FROM sealed WHERE tenant = 'acme' AND segment = 1"), 5, 6);
        for (var t = 1; t <= 3000; t += 7)
        {
            var trace = await store.FindTraceAsync("acme", Spans.Trace(t), null, null, CancellationToken.None);
            Assert.Equal(t, (int)Assert.Single(Spans.All(trace!)).SpanId.Value);
        }

        Assert.Null(await store.FindTraceAsync("acme", Spans.Trace(4000), null, null, CancellationToken.None));
        Assert.Null(await store.FindTraceAsync("other", Spans.Trace(1), null, null, CancellationToken.None));
    }

    [Fact]
    public async Task Open_AfterRestart_SealsTheLastSegmentAndFindsEveryTrace()
    {
        using (var store = TraceStore.Open(_dir.Path, _kek))
        {
            for (var t = 1; t <= 20; t++)
            {
                store.Append("acme", Spans.Request("checkout", Spans.Span(t, 1), Spans.Span(t, 2)));
            }

            Assert.Equal(0, Count(KeysOfAcme));
        }

        using var reopened = TraceStore.Open(_dir.Path, _kek);

        Assert.Equal(20, Count(KeysOfAcme));
        for (var t = 1; t <= 20; t++)
        {
            var trace = await reopened.FindTraceAsync("acme", Spans.Trace(t), null, null, CancellationToken.None);
            Assert.Equal(2, Spans.All(trace!).Count());
        }
    }

    [Fact]
    public async Task Open_CrashPartWayThroughASeal_SealsTheSegmentAgain()
    {
        using (var store = TraceStore.Open(_dir.Path, _kek, SmallSegments))
        {
            for (var t = 1; t <= 4; t++)
            {
                store.Append("acme", Spans.Request("checkout", Spans.Span(t, 1), Spans.Span(t + 50, 1)));
            }
        }

        // A crash after some chunks of keys were written, before the segment was listed as sealed.
        Execute("DELETE FROM sealed; DELETE FROM trace_keys WHERE segment % 2 = 0;");

        using var reopened = TraceStore.Open(_dir.Path, _kek, SmallSegments);

        Assert.Equal(4, Count("SELECT count(*) FROM sealed WHERE tenant = 'acme'"));
        for (var t = 1; t <= 4; t++)
        {
            Assert.NotNull(await reopened.FindTraceAsync("acme", Spans.Trace(t), null, null, CancellationToken.None));
            Assert.NotNull(await reopened.FindTraceAsync("acme", Spans.Trace(t + 50), null, null, CancellationToken.None));
        }
    }

    [Fact]
    public async Task Open_IndexOfTheEarlierLayout_MovesItsTraceTokensAndDropsTheOldTable()
    {
        using (var store = TraceStore.Open(_dir.Path, _kek, SmallSegments))
        {
            for (var t = 1; t <= 5; t++)
            {
                store.Append("acme", Spans.Request("checkout", Spans.Span(t, 1), Spans.Span(t, 2)));
            }
        }

        // The layout before trace_keys: one row per (token, block), no token blob on the block, nothing sealed
        // (each block here holds one trace, so its blob is that one token).
        Execute("""
            CREATE TABLE traces(token BLOB NOT NULL, block INTEGER NOT NULL, PRIMARY KEY(token, block)) WITHOUT ROWID;
            CREATE INDEX traces_block ON traces(block);
            INSERT INTO traces(token, block) SELECT traces, id FROM blocks;
            DROP TABLE trace_keys;
            DROP TABLE sealed;
            ALTER TABLE blocks DROP COLUMN traces;
            """);
        Assert.Equal(5, Count("SELECT count(*) FROM traces"));

        using var reopened = TraceStore.Open(_dir.Path, _kek, SmallSegments);

        Assert.Equal(0, Count("SELECT count(*) FROM sqlite_master WHERE name = 'traces'"));
        Assert.Equal(0, Count("SELECT freelist_count FROM pragma_freelist_count"));
        for (var t = 1; t <= 5; t++)
        {
            var trace = await reopened.FindTraceAsync("acme", Spans.Trace(t), null, null, CancellationToken.None);
            Assert.Equal(2, Spans.All(trace!).Count());
        }

        reopened.Append("acme", Spans.Request("checkout", Spans.Span(9, 1)));
        Assert.NotNull(await reopened.FindTraceAsync("acme", Spans.Trace(9), null, null, CancellationToken.None));
    }

    [Fact]
    public async Task Open_SegmentFiltersOfAnOlderVersionOrNone_AreRebuiltAsWrittenNow()
    {
        using (var store = TraceStore.Open(_dir.Path, _kek, SmallSegments))
        {
            for (var t = 1; t <= 4; t++)
            {
                store.Append("acme", Spans.Request("checkout", Spans.Span(t, 1), Spans.Span(t + 50, 1)));
            }
        }

        const string Filters = "SELECT group_concat(hex(filter), ',') FROM (SELECT filter FROM sealed WHERE tenant = 'acme' AND segment <= 3 ORDER BY segment)";
        var written = Text(Filters);

        // Version 1 (another probing: read as "maybe", so every lookup read every segment's bucket) and no filter at all.
        Execute("UPDATE sealed SET filter = CAST(x'0107' || zeroblob(64) AS BLOB) WHERE segment % 2 = 1; UPDATE sealed SET filter = NULL WHERE segment % 2 = 0;");
        Assert.NotEqual(written, Text(Filters));

        using var reopened = TraceStore.Open(_dir.Path, _kek, SmallSegments);

        Assert.Equal(4, Count("SELECT count(*) FROM sealed WHERE tenant = 'acme' AND hex(substr(filter, 1, 1)) = '02'"));
        Assert.Equal(written, Text(Filters));
        for (var t = 1; t <= 4; t++)
        {
            Assert.NotNull(await reopened.FindTraceAsync("acme", Spans.Trace(t), null, null, CancellationToken.None));
            Assert.NotNull(await reopened.FindTraceAsync("acme", Spans.Trace(t + 50), null, null, CancellationToken.None));
        }
    }

    [Fact]
    public async Task EnforceRetention_DeletedSegments_TakeTheirTraceKeysWith()
    {
        var clock = new ManualTimeProvider(DateTimeOffset.Parse("2026-01-01T00:00:00Z", System.Globalization.CultureInfo.InvariantCulture));
        var options = new StoreOptions { SegmentMaxBytes = 1, Retention = TimeSpan.FromDays(1) };
        using var store = TraceStore.Open(_dir.Path, _kek, options, clock);
        store.Append("acme", Spans.Request("checkout", Spans.Span(1, 1)));
        store.Append("acme", Spans.Request("checkout", Spans.Span(2, 1)));
        clock.Advance(TimeSpan.FromDays(2));
        store.Append("acme", Spans.Request("checkout", Spans.Span(3, 1)));
        Assert.Equal(2, Count(KeysOfAcme));

        store.EnforceRetention();

        Assert.Equal(0, Count(KeysOfAcme));
        Assert.Null(await store.FindTraceAsync("acme", Spans.Trace(1), null, null, CancellationToken.None));
        Assert.NotNull(await store.FindTraceAsync("acme", Spans.Trace(3), null, null, CancellationToken.None));
    }

    [Fact]
    public async Task EraseMatching_TraceInASealedSegment_IsFoundInItsRewrittenBlock()
    {
        using var store = TraceStore.Open(_dir.Path, _kek, SmallSegments);
        var marked = Spans.Span(1, 1, attributes: new KeyValue("enduser.id", AnyValue.Of("usr_4f1c")));
        store.Append("acme", Spans.Request("checkout", marked, Spans.Span(1, 2)));
        store.Append("acme", Spans.Request("checkout", Spans.Span(2, 1)));

        store.EraseMatching("acme", "usr_4f1c");

        var trace = await store.FindTraceAsync("acme", Spans.Trace(1), null, null, CancellationToken.None);
        Assert.Equal([2], Spans.All(trace!).Select(s => (int)s.SpanId.Value));
    }

    [Fact]
    public void SipHash_ReferenceVectors_Match()
    {
        // Key 00..0f and messages 00..(n-1), from the SipHash paper's reference implementation (vectors.h).
        var key = Enumerable.Range(0, 16).Select(i => (byte)i).ToArray();
        var hash = new SipHash(key);
        byte[] Message(int n) => [.. Enumerable.Range(0, n).Select(i => (byte)i)];

        Assert.Equal(0x726fdb47dd0e0e31UL, hash.Hash([]));
        Assert.Equal(0x93f5f5799a932462UL, hash.Hash(Message(8)));
        Assert.Equal(0xa129ca6149be45e5UL, hash.Hash(Message(15)));
        Assert.Throws<ArgumentException>(() => new SipHash(new byte[8]));
    }

    [Fact]
    public void TermFilter_Version2_HasNoFalseNegativesAndFewFalsePositives()
    {
        var key = new IndexKey(_kek, "acme");
        var request = Spans.Request("checkout", Enumerable.Range(1, 200).Select(i => Spans.Span(i, i, $"op-{i}", attributes: new KeyValue("order.id", AnyValue.Of($"ord-{i}")))));

        var filter = TermFilter.Build(request, key);

        Assert.Equal(2, filter[0]);
        Assert.True(TermFilter.MightContain(filter, new TermHint(TermKind.ServiceName, string.Empty, "checkout"), key));
        for (var i = 1; i <= 200; i++)
        {
            Assert.True(TermFilter.MightContain(filter, new TermHint(TermKind.SpanName, string.Empty, $"op-{i}"), key));
            Assert.True(TermFilter.MightContain(filter, new TermHint(TermKind.Attribute, "order.id", $"ord-{i}"), key));
        }

        var falsePositives = Enumerable.Range(1, 2000).Count(i => TermFilter.MightContain(filter, new TermHint(TermKind.Attribute, "order.id", $"absent-{i}"), key));
        Assert.InRange(falsePositives, 0, 60);

        // The same term under another tenant's key sets other bits.
        var other = new IndexKey(TestData.Kek(9), "acme");
        Assert.True(Enumerable.Range(1, 200).Count(i => TermFilter.MightContain(filter, new TermHint(TermKind.SpanName, string.Empty, $"op-{i}"), other)) < 20);
    }

    [Fact]
    public void TermFilter_Version1_IsStillRead()
    {
        var key = new IndexKey(_kek, "acme");

        // A version-1 filter as the earlier store wrote it: seven probes from HMAC-SHA256 of the term, 512 bits.
        var filter = new byte[2 + 64];
        filter[0] = 1;
        filter[1] = 7;
        Span<byte> mac = stackalloc byte[32];
        key.TermV1(TermKind.SpanName, string.Empty, "GET /orders", mac);
        for (var i = 0; i < 7; i++)
        {
            var bit = BinaryPrimitives.ReadUInt32LittleEndian(mac[(i * 4)..]) % 512;
            filter[2 + (bit >> 3)] |= (byte)(1 << (int)(bit & 7));
        }

        Assert.True(TermFilter.MightContain(filter, new TermHint(TermKind.SpanName, string.Empty, "GET /orders"), key));
        Assert.False(TermFilter.MightContain(filter, new TermHint(TermKind.SpanName, string.Empty, "POST /payments"), key));
        Assert.True(TermFilter.MightContain([9, 7, 0, 0], new TermHint(TermKind.SpanName, string.Empty, "anything"), key));
    }

    [Fact]
    public void OpenTraceKeys_TraceInSeveralBlocksAndSegmentsOfEitherTokenVersion_FindsEveryBlockAndListsEveryPair()
    {
        var key = new IndexKey(_kek, "acme");
        var keys = new OpenTraceKeys();
        TraceId[] ids = [Spans.Trace(1), Spans.Trace(2), Spans.Trace(3), Spans.Trace(4)];
        byte[] Token(int trace, byte version)
        {
            var token = new byte[IndexKey.TraceTokenBytes];
            BinaryPrimitives.WriteUInt128BigEndian(token, key.TraceToken(ids[trace - 1], version));
            return token;
        }

        keys.Add(1, 10, [.. Token(1, 2), .. Token(2, 2)], 2);
        keys.Add(1, 11, Token(1, 2), 2);
        keys.Add(1, 12, [.. Token(3, 2), .. Token(1, 2)], 2);
        keys.Add(2, 20, Token(1, 1), 1);
        keys.Add(2, 21, Token(2, 2), 1);
        var lookup = new LookupTokens(ids, key);

        Assert.Equal(new ulong[] { 10, 11, 12, 20 }, keys.Find(lookup, 0).Order());
        Assert.Equal([10UL], keys.Find(lookup, 1));
        Assert.Empty(keys.Find(lookup, 3));
        Assert.Equal(5, keys.KeysOf(1).Keys.Count);
        Assert.Equal(2, keys.KeysOf(1).TokenVersion);
        Assert.Equal(1, keys.KeysOf(2).TokenVersion);
        Assert.Equal(3, keys.KeysOf(1).Keys.Count(k => k.Token == TraceKey.TokenOf(Token(1, 2))));
        Assert.Throws<InvalidOperationException>(() => keys.Add(2, 22, Token(4, 2), 2));
        keys.Forget(1);
        Assert.Equal([20UL], keys.Find(lookup, 0));
    }

    private long Count(string sql)
    {
        using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = IndexPath, Pooling = false }.ToString());
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        return (long)command.ExecuteScalar()!;
    }

    private string Text(string sql)
    {
        using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = IndexPath, Pooling = false }.ToString());
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        return (string)command.ExecuteScalar()!;
    }

    private void Execute(string sql)
    {
        using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = IndexPath, Pooling = false }.ToString());
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }
}
