using Hush.Otlp;

namespace Hush.Pipeline.Tests.Support;

internal static class TestData
{
    /// <summary>A distinctive value planted in attributes; no log line or error may ever contain it.</summary>
    public const string Secret = "alice.secret@example.com";

    private static ulong _nextId = 1;

    /// <summary>A request with one resource (service.name = <paramref name="service"/>) holding <paramref name="spans"/> spans.</summary>
    public static TraceRequest Request(int spans, string service = "checkout", string? marker = null)
    {
        var scope = new ScopeSpans { Scope = new InstrumentationScope { Name = "test", Version = "1.0" } };
        for (var i = 0; i < spans; i++)
        {
            var id = Interlocked.Increment(ref _nextId);
            scope.Spans.Add(new Span
            {
                TraceId = new TraceId(0x0102030405060708, id),
                SpanId = new SpanId(id),
                Name = "GET /users/{id}",
                Kind = SpanKind.Server,
                StartTimeUnixNano = 1_700_000_000_000_000_000,
                EndTimeUnixNano = 1_700_000_000_250_000_000,
                Attributes =
                [
                    new KeyValue("user.email", AnyValue.Of(Secret)),
                    new KeyValue("http.response.status_code", AnyValue.Of(200L)),
                    new KeyValue("marker", AnyValue.Of(marker ?? "raw")),
                ],
                Status = new SpanStatus { Code = StatusCode.Ok },
            });
        }

        return new TraceRequest
        {
            ResourceSpans =
            [
                new ResourceSpans
                {
                    Resource = new Resource { Attributes = [new KeyValue("service.name", AnyValue.Of(service))] },
                    ScopeSpans = [scope],
                },
            ],
        };
    }

    public static IngestContext Context(string tenant = "t1") => new(tenant, "test-identity", IngestTransport.Http);

    public static IEnumerable<Span> AllSpans(TraceRequest request)
    {
        foreach (var rs in request.ResourceSpans)
        {
            foreach (var ss in rs.ScopeSpans)
            {
                foreach (var span in ss.Spans)
                {
                    yield return span;
                }
            }
        }
    }

    public static string? Attribute(Span span, string key)
    {
        foreach (var a in span.Attributes)
        {
            if (a.Key == key)
            {
                return a.Value.StringValue;
            }
        }

        return null;
    }

    /// <summary>Polls (real time, bounded) until the condition holds; returns whether it did.</summary>
    public static async Task<bool> Eventually(Func<bool> condition, TimeSpan? within = null)
    {
        var deadline = DateTime.UtcNow + (within ?? TimeSpan.FromSeconds(10));
        while (DateTime.UtcNow < deadline)
        {
            if (condition())
            {
                return true;
            }

            await Task.Delay(5);
        }

        return condition();
    }
}

/// <summary>Replaces every attribute value with "scrubbed" and sets marker=scrubbed, like a privacy stage would.</summary>
internal sealed class MarkingPrivacyStage : IPrivacyStage
{
    public int Calls;

    public void Scrub(TraceRequest request, IngestContext context)
    {
        Interlocked.Increment(ref Calls);
        foreach (var span in TestData.AllSpans(request))
        {
            for (var i = 0; i < span.Attributes.Count; i++)
            {
                span.Attributes[i] = new KeyValue(span.Attributes[i].Key, AnyValue.Of("scrubbed"));
            }
        }
    }
}

internal sealed class ThrowingPrivacyStage : IPrivacyStage
{
    public void Scrub(TraceRequest request, IngestContext context) =>
        throw new InvalidOperationException("could not scrub " + TestData.Secret);
}

/// <summary>Records every batch; can be blocked to simulate a slow backend.</summary>
internal sealed class RecordingExporter(string name = "recording") : ISpanExporter
{
    private readonly Lock _lock = new();
    private readonly List<SpanBatch> _batches = [];
    private TaskCompletionSource _gate = CreateOpenGate();

    public string Name { get; } = name;

    public Func<SpanBatch, ExportOutcome>? OnExport { get; set; }

    public IReadOnlyList<SpanBatch> Batches
    {
        get
        {
            lock (_lock)
            {
                return [.. _batches];
            }
        }
    }

    public int SpanCount => Batches.Sum(b => b.SpanCount);

    public int Waiting;

    public void Block()
    {
        lock (_lock)
        {
            _gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }
    }

    public void Unblock()
    {
        lock (_lock)
        {
            _gate.TrySetResult();
        }
    }

    public async ValueTask<ExportOutcome> ExportAsync(SpanBatch batch, CancellationToken cancellationToken)
    {
        Task gate;
        lock (_lock)
        {
            gate = _gate.Task;
        }

        Interlocked.Increment(ref Waiting);
        await gate.WaitAsync(cancellationToken);
        Interlocked.Decrement(ref Waiting);
        var outcome = OnExport?.Invoke(batch) ?? ExportOutcome.Success;
        lock (_lock)
        {
            _batches.Add(batch);
        }

        return outcome;
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private static TaskCompletionSource CreateOpenGate()
    {
        var tcs = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        tcs.SetResult();
        return tcs;
    }
}

internal sealed class DelegateProcessor(string name, Func<SpanBatch, SpanBatch?> process) : ISpanProcessor
{
    public string Name { get; } = name;

    public ValueTask<SpanBatch?> ProcessAsync(SpanBatch batch, CancellationToken cancellationToken) => ValueTask.FromResult(process(batch));
}
