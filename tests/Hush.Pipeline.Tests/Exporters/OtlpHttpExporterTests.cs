using Hush.Otlp;
using Hush.Pipeline.Tests.Support;
using Microsoft.Extensions.Logging;

namespace Hush.Pipeline.Tests.Exporters;

public sealed class OtlpHttpExporterTests
{
    private const string HeaderSecret = "Bearer super-secret-token-123";

    private static OtlpHttpExporterOptions Options(Uri endpoint) => new()
    {
        Endpoint = endpoint,
        Headers = new Dictionary<string, string> { ["Authorization"] = HeaderSecret, ["X-Custom"] = "yes" },
        Timeout = TimeSpan.FromSeconds(60),
        InitialInterval = TimeSpan.FromSeconds(1),
        MaxInterval = TimeSpan.FromSeconds(30),
        ShutdownTimeout = TimeSpan.FromSeconds(10),
    };

    private static OtlpHttpExporter Create(OtlpHttpExporterOptions options, HushMetrics metrics, ILogger logger, TimeProvider? time = null) =>
        new("otlphttp/tempo", options, metrics, logger, time ?? TimeProvider.System, handler: null, random: () => 0.5);

    private static SpanBatch Batch(int spans, string tenant = "t1") => new(tenant, TestData.Request(spans), spans);

    private static string Metric(HushMetrics metrics, string series)
    {
        foreach (var line in metrics.ToText().Split('\n'))
        {
            if (line.StartsWith(series + " ", StringComparison.Ordinal))
            {
                return line[(series.Length + 1)..];
            }
        }

        return "absent";
    }

    [Fact]
    public async Task Export_ProtobufGzip_BackendReceivesDecodableSpansWithHeaders()
    {
        await using var backend = await FakeBackend.StartAsync();
        var metrics = new HushMetrics();
        var logs = new CollectingLoggerFactory();
        var exporter = Create(Options(backend.BaseUrl), metrics, logs);
        var batch = Batch(4);
        var expectedIds = TestData.AllSpans(batch.Traces).Select(s => s.SpanId).ToArray();

        Assert.Equal(ExportOutcome.Success, await exporter.ExportAsync(batch, CancellationToken.None));
        await exporter.DisposeAsync();

        var request = Assert.Single(backend.Requests);
        Assert.Equal("POST", request.Method);
        Assert.Equal("/v1/traces", request.Path);
        Assert.Equal("application/x-protobuf", request.ContentType);
        Assert.Equal("gzip", request.ContentEncoding);
        Assert.Equal(HeaderSecret, request.Headers["Authorization"]);
        Assert.Equal("yes", request.Headers["X-Custom"]);
        var decoded = OtlpProtobuf.DecodeTraceRequest(request.Body);
        Assert.Equal(expectedIds, TestData.AllSpans(decoded).Select(s => s.SpanId).ToArray());
        Assert.Equal("checkout", decoded.ResourceSpans[0].Resource.Attributes[0].Value.StringValue);
        Assert.Equal("4", Metric(metrics, "hush_exporter_spans_sent_total{exporter=\"otlphttp/tempo\"}"));
        Assert.Equal("1", Metric(metrics, "hush_exporter_requests_total{exporter=\"otlphttp/tempo\",outcome=\"success\"}"));
        Assert.DoesNotContain(HeaderSecret, logs.AllText);
    }

    [Fact]
    public async Task Export_JsonWithoutGzip_BackendReceivesDecodableJson()
    {
        await using var backend = await FakeBackend.StartAsync();
        var options = Options(new Uri(backend.BaseUrl, "/otlp/v1/traces")) with { Encoding = OtlpEncoding.Json, Gzip = false };
        var exporter = Create(options, new HushMetrics(), new CollectingLoggerFactory());
        var batch = Batch(3);
        var expectedIds = TestData.AllSpans(batch.Traces).Select(s => s.TraceId).ToArray();

        await exporter.ExportAsync(batch, CancellationToken.None);
        await exporter.DisposeAsync();

        var request = Assert.Single(backend.Requests);
        Assert.Equal("/otlp/v1/traces", request.Path);
        Assert.Equal("application/json", request.ContentType);
        Assert.Null(request.ContentEncoding);
        var decoded = OtlpJson.DecodeTraceRequest(request.Body);
        Assert.Equal(expectedIds, TestData.AllSpans(decoded).Select(s => s.TraceId).ToArray());
    }

    [Fact]
    public async Task Export_TenantHeadersHook_AddsHeaderPerTenant()
    {
        await using var backend = await FakeBackend.StartAsync();
        var options = Options(backend.BaseUrl) with { TenantHeaders = tenant => [new("X-Scope-OrgID", tenant)] };
        var exporter = Create(options, new HushMetrics(), new CollectingLoggerFactory());

        await exporter.ExportAsync(Batch(1, tenant: "acme"), CancellationToken.None);
        await exporter.DisposeAsync();

        Assert.Equal("acme", Assert.Single(backend.Requests).Headers["X-Scope-OrgID"]);
    }

    [Fact]
    public async Task Export_503WithRetryAfterSeconds_WaitsThatLongThenDelivers()
    {
        var time = new ManualTimeProvider();
        await using var backend = await FakeBackend.StartAsync(respond: (i, _) => i == 0 ? new BackendResponse(503, RetryAfter: "7") : new BackendResponse(200));
        var metrics = new HushMetrics();
        var exporter = Create(Options(backend.BaseUrl), metrics, new CollectingLoggerFactory(), time);

        await exporter.ExportAsync(Batch(2), CancellationToken.None);
        Assert.True(await time.WaitForPendingAsync(d => d == TimeSpan.FromSeconds(7)));
        Assert.Single(backend.Requests);
        time.Advance(TimeSpan.FromSeconds(6));
        Assert.Single(backend.Requests);
        time.Advance(TimeSpan.FromSeconds(1));

        Assert.True(await TestData.Eventually(() => Metric(metrics, "hush_exporter_spans_sent_total{exporter=\"otlphttp/tempo\"}") == "2"));
        Assert.Equal(2, backend.Requests.Count);
        Assert.Equal("1", Metric(metrics, "hush_exporter_requests_total{exporter=\"otlphttp/tempo\",outcome=\"retryable\"}"));
        await exporter.DisposeAsync();
    }

    [Fact]
    public async Task Export_429WithRetryAfterDate_WaitsUntilThatDate()
    {
        var time = new ManualTimeProvider();
        var retryAt = time.GetUtcNow().AddSeconds(12).ToString("r");
        await using var backend = await FakeBackend.StartAsync(respond: (i, _) => i == 0 ? new BackendResponse(429, RetryAfter: retryAt) : new BackendResponse(200));
        var exporter = Create(Options(backend.BaseUrl), new HushMetrics(), new CollectingLoggerFactory(), time);

        await exporter.ExportAsync(Batch(1), CancellationToken.None);

        Assert.True(await time.WaitForPendingAsync(d => d == TimeSpan.FromSeconds(12)));
        time.Advance(TimeSpan.FromSeconds(12));
        Assert.True(await TestData.Eventually(() => backend.Requests.Count == 2));
        await exporter.DisposeAsync();
    }

    [Fact]
    public async Task Export_RetryAfterBeyondMaxInterval_CappedAtMaxInterval()
    {
        var time = new ManualTimeProvider();
        await using var backend = await FakeBackend.StartAsync(respond: (i, _) => i == 0 ? new BackendResponse(503, RetryAfter: "3600") : new BackendResponse(200));
        var exporter = Create(Options(backend.BaseUrl) with { MaxInterval = TimeSpan.FromSeconds(30) }, new HushMetrics(), new CollectingLoggerFactory(), time);

        await exporter.ExportAsync(Batch(1), CancellationToken.None);

        Assert.True(await time.WaitForPendingAsync(d => d == TimeSpan.FromSeconds(30)));
        time.Advance(TimeSpan.FromSeconds(30));
        Assert.True(await TestData.Eventually(() => backend.Requests.Count == 2));
        await exporter.DisposeAsync();
    }

    [Fact]
    public async Task Export_400_PermanentNoRetryAndLogsLengthNotText()
    {
        var status = OtlpProtobuf.EncodeRpcStatus(3, "invalid span containing " + TestData.Secret);
        await using var backend = await FakeBackend.StartAsync(respond: (_, _) => new BackendResponse(400, status));
        var metrics = new HushMetrics();
        var logs = new CollectingLoggerFactory();
        var exporter = Create(Options(backend.BaseUrl), metrics, logs);

        await exporter.ExportAsync(Batch(5), CancellationToken.None);
        await exporter.DisposeAsync();

        Assert.Single(backend.Requests);
        Assert.Equal("5", Metric(metrics, "hush_exporter_spans_failed_total{exporter=\"otlphttp/tempo\",reason=\"permanent\"}"));
        Assert.Equal("1", Metric(metrics, "hush_exporter_requests_total{exporter=\"otlphttp/tempo\",outcome=\"permanent\"}"));
        var line = Assert.Single(logs.Entries, e => e.EventId == 5102);
        Assert.Contains("HTTP 400", line.Message, StringComparison.Ordinal);
        Assert.Contains($"error message of {("invalid span containing " + TestData.Secret).Length} characters", line.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(TestData.Secret, logs.AllText);
    }

    [Fact]
    public async Task Export_PartialSuccess_RejectedSpansCounted()
    {
        var response = OtlpProtobuf.EncodeExportResponse(new TraceExportResponse
        {
            PartialSuccess = new ExportPartialSuccess { RejectedSpans = 2, ErrorMessage = "dropped " + TestData.Secret },
        });
        await using var backend = await FakeBackend.StartAsync(respond: (_, _) => new BackendResponse(200, response));
        var metrics = new HushMetrics();
        var logs = new CollectingLoggerFactory();
        var exporter = Create(Options(backend.BaseUrl), metrics, logs);

        await exporter.ExportAsync(Batch(5), CancellationToken.None);
        await exporter.DisposeAsync();

        Assert.Equal("3", Metric(metrics, "hush_exporter_spans_sent_total{exporter=\"otlphttp/tempo\"}"));
        Assert.Equal("2", Metric(metrics, "hush_exporter_spans_failed_total{exporter=\"otlphttp/tempo\",reason=\"rejected\"}"));
        Assert.Equal("1", Metric(metrics, "hush_exporter_requests_total{exporter=\"otlphttp/tempo\",outcome=\"partial_success\"}"));
        Assert.Contains(logs.Entries, e => e.EventId == 5104);
        Assert.DoesNotContain(TestData.Secret, logs.AllText);
    }

    [Fact]
    public async Task Export_PartialSuccessAsJson_RejectedSpansCounted()
    {
        var response = OtlpJson.EncodeExportResponse(new TraceExportResponse { PartialSuccess = new ExportPartialSuccess { RejectedSpans = 1 } });
        await using var backend = await FakeBackend.StartAsync(respond: (_, _) => new BackendResponse(200, response, "application/json"));
        var metrics = new HushMetrics();
        var exporter = Create(Options(backend.BaseUrl) with { Encoding = OtlpEncoding.Json }, metrics, new CollectingLoggerFactory());

        await exporter.ExportAsync(Batch(4), CancellationToken.None);
        await exporter.DisposeAsync();

        Assert.Equal("1", Metric(metrics, "hush_exporter_spans_failed_total{exporter=\"otlphttp/tempo\",reason=\"rejected\"}"));
    }

    [Fact]
    public async Task Export_GarbageSuccessBody_CountedAsDelivered()
    {
        await using var backend = await FakeBackend.StartAsync(respond: (_, _) => new BackendResponse(200, [0xFF, 0xFF, 0xFF, 0x07, 0x01]));
        var metrics = new HushMetrics();
        var exporter = Create(Options(backend.BaseUrl), metrics, new CollectingLoggerFactory());

        await exporter.ExportAsync(Batch(2), CancellationToken.None);
        await exporter.DisposeAsync();

        Assert.Equal("2", Metric(metrics, "hush_exporter_spans_sent_total{exporter=\"otlphttp/tempo\"}"));
    }

    [Fact]
    public async Task Export_BackendDownThenUp_OneWarningOneRecoveryAndDelivered()
    {
        var time = new ManualTimeProvider();
        var port = FakeBackend.FreePort();
        var endpoint = new Uri($"http://127.0.0.1:{port}?token=secret-query");
        var metrics = new HushMetrics();
        var logs = new CollectingLoggerFactory();
        var options = Options(endpoint) with { InitialInterval = TimeSpan.FromSeconds(1), MaxInterval = TimeSpan.FromSeconds(1) };
        var exporter = Create(options, metrics, logs, time);

        await exporter.ExportAsync(Batch(3), CancellationToken.None);
        for (var retry = 0; retry < 3; retry++)
        {
            Assert.True(await time.WaitForPendingAsync(d => d == TimeSpan.FromSeconds(1)));
            time.Advance(TimeSpan.FromSeconds(1));
        }

        Assert.True(await time.WaitForPendingAsync(d => d == TimeSpan.FromSeconds(1)));
        await using var backend = await FakeBackend.StartAsync(port);
        time.Advance(TimeSpan.FromSeconds(1));

        Assert.True(await TestData.Eventually(() => backend.Requests.Count == 1));
        Assert.True(await TestData.Eventually(() => logs.Entries.Any(e => e.EventId == 5101)));
        var down = Assert.Single(logs.Entries, e => e.EventId == 5100);
        Assert.Equal(LogLevel.Warning, down.Level);
        Assert.StartsWith(
            $"exporter otlphttp/tempo: backend unreachable at http://127.0.0.1:{port}/v1/traces (connection refused); retrying with backoff, 0 batches queued",
            down.Message,
            StringComparison.Ordinal);
        Assert.Single(logs.Entries, e => e.EventId == 5101 && e.Level == LogLevel.Information);
        Assert.Equal("4", Metric(metrics, "hush_exporter_requests_total{exporter=\"otlphttp/tempo\",outcome=\"connection_error\"}"));
        Assert.True(await TestData.Eventually(() => Metric(metrics, "hush_exporter_spans_sent_total{exporter=\"otlphttp/tempo\"}") == "3"));
        Assert.DoesNotContain("secret-query", logs.AllText);
        Assert.DoesNotContain(HeaderSecret, logs.AllText);
        await exporter.DisposeAsync();
    }

    [Fact]
    public async Task Export_RetryDisabled_GivesUpAfterOneAttempt()
    {
        await using var backend = await FakeBackend.StartAsync(respond: (_, _) => new BackendResponse(503));
        var metrics = new HushMetrics();
        var logs = new CollectingLoggerFactory();
        var exporter = Create(Options(backend.BaseUrl) with { RetryEnabled = false }, metrics, logs);

        await exporter.ExportAsync(Batch(2), CancellationToken.None);
        await exporter.DisposeAsync();

        Assert.Single(backend.Requests);
        Assert.Equal("2", Metric(metrics, "hush_exporter_spans_failed_total{exporter=\"otlphttp/tempo\",reason=\"retries_exhausted\"}"));
        Assert.Contains(logs.Entries, e => e.EventId == 5103);
    }

    [Fact]
    public async Task Export_AlwaysUnavailable_GivesUpAfterMaxElapsedTime()
    {
        var time = new ManualTimeProvider();
        await using var backend = await FakeBackend.StartAsync(respond: (_, _) => new BackendResponse(503));
        var metrics = new HushMetrics();
        var options = Options(backend.BaseUrl) with
        {
            InitialInterval = TimeSpan.FromSeconds(2),
            MaxInterval = TimeSpan.FromSeconds(2),
            MaxElapsedTime = TimeSpan.FromSeconds(5),
        };
        var exporter = Create(options, metrics, new CollectingLoggerFactory(), time);

        await exporter.ExportAsync(Batch(2), CancellationToken.None);
        for (var i = 0; i < 2; i++)
        {
            Assert.True(await time.WaitForPendingAsync(d => d == TimeSpan.FromSeconds(2)));
            time.Advance(TimeSpan.FromSeconds(2));
        }

        // 0s, 2s, 4s attempted; a third wait would end at 6s > 5s.
        Assert.True(await TestData.Eventually(() =>
            Metric(metrics, "hush_exporter_spans_failed_total{exporter=\"otlphttp/tempo\",reason=\"retries_exhausted\"}") == "2"));
        Assert.Equal(3, backend.Requests.Count);
        await exporter.DisposeAsync();
    }

    [Fact]
    public async Task ExportAsync_QueueFull_WaitsUntilRoom()
    {
        using var release = new ManualResetEventSlim();
        await using var backend = await FakeBackend.StartAsync(respond: (_, _) =>
        {
            release.Wait(TimeSpan.FromSeconds(20));
            return new BackendResponse(200);
        });
        var metrics = new HushMetrics();
        var exporter = Create(Options(backend.BaseUrl) with { QueueSize = 1, Consumers = 1 }, metrics, new CollectingLoggerFactory());

        Assert.True((await exporter.ExportAsync(Batch(1), CancellationToken.None)) == ExportOutcome.Success);
        Assert.True(await TestData.Eventually(() => backend.Requests.Count == 1));
        Assert.Equal(ExportOutcome.Success, await exporter.ExportAsync(Batch(1), CancellationToken.None));
        Assert.Equal(1, exporter.QueuedBatches);
        Assert.Contains("hush_exporter_queue_batches{exporter=\"otlphttp/tempo\"} 1", metrics.ToText());
        var third = exporter.ExportAsync(Batch(1), CancellationToken.None).AsTask();
        await Task.Delay(50);
        Assert.False(third.IsCompleted);

        release.Set();
        Assert.Equal(ExportOutcome.Success, await third.WaitAsync(TimeSpan.FromSeconds(10)));
        await exporter.DisposeAsync();
        Assert.Equal(3, backend.Requests.Count);
    }

    [Fact]
    public async Task DisposeAsync_QueuedBatches_FlushedBeforeReturning()
    {
        await using var backend = await FakeBackend.StartAsync();
        var metrics = new HushMetrics();
        var exporter = Create(Options(backend.BaseUrl) with { Consumers = 1 }, metrics, new CollectingLoggerFactory());
        for (var i = 0; i < 10; i++)
        {
            await exporter.ExportAsync(Batch(2), CancellationToken.None);
        }

        await exporter.DisposeAsync();
        await exporter.DisposeAsync();

        Assert.Equal(10, backend.Requests.Count);
        Assert.Equal("20", Metric(metrics, "hush_exporter_spans_sent_total{exporter=\"otlphttp/tempo\"}"));
        Assert.Equal(ExportOutcome.RetryableFailure, await exporter.ExportAsync(Batch(1), CancellationToken.None));
    }

    [Fact]
    public async Task DisposeAsync_BackendDownPastShutdownTimeout_DropsCountsAndReturns()
    {
        var time = new ManualTimeProvider();
        var metrics = new HushMetrics();
        var logs = new CollectingLoggerFactory();
        var options = Options(new Uri($"http://127.0.0.1:{FakeBackend.FreePort()}")) with { ShutdownTimeout = TimeSpan.FromSeconds(3), Consumers = 1 };
        var exporter = Create(options, metrics, logs, time);
        await exporter.ExportAsync(Batch(2), CancellationToken.None);
        await exporter.ExportAsync(Batch(3), CancellationToken.None);
        Assert.True(await time.WaitForPendingAsync(d => d == TimeSpan.FromSeconds(1)));

        var dispose = exporter.DisposeAsync().AsTask();
        Assert.True(await time.WaitForPendingAsync(d => d == TimeSpan.FromSeconds(3)));
        time.Advance(TimeSpan.FromSeconds(3));
        await dispose.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal("5", Metric(metrics, "hush_exporter_spans_failed_total{exporter=\"otlphttp/tempo\",reason=\"shutdown\"}"));
        Assert.Contains(logs.Entries, e => e.EventId == 5106);
    }

    [Fact]
    public void Constructor_InvalidOptions_ThrowsWithoutHeaderValues()
    {
        var options = new OtlpHttpExporterOptions { Headers = new Dictionary<string, string> { ["Authorization"] = "line1\n" + HeaderSecret } };
        var ex = Assert.Throws<ArgumentException>(() => Create(options, new HushMetrics(), new CollectingLoggerFactory()));
        Assert.Contains("'exporters.otlphttp/tempo.endpoint' is required", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(HeaderSecret, ex.Message);
    }
}

public sealed class OtlpHttpExporterGarbageTests
{
    [Theory]
    [InlineData("application/x-protobuf")]
    [InlineData("application/json")]
    [InlineData("text/html")]
    public async Task Export_400WithGarbageBody_PermanentAndLoggedWithZeroLength(string contentType)
    {
        var garbage = new byte[300];
        new Random(42).NextBytes(garbage);
        await using var backend = await FakeBackend.StartAsync(respond: (_, _) => new BackendResponse(400, garbage, contentType));
        var metrics = new HushMetrics();
        var logs = new CollectingLoggerFactory();
        var exporter = new OtlpHttpExporter("otlphttp/x", new OtlpHttpExporterOptions { Endpoint = backend.BaseUrl }, metrics, logs, TimeProvider.System);

        await exporter.ExportAsync(new SpanBatch("t", TestData.Request(2), 2), CancellationToken.None);
        await exporter.DisposeAsync();

        Assert.Contains("hush_exporter_spans_failed_total{exporter=\"otlphttp/x\",reason=\"permanent\"} 2", metrics.ToText());
        Assert.Contains(logs.Entries, e => e.EventId == 5102);
    }

    [Fact]
    public async Task Export_RedirectResponse_NotFollowedAndPermanent()
    {
        await using var backend = await FakeBackend.StartAsync(respond: (_, _) => new BackendResponse(307));
        var metrics = new HushMetrics();
        var exporter = new OtlpHttpExporter("otlphttp/x", new OtlpHttpExporterOptions { Endpoint = backend.BaseUrl }, metrics, new CollectingLoggerFactory(), TimeProvider.System);

        await exporter.ExportAsync(new SpanBatch("t", TestData.Request(1), 1), CancellationToken.None);
        await exporter.DisposeAsync();

        Assert.Single(backend.Requests);
        Assert.Contains("hush_exporter_spans_failed_total{exporter=\"otlphttp/x\",reason=\"permanent\"} 1", metrics.ToText());
    }

    [Fact]
    public async Task Export_TenantHookReturnsInvalidHeaderName_BatchStillDelivered()
    {
        await using var backend = await FakeBackend.StartAsync();
        var options = new OtlpHttpExporterOptions { Endpoint = backend.BaseUrl, TenantHeaders = _ => [new("bad name", "v"), new("X-Ok", "1")] };
        var exporter = new OtlpHttpExporter("otlphttp/x", options, new HushMetrics(), new CollectingLoggerFactory(), TimeProvider.System);

        await exporter.ExportAsync(new SpanBatch("t", TestData.Request(1), 1), CancellationToken.None);
        await exporter.DisposeAsync();

        Assert.Equal("1", Assert.Single(backend.Requests).Headers["X-Ok"]);
    }
}

public sealed class OtlpHttpExporterBackoffTests
{
    [Theory]
    [InlineData(0.0, 1_000)]
    [InlineData(0.5, 2_000)]
    [InlineData(0.999, 2_998)]
    public async Task Export_ConnectionErrorWithJitter_DelayWithinHalfToOneAndAHalfInterval(double random, int expectedMs)
    {
        var time = new ManualTimeProvider();
        var options = new OtlpHttpExporterOptions
        {
            Endpoint = new Uri($"http://127.0.0.1:{FakeBackend.FreePort()}"),
            InitialInterval = TimeSpan.FromSeconds(2),
            Timeout = TimeSpan.FromSeconds(60),
            Consumers = 1,
            ShutdownTimeout = TimeSpan.Zero,
        };
        var exporter = new OtlpHttpExporter("otlphttp/x", options, new HushMetrics(), new CollectingLoggerFactory(), time, null, () => random);

        await exporter.ExportAsync(new SpanBatch("t", TestData.Request(1), 1), CancellationToken.None);

        Assert.True(await time.WaitForPendingAsync(d => Math.Abs(d.TotalMilliseconds - expectedMs) < 1.5), string.Join(",", time.PendingDueTimes()));
        var dispose = exporter.DisposeAsync().AsTask();
        time.Advance(TimeSpan.FromSeconds(1));
        await dispose.WaitAsync(TimeSpan.FromSeconds(10));
    }
}
