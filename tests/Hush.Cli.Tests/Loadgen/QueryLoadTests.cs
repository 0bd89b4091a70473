using System.Collections.Concurrent;
using System.Net;
using Hush.Cli.Commands;
using Hush.Cli.Loadgen.Query;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Hush.Cli.Tests.Loadgen;

public sealed class QueryLoadTests
{
    private const string Key = "hushk_SECRETSECRETSECRET";

    private static QueryLoadOptions? Parse(out List<string> errors, string url = QueryLoadOptions.DefaultUrl, string? key = Key, string scenario = "trace", int concurrency = 4, string duration = "2s", string traceIds = "sample", string since = "24h", string timeout = "5s", long? requests = null)
        => QueryLoadCommand.Parse(url, key, null, scenario, concurrency, duration, requests, traceIds, 500, QueryLoadOptions.DefaultSearch, 20, null, null, since, timeout, 1, out errors);

    [Fact]
    public void Parse_Defaults_AreValid()
    {
        var options = Parse(out var errors);

        Assert.Empty(errors);
        Assert.NotNull(options);
        Assert.Equal(QueryScenario.TraceById, options.Scenario);
        Assert.Null(options.TraceIdFile);
    }

    [Fact]
    public void Parse_Garbage_ReportsEveryErrorAtOnceWithoutTheKey()
    {
        var options = Parse(out var errors, url: "not a url", key: "hushk_with space " + Key, scenario: "delete", concurrency: 0, duration: "forever", timeout: "-1s", since: "0s", requests: 0);

        Assert.Null(options);
        Assert.Contains(errors, e => e.StartsWith("'--url'", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("'--scenario'", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("'--concurrency'", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("'--duration'", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("'--timeout'", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("'--since'", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("'--requests'", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("'--api-key'", StringComparison.Ordinal));
        Assert.DoesNotContain(errors, e => e.Contains("SECRET", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("http://10.0.0.5:3200")]
    [InlineData("http://example.com:3200")]
    [InlineData("ftp://127.0.0.1:3200")]
    [InlineData("http://0.0.0.0:3200")]
    public void Parse_NotLoopback_Refused(string url)
    {
        Assert.Null(Parse(out var errors, url: url));
        Assert.Contains(errors, e => e.StartsWith("'--url'", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("http://127.0.0.1:3200")]
    [InlineData("http://localhost:3200/")]
    [InlineData("http://[::1]:3200")]
    public void Parse_Loopback_Accepted(string url) => Assert.NotNull(Parse(out _, url: url));

    [Fact]
    public async Task Run_MixedAnswers_CountsFourxxAndFailuresWithoutCrashing()
    {
        var accepts = new ConcurrentBag<string>();
        var n = 0;
        await using var server = await FakeQueryServer.StartAsync(context =>
        {
            accepts.Add(context.Request.Headers.Accept.ToString());
            var i = Interlocked.Increment(ref n);
            return (i % 3) switch { 0 => 404, 1 => 200, _ => 500 };
        });
        var ids = Path.GetTempFileName();
        await File.WriteAllLinesAsync(ids, [new Hush.Otlp.TraceId(1, 2).ToString(), new Hush.Otlp.TraceId(3, 4).ToString()]);
        try
        {
            var options = Parse(out _, url: server.Url, traceIds: ids, requests: 30, concurrency: 3)!;
            using var output = new StringWriter();

            var report = await QueryLoadRunner.RunAsync(options, output, default);

            Assert.Null(report.Problem);
            Assert.Equal(30, report.Requests);
            Assert.Equal(30, report.Ok + report.ClientErrors + report.Failures);
            Assert.True(report.ClientErrors > 0 && report.Failures > 0 && report.Ok > 0, string.Join(", ", report.ByStatus));
            Assert.Equal(QueryLoadReport.ExitOk, report.ExitCode);
            Assert.Contains("application/protobuf", accepts);
            Assert.All(server.Paths.Where(p => p.StartsWith("/api/v2/traces/", StringComparison.Ordinal)), p => Assert.Equal(47, p.Length));
            report.WriteSummary(output);
            Assert.DoesNotContain("SECRET", output.ToString(), StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(ids);
        }
    }

    [Fact]
    public async Task Run_KeyRefused_OneClearErrorAndExitOne()
    {
        await using var server = await FakeQueryServer.StartAsync(_ => 401);
        var options = Parse(out _, url: server.Url)!;
        using var output = new StringWriter();

        var report = await QueryLoadRunner.RunAsync(options, output, default);
        report.WriteSummary(output);

        Assert.Equal(QueryLoadReport.ExitFailed, report.ExitCode);
        Assert.Contains("refused the key (401)", report.Problem, StringComparison.Ordinal);
        Assert.Contains("hush apikey create", report.Problem, StringComparison.Ordinal);
        Assert.DoesNotContain("SECRET", output.ToString(), StringComparison.Ordinal);
        Assert.Single(server.Paths);
    }

    [Fact]
    public async Task Run_NothingListening_SaysSoAndExitsOne()
    {
        int port;
        using (var probe = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0))
        {
            probe.Start();
            port = ((IPEndPoint)probe.LocalEndpoint).Port;
        }

        var report = await QueryLoadRunner.RunAsync(Parse(out _, url: $"http://127.0.0.1:{port}")!, TextWriter.Null, default);

        Assert.Equal(QueryLoadReport.ExitFailed, report.ExitCode);
        Assert.StartsWith("cannot reach", report.Problem, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_SampleIds_FetchesThemWithOneSearchThenLoadsThem()
    {
        await using var server = await FakeQueryServer.StartAsync(_ => 200);
        var options = Parse(out _, url: server.Url, requests: 10, concurrency: 2)!;

        var report = await QueryLoadRunner.RunAsync(options, TextWriter.Null, default);

        Assert.Equal(10, report.Ok);
        Assert.Contains(server.Paths, p => p.StartsWith("/api/search", StringComparison.Ordinal));
        Assert.Contains("/api/v2/traces/" + FakeQueryServer.SampleId, server.Paths);
    }

    [Fact]
    public async Task Run_Search_SendsTheQueryAndWindow()
    {
        await using var server = await FakeQueryServer.StartAsync(_ => 200);
        var options = Parse(out _, url: server.Url, scenario: "search", requests: 4)!;

        var report = await QueryLoadRunner.RunAsync(options, TextWriter.Null, default);

        Assert.Equal(4, report.Ok);
        Assert.Equal(4, server.Queries.Count(q => q.Contains("status = error", StringComparison.Ordinal) && q.Contains("start=", StringComparison.Ordinal)));
    }

    /// <summary>Answers /api/status/buildinfo with 200 unless told otherwise, the sampling search with one id, and everything else by <c>status</c>.</summary>
    private sealed class FakeQueryServer : IAsyncDisposable
    {
        public const string SampleId = "0a0b0c0d0e0f10110000000000000007";

        private readonly WebApplication _app;

        private FakeQueryServer(WebApplication app) => _app = app;

        public string Url { get; private set; } = string.Empty;

        public ConcurrentQueue<string> Paths { get; } = new();

        public ConcurrentQueue<string> Queries { get; } = new();

        public static async Task<FakeQueryServer> StartAsync(Func<HttpContext, int> status)
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.Logging.ClearProviders();
            builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0));
            var app = builder.Build();
            var server = new FakeQueryServer(app);
            app.Run(async context =>
            {
                var path = context.Request.Path.Value ?? string.Empty;
                server.Paths.Enqueue(path);
                server.Queries.Enqueue(Uri.UnescapeDataString(context.Request.QueryString.Value ?? string.Empty));
                var code = status(context);
                if (path == "/api/status/buildinfo" && code != 401)
                {
                    code = 200;
                }

                context.Response.StatusCode = code;
                if (code == 200 && path == "/api/search" && context.Request.Query["q"] == "{}")
                {
                    await context.Response.WriteAsync($"{{\"traces\":[{{\"traceID\":\"{SampleId}\"}},{{\"traceID\":\"not hex!\"}}]}}");
                    return;
                }

                await context.Response.WriteAsync("{}");
            });
            await app.StartAsync();
            server.Url = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
            return server;
        }

        public async ValueTask DisposeAsync()
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
    }
}
