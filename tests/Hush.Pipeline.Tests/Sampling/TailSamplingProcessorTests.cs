using Hush.Otlp;
using Hush.Pipeline.Sampling;
using Hush.Pipeline.Tests.Support;
using static Hush.Pipeline.Tests.Sampling.SamplingTestData;

namespace Hush.Pipeline.Tests.Sampling;

public sealed class TailSamplingProcessorTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);

    private static TailSamplingOptions Options(IReadOnlyList<SamplingPolicyOptions>? policies = null) => new()
    {
        DecisionWait = Wait,
        Policies = policies ?? SeedPolicies,
    };

    private static readonly SamplingPolicyOptions Always = new() { Name = "all", Type = "always" };

    private static readonly SamplingPolicyOptions Errors = new() { Name = "errors", Type = "status_code", StatusCode = new() { StatusCodes = ["ERROR"] } };

    [Fact]
    public async Task SeedPolicySet_GeneratedMix_KeepsExactlyTheIncidentTracesAndHalfAPercentOfTheRest()
    {
        var must = new HashSet<TraceId>();
        var healthy = new HashSet<TraceId>();
        var batches = new List<List<Span>>();
        var current = new List<Span>();

        void Add(List<Span> spans, bool keep)
        {
            (keep ? must : healthy).Add(spans[0].TraceId);
            current.AddRange(spans);
            if (current.Count >= 300)
            {
                batches.Add(current);
                current = [];
            }
        }

        for (var i = 0; i < 400; i++)
        {
            Add(TraceSpans(NewTraceId(), childStatus: StatusCode.Error), keep: true);
            Add(TraceSpans(NewTraceId(), durationMs: 2_500), keep: true);
            Add(TraceSpans(NewTraceId(), childAttributes: [new("http.route", AnyValue.Of(i % 2 == 0 ? "/login" : "/api/oauth/authorize"))]), keep: true);
            Add(TraceSpans(NewTraceId(), childAttributes: [new("url.path", AnyValue.Of(i % 2 == 0 ? "/token" : "/v1/token?grant=x"))]), keep: true);
            Add(TraceSpans(NewTraceId(), childAttributes: [new("security.event", AnyValue.Of(i % 2 == 0 ? "auth.failure" : "1"))]), keep: true);
        }

        for (var i = 0; i < 20_000; i++)
        {
            // Decoys: near misses of every rule.
            KeyValue[] attrs = (i % 5) switch
            {
                0 => [new("http.route", AnyValue.Of("/users/login-history"))],
                1 => [new("url.path", AnyValue.Of("/tokenize"))],
                2 => [new("security.eventual", AnyValue.Of("x"))],
                _ => [],
            };
            Add(TraceSpans(NewTraceId(), durationMs: i % 7 == 0 ? 1_999 : 150, childStatus: i % 3 == 0 ? StatusCode.Ok : StatusCode.Unset, childAttributes: attrs), keep: false);
        }

        batches.Add(current);

        async Task<HashSet<TraceId>> RunReplicaAsync()
        {
            await using var h = new SamplerHarness(Options());
            foreach (var b in batches)
            {
                await h.SendAsync(Batch(b));
            }

            await h.AdvanceAsync(Wait);
            Assert.Equal(0, h.Sampler.BufferedTraces);
            Assert.Equal(2_000, h.Counter("hush_tail_sampling_traces_total", ("decision", "sampled")) - h.Counter("hush_tail_sampling_traces_total", ("policy", "baseline")));
            return h.Downstream.TraceIds();
        }

        var kept = await RunReplicaAsync();
        Assert.Subset(kept, must);
        var keptHealthy = kept.Count - must.Count;

        // 0.5% of 20,000 = 100 (binomial sd ~10).
        Assert.InRange(keptHealthy, 60, 140);

        // A second replica (same salt) keeps exactly the same traces.
        Assert.Equal(kept, await RunReplicaAsync());
    }

    [Fact]
    public void Probabilistic_ManyTraceIds_KeepsThePercentageAndDependsOnTheSalt()
    {
        var a = new ProbabilisticNode(new ProbabilisticPolicyOptions { SamplingPercentage = 0.5, HashSalt = "a" });
        var b = new ProbabilisticNode(new ProbabilisticPolicyOptions { SamplingPercentage = 0.5, HashSalt = "b" });
        var facts = TraceFacts.Empty;
        int keptA = 0, keptB = 0, both = 0;
        for (var i = 0; i < 400_000; i++)
        {
            var id = NewTraceId();
            var ka = a.Evaluate(id, facts, 0);
            var kb = b.Evaluate(id, facts, 0);
            keptA += ka ? 1 : 0;
            keptB += kb ? 1 : 0;
            both += ka && kb ? 1 : 0;
        }

        Assert.InRange(keptA, 1_800, 2_200);
        Assert.InRange(keptB, 1_800, 2_200);
        Assert.True(both < 100, $"salts should pick different traces; {both} in common");
    }

    [Fact]
    public async Task ProcessAsync_FloodOfTraces_StaysUnderTheByteBoundAndLosesNothing()
    {
        var options = Options([Always]) with { MaxBufferBytes = 256 * 1024, MaxTraceBytes = 16 * 1024, NumShards = 4 };
        await using var h = new SamplerHarness(options);
        var sent = 0;
        for (var b = 0; b < 200; b++)
        {
            var spans = new List<Span>();
            for (var t = 0; t < 50; t++)
            {
                spans.AddRange(TraceSpans(NewTraceId(), spans: 2));
            }

            sent += spans.Count;
            await h.SendAsync(Batch(spans));
            Assert.InRange(h.Sampler.BufferedBytes, 0, options.MaxBufferBytes);
        }

        var early = h.Counter("hush_tail_sampling_early_decisions_total", ("reason", "memory_limit"));
        Assert.True(early > 0);
        Assert.Equal(early, h.Counter("hush_tail_sampling_traces_total", ("decision", "sampled")));
        Assert.Equal(early * 2, h.Downstream.SpanCount);

        await h.Sampler.StopAsync(CancellationToken.None);
        Assert.Equal(sent, h.Downstream.SpanCount);
        Assert.Equal(0, h.Sampler.BufferedBytes);
    }

    [Fact]
    public async Task ProcessAsync_TooManyTraces_DecidesTheOldestEarly()
    {
        var options = Options([Always]) with { NumTraces = 100, NumShards = 1 };
        await using var h = new SamplerHarness(options);
        var first = NewTraceId();
        await h.SendAsync(Batch(TraceSpans(first)));
        for (var i = 0; i < 150; i++)
        {
            await h.SendAsync(Batch(TraceSpans(NewTraceId())));
        }

        Assert.Equal(100, h.Sampler.BufferedTraces);
        Assert.Equal(51, h.Counter("hush_tail_sampling_early_decisions_total", ("reason", "trace_limit")));
        Assert.Contains(first, h.Downstream.TraceIds());
    }

    [Fact]
    public async Task ProcessAsync_GiantTraceAmongSmallOnes_GiantDecidedAtOnceSmallOnesUntouched()
    {
        var options = Options([Errors]) with { MaxBufferBytes = 4 * 1024 * 1024, MaxTraceBytes = 64 * 1024, NumShards = 1 };
        await using var h = new SamplerHarness(options);
        var giant = NewTraceId();
        var small = new List<TraceId>();
        for (var b = 0; b < 40; b++)
        {
            var spans = TraceSpans(giant, spans: 100, childStatus: StatusCode.Error, withRoot: b == 0, firstSpanId: (ulong)(b * 100) + 1);
            for (var t = 0; t < 10; t++)
            {
                var id = NewTraceId();
                small.Add(id);
                spans.AddRange(TraceSpans(id, childStatus: t % 2 == 0 ? StatusCode.Error : StatusCode.Ok));
            }

            await h.SendAsync(Batch(spans));
        }

        Assert.Equal(1, h.Counter("hush_tail_sampling_early_decisions_total", ("reason", "trace_too_large")));
        Assert.Equal(0, h.Counter("hush_tail_sampling_early_decisions_total", ("reason", "memory_limit")));
        Assert.Equal(400, h.Sampler.BufferedTraces);
        Assert.Equal(4_000, h.Downstream.SpansOf(giant));
        Assert.True(h.Counter("hush_tail_sampling_late_spans_total", ("decision", "sampled")) > 3_000);

        await h.AdvanceAsync(Wait);
        Assert.Equal(0, h.Sampler.BufferedTraces);
        var kept = h.Downstream.TraceIds();
        for (var i = 0; i < small.Count; i++)
        {
            Assert.Equal(i % 2 == 0, kept.Contains(small[i]));
        }
    }

    [Fact]
    public async Task ProcessAsync_LateSpansAfterKeepAndDrop_FollowTheDecision()
    {
        await using var h = new SamplerHarness(Options([Errors]));
        var kept = NewTraceId();
        var dropped = NewTraceId();
        await h.SendAsync(Batch([.. TraceSpans(kept, childStatus: StatusCode.Error), .. TraceSpans(dropped)]));
        await h.AdvanceAsync(Wait - TimeSpan.FromSeconds(1));
        Assert.Empty(h.Downstream.Batches);

        await h.AdvanceAsync(TimeSpan.FromSeconds(1));
        Assert.Equal(3, h.Downstream.SpansOf(kept));
        Assert.Equal(0, h.Downstream.SpansOf(dropped));

        // Late, healthy spans: they follow the decision even though they would not match on their own.
        await h.SendAsync(Batch([.. TraceSpans(kept, spans: 2, withRoot: false, firstSpanId: 50), .. TraceSpans(dropped, spans: 2, childStatus: StatusCode.Error, withRoot: false, firstSpanId: 50)]));
        Assert.Equal(5, h.Downstream.SpansOf(kept));
        Assert.Equal(0, h.Downstream.SpansOf(dropped));
        Assert.Equal(2, h.Counter("hush_tail_sampling_late_spans_total", ("decision", "sampled")));
        Assert.Equal(2, h.Counter("hush_tail_sampling_late_spans_total", ("decision", "dropped")));
        Assert.Equal(0, h.Sampler.BufferedTraces);
    }

    [Fact]
    public async Task ProcessAsync_DecisionCacheFull_ForgetsTheOldestDecision()
    {
        var options = Options([Errors]) with { NumShards = 1, DecisionCache = new() { SampledCacheSize = 2, NonSampledCacheSize = 2 } };
        await using var h = new SamplerHarness(options);
        var ids = new[] { NewTraceId(), NewTraceId(), NewTraceId() };
        await h.SendAsync(Batch(ids.SelectMany(id => TraceSpans(id))));
        await h.AdvanceAsync(Wait);

        // ids[0]'s decision was forgotten: its late span starts a new trace; ids[2]'s is still remembered.
        await h.SendAsync(Batch([.. TraceSpans(ids[0], spans: 1, withRoot: false, firstSpanId: 9), .. TraceSpans(ids[2], spans: 1, withRoot: false, firstSpanId: 9)]));
        Assert.Equal(1, h.Sampler.BufferedTraces);
        Assert.Equal(1, h.Counter("hush_tail_sampling_late_spans_total", ("decision", "dropped")));
    }

    [Fact]
    public async Task DecideDue_RootArrivedAndQuiet_DecidesBeforeDecisionWait()
    {
        var options = Options([Always]) with { DecisionWaitAfterRootReceived = TimeSpan.FromSeconds(2) };
        await using var h = new SamplerHarness(options);
        var withRoot = NewTraceId();
        var noRoot = NewTraceId();
        await h.SendAsync(Batch([.. TraceSpans(withRoot), .. TraceSpans(noRoot, withRoot: false)]));
        await h.AdvanceAsync(TimeSpan.FromSeconds(1.5));

        // Another span restarts the quiet period.
        await h.SendAsync(Batch(TraceSpans(withRoot, spans: 1, withRoot: false, firstSpanId: 7)));
        await h.AdvanceAsync(TimeSpan.FromSeconds(1));
        Assert.Empty(h.Downstream.Batches);

        await h.AdvanceAsync(TimeSpan.FromSeconds(1));
        Assert.Equal([withRoot], h.Downstream.TraceIds());
        Assert.Equal(1, h.Counter("hush_tail_sampling_early_decisions_total", ("reason", "root_quiet")));

        await h.AdvanceAsync(Wait);
        Assert.Contains(noRoot, h.Downstream.TraceIds());
    }

    [Fact]
    public async Task ProcessAsync_SameTraceIdInTwoTenants_DecidedApartWithTheirOwnPolicies()
    {
        var options = Options([Errors]) with
        {
            Tenants = new Dictionary<string, TenantSamplingOptions> { ["acme"] = new() { Policies = [Always] } },
        };
        await using var h = new SamplerHarness(options);
        var id = NewTraceId();
        var other = NewTraceId();
        await h.SendAsync(Batch(TraceSpans(id), tenant: "acme"));
        await h.SendAsync(Batch(TraceSpans(id), tenant: "t1"));
        await h.SendAsync(Batch(TraceSpans(other, childStatus: StatusCode.Error), tenant: "t1"));
        await h.AdvanceAsync(Wait);

        var batches = h.Downstream.Batches;
        foreach (var b in batches)
        {
            Assert.All(TestData.AllSpans(b.Traces), s => Assert.Equal(b.Tenant, TestData.Attribute(s, "tenant.marker")));
        }

        Assert.Equal(3, batches.Where(b => b.Tenant == "acme").Sum(b => b.SpanCount));
        Assert.Equal([other], batches.Where(b => b.Tenant == "t1").SelectMany(b => TestData.AllSpans(b.Traces)).Select(s => s.TraceId).Distinct());
        Assert.Equal(1, h.Counter("hush_tail_sampling_traces_total", ("policy_set", "acme"), ("policy", "all"), ("decision", "sampled")));
        Assert.Equal(1, h.Counter("hush_tail_sampling_traces_total", ("policy_set", "default"), ("policy", "no_match"), ("decision", "dropped")));
    }

    [Fact]
    public async Task StopAsync_TracesStillBuffered_DecidesAndReleasesThemAll()
    {
        await using var h = new SamplerHarness(Options([Errors]));
        var ids = Enumerable.Range(0, 20).Select(_ => NewTraceId()).ToList();
        await h.SendAsync(Batch(ids.SelectMany((id, i) => TraceSpans(id, childStatus: i % 2 == 0 ? StatusCode.Error : StatusCode.Ok))));

        await h.Sampler.StopAsync(CancellationToken.None);
        await h.Sampler.StopAsync(CancellationToken.None);
        Assert.Equal(30, h.Downstream.SpanCount);
        Assert.Equal(20, h.Counter("hush_tail_sampling_early_decisions_total", ("reason", "shutdown")));
        Assert.Equal(0, h.Sampler.BufferedBytes);
    }

    [Fact]
    public async Task Metrics_AfterDecisions_ExposeTracesSpansAndBufferBytes()
    {
        await using var h = new SamplerHarness(Options([Errors]));
        await h.SendAsync(Batch([.. TraceSpans(NewTraceId(), childStatus: StatusCode.Error), .. TraceSpans(NewTraceId())]));
        var text = h.Metrics.ToText();
        Assert.Contains("hush_tail_sampling_buffer_traces{processor=\"tail_sampling\"} 2", text, StringComparison.Ordinal);
        Assert.True(h.Sampler.BufferedBytes > 0);
        Assert.Contains($"hush_tail_sampling_buffer_bytes{{processor=\"tail_sampling\"}} {h.Sampler.BufferedBytes}", text, StringComparison.Ordinal);

        await h.AdvanceAsync(Wait);
        text = h.Metrics.ToText();
        Assert.Contains("hush_tail_sampling_traces_total{processor=\"tail_sampling\",policy_set=\"default\",policy=\"errors\",decision=\"sampled\"} 1", text, StringComparison.Ordinal);
        Assert.Contains("hush_tail_sampling_spans_total{processor=\"tail_sampling\",policy_set=\"default\",policy=\"errors\",decision=\"sampled\"} 3", text, StringComparison.Ordinal);
        Assert.Contains("hush_tail_sampling_traces_total{processor=\"tail_sampling\",policy_set=\"default\",policy=\"no_match\",decision=\"dropped\"} 1", text, StringComparison.Ordinal);
        Assert.Contains("hush_tail_sampling_buffer_bytes{processor=\"tail_sampling\"} 0", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ReleasedSpans_AfterRoundTrip_AreUnchanged()
    {
        await using var h = new SamplerHarness(Options([Always]));
        var spans = TraceSpans(NewTraceId(), childAttributes: [new("payload", AnyValue.Of(new string('x', 300))), new("ratio", AnyValue.Of(0.25))]);
        var batch = Batch(spans);
        var expected = OtlpProtobuf.Encode(batch.Traces);
        await h.SendAsync(batch);
        await h.AdvanceAsync(Wait);
        Assert.Equal(expected, OtlpProtobuf.Encode(Assert.Single(h.Downstream.Batches).Traces));
    }

    [Fact]
    public async Task Pipeline_WithTailSampler_ExportsKeptTracesAndFlushesOnStop()
    {
        var time = new ManualTimeProvider();
        var metrics = new HushMetrics();
        var logs = new CollectingLoggerFactory();
        var sampler = new TailSamplingProcessor("tail_sampling", Options([Errors]), metrics, logs, time);
        var after = new DelegateProcessor("after", b => b);
        var exporter = new RecordingExporter();
        await using var pipeline = new TracePipeline(
            "traces",
            new PipelineOptions { BatchTimeout = TimeSpan.FromMilliseconds(10) },
            PassThroughPrivacyStage.Instance,
            [sampler, after],
            [exporter],
            metrics,
            logs,
            TimeProvider.System);
        await pipeline.StartAsync(CancellationToken.None);
        var error = NewTraceId();
        var healthy = NewTraceId();
        Assert.Equal(SubmitStatus.Accepted, pipeline.Submit(Batch([.. TraceSpans(error, childStatus: StatusCode.Error), .. TraceSpans(healthy)]).Traces, TestData.Context()).Status);
        Assert.True(await TestData.Eventually(() => sampler.BufferedTraces == 2 && pipeline.QueuedSpans == 0));

        time.Advance(Wait);
        await sampler.DecideDueAsync();
        Assert.True(await TestData.Eventually(() => exporter.SpanCount == 3));

        var late = NewTraceId();
        pipeline.Submit(Batch(TraceSpans(late, childStatus: StatusCode.Error)).Traces, TestData.Context());
        Assert.True(await TestData.Eventually(() => sampler.BufferedTraces == 1));
        await pipeline.StopAsync(CancellationToken.None);

        Assert.Equal(6, exporter.SpanCount);
        Assert.All(exporter.Batches, b => Assert.Equal("t1", b.Tenant));
        Assert.DoesNotContain(healthy, exporter.Batches.SelectMany(b => TestData.AllSpans(b.Traces)).Select(s => s.TraceId));
    }
}
