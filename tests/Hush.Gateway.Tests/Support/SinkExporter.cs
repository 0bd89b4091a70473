using System.Collections.Concurrent;
using Hush.Otlp;
using Hush.Pipeline;

namespace Hush.Gateway.Tests.Support;

/// <summary>A test exporter that keeps every span it is handed; can be blocked to fill the pipeline.</summary>
internal sealed class SinkExporter : ISpanExporter
{
    private readonly ConcurrentQueue<(string Tenant, ResourceSpans Resource, Span Span)> _spans = new();
    private readonly object _lock = new();
    private readonly List<(int Count, TaskCompletionSource Done)> _waiters = [];
    private TaskCompletionSource _gate = CompletedGate();
    private int _wireFormBatches;

    public string Name => "sink";

    public int Count => _spans.Count;

    /// <summary>Batches that reached the sink still in wire form (undecoded until the sink read them).</summary>
    public int WireFormBatches => Volatile.Read(ref _wireFormBatches);

    public IReadOnlyList<(string Tenant, ResourceSpans Resource, Span Span)> Spans => [.. _spans];

    /// <summary>Makes exports wait until <see cref="Release"/>.</summary>
    public void Block() => _gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

    public void Release() => _gate.TrySetResult();

    public async ValueTask<ExportOutcome> ExportAsync(SpanBatch batch, CancellationToken cancellationToken)
    {
        await _gate.Task.WaitAsync(cancellationToken);
        if (batch.Traces.IsWireForm)
        {
            Interlocked.Increment(ref _wireFormBatches);
        }

        foreach (var rs in batch.Traces.ResourceSpans)
        {
            foreach (var ss in rs.ScopeSpans)
            {
                foreach (var span in ss.Spans)
                {
                    _spans.Enqueue((batch.Tenant, rs, span));
                }
            }
        }

        lock (_lock)
        {
            foreach (var waiter in _waiters)
            {
                if (_spans.Count >= waiter.Count)
                {
                    waiter.Done.TrySetResult();
                }
            }
        }

        return ExportOutcome.Success;
    }

    /// <summary>Completes when at least <paramref name="count"/> spans arrived; fails the test after 10 s.</summary>
    public Task WaitForAsync(int count)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_lock)
        {
            if (_spans.Count >= count)
            {
                return Task.CompletedTask;
            }

            _waiters.Add((count, done));
        }

        return done.Task.WaitAsync(TimeSpan.FromSeconds(10));
    }

    public Span Single(string name) => Assert.Single(_spans, s => s.Span.Name == name).Span;

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private static TaskCompletionSource CompletedGate()
    {
        var gate = new TaskCompletionSource();
        gate.SetResult();
        return gate;
    }
}
