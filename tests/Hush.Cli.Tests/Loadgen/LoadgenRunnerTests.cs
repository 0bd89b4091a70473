using Hush.Cli.Loadgen;
using Hush.Otlp;

namespace Hush.Cli.Tests.Loadgen;

/// <summary>End to end against a fake OTLP server on 127.0.0.1:0.</summary>
public sealed class LoadgenRunnerTests
{
    [Theory]
    [InlineData("http/protobuf", false)]
    [InlineData("http/json", false)]
    [InlineData("http/protobuf", true)]
    [InlineData("grpc", false)]
    [InlineData("grpc", true)]
    public async Task RunAsync_SpansBudget_ServerReceivesExactlyThatManyRealisticSpans(string protocolName, bool gzip)
    {
        Assert.True(LoadgenOptions.TryParseProtocol(protocolName, out var protocol));
        var grpc = protocol == LoadgenProtocol.Grpc;
        await using var server = await FakeOtlpServer.StartAsync(grpc);
        var output = new StringWriter();

        var report = await LoadgenRunner.RunAsync(
            Options(server, protocol) with { Spans = 2_000, Batch = 300, Concurrency = 3, PiiRatio = 0.2, Gzip = gzip },
            output,
            CancellationToken.None);

        Assert.Equal(0, report.ExitCode);
        Assert.Equal(2_000, server.SpanCount());
        Assert.Equal(2_000, report.SpansSent);
        Assert.Equal(7, report.RequestsOk); // 6 × 300 + 200
        Assert.Equal(7, server.Received.Count);
        Assert.All(server.Received, r => Assert.NotNull(r.Request));
        Assert.All(server.Received, r => Assert.Equal(gzip ? "gzip" : string.Empty, r.ContentEncoding));
        if (grpc)
        {
            Assert.All(server.Received, r => Assert.Equal("HTTP/2", r.Protocol));
            Assert.All(server.Received, r => Assert.Equal("/opentelemetry.proto.collector.trace.v1.TraceService/Export", r.Path));
            Assert.Equal("grpc 0 OK", Assert.Single(report.ByStatus).Key);
        }
        else
        {
            Assert.All(server.Received, r => Assert.Equal("/v1/traces", r.Path));
            Assert.All(server.Received, r => Assert.Equal(protocol == LoadgenProtocol.HttpJson ? "application/json" : "application/x-protobuf", r.ContentType));
            Assert.Equal("http 200", Assert.Single(report.ByStatus).Key);
        }

        var spans = server.AllSpans().ToList();
        Assert.InRange(spans.Average(s => s.Attributes.Count), 17, 24);
        foreach (var request in server.Received.Select(r => r.Request!))
        {
            var ids = SpanMixGeneratorTests.Spans(request).Select(s => s.SpanId).ToHashSet();
            Assert.All(SpanMixGeneratorTests.Spans(request), s => Assert.True(s.ParentSpanId.IsEmpty || ids.Contains(s.ParentSpanId), "dangling parent"));
        }

        Assert.InRange(spans.Count(SpanMixGeneratorTests.CarriesPlantedValue) / 2_000.0, 0.2 * 0.75, 0.2 * 1.25);
        Assert.True(report.BytesSent > 0);
        Assert.True(report.LatencyP99 >= report.LatencyP50);
        Assert.Contains("spans sent     2000", output.ToString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task RunAsync_TlsServer_WorksWithInsecureAndFailsWithoutIt(bool grpc)
    {
        await using var server = await FakeOtlpServer.StartAsync(grpc, tls: true);
        Assert.Equal("https", server.BaseAddress.Scheme);
        var options = Options(server, grpc ? LoadgenProtocol.Grpc : LoadgenProtocol.HttpProtobuf) with { Spans = 100, Batch = 100 };

        var trusting = await LoadgenRunner.RunAsync(options with { Insecure = true }, TextWriter.Null, CancellationToken.None);
        var verifying = await LoadgenRunner.RunAsync(options, TextWriter.Null, CancellationToken.None);

        Assert.Equal(0, trusting.ExitCode);
        Assert.Equal(100, trusting.SpansSent);
        Assert.Equal(LoadgenReport.ExitFailed, verifying.ExitCode);
        Assert.Equal(100, server.SpanCount());
        if (grpc)
        {
            Assert.Equal("HTTP/2", Assert.Single(server.Received).Protocol);
        }
    }

    [Fact]
    public async Task RunAsync_HttpTooManyRequestsWithRetryAfter_WaitsRetriesAndCounts()
    {
        await using var server = await FakeOtlpServer.StartAsync(grpc: false, i => i == 0 ? new FakeResponse(429) { RetryAfter = "1" } : new FakeResponse());

        var report = await LoadgenRunner.RunAsync(Options(server) with { Spans = 100, Batch = 100, Concurrency = 1 }, TextWriter.Null, CancellationToken.None);

        Assert.Equal(0, report.ExitCode);
        Assert.Equal(1, report.Throttled);
        Assert.Equal(1, report.Retries);
        Assert.Equal(100, report.SpansSent);
        Assert.Equal(1, report.ByStatus["http 429"]);
        Assert.Equal(1, report.ByStatus["http 200"]);
        var received = server.Received;
        Assert.Equal(2, received.Count);
        Assert.True(received[1].At - received[0].At >= TimeSpan.FromMilliseconds(900), "Retry-After: 1 not honoured");
    }

    [Fact]
    public async Task RunAsync_GrpcUnavailableWithPushback_RetriesAndCounts()
    {
        await using var server = await FakeOtlpServer.StartAsync(grpc: true, i => i < 2 ? new FakeResponse(GrpcStatus: 14) { GrpcPushbackMs = "50" } : new FakeResponse());

        var report = await LoadgenRunner.RunAsync(Options(server, LoadgenProtocol.Grpc) with { Spans = 100, Batch = 100, Concurrency = 1 }, TextWriter.Null, CancellationToken.None);

        Assert.Equal(0, report.ExitCode);
        Assert.Equal(2, report.Throttled);
        Assert.Equal(2, report.ByStatus["grpc 14 UNAVAILABLE"]);
        Assert.Equal(100, report.SpansSent);
        Assert.Equal(3, server.Received.Count);
    }

    [Fact]
    public async Task RunAsync_AlwaysThrottled_GivesUpAfterMaxAttemptsAndFails()
    {
        await using var server = await FakeOtlpServer.StartAsync(grpc: false, _ => new FakeResponse(503) { RetryAfter = "0" });

        var report = await LoadgenRunner.RunAsync(Options(server) with { Spans = 10, Batch = 10, MaxAttempts = 3 }, TextWriter.Null, CancellationToken.None);

        Assert.Equal(LoadgenReport.ExitFailed, report.ExitCode);
        Assert.Equal(3, server.Received.Count);
        Assert.Equal(3, report.Throttled);
        Assert.Equal(1, report.RequestsFailed);
        Assert.Equal(0, report.PermanentFailures);
        Assert.Equal(10, report.SpansFailed);
    }

    [Fact]
    public async Task RunAsync_BadRequest_CountsPermanentFailureAndExitsNonZero()
    {
        await using var server = await FakeOtlpServer.StartAsync(grpc: false, i => i == 0 ? new FakeResponse(400) : new FakeResponse());
        var output = new StringWriter();

        var report = await LoadgenRunner.RunAsync(Options(server) with { Spans = 300, Batch = 100, Concurrency = 1 }, output, CancellationToken.None);

        Assert.Equal(LoadgenReport.ExitFailed, report.ExitCode);
        Assert.Equal(1, report.PermanentFailures);
        Assert.Equal(2, report.RequestsOk);
        Assert.Equal(200, report.SpansSent);
        Assert.Equal(3, server.Received.Count); // a 400 is not retried
        Assert.Contains("http 400: 1", output.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task RunAsync_GrpcInvalidArgument_IsPermanent()
    {
        await using var server = await FakeOtlpServer.StartAsync(grpc: true, _ => new FakeResponse(GrpcStatus: 3));

        var report = await LoadgenRunner.RunAsync(Options(server, LoadgenProtocol.Grpc) with { Spans = 50, Batch = 50 }, TextWriter.Null, CancellationToken.None);

        Assert.Equal(LoadgenReport.ExitFailed, report.ExitCode);
        Assert.Equal(1, report.PermanentFailures);
        Assert.Equal(1, report.ByStatus["grpc 3 INVALID_ARGUMENT"]);
    }

    [Fact]
    public async Task RunAsync_GrpcResponseWithoutStatus_IsAFailure()
    {
        await using var server = await FakeOtlpServer.StartAsync(grpc: true, _ => new FakeResponse { OmitGrpcStatus = true });

        var report = await LoadgenRunner.RunAsync(Options(server, LoadgenProtocol.Grpc) with { Spans = 50, Batch = 50 }, TextWriter.Null, CancellationToken.None);

        Assert.Equal(LoadgenReport.ExitFailed, report.ExitCode);
        Assert.Equal(1, report.ByStatus["grpc no-status"]);
    }

    [Theory]
    [InlineData("http/protobuf")]
    [InlineData("http/json")]
    [InlineData("grpc")]
    public async Task RunAsync_PartialSuccess_CountsRejectedSpans(string protocolName)
    {
        Assert.True(LoadgenOptions.TryParseProtocol(protocolName, out var protocol));
        await using var server = await FakeOtlpServer.StartAsync(protocol == LoadgenProtocol.Grpc, _ => new FakeResponse { RejectedSpans = 7 });

        var report = await LoadgenRunner.RunAsync(
            Options(server, protocol) with { Spans = 200, Batch = 100 },
            TextWriter.Null,
            CancellationToken.None);

        Assert.Equal(14, report.SpansRejected);
        Assert.Equal(186, report.SpansSent);
    }

    [Fact]
    public async Task RunAsync_GarbageSuccessBody_StillCountsAsAccepted()
    {
        await using var server = await FakeOtlpServer.StartAsync(grpc: false, _ => new FakeResponse { RawBody = [0xFF, 0xFF, 0xFF, 0x07, 0x01] });

        var report = await LoadgenRunner.RunAsync(Options(server) with { Spans = 10, Batch = 10 }, TextWriter.Null, CancellationToken.None);

        Assert.Equal(0, report.ExitCode);
        Assert.Equal(10, report.SpansSent);
    }

    [Fact]
    public async Task RunAsync_NothingListening_FailsWithoutThrowing()
    {
        // Take a free port and release it: nothing listens there afterwards.
        var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        var port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();

        var report = await LoadgenRunner.RunAsync(
            new LoadgenOptions { Endpoint = $"http://127.0.0.1:{port}", Spans = 10, Batch = 10, Timeout = TimeSpan.FromSeconds(5) },
            TextWriter.Null,
            CancellationToken.None);

        Assert.Equal(LoadgenReport.ExitFailed, report.ExitCode);
        Assert.Equal(0, report.RequestsOk);
        Assert.Equal(0, report.BytesSent);
        Assert.Contains(report.ByStatus.Keys, k => k.StartsWith("error ", StringComparison.Ordinal));
    }

    [Fact]
    public async Task RunAsync_SecretHeader_IsSentButNeverPrinted()
    {
        const string Secret = "Bearer hush-test-7f3a9c-DO-NOT-PRINT";
        await using var server = await FakeOtlpServer.StartAsync(grpc: false, i => i == 0 ? new FakeResponse(401) : new FakeResponse());
        var output = new StringWriter();

        var report = await LoadgenRunner.RunAsync(
            Options(server) with { Spans = 200, Batch = 100, Concurrency = 1, Headers = [new("authorization", Secret), new("X-Scope-OrgID", "tenant-a")] },
            output,
            CancellationToken.None);

        Assert.All(server.Received, r => Assert.Equal(Secret, r.Headers["authorization"]));
        Assert.All(server.Received, r => Assert.Equal("tenant-a", r.Headers["X-Scope-OrgID"]));
        var text = output.ToString();
        Assert.Contains("headers: authorization, X-Scope-OrgID", text, StringComparison.Ordinal);
        Assert.DoesNotContain("hush-test-7f3a9c", text, StringComparison.Ordinal);
        Assert.Equal(1, report.PermanentFailures);
    }

    [Fact]
    public async Task RunAsync_GrpcSecretHeader_IsSentAsMetadata()
    {
        await using var server = await FakeOtlpServer.StartAsync(grpc: true);

        await LoadgenRunner.RunAsync(Options(server, LoadgenProtocol.Grpc) with { Spans = 10, Batch = 10, Headers = [new("Authorization", "Bearer t0k")] }, TextWriter.Null, CancellationToken.None);

        Assert.Equal("Bearer t0k", Assert.Single(server.Received).Headers["authorization"]);
    }

    [Fact]
    public async Task RunAsync_RateForOneSecond_SendsAboutTheRate()
    {
        await using var server = await FakeOtlpServer.StartAsync(grpc: false);
        var output = new StringWriter();

        var report = await LoadgenRunner.RunAsync(
            Options(server) with { Rate = 2_000, Duration = TimeSpan.FromSeconds(2), Batch = 100, ReportInterval = TimeSpan.FromMilliseconds(400) },
            output,
            CancellationToken.None);

        // Never faster than the rate (one batch of slack); slower only as far as a busy machine makes it (CI shares
        // two cores with other test assemblies: 1,200 of 2,000 in one second was seen), hence the loose floor.
        Assert.InRange(report.SpansSent, 2_000, 4_000 + 100);
        Assert.Equal(report.SpansSent, server.SpanCount());
        Assert.InRange(report.Elapsed, TimeSpan.FromSeconds(1.9), TimeSpan.FromSeconds(6));

        // Progress lines came out while it ran.
        Assert.Contains("spans ", output.ToString().Split('\n')[1], StringComparison.Ordinal);
    }

    [Fact]
    public async Task RunAsync_Cancelled_StopsAndStillReports()
    {
        await using var server = await FakeOtlpServer.StartAsync(grpc: false);
        using var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));
        var output = new StringWriter();

        var report = await LoadgenRunner.RunAsync(Options(server) with { Rate = 1_000, Batch = 50, Duration = TimeSpan.FromMinutes(5) }, output, cancel.Token);

        Assert.True(report.Elapsed < TimeSpan.FromSeconds(30));
        Assert.Contains("done in", output.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void GrpcRetryInfo_ValidDetails_ReadsTheDelay()
    {
        // google.rpc.Status{ code=14, details=[Any{ type_url=RetryInfo, value=RetryInfo{ retry_delay=Duration{ seconds=2, nanos=500000000 } } }] }
        byte[] duration = [0x08, 0x02, 0x10, 0x80, 0xCA, 0xB5, 0xEE, 0x01];
        byte[] retryInfo = [0x0A, (byte)duration.Length, .. duration];
        var typeUrl = "type.googleapis.com/google.rpc.RetryInfo"u8.ToArray();
        byte[] any = [0x0A, (byte)typeUrl.Length, .. typeUrl, 0x12, (byte)retryInfo.Length, .. retryInfo];
        byte[] status = [0x08, 0x0E, 0x1A, (byte)any.Length, .. any];

        Assert.Equal(TimeSpan.FromMilliseconds(2_500), GrpcRetryInfo.TryRead(Convert.ToBase64String(status).TrimEnd('=')));
    }

    [Fact]
    public void GrpcRetryInfo_Garbage_ReturnsNullWithoutThrowing()
    {
        var random = new Random(1234);
        for (var i = 0; i < 2_000; i++)
        {
            var bytes = new byte[random.Next(0, 64)];
            random.NextBytes(bytes);
            _ = GrpcRetryInfo.TryRead(Convert.ToBase64String(bytes));
        }

        Assert.Null(GrpcRetryInfo.TryRead("!!not base64!!"));
        Assert.Null(GrpcRetryInfo.TryRead(new string('A', 100_000)));
    }

    [Fact]
    public void Backoff_DoublesUpToFiveSeconds()
    {
        Assert.Equal(TimeSpan.FromMilliseconds(100), LoadgenRunner.Backoff(1));
        Assert.Equal(TimeSpan.FromMilliseconds(400), LoadgenRunner.Backoff(3));
        Assert.Equal(TimeSpan.FromSeconds(5), LoadgenRunner.Backoff(50));
    }

    private static LoadgenOptions Options(FakeOtlpServer server, LoadgenProtocol protocol = LoadgenProtocol.HttpProtobuf) => new()
    {
        Endpoint = server.BaseAddress.ToString(),
        Protocol = protocol,
        Timeout = TimeSpan.FromSeconds(20),
    };
}
