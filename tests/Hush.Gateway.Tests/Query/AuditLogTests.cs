using System.Text;
using Hush.Gateway.Query.Audit;
using Hush.Gateway.Tests.Support;

namespace Hush.Gateway.Tests.Query;

/// <summary>The audit chain and its authenticated head: every kind of tampering is detected.</summary>
public sealed class AuditLogTests : IDisposable
{
    private readonly string _dataDir = Directory.CreateTempSubdirectory("hush-audit-").FullName;
    private readonly ManualClock _clock = new(new DateTimeOffset(2031, 1, 2, 3, 4, 5, TimeSpan.Zero));

    public void Dispose() => Directory.Delete(_dataDir, recursive: true);

    private string LogPath => Path.Combine(AuditLog.DirectoryFor(_dataDir), "audit.log");

    private string HeadPath => Path.Combine(AuditLog.DirectoryFor(_dataDir), "audit.head");

    private void Write(int records)
    {
        var log = AuditLog.Open(_dataDir, _clock);
        for (var i = 0; i < records; i++)
        {
            log.Append(Entry(i));
            _clock.Advance(TimeSpan.FromSeconds(1));
        }
    }

    private static AuditEntry Entry(int i) => new()
    {
        Identity = "apikey:k" + i,
        Tenant = "acme",
        Action = "search",
        Endpoint = "/api/search",
        Parameters = [new("q", "{ }"), new("limit", i.ToString())],
        Results = i,
        Decision = AuditDecision.Allow,
        Status = 200,
    };

    private List<string> Lines() => [.. File.ReadAllLines(LogPath)];

    private void Save(IEnumerable<string> lines) => File.WriteAllText(LogPath, string.Join("\n", lines) + "\n");

    [Fact]
    public void Format_Version1_IsFrozen()
    {
        var line = AuditLog.Format(1, new DateTimeOffset(2031, 1, 2, 3, 4, 5, 678, TimeSpan.Zero), Entry(7) with { Reason = "why" }, new byte[32]);

        Assert.Equal(
            "{\"v\":1,\"seq\":1,\"time\":\"2031-01-02T03:04:05.678Z\",\"identity\":\"apikey:k7\",\"tenant\":\"acme\",\"action\":\"search\",\"endpoint\":\"/api/search\","
            + "\"params\":{\"q\":\"{ }\",\"limit\":\"7\"},\"results\":7,\"decision\":\"allow\",\"status\":200,\"reason\":\"why\","
            + "\"prev\":\"0000000000000000000000000000000000000000000000000000000000000000\"}",
            line);
    }

    [Fact]
    public void Intact_AcrossReopens()
    {
        Write(3);
        Write(2);

        var result = AuditReader.Verify(_dataDir);

        Assert.True(result.Intact, string.Join("; ", result.Problems));
        Assert.Equal(5, result.Records);
        Assert.Equal(Enumerable.Range(1, 5).Select(i => $"\"seq\":{i},"), Lines().Select(l => l.Split("\"time\"")[0][7..]));
    }

    [Fact]
    public async Task Append_ManyConcurrentCallers_GroupCommittedEveryRecordOnceChainIntact()
    {
        var log = AuditLog.Open(_dataDir, _clock);
        using var start = new ManualResetEventSlim();
        var writers = Enumerable.Range(0, 8).Select(w => Task.Run(() =>
        {
            start.Wait();
            for (var i = 0; i < 25; i++)
            {
                log.Append(Entry((w * 100) + i));
            }
        })).ToArray();
        start.Set();
        await Task.WhenAll(writers);

        var result = AuditReader.Verify(_dataDir);
        Assert.True(result.Intact, string.Join("; ", result.Problems));
        Assert.Equal(200, Lines().Count);
        Assert.Equal(200, Lines().Select(l => System.Text.Json.JsonDocument.Parse(l).RootElement.GetProperty("seq").GetInt64()).Distinct().Count());
    }

    [Fact]
    public async Task AppendAsync_ManyConcurrentCallers_EachDoneOnlyWithItsRecordOnDisk()
    {
        var log = AuditLog.Open(_dataDir, _clock);

        var appends = Enumerable.Range(0, 60).Select(i => log.AppendAsync(Entry(i))).ToArray();
        await Task.WhenAll(appends);

        var result = AuditReader.Verify(_dataDir);
        Assert.True(result.Intact, string.Join("; ", result.Problems));
        var limits = Lines().Select(l => System.Text.Json.JsonDocument.Parse(l).RootElement.GetProperty("params").GetProperty("limit").GetString()).ToList();
        Assert.Equal(Enumerable.Range(0, 60).Select(i => i.ToString()).Order(), limits.Order());
    }

    [Fact]
    public async Task AppendAsync_LogEndsWithADamagedRecord_EveryCallerOfTheGroupFails()
    {
        Write(2);
        File.AppendAllText(LogPath, "{\"v\":1,\"seq\":3,\"trunc\n");
        var log = AuditLog.Open(_dataDir, _clock);

        var appends = Enumerable.Range(0, 5).Select(i => log.AppendAsync(Entry(i))).ToArray();

        foreach (var append in appends)
        {
            await Assert.ThrowsAsync<IOException>(() => append);
        }

        Assert.Throws<IOException>(() => log.Append(Entry(9)));
        Assert.Equal(3, Lines().Count);
    }

    [Fact]
    public void Append_AfterARecordLongerThanTheShortTail_ContinuesTheChain()
    {
        var log = AuditLog.Open(_dataDir, _clock);
        log.Append(Entry(1) with { Parameters = [new("q", new string('x', 10_000))] });

        AuditLog.Open(_dataDir, _clock).Append(Entry(2));

        var result = AuditReader.Verify(_dataDir);
        Assert.True(result.Intact, string.Join("; ", result.Problems));
        Assert.Equal(2, result.Records);
    }

    [Fact]
    public void EmptyDataDir_IntactWithNoRecords()
    {
        AuditLog.Open(_dataDir, _clock);

        Assert.True(AuditReader.Verify(_dataDir).Intact);
    }

    [Fact]
    public void EditedRecord_Detected()
    {
        Write(5);
        var lines = Lines();
        lines[2] = lines[2].Replace("\"results\":2", "\"results\":0", StringComparison.Ordinal);
        Save(lines);

        var result = AuditReader.Verify(_dataDir);

        Assert.False(result.Intact);
        Assert.Contains(result.Problems, p => p.StartsWith("audit.log line 4:", StringComparison.Ordinal));
    }

    [Fact]
    public void EditedLastRecord_DetectedByTheHead()
    {
        Write(3);
        var lines = Lines();
        lines[2] = lines[2].Replace("\"decision\":\"allow\"", "\"decision\":\"deny\"", StringComparison.Ordinal);
        Save(lines);

        Assert.Contains(AuditReader.Verify(_dataDir).Problems, p => p.Contains("authenticated head", StringComparison.Ordinal));
    }

    [Fact]
    public void DeletedRecord_Detected()
    {
        Write(5);
        var lines = Lines();
        lines.RemoveAt(1);
        Save(lines);

        var result = AuditReader.Verify(_dataDir);

        Assert.Contains(result.Problems, p => p.Contains("seq 3 where 2 was expected", StringComparison.Ordinal));
    }

    [Fact]
    public void TruncatedLog_Detected()
    {
        Write(5);
        Save(Lines().Take(3));

        Assert.Contains(AuditReader.Verify(_dataDir).Problems, p => p.Contains("records were deleted from the end", StringComparison.Ordinal));
    }

    [Fact]
    public void InsertedRecord_WithARecomputedPrev_Detected()
    {
        Write(4);
        var lines = Lines();

        // A forger who knows the format: the right prev for its position, and every later seq renumbered.
        var prev = AuditLog.Chain(AuditLog.Chain(new byte[32], Encoding.UTF8.GetBytes(lines[0])), Encoding.UTF8.GetBytes(lines[1]));
        var forged = AuditLog.Format(3, _clock.GetUtcNow(), Entry(99), prev);
        lines.Insert(2, forged);
        for (var i = 3; i < lines.Count; i++)
        {
            lines[i] = lines[i].Replace($"\"seq\":{i},", $"\"seq\":{i + 1},", StringComparison.Ordinal);
        }

        Save(lines);

        var result = AuditReader.Verify(_dataDir);

        Assert.False(result.Intact);
        Assert.Contains(result.Problems, p => p.StartsWith("audit.log line 4:", StringComparison.Ordinal));
    }

    [Fact]
    public void ReorderedRecords_Detected()
    {
        Write(4);
        var lines = Lines();
        (lines[1], lines[2]) = (lines[2], lines[1]);
        Save(lines);

        var result = AuditReader.Verify(_dataDir);

        Assert.Contains(result.Problems, p => p.Contains("where 2 was expected", StringComparison.Ordinal));
    }

    [Fact]
    public void RewrittenLogWithAConsistentChain_DetectedByTheHeadMac()
    {
        Write(3);

        // Rebuild the whole chain with edited content: consistent, but the head's MAC needs the key.
        var prev = new byte[32];
        var rebuilt = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            var line = AuditLog.Format(i + 1, _clock.GetUtcNow(), Entry(50 + i), prev);
            rebuilt.Add(line);
            prev = AuditLog.Chain(prev, Encoding.UTF8.GetBytes(line));
        }

        Save(rebuilt);
        var forgedHead = $"{{\"v\":1,\"seq\":3,\"hash\":\"{Convert.ToHexStringLower(prev)}\",\"mac\":\"{new string('0', 64)}\"}}\n";
        File.WriteAllText(HeadPath, forgedHead);

        var result = AuditReader.Verify(_dataDir);

        Assert.Contains(result.Problems, p => p.Contains("MAC does not verify", StringComparison.Ordinal));
    }

    [Fact]
    public void HeadOfAnOlderBuild_OneUnpaddedLine_VerifiesAndIsRewrittenInPlace()
    {
        Write(2);
        var (seq, hash) = (2L, ChainOf(Lines()));
        var key = Hush.Gateway.Security.SecretFile.Read(AuditLog.KeyPathFor(_dataDir), 32, "audit key");
        File.WriteAllText(HeadPath, $"{{\"v\":1,\"seq\":{seq},\"hash\":\"{Convert.ToHexStringLower(hash)}\",\"mac\":\"{Convert.ToHexStringLower(AuditLog.HeadMac(key, seq, hash))}\"}}\n");
        Assert.True(AuditReader.Verify(_dataDir).Intact);

        Write(1);

        var result = AuditReader.Verify(_dataDir);
        Assert.True(result.Intact, string.Join("; ", result.Problems));
        Assert.Equal(256, new FileInfo(HeadPath).Length);
        Assert.DoesNotContain("head_mismatch", File.ReadAllText(LogPath), StringComparison.Ordinal);
    }

    [Fact]
    public void HeadLeftBehindTheLog_PowerFailureOrForeignAppend_ReportedAsRecordsPastTheHead()
    {
        Write(2);
        var stale = File.ReadAllBytes(HeadPath);
        Write(3);

        // What a lost last flush of the head (or an appender without the key) leaves: a true head, three records short.
        File.WriteAllBytes(HeadPath, stale);

        var problem = Assert.Single(AuditReader.Verify(_dataDir).Problems);
        Assert.Contains("continues 3 record(s) past the authenticated head at record 2", problem, StringComparison.Ordinal);
    }

    [Fact]
    public void LongLivedWriter_RecordAppendedBehindItsBack_RecordsTheMismatch()
    {
        // The server keeps one AuditLog for its lifetime and trusts the file's length to know its tail: a forged
        // record appended in between changes the length, so the next group reads the tail and says so.
        var server = AuditLog.Open(_dataDir, _clock);
        server.Append(Entry(1));
        server.Append(Entry(2));
        File.AppendAllText(LogPath, AuditLog.Format(3, _clock.GetUtcNow(), Entry(66), ChainOf(Lines())) + "\n");

        server.Append(Entry(3));

        var lines = Lines();
        Assert.Equal(5, lines.Count);
        Assert.Contains("\"action\":\"audit.head_mismatch\"", lines[3], StringComparison.Ordinal);
        Assert.True(AuditReader.Verify(_dataDir).Intact, "the chain goes on from the forged record, and the head is Hush's again");
    }

    private static byte[] ChainOf(IEnumerable<string> lines)
        => lines.Aggregate(new byte[32], (prev, line) => AuditLog.Chain(prev, Encoding.UTF8.GetBytes(line)));

    [Fact]
    public void DeletedHead_Detected()
    {
        Write(2);
        File.Delete(HeadPath);

        Assert.False(AuditReader.Verify(_dataDir).Intact);
    }

    [Fact]
    public void GarbageLine_Detected()
    {
        Write(3);
        var lines = Lines();
        lines[1] = "{not json";
        Save(lines);

        Assert.Contains(AuditReader.Verify(_dataDir).Problems, p => p.Contains("line 2: not an audit record", StringComparison.Ordinal));
    }

    [Fact]
    public void ForgedAppend_NextWriterRecordsTheMismatch()
    {
        Write(2);
        var lines = Lines();
        var prev = AuditLog.Chain(AuditLog.Chain(new byte[32], Encoding.UTF8.GetBytes(lines[0])), Encoding.UTF8.GetBytes(lines[1]));
        File.AppendAllText(LogPath, AuditLog.Format(3, _clock.GetUtcNow(), Entry(66), prev) + "\n");

        Write(1);

        var text = File.ReadAllText(LogPath);
        Assert.Contains("\"action\":\"audit.head_mismatch\"", text, StringComparison.Ordinal);
    }

    [Fact]
    public void TwoWriters_OnOneDataDir_KeepOneChain()
    {
        var server = AuditLog.Open(_dataDir, _clock);
        var cli = AuditLog.Open(_dataDir, _clock);

        server.Append(Entry(1));
        cli.Append(Entry(2));
        server.Append(Entry(3));
        cli.Append(Entry(4));

        var result = AuditReader.Verify(_dataDir);
        Assert.True(result.Intact, string.Join("; ", result.Problems));
        Assert.DoesNotContain("head_mismatch", File.ReadAllText(LogPath), StringComparison.Ordinal);
    }

    [Fact]
    public void Files_AreOwnerOnly()
    {
        Write(1);
        if (OperatingSystem.IsWindows())
        {
            return;
        }

        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(LogPath));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(HeadPath));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(AuditLog.KeyPathFor(_dataDir)));
    }

    [Fact]
    public void Tail_FiltersByIdentityAndAction()
    {
        Write(5);

        var tail = AuditReader.Tail(_dataDir, 2);
        var one = AuditReader.Tail(_dataDir, 10, identity: "apikey:k3");
        var none = AuditReader.Tail(_dataDir, 10, action: "resolve");

        Assert.Equal([4L, 5L], tail.Select(r => r.GetProperty("seq").GetInt64()));
        Assert.Equal(4, Assert.Single(one).GetProperty("seq").GetInt64());
        Assert.Empty(none);
    }

    [Fact]
    public void Tail_OfALogManyChunksLong_SameAnswerAsReadingItForwards()
    {
        // ~700 records of 300-1,300 bytes: about 25 of the reader's 64 KB chunks, lines straddling their edges.
        var log = AuditLog.Open(_dataDir, _clock);
        var random = new Random(7);
        for (var i = 0; i < 700; i++)
        {
            log.Append(Entry(i % 7) with { Action = i % 3 == 0 ? "resolve" : "search", Parameters = [new("q", new string('x', random.Next(0, 1_000)))] });
        }

        var forwards = Lines().Select(l => System.Text.Json.JsonDocument.Parse(l).RootElement.Clone()).ToList();
        foreach (var (count, identity, action) in new (int, string?, string?)[] { (1, null, null), (5, null, null), (300, null, null), (1_000, null, null), (40, "apikey:k3", null), (40, null, "resolve"), (30, "apikey:k2", "resolve"), (10, "apikey:nobody", null) })
        {
            var expected = forwards
                .Where(r => (identity is null || r.GetProperty("identity").GetString() == identity) && (action is null || r.GetProperty("action").GetString() == action))
                .TakeLast(count)
                .Select(r => r.GetProperty("seq").GetInt64());

            Assert.Equal(expected, AuditReader.Tail(_dataDir, count, identity, action).Select(r => r.GetProperty("seq").GetInt64()));
        }
    }

    [Theory]
    [InlineData("")]
    [InlineData("\n\n")]
    [InlineData("one")]
    [InlineData("one\n")]
    [InlineData("\none\ntwo")]
    [InlineData("one\n\ntwo\nthree\n")]
    [InlineData("a-line-longer-than-one-chunk\nb\n")]
    public void LinesFromTheEnd_EveryLineOnceLastFirst_WhateverTheChunkSize(string text)
    {
        var expected = text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Reverse().ToList();
        for (var chunk = 1; chunk <= text.Length + 1; chunk++)
        {
            using var stream = new MemoryStream(Encoding.UTF8.GetBytes(text));

            var lines = AuditReader.LinesFromTheEnd(stream, chunk).Select(l => Encoding.UTF8.GetString(l.Span)).ToList();

            Assert.Equal(expected, lines);
        }
    }

    private string[] Rotated() => AuditLog.RotatedFiles(AuditLog.DirectoryFor(_dataDir));

    private AuditLog WriteRotating(int records, long rotateBytes = 2_000)
    {
        var log = AuditLog.Open(_dataDir, _clock, rotateBytes);
        for (var i = 0; i < records; i++)
        {
            log.Append(Entry(i));
        }

        return log;
    }

    [Fact]
    public void Rotation_OneChainAcrossFiles_VerifiedTailedAndContinuedByAnotherWriter()
    {
        var log = WriteRotating(30);
        var total = 30;
        while (File.Exists(LogPath) && total < 60)
        {
            // Stop right after a rotation: no live file at all.
            log.Append(Entry(total++));
        }

        var rotated = Rotated();
        Assert.False(File.Exists(LogPath));
        Assert.True(rotated.Length >= 3, $"{rotated.Length} rotated files");
        Assert.All(rotated, f => Assert.Matches(@"audit\.\d{12}-\d{12}\.log$", f));
        Assert.StartsWith("audit.000000000001-", Path.GetFileName(rotated[0]), StringComparison.Ordinal);
        var result = AuditReader.Verify(_dataDir);
        Assert.True(result.Intact, string.Join("; ", result.Problems));
        Assert.Equal(total, result.Records);
        Assert.Equal(Enumerable.Range(total - 11, 12).Select(i => (long)i), AuditReader.Tail(_dataDir, 12).Select(r => r.GetProperty("seq").GetInt64()));

        // A second writer (the CLI) opening now goes on from the last rotated record.
        AuditLog.Open(_dataDir, _clock, 2_000).Append(Entry(99));

        result = AuditReader.Verify(_dataDir);
        Assert.True(result.Intact, string.Join("; ", result.Problems));
        Assert.Equal(total + 1, result.Records);
        Assert.Equal(total + 1, AuditReader.Tail(_dataDir, 1).Single().GetProperty("seq").GetInt64());

        // And the first writer, which rotated, continues the chain after it.
        log.Append(Entry(100));
        Assert.True(AuditReader.Verify(_dataDir).Intact);
        Assert.All(Rotated().Append(LogPath).Where(File.Exists), f => Assert.DoesNotContain("head_mismatch", File.ReadAllText(f), StringComparison.Ordinal));
    }

    [Fact]
    public void Rotation_RecordEditedInARotatedFile_DetectedThere()
    {
        WriteRotating(20);
        var first = Rotated()[0];
        var lines = File.ReadAllLines(first);
        lines[1] = lines[1].Replace("\"decision\":\"allow\"", "\"decision\":\"deny\"", StringComparison.Ordinal);
        File.WriteAllText(first, string.Join("\n", lines) + "\n");

        var problem = Assert.Single(AuditReader.Verify(_dataDir).Problems);

        Assert.StartsWith(Path.GetFileName(first) + " line 3: its prev hash does not match", problem, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    public void Rotation_RotatedFileRemoved_Detected(int which)
    {
        WriteRotating(30);
        File.Delete(Rotated()[which]);

        var problems = AuditReader.Verify(_dataDir).Problems;

        Assert.Contains(problems, p => p.Contains("was expected", StringComparison.Ordinal) && p.Contains("or a rotated file is missing", StringComparison.Ordinal));
    }

    [Fact]
    public void Redact_IsKeyedAndStable()
    {
        var log = AuditLog.Open(_dataDir, _clock);
        var other = Directory.CreateTempSubdirectory("hush-audit-other-").FullName;
        try
        {
            var elsewhere = AuditLog.Open(other, _clock);

            Assert.Equal(log.Redact("jane@example.com"), log.Redact("jane@example.com"));
            Assert.NotEqual(log.Redact("jane@example.com"), log.Redact("john@example.com"));
            Assert.NotEqual(log.Redact("jane@example.com"), elsewhere.Redact("jane@example.com"));
            Assert.Matches("^h:[0-9a-f]{12}$", log.Redact("x"));
        }
        finally
        {
            Directory.Delete(other, recursive: true);
        }
    }
}
