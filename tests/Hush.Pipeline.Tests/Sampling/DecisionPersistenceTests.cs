using System.Buffers.Binary;
using System.Text;
using Hush.Otlp;
using Hush.Pipeline.Sampling;
using Microsoft.Extensions.Logging;
using static Hush.Pipeline.Tests.Sampling.SamplingTestData;

namespace Hush.Pipeline.Tests.Sampling;

/// <summary><c>decision_cache.persist_path</c>: remembered decisions survive a restart, and the file is safe to read.</summary>
public sealed class DecisionPersistenceTests : IDisposable
{
    private const int IgnoredEventId = 5202;
    private const int WriteFailedEventId = 5203;

    /// <summary>
    /// Version 1, frozen: tenant "t1", trace 0102…10 kept, then trace 1112…20 dropped. Never edit it: a format change
    /// gets a new magic and a new golden.
    /// </summary>
    private const string GoldenV1Hex =
        "4855534844454331" + "02000000"
        + "0200" + "7431" + "0102030405060708090A0B0C0D0E0F10" + "01"
        + "0200" + "7431" + "1112131415161718191A1B1C1D1E1F20" + "00";

    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);

    private static readonly TraceId GoldenKept = new(0x0102030405060708, 0x090A0B0C0D0E0F10);
    private static readonly TraceId GoldenDropped = new(0x1112131415161718, 0x191A1B1C1D1E1F20);

    private static readonly SamplingPolicyOptions Always = new() { Name = "all", Type = "always" };

    private static readonly SamplingPolicyOptions Errors = new() { Name = "errors", Type = "status_code", StatusCode = new() { StatusCodes = ["ERROR"] } };

    private readonly string _directory = Path.Combine(Path.GetTempPath(), "hush-decisions-" + Guid.NewGuid().ToString("N"));

    private string FilePath => Path.Combine(_directory, "sampling", "tail_sampling.decisions");

    public void Dispose()
    {
        if (Directory.Exists(_directory))
        {
            Directory.Delete(_directory, recursive: true);
        }
    }

    private TailSamplingOptions Options(SamplingPolicyOptions policy, int sampledCacheSize = 100_000, int nonSampledCacheSize = 100_000, int shards = 1) => new()
    {
        DecisionWait = Wait,
        NumShards = shards,
        Policies = [policy],
        DecisionCache = new() { SampledCacheSize = sampledCacheSize, NonSampledCacheSize = nonSampledCacheSize, PersistPath = FilePath },
    };

    [Fact]
    public async Task Restart_LateSpansOfKeptAndDroppedTraces_FollowTheDecisionMadeBeforeIt()
    {
        var options = Options(Errors) with { NumShards = 0 };
        var kept = NewTraceId();
        var dropped = NewTraceId();
        var keptAtStop = NewTraceId();
        await using (var before = new SamplerHarness(options))
        {
            await before.SendAsync(Batch([.. TraceSpans(kept, childStatus: StatusCode.Error), .. TraceSpans(dropped)]));
            await before.AdvanceAsync(Wait);
            Assert.Equal(3, before.Downstream.SpansOf(kept));

            // Still buffered when the processor stops: decided by the stop, and remembered too.
            await before.SendAsync(Batch(TraceSpans(keptAtStop, childStatus: StatusCode.Error)));
        }

        await using var after = new SamplerHarness(options);
        Assert.Contains(after.Logs.Entries, e => e.EventId == 5204 && e.Message.Contains("loaded 2 kept and 1 dropped", StringComparison.Ordinal));

        // Late and healthy (or late and failing): each follows the decision made before the restart, at once.
        await after.SendAsync(Batch(
        [
            .. TraceSpans(kept, spans: 1, withRoot: false, firstSpanId: 50),
            .. TraceSpans(keptAtStop, spans: 1, withRoot: false, firstSpanId: 50),
            .. TraceSpans(dropped, spans: 1, childStatus: StatusCode.Error, withRoot: false, firstSpanId: 50),
        ]));
        Assert.Equal(1, after.Downstream.SpansOf(kept));
        Assert.Equal(1, after.Downstream.SpansOf(keptAtStop));
        Assert.Equal(0, after.Downstream.SpansOf(dropped));
        Assert.Equal(0, after.Sampler.BufferedTraces);
        Assert.Equal(2, after.Counter("hush_tail_sampling_late_spans_total", ("decision", "sampled")));
        Assert.Equal(1, after.Counter("hush_tail_sampling_late_spans_total", ("decision", "dropped")));

        // The decision belongs to its tenant: the same trace id of another tenant is a new trace.
        await after.SendAsync(Batch(TraceSpans(kept, spans: 1, withRoot: false, firstSpanId: 60), tenant: "acme"));
        Assert.Equal(1, after.Sampler.BufferedTraces);
        Assert.DoesNotContain(after.Logs.Entries, e => e.Level >= LogLevel.Warning);
    }

    [Fact]
    public async Task Restart_WithoutPersistPath_LateSpanIsDecidedAnew()
    {
        var options = Options(Errors) with { DecisionCache = new() };
        var kept = NewTraceId();
        await using (var before = new SamplerHarness(options))
        {
            await before.SendAsync(Batch(TraceSpans(kept, childStatus: StatusCode.Error)));
        }

        await using var after = new SamplerHarness(options);
        await after.SendAsync(Batch(TraceSpans(kept, spans: 1, withRoot: false, firstSpanId: 50)));
        Assert.Equal(1, after.Sampler.BufferedTraces);
        Assert.False(Directory.Exists(_directory));
    }

    [Fact]
    public async Task StopAsync_KeptThenDropped_WritesTheFrozenVersion1Bytes()
    {
        await using (var h = new SamplerHarness(Options(Errors)))
        {
            await h.SendAsync(Batch(TraceSpans(GoldenKept, childStatus: StatusCode.Error)));
            await h.SendAsync(Batch(TraceSpans(GoldenDropped)));
            await h.AdvanceAsync(Wait);
            await h.Sampler.StopAsync(CancellationToken.None);
        }

        Assert.Equal(GoldenV1Hex, Convert.ToHexString(await File.ReadAllBytesAsync(FilePath)));
        Assert.False(File.Exists(FilePath + ".tmp"));
    }

    [Fact]
    public async Task Load_FrozenVersion1Bytes_LateSpansFollowThem()
    {
        WriteFile(Convert.FromHexString(GoldenV1Hex));
        await using var h = new SamplerHarness(Options(Errors));

        await h.SendAsync(Batch([.. TraceSpans(GoldenKept, spans: 1, withRoot: false), .. TraceSpans(GoldenDropped, spans: 1, childStatus: StatusCode.Error, withRoot: false)]));
        Assert.Equal(1, h.Downstream.SpansOf(GoldenKept));
        Assert.Equal(0, h.Downstream.SpansOf(GoldenDropped));
        Assert.Equal(0, h.Sampler.BufferedTraces);
    }

    [Fact]
    public async Task Load_MissingFile_StartsEmptyWithoutAWarning()
    {
        await using var h = new SamplerHarness(Options(Errors));
        await h.SendAsync(Batch(TraceSpans(GoldenKept, spans: 1, withRoot: false)));
        Assert.Equal(1, h.Sampler.BufferedTraces);
        Assert.Empty(h.Logs.Entries);
    }

    [Theory]
    [InlineData("empty", "truncated header")]
    [InlineData("wrong-magic", "not a version 1 decision file")]
    [InlineData("next-version", "not a version 1 decision file")]
    [InlineData("last-byte-missing", "truncated entry")]
    [InlineData("count-one-more", "truncated")]
    [InlineData("count-huge", "count larger than the file")]
    [InlineData("unknown-decision-byte", "unknown decision byte")]
    [InlineData("invalid-utf8-tenant", "tenant name is not UTF-8")]
    [InlineData("trailing-bytes", "bytes after the last entry")]
    public async Task Load_CorruptFile_IgnoredWithAWarningAndNothingLoaded(string corruption, string problem)
    {
        var bytes = Convert.FromHexString(GoldenV1Hex);
        bytes = corruption switch
        {
            "empty" => [],
            "wrong-magic" => [.. "OTLPDEC1"u8, .. bytes[8..]],
            "next-version" => [.. "HUSHDEC2"u8, .. bytes[8..]],
            "last-byte-missing" => bytes[..^1],
            "count-one-more" => WithCount(bytes, 3),
            "count-huge" => WithCount(bytes, uint.MaxValue),
            "unknown-decision-byte" => [.. bytes[..^1], 7],
            "invalid-utf8-tenant" => [.. bytes[..14], 0xFF, 0xFE, .. bytes[16..]],
            "trailing-bytes" => [.. bytes, 0],
            _ => throw new ArgumentOutOfRangeException(nameof(corruption)),
        };
        WriteFile(bytes);

        await using var h = new SamplerHarness(Options(Errors));

        var warning = Assert.Single(h.Logs.Entries, e => e.EventId == IgnoredEventId);
        Assert.Equal(LogLevel.Warning, warning.Level);
        Assert.Contains(problem, warning.Message, StringComparison.Ordinal);

        // Nothing of the file was used, not even its first, intact entry: the late span starts a new trace.
        await h.SendAsync(Batch(TraceSpans(GoldenKept, spans: 1, withRoot: false)));
        Assert.Equal(1, h.Sampler.BufferedTraces);
        Assert.Empty(h.Downstream.Batches);
    }

    [Fact]
    public async Task Load_PathIsADirectory_IgnoredWithAWarning()
    {
        Directory.CreateDirectory(FilePath);
        await using var h = new SamplerHarness(Options(Errors));
        Assert.Single(h.Logs.Entries, e => e.EventId == IgnoredEventId && e.Level == LogLevel.Warning);
    }

    [Fact]
    public async Task StopAsync_PlantedAttributeValueAndSpanName_FileHoldsNeither()
    {
        const string SpanName = "zq-planted-span-name-7731";
        const string AttributeValue = "zq-planted-attribute-value-4410";
        const string ResourceValue = "zq-planted-service-9052";
        var id = NewTraceId();
        await using (var h = new SamplerHarness(Options(Always)))
        {
            var spans = TraceSpans(id, childAttributes: [new("enduser.id", AnyValue.Of(AttributeValue))]);
            spans[0].Name = SpanName;
            await h.SendAsync(Batch(spans, tenant: "acme", service: ResourceValue));
            await h.AdvanceAsync(Wait);
            Assert.Equal(3, h.Downstream.SpansOf(id));
        }

        var file = await File.ReadAllBytesAsync(FilePath);
        foreach (var planted in new[] { SpanName, AttributeValue, ResourceValue, "enduser.id", "service.name" })
        {
            Assert.Equal(-1, file.AsSpan().IndexOf(Encoding.UTF8.GetBytes(planted)));
            Assert.Equal(-1, file.AsSpan().IndexOf(Encoding.Unicode.GetBytes(planted)));
        }

        // What it does hold: the header, then exactly one entry (tenant, id, decision).
        Assert.Equal(DecisionFile.HeaderBytes + 2 + "acme".Length + 16 + 1, file.Length);
        Assert.True(file.AsSpan().IndexOf(id.ToBytes()) > 0);
    }

    [Fact]
    public async Task RoundTrip_MoreDecisionsThanTheCachesHold_KeepsTheNewestWithinTheBounds()
    {
        var kept = new List<TraceId>();
        var dropped = new List<TraceId>();
        await using (var before = new SamplerHarness(Options(Errors, sampledCacheSize: 100, nonSampledCacheSize: 50)))
        {
            var spans = new List<Span>();
            for (var i = 0; i < 300; i++)
            {
                var id = NewTraceId();
                (i % 2 == 0 ? kept : dropped).Add(id);
                spans.AddRange(TraceSpans(id, spans: 2, childStatus: i % 2 == 0 ? StatusCode.Error : StatusCode.Unset));
            }

            await before.SendAsync(Batch(spans));
            await before.AdvanceAsync(Wait);
        }

        // The file holds at most the cache sizes: 100 kept and 50 dropped of the 150 of each.
        var file = await File.ReadAllBytesAsync(FilePath);
        Assert.Equal(150u, BinaryPrimitives.ReadUInt32LittleEndian(file.AsSpan(8)));
        Assert.Equal(DecisionFile.HeaderBytes + (150 * (2 + 2 + 16 + 1)), file.Length);

        // Restarted with a smaller kept cache: the 40 newest kept decisions and all 50 dropped are remembered.
        await using var after = new SamplerHarness(Options(Errors, sampledCacheSize: 40, nonSampledCacheSize: 50));
        var late = new List<Span>();
        foreach (var id in kept.Concat(dropped))
        {
            late.AddRange(TraceSpans(id, spans: 1, withRoot: false, firstSpanId: 90));
        }

        await after.SendAsync(Batch(late));
        Assert.True(after.Downstream.TraceIds().SetEquals(kept.Skip(110)));
        Assert.Equal(40, after.Downstream.SpanCount);
        Assert.Equal(50, after.Counter("hush_tail_sampling_late_spans_total", ("decision", "dropped")));
        Assert.Equal(110 + 100, after.Sampler.BufferedTraces);
    }

    [Fact]
    public async Task StopAsync_ShardsRoundTheirShareUp_FileStillHoldsAtMostTheCacheSizes()
    {
        // 10 over 4 shards: each remembers ceil(2.5) = 3, 12 in all; the file keeps the 10 newest of each kind.
        await using (var h = new SamplerHarness(Options(Errors, sampledCacheSize: 10, nonSampledCacheSize: 10, shards: 4)))
        {
            Assert.Equal(4, h.Sampler.ShardCount);
            var spans = new List<Span>();
            for (var i = 0; i < 400; i++)
            {
                spans.AddRange(TraceSpans(NewTraceId(), spans: 1, childStatus: i % 2 == 0 ? StatusCode.Error : StatusCode.Ok));
            }

            await h.SendAsync(Batch(spans));
            await h.AdvanceAsync(Wait);
        }

        Assert.Equal(DecisionFile.ReadResult.Loaded, DecisionFile.TryRead(FilePath, out var records, out _));
        Assert.Equal(10, records.Count(r => r.Sampled));
        Assert.Equal(10, records.Count(r => !r.Sampled));
    }

    [Fact]
    public async Task StopAsync_DirectoryCannotBeCreated_LogsAWarningAndStillReleasesEverything()
    {
        Directory.CreateDirectory(_directory);
        await File.WriteAllTextAsync(Path.Combine(_directory, "sampling"), "a file where the directory should be");
        var id = NewTraceId();
        await using var h = new SamplerHarness(Options(Errors));
        await h.SendAsync(Batch(TraceSpans(id, childStatus: StatusCode.Error)));

        await h.Sampler.StopAsync(CancellationToken.None);

        Assert.Equal(3, h.Downstream.SpansOf(id));
        var warning = Assert.Single(h.Logs.Entries, e => e.EventId == WriteFailedEventId);
        Assert.Equal(LogLevel.Warning, warning.Level);
    }

    [Fact]
    public async Task StopAsync_FileAlreadyThere_ReplacesItWhole()
    {
        WriteFile(new byte[4096]);
        var id = NewTraceId();
        await using (var h = new SamplerHarness(Options(Errors)))
        {
            await h.SendAsync(Batch(TraceSpans(id, childStatus: StatusCode.Error)));
        }

        Assert.Equal(DecisionFile.ReadResult.Loaded, DecisionFile.TryRead(FilePath, out var records, out _));
        Assert.Equal(new DecisionRecord("t1", id, Sampled: true), Assert.Single(records));
        Assert.Empty(Directory.GetFiles(Path.GetDirectoryName(FilePath)!, "*.tmp"));
    }

    private static byte[] WithCount(byte[] bytes, uint count)
    {
        var copy = bytes.ToArray();
        BinaryPrimitives.WriteUInt32LittleEndian(copy.AsSpan(8), count);
        return copy;
    }

    private void WriteFile(byte[] bytes)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(FilePath)!);
        File.WriteAllBytes(FilePath, bytes);
    }
}
