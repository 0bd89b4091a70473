using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text.RegularExpressions;
using Hush.Otlp;
using Hush.Store;
using Hush.Store.Storage;

namespace Hush.Cli.Tests.Store;

/// <summary>
/// The durability promise, against the real program: <c>hush serve</c> is killed with SIGKILL at random moments
/// while clients send, restarted, killed again; at the end every request it answered 200 is in the store, each span
/// exactly once.
/// </summary>
public sealed partial class CrashRecoveryTests : IDisposable
{
    private const int SpansPerRequest = 20;
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "hush-crash-" + Guid.NewGuid().ToString("N")[..12]);

    public CrashRecoveryTests() => Directory.CreateDirectory(_directory);

    public void Dispose()
    {
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    [Fact]
    public async Task KillNineUnderLoad_ThenRestart_EveryAcknowledgedSpanIsStoredExactlyOnce()
    {
        var config = Path.Combine(_directory, "hush.yaml");
        await File.WriteAllTextAsync(config, """
            receivers:
              otlp:
                protocols:
                  http:
                    endpoint: 127.0.0.1:0
            processors:
              batch:
                timeout: 50ms
            exporters:
              store: {}
            service:
              pipelines:
                traces:
                  receivers: [otlp]
                  exporters: [store]
              admin:
                endpoint: 127.0.0.1:0
              data_dir: ./data
            """);
        var acknowledged = new ConcurrentDictionary<TraceId, int>();
        var random = new Random(20261201);
        var sequence = 0L;
        for (var round = 0; round < 4; round++)
        {
            using var hush = await HushProcess.StartAsync(config, _directory);
            using var stop = new CancellationTokenSource();
            var senders = Enumerable.Range(0, 4)
                .Select(_ => SendUntilStoppedAsync(hush.HttpEndpoint, acknowledged, () => Interlocked.Increment(ref sequence), stop.Token))
                .ToArray();

            // Let it take load, then pull the plug at a random moment: mid-request, mid-fsync, mid-batch.
            await Task.Delay(random.Next(300, 1500));
            hush.Kill();
            await stop.CancelAsync();
            await Task.WhenAll(senders);
        }

        Assert.True(acknowledged.Count > 50, $"only {acknowledged.Count} requests were acknowledged; the test proved nothing");

        // One clean start replays what the journal held, then a clean stop.
        using (var last = await HushProcess.StartAsync(config, _directory))
        {
            await last.StopAsync();
        }

        var dataDir = Path.Combine(_directory, "data");
        using var kek = KeyEncryptionKey.ReadFile(KeyEncryptionKey.DefaultPath(dataDir));
        using var store = TraceStore.Open(dataDir, kek);
        var missing = 0;
        var wrongCount = 0;
        foreach (var (traceId, spans) in acknowledged)
        {
            var trace = await store.FindTraceAsync("dev", traceId, null, null, CancellationToken.None);
            if (trace is null)
            {
                missing++;
            }
            else if (trace.CountSpans() != spans)
            {
                wrongCount++;
            }
        }

        Assert.Equal(0, missing);
        Assert.Equal(0, wrongCount);
        Assert.True(store.Verify("dev").IsIntact);
    }

    private static async Task SendUntilStoppedAsync(Uri endpoint, ConcurrentDictionary<TraceId, int> acknowledged, Func<long> next, CancellationToken stop)
    {
        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        while (!stop.IsCancellationRequested)
        {
            var n = next();
            var traceId = new TraceId(0x4855_5348_0000_0000UL | (ulong)n, (ulong)n * 7919);
            var body = OtlpProtobuf.Encode(Request(traceId, n));
            try
            {
                using var content = new ByteArrayContent(body);
                content.Headers.ContentType = new MediaTypeHeaderValue("application/x-protobuf");
                using var response = await client.PostAsync(new Uri(endpoint, "/v1/traces"), content, stop);
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    acknowledged[traceId] = SpansPerRequest;
                }
            }
            catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException or IOException)
            {
                // The process died mid-request: not acknowledged, so nothing is promised.
            }
        }
    }

    private static TraceRequest Request(TraceId traceId, long n)
    {
        var start = (ulong)DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() * 1_000_000UL;
        var spans = new List<Span>();
        for (var i = 0; i < SpansPerRequest; i++)
        {
            spans.Add(new Span
            {
                TraceId = traceId,
                SpanId = new SpanId(((ulong)n << 8) + (ulong)i + 1),
                Name = "GET /orders/{id}",
                Kind = SpanKind.Server,
                StartTimeUnixNano = start + (ulong)i,
                EndTimeUnixNano = start + (ulong)i + 1_000_000,
                Attributes = [new KeyValue("http.route", AnyValue.Of("/orders/{id}"))],
            });
        }

        return new TraceRequest
        {
            ResourceSpans =
            [
                new ResourceSpans
                {
                    Resource = new Resource { Attributes = [new KeyValue("service.name", AnyValue.Of("checkout"))] },
                    ScopeSpans = [new ScopeSpans { Scope = new InstrumentationScope { Name = "crash-test" }, Spans = spans }],
                },
            ],
        };
    }
}
