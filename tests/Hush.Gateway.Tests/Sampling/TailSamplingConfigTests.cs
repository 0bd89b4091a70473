using Hush.Gateway.Configuration;
using Hush.Gateway.Tests.Support;
using Hush.Otlp;

namespace Hush.Gateway.Tests.Sampling;

/// <summary><c>processors.tail_sampling</c>: bound from YAML, validated whole, and run by a real gateway.</summary>
public sealed class TailSamplingConfigTests
{
    private static readonly IReadOnlyDictionary<string, string?> NoEnvironment = new Dictionary<string, string?>();

    [Fact]
    public void LoadFile_TailSamplingExample_BindsTheSeedPolicySet()
    {
        var result = HushConfigLoader.LoadFile(Path.Combine(AppContext.BaseDirectory, "examples", "tail-sampling.yaml"), NoEnvironment);

        Assert.True(result.IsValid, string.Join("\n", result.Errors));
        var (id, options) = Assert.Single(result.Config!.Pipeline.TailSampling);
        Assert.Equal("tail_sampling", id);
        Assert.Equal(TimeSpan.FromSeconds(10), options.DecisionWait);
        Assert.Equal(TimeSpan.FromSeconds(2), options.DecisionWaitAfterRootReceived);
        Assert.Equal(128L << 20, options.MaxBufferBytes);
        Assert.Equal(["errors", "slow", "auth-routes", "auth-paths", "security-events", "baseline"], options.Policies.Select(p => p.Name));
        Assert.Equal(2000, options.Policies[1].Latency!.ThresholdMs);
        Assert.True(options.Policies[2].StringAttribute!.EnabledRegexMatching);
        Assert.Equal(0.5, options.Policies[5].Probabilistic!.SamplingPercentage);
    }

    [Fact]
    public void LoadYaml_BrokenSamplingConfig_ListsEveryErrorWithItsKey()
    {
        var result = HushConfigLoader.LoadYaml("""
            processors:
              tail_sampling:
                decision_wait: 0s
                num_tracez: 10
                policies:
                  - { name: a, type: sometimes }
                  - { name: b, type: string_attribute, string_attribute: { key: k, values: ['(a+)\1'], enabled_regex_matching: true } }
                  - { name: c, type: probabilistic, probabilistic: { sampling_percentage: lots } }
            service:
              pipelines: { traces: { receivers: [otlp], processors: [tail_sampling], exporters: [nop] } }
            receivers: { otlp: { protocols: { http: {} } } }
            exporters: { nop: {} }
            """, NoEnvironment);

        Assert.False(result.IsValid);
        Assert.Contains(result.Errors, e => e.Contains("'processors.tail_sampling.num_tracez' is not a known key", StringComparison.Ordinal));
        Assert.Contains(result.Errors, e => e.Contains("processors.tail_sampling.decision_wait", StringComparison.Ordinal));
        Assert.Contains(result.Errors, e => e.Contains("processors.tail_sampling.policies[0]", StringComparison.Ordinal) && e.Contains("sometimes", StringComparison.Ordinal));
        Assert.Contains(result.Errors, e => e.Contains("processors.tail_sampling.policies[1].string_attribute.values[0]", StringComparison.Ordinal));
        Assert.Contains(result.Errors, e => e.Contains("processors.tail_sampling.policies[2].probabilistic.sampling_percentage", StringComparison.Ordinal));
    }

    /// <param name="policyThatChangesNothing">Requests then reach the sampler in wire form, which decodes them.</param>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Serve_WithTailSampling_KeepsTheErrorTraceAndDropsTheHealthyOne(bool policyThatChangesNothing)
    {
        var yaml = GatewayFixture.Yaml
            .Replace("batch: { send_batch_size: BATCH, timeout: 5ms }", """
                batch: { send_batch_size: BATCH, timeout: 5ms }
                  tail_sampling:
                    decision_wait: 300ms
                    tick_interval: 20ms
                    policies: [ { name: errors, type: status_code, status_code: { status_codes: [ERROR] } } ]
                """, StringComparison.Ordinal)
            .Replace("processors: [batch]", "processors: [batch, tail_sampling]", StringComparison.Ordinal);
        await using var gateway = policyThatChangesNothing
            ? await GatewayFixture.StartWithPolicyAsync(GatewayFixture.MinimalPolicy, yaml)
            : await GatewayFixture.StartAsync(yaml: yaml);
        var request = GatewayFixture.Request("trace", 2);
        var spans = request.ResourceSpans[0].ScopeSpans[0].Spans;
        spans[0].Status = new SpanStatus { Code = StatusCode.Error };

        using var content = new ByteArrayContent(OtlpProtobuf.Encode(request));
        content.Headers.ContentType = new("application/x-protobuf");
        using var response = await gateway.Http.PostAsync("v1/traces", content);

        response.EnsureSuccessStatusCode();
        await gateway.Sink.WaitForAsync(1);
        await Task.Delay(500); // past another decision_wait: the healthy trace must not follow.
        Assert.Equal("trace-0", Assert.Single(gateway.Sink.Spans).Span.Name);
        var metrics = await gateway.Admin.GetStringAsync("metrics");
        Assert.Contains("hush_tail_sampling_traces_total{", metrics, StringComparison.Ordinal);
        Assert.Contains($"hush_receiver_spans_undecoded_total{{transport=\"http\"}} {(policyThatChangesNothing ? 2 : 0)}", metrics, StringComparison.Ordinal);

        // On stop the decisions are kept under the data directory, so late spans after a restart follow them.
        await gateway.Server.StopAsync();
        var file = Path.Combine(gateway.Server.Config.DataDir, "sampling", "tail_sampling.decisions");
        var bytes = File.ReadAllBytes(file);
        Assert.StartsWith("HUSHDEC1", System.Text.Encoding.ASCII.GetString(bytes), StringComparison.Ordinal);
        Assert.DoesNotContain("trace-0", System.Text.Encoding.UTF8.GetString(bytes), StringComparison.Ordinal);
        Assert.DoesNotContain("jane.doe", System.Text.Encoding.UTF8.GetString(bytes), StringComparison.Ordinal);
    }
}
