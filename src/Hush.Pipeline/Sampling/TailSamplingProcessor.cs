using System.Buffers;
using System.Collections.Concurrent;
using System.Collections.Frozen;
using Hush.Otlp;
using Microsoft.Extensions.Logging;

namespace Hush.Pipeline.Sampling;

/// <summary>
/// Tail sampling (<c>tail_sampling</c>): buffers spans by trace id for <see cref="TailSamplingOptions.DecisionWait"/>,
/// then keeps or drops whole traces by policy, releasing kept traces through the pipeline's downstream
/// (<see cref="IDeferringSpanProcessor"/>).
/// <list type="bullet">
/// <item>Policies are evaluated per span on arrival into a few bits per trace; the spans are then kept protobuf-encoded,
/// so buffer memory is about their encoded size. Memory is bounded in bytes (<see cref="TailSamplingOptions.MaxBufferBytes"/>)
/// and traces (<see cref="TailSamplingOptions.NumTraces"/>): past a bound the oldest traces are decided early, never lost.</item>
/// <item>A trace past <see cref="TailSamplingOptions.MaxTraceBytes"/> is decided at once; decisions are remembered
/// (bounded), so later spans of a decided trace follow the decision.</item>
/// <item>With <see cref="DecisionCacheOptions.PersistPath"/>, the remembered decisions are written on stop and read
/// back at construction (<see cref="DecisionFile"/>), so late spans after a restart still follow them.</item>
/// <item>Traces are sharded by id; each shard has its own lock, held only for bookkeeping, so ingestion and
/// decisions do not wait on each other. Time comes from the injected <see cref="TimeProvider"/>; probabilistic
/// decisions from a salted hash of the trace id, so every replica decides alike.</item>
/// </list>
/// Does not mutate spans. Never throws into the pipeline for the content of a batch.
/// </summary>
public sealed class TailSamplingProcessor : IDeferringSpanProcessor, IAsyncDisposable
{
    /// <summary>Released batches are cut at this many spans, the pipeline's default send_batch_size.</summary>
    private const int ReleaseBatchSpans = 8_192;

    private const int StateCreated = 0;
    private const int StateRunning = 1;
    private const int StateStopped = 2;

    [ThreadStatic]
    private static IngestScratch? _threadScratch;

    private readonly TailSamplingOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly TraceShard[] _shards;
    private readonly int _shardShift;
    private readonly long _shardMaxBytes;
    private readonly int _shardMaxTraces;
    private readonly long _waitTicks;
    private readonly long _quietTicks;
    private readonly CompiledPolicySet _defaultSet;
    private readonly FrozenDictionary<string, CompiledPolicySet> _tenantSets;
    private readonly ConcurrentDictionary<string, int> _tenantIds = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _deciding = new(1, 1);
    private readonly Lock _stateLock = new();
    private readonly string? _persistPath;

    private readonly Counter _earlyRootQuiet;
    private readonly Counter _earlyMemory;
    private readonly Counter _earlyTraceLimit;
    private readonly Counter _earlyTraceTooLarge;
    private readonly Counter _earlyShutdown;
    private readonly Counter _lateSampled;
    private readonly Counter _lateDropped;
    private readonly Counter _releaseFailures;

    private SpanDownstream? _downstream;
    private ITimer? _timer;
    private int _state;
    private Task? _stopTask;

    /// <summary>Numbers decisions across shards (only with a persist path), so the file lists them oldest first.</summary>
    private long _decisionOrder;

    /// <summary>Creates a stopped processor; <paramref name="options"/> must be valid (see <see cref="TailSamplingOptions.Validate"/>).</summary>
    public TailSamplingProcessor(string name, TailSamplingOptions options, HushMetrics metrics, ILoggerFactory loggerFactory, TimeProvider timeProvider)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(metrics);
        ArgumentNullException.ThrowIfNull(loggerFactory);
        ArgumentNullException.ThrowIfNull(timeProvider);
        var errors = options.Validate(name);
        if (errors.Count > 0)
        {
            throw new ArgumentException("Invalid tail sampling options: " + string.Join("; ", errors), nameof(options));
        }

        Name = name;
        _options = options;
        _time = timeProvider;
        _logger = loggerFactory.CreateLogger<TailSamplingProcessor>();
        _waitTicks = options.DecisionWait.Ticks;
        _quietTicks = options.DecisionWaitAfterRootReceived.Ticks;
        _persistPath = options.DecisionCache.PersistPath;

        // A power of two (a shift picks the shard), small enough that every shard can hold a whole max-size trace twice.
        var shards = options.NumShards > 0 ? options.NumShards : Environment.ProcessorCount * 4;
        var byBytes = Math.Max(1, options.MaxBufferBytes / (2 * options.MaxTraceBytes));
        shards = (int)Math.Clamp(Math.Min(shards, byBytes), 1, TailSamplingOptions.MaxShards);
        shards = 1 << (31 - int.LeadingZeroCount(shards));
        _shardShift = 64 - int.Log2(shards);
        _shards = new TraceShard[shards];
        for (var i = 0; i < shards; i++)
        {
            _shards[i] = new TraceShard(
                (int)Math.Ceiling(options.DecisionCache.SampledCacheSize / (double)shards),
                (int)Math.Ceiling(options.DecisionCache.NonSampledCacheSize / (double)shards),
                orderedCaches: _persistPath is not null);
        }

        _shardMaxBytes = Math.Max(1, options.MaxBufferBytes / shards);
        _shardMaxTraces = Math.Max(1, options.NumTraces / shards);

        _defaultSet = new CompiledPolicySet(SamplingMetrics.DefaultPolicySet, options.Policies);
        var tenantSets = new Dictionary<string, CompiledPolicySet>(StringComparer.Ordinal);
        foreach (var (tenant, set) in options.Tenants)
        {
            tenantSets[tenant] = new CompiledPolicySet(tenant, set.Policies);
        }

        _tenantSets = tenantSets.ToFrozenDictionary(StringComparer.Ordinal);

        var traces = SamplingMetrics.Traces(metrics);
        var spans = SamplingMetrics.Spans(metrics);
        RegisterPolicyCounters(_defaultSet, traces, spans);
        foreach (var set in _tenantSets.Values)
        {
            RegisterPolicyCounters(set, traces, spans);
        }

        var early = SamplingMetrics.EarlyDecisions(metrics);
        _earlyRootQuiet = early.WithLabels(name, SamplingMetrics.ReasonRootQuiet);
        _earlyMemory = early.WithLabels(name, SamplingMetrics.ReasonMemoryLimit);
        _earlyTraceLimit = early.WithLabels(name, SamplingMetrics.ReasonTraceLimit);
        _earlyTraceTooLarge = early.WithLabels(name, SamplingMetrics.ReasonTraceTooLarge);
        _earlyShutdown = early.WithLabels(name, SamplingMetrics.ReasonShutdown);
        var late = SamplingMetrics.LateSpans(metrics);
        _lateSampled = late.WithLabels(name, SamplingMetrics.Sampled);
        _lateDropped = late.WithLabels(name, SamplingMetrics.Dropped);
        _releaseFailures = SamplingMetrics.ReleaseFailures(metrics).WithLabels(name);
        var labels = new[] { name };
        metrics.Gauge(SamplingMetrics.BufferBytesName, "Bytes buffered by a tail sampler (encoded spans plus bookkeeping).", ["processor"], () => [new KeyValuePair<string[], double>(labels, BufferedBytes)]);
        metrics.Gauge(SamplingMetrics.BufferTracesName, "Traces buffered by a tail sampler, waiting for a decision.", ["processor"], () => [new KeyValuePair<string[], double>(labels, BufferedTraces)]);

        if (_persistPath is not null)
        {
            LoadDecisions(_persistPath);
        }
    }

    /// <inheritdoc />
    public string Name { get; }

    /// <summary>Bytes buffered now (encoded spans plus bookkeeping), at most <see cref="TailSamplingOptions.MaxBufferBytes"/>.</summary>
    public long BufferedBytes
    {
        get
        {
            long total = 0;
            foreach (var s in _shards)
            {
                total += Volatile.Read(ref s.Bytes);
            }

            return total;
        }
    }

    /// <summary>Traces buffered now.</summary>
    public int BufferedTraces
    {
        get
        {
            var total = 0;
            foreach (var s in _shards)
            {
                lock (s.Gate)
                {
                    total += s.Traces.Count;
                }
            }

            return total;
        }
    }

    internal int ShardCount => _shards.Length;

    /// <inheritdoc />
    public void Start(SpanDownstream downstream)
    {
        ArgumentNullException.ThrowIfNull(downstream);
        lock (_stateLock)
        {
            if (_state != StateCreated)
            {
                return;
            }

            _downstream = downstream;
            _state = StateRunning;
            _timer = _time.CreateTimer(static s => ((TailSamplingProcessor)s!).OnTick(), this, _options.TickInterval, _options.TickInterval);
        }
    }

    /// <inheritdoc />
    public Task StopAsync(CancellationToken cancellationToken)
    {
        lock (_stateLock)
        {
            if (_stopTask is null)
            {
                _state = StateStopped;
                _timer?.Dispose();
                _stopTask = FlushAllAsync(cancellationToken);
            }

            return _stopTask;
        }
    }

    /// <summary>Stops, deciding and releasing everything buffered.</summary>
    public async ValueTask DisposeAsync()
    {
        await StopAsync(CancellationToken.None);
        _deciding.Dispose();
    }

    /// <summary>
    /// Buffers the batch's spans by trace; spans of already decided traces follow the decision at once. Always returns
    /// null: kept spans are released through the downstream (awaited here when this batch caused them, which gives
    /// the pipeline back-pressure).
    /// </summary>
    public async ValueTask<SpanBatch?> ProcessAsync(SpanBatch batch, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(batch);

        // The journal forgets the batch's requests only when every trace buffered from it was decided and passed on.
        var claim = batch.ClaimJournal();
        var passedOn = true;
        try
        {
            var release = Ingest(batch, claim);
            if (release is not null)
            {
                passedOn = await ReleaseAsync(release, cancellationToken);
            }
        }
        catch
        {
            passedOn = false;
            throw;
        }
        finally
        {
            claim?.Done(passedOn);
        }

        return null;
    }

    /// <summary>Decides every trace that is due now (what the timer does each tick); waits for a running tick first.</summary>
    internal async Task DecideDueAsync(CancellationToken cancellationToken = default)
    {
        await _deciding.WaitAsync(cancellationToken);
        try
        {
            await DecideAsync(all: false, cancellationToken);
        }
        finally
        {
            _deciding.Release();
        }
    }

    private void OnTick()
    {
        // A tick still running (a slow downstream) makes this one a no-op, rather than piling up.
        if (!_deciding.Wait(0))
        {
            return;
        }

        _ = TickAsync();
    }

    private async Task TickAsync()
    {
        try
        {
            await DecideAsync(all: false, CancellationToken.None);
        }
#pragma warning disable CA1031 // The timer must keep ticking; a failure is counted and logged by type.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            _releaseFailures.Add();
            SamplingLog.TickFailed(_logger, Name, ex.GetType().Name);
        }
        finally
        {
            _deciding.Release();
        }
    }

    private async Task FlushAllAsync(CancellationToken cancellationToken)
    {
        await _deciding.WaitAsync(CancellationToken.None);
        try
        {
            await DecideAsync(all: true, cancellationToken);
        }
        finally
        {
            // After the last decision, so the traces decided by this flush are remembered across the restart too.
            if (_persistPath is not null)
            {
                SaveDecisions(_persistPath);
            }

            _deciding.Release();
        }
    }

    /// <summary>Fills the decision caches from the file; anything wrong with it is a warning and an empty cache, never a throw.</summary>
    private void LoadDecisions(string path)
    {
        DecisionFile.ReadResult result;
        List<DecisionRecord> records;
        string problem;
        try
        {
            result = DecisionFile.TryRead(path, out records, out problem);
        }
#pragma warning disable CA1031 // An unreadable file costs the remembered decisions, not the start.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            SamplingLog.DecisionFileIgnored(_logger, Name, path, ex.GetType().Name);
            return;
        }

        if (result == DecisionFile.ReadResult.Missing)
        {
            return;
        }

        if (result == DecisionFile.ReadResult.Invalid)
        {
            SamplingLog.DecisionFileIgnored(_logger, Name, path, problem);
            return;
        }

        // Newest last: when the caches are now smaller than the file, the oldest of each kind are left out.
        int sampled = 0, dropped = 0;
        foreach (var r in records)
        {
            if (r.Sampled)
            {
                sampled++;
            }
            else
            {
                dropped++;
            }
        }

        var keepSampled = Math.Min(sampled, _options.DecisionCache.SampledCacheSize);
        var keepDropped = Math.Min(dropped, _options.DecisionCache.NonSampledCacheSize);
        var skipSampled = sampled - keepSampled;
        var skipDropped = dropped - keepDropped;
        foreach (var r in records)
        {
            if (r.Sampled ? skipSampled-- > 0 : skipDropped-- > 0)
            {
                continue;
            }

            var key = new TraceKey(r.TraceId, TenantId(r.Tenant));
            var shard = _shards[ShardIndex(r.TraceId)];
            lock (shard.Gate)
            {
                (r.Sampled ? shard.Sampled : shard.Dropped).Add(key, ++_decisionOrder);
            }
        }

        SamplingLog.DecisionFileLoaded(_logger, Name, keepSampled, keepDropped, path);
    }

    /// <summary>Writes the decision caches, oldest first, at most the configured sizes; a failure is a warning, never a throw.</summary>
    private void SaveDecisions(string path)
    {
        try
        {
            DecisionFile.Write(path, SnapshotDecisions());
        }
#pragma warning disable CA1031 // Stopping must finish; the lost file only costs late spans after the restart.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            SamplingLog.DecisionFileWriteFailed(_logger, Name, path, ex.GetType().Name);
        }
    }

    /// <summary>The remembered decisions of every shard, oldest first, each kind trimmed to its configured cache size.</summary>
    private List<DecisionRecord> SnapshotDecisions()
    {
        var names = new Dictionary<int, string>();
        foreach (var (tenant, id) in _tenantIds)
        {
            names[id] = tenant;
        }

        var sampled = new List<(TraceKey Key, long Order)>();
        var dropped = new List<(TraceKey Key, long Order)>();
        foreach (var shard in _shards)
        {
            lock (shard.Gate)
            {
                shard.Sampled.CopyTo(sampled);
                shard.Dropped.CopyTo(dropped);
            }
        }

        // Shards round their share of a cache size up: trim to the configured size, keeping the newest.
        Trim(sampled, _options.DecisionCache.SampledCacheSize);
        Trim(dropped, _options.DecisionCache.NonSampledCacheSize);
        var ordered = new List<(TraceKey Key, long Order, bool Sampled)>(sampled.Count + dropped.Count);
        foreach (var (key, order) in sampled)
        {
            ordered.Add((key, order, true));
        }

        foreach (var (key, order) in dropped)
        {
            ordered.Add((key, order, false));
        }

        ordered.Sort(static (a, b) => a.Order.CompareTo(b.Order));
        var records = new List<DecisionRecord>(ordered.Count);
        foreach (var (key, _, isSampled) in ordered)
        {
            records.Add(new DecisionRecord(names[key.TenantId], key.TraceId, isSampled));
        }

        return records;

        static void Trim(List<(TraceKey Key, long Order)> list, int size)
        {
            list.Sort(static (a, b) => a.Order.CompareTo(b.Order));
            if (list.Count > size)
            {
                list.RemoveRange(0, list.Count - size);
            }
        }
    }

    private async Task DecideAsync(bool all, CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow().UtcTicks;
        Release? release = null;
        foreach (var shard in _shards)
        {
            lock (shard.Gate)
            {
                while (shard.Age.Head is { } e && (all || e.FirstTicks + _waitTicks <= now))
                {
                    if (all && e.FirstTicks + _waitTicks > now)
                    {
                        _earlyShutdown.Add();
                    }

                    DecideLocked(shard, e, now, ref release);
                }

                if (_quietTicks > 0)
                {
                    while (shard.Quiet.Head is { } q && q.LastTicks + _quietTicks <= now)
                    {
                        _earlyRootQuiet.Add();
                        DecideLocked(shard, q, now, ref release);
                    }
                }
            }

            // Release per shard: bounds the decoded spans held at once to what one shard decided.
            if (release is not null)
            {
                await ReleaseAsync(release, cancellationToken);
                release = null;
            }
        }
    }

    /// <summary>Everything a batch or a tick decided to pass on, grouped by tenant.</summary>
    private sealed class Release
    {
        public Dictionary<string, List<ResourceSpans>> ByTenant { get; } = new(StringComparer.Ordinal);

        public List<TraceEntry> Kept { get; } = [];

        /// <summary>Journal claims of dropped traces: done once this release is (nothing of them to pass on).</summary>
        public List<JournalClaim> Dropped { get; } = [];

        public List<ResourceSpans> For(string tenant)
        {
            if (!ByTenant.TryGetValue(tenant, out var list))
            {
                list = [];
                ByTenant.Add(tenant, list);
            }

            return list;
        }
    }

    private Release? Ingest(SpanBatch batch, JournalClaim? claim)
    {
        var tenant = batch.Tenant;
        var set = _tenantSets.TryGetValue(tenant, out var s) ? s : _defaultSet;
        var tenantId = TenantId(tenant);
        var scratch = _threadScratch ??= new IngestScratch();
        var now = _time.GetUtcNow().UtcTicks;
        Release? release = null;
        try
        {
            foreach (var rs in batch.Traces.ResourceSpans)
            {
                var resourceBits = set.TestResource(rs.Resource);
                foreach (var ss in rs.ScopeSpans)
                {
                    var groups = scratch.Group(ss.Spans);
                    for (var g = 0; g < groups; g++)
                    {
                        IngestGroup(scratch.Groups[g], rs, ss, tenant, tenantId, set, resourceBits, now, scratch, claim, ref release);
                    }

                    scratch.ClearGroups(groups);
                }
            }
        }
        finally
        {
            scratch.Reset();
        }

        return release;
    }

    private void IngestGroup(
        List<Span> spans,
        ResourceSpans rs,
        ScopeSpans ss,
        string tenant,
        int tenantId,
        CompiledPolicySet set,
        ulong resourceBits,
        long now,
        IngestScratch scratch,
        JournalClaim? claim,
        ref Release? release)
    {
        var traceId = spans[0].TraceId;
        var key = new TraceKey(traceId, tenantId);
        var shard = _shards[ShardIndex(traceId)];

        // Facts and encoding outside the lock; wasted only for the rare spans of an already decided trace.
        var facts = TraceFacts.Empty;
        facts.Bits = resourceBits;
        foreach (var span in spans)
        {
            set.AddSpan(span, ref facts);
        }

        var fragment = scratch.Encode(rs, ss, spans);
        lock (shard.Gate)
        {
            if (shard.Sampled.Contains(key))
            {
                _lateSampled.Add(spans.Count);
                release ??= new Release();
                release.For(tenant).Add(new ResourceSpans
                {
                    Resource = rs.Resource,
                    SchemaUrl = rs.SchemaUrl,
                    ScopeSpans = [new ScopeSpans { Scope = ss.Scope, SchemaUrl = ss.SchemaUrl, Spans = [.. spans] }],
                });
                return;
            }

            if (shard.Dropped.Contains(key))
            {
                _lateDropped.Add(spans.Count);
                return;
            }

            if (!shard.Traces.TryGetValue(key, out var entry))
            {
                entry = new TraceEntry(key, tenant, set, now);
                shard.Traces.Add(key, entry);
                shard.Age.Append(entry);
                shard.Bytes += entry.Bytes;
            }

            entry.Facts.Merge(facts);
            entry.LastTicks = now;
            entry.Fragments.Add(fragment);
            if (claim is not null && !(entry.Claims ??= []).Contains(claim))
            {
                entry.Claims.Add(claim);
                claim.Hold();
            }

            var added = fragment.Length + TraceEntry.FragmentOverheadBytes;
            entry.Bytes += added;
            shard.Bytes += added;
            if (entry.Facts.HasRoot && _quietTicks > 0)
            {
                // Move to the tail: the quiet period restarts with every span.
                shard.Quiet.Remove(entry);
                shard.Quiet.Append(entry);
            }

            if (entry.Bytes > _options.MaxTraceBytes)
            {
                _earlyTraceTooLarge.Add();
                DecideLocked(shard, entry, now, ref release);
            }

            // The bounds: decide the oldest traces early until the shard fits again. Never dropped unseen.
            while (shard.Bytes > _shardMaxBytes && shard.Age.Head is { } oldest)
            {
                _earlyMemory.Add();
                DecideLocked(shard, oldest, now, ref release);
            }

            while (shard.Traces.Count > _shardMaxTraces && shard.Age.Head is { } oldest)
            {
                _earlyTraceLimit.Add();
                DecideLocked(shard, oldest, now, ref release);
            }
        }
    }

    /// <summary>Decides <paramref name="e"/>, removes it and remembers the decision, all under the shard's lock.</summary>
    private void DecideLocked(TraceShard shard, TraceEntry e, long now, ref Release? release)
    {
        shard.Remove(e);
        var policy = e.Policies.Decide(e.Key.TraceId, e.Facts, now, out var sampled);
        var order = _persistPath is null ? 0 : Interlocked.Increment(ref _decisionOrder);
        if (sampled)
        {
            policy.TracesSampled.Add();
            policy.SpansSampled.Add(e.Facts.SpanCount);
            shard.Sampled.Add(e.Key, order);
            release ??= new Release();
            release.Kept.Add(e);
        }
        else
        {
            policy.TracesDropped.Add();
            policy.SpansDropped.Add(e.Facts.SpanCount);
            shard.Dropped.Add(e.Key, order);
            if (e.Claims is { } claims)
            {
                release ??= new Release();
                release.Dropped.AddRange(claims);
            }
        }
    }

    /// <summary>
    /// Passes the release on; then lets go of the journal claims of its traces. False when some of it could not be
    /// passed on for now (those requests stay journalled).
    /// </summary>
    private async Task<bool> ReleaseAsync(Release release, CancellationToken cancellationToken)
    {
        var passedOn = false;
        try
        {
            passedOn = await SendReleaseAsync(release, cancellationToken);
            return passedOn;
        }
        finally
        {
            foreach (var e in release.Kept)
            {
                foreach (var claim in e.Claims ?? [])
                {
                    claim.Done(passedOn);
                }
            }

            foreach (var claim in release.Dropped)
            {
                claim.Done(passedOn: true);
            }
        }
    }

    private async Task<bool> SendReleaseAsync(Release release, CancellationToken cancellationToken)
    {
        // Decode the kept traces outside every lock.
        foreach (var e in release.Kept)
        {
            var list = release.For(e.Tenant);
            foreach (var fragment in e.Fragments)
            {
                try
                {
                    list.AddRange(OtlpProtobuf.DecodeTraceRequest(fragment).ResourceSpans);
                }
                catch (OtlpDecodeException ex)
                {
                    // Our own encoding: cannot happen short of a codec bug; counted, never thrown into the pipeline.
                    _releaseFailures.Add();
                    SamplingLog.ReleaseFailed(_logger, Name, ex.GetType().Name, e.Facts.SpanCount);
                }
            }
        }

        var downstream = _downstream;
        if (downstream is null)
        {
            return false;
        }

        var passedOn = true;
        foreach (var (tenant, resourceSpans) in release.ByTenant)
        {
            var request = new TraceRequest();
            var count = 0;
            foreach (var rs in resourceSpans)
            {
                var n = 0;
                foreach (var ss in rs.ScopeSpans)
                {
                    n += ss.Spans.Count;
                }

                if (count > 0 && count + n > ReleaseBatchSpans)
                {
                    passedOn &= await SendAsync(downstream, new SpanBatch(tenant, request, count), cancellationToken);
                    request = new TraceRequest();
                    count = 0;
                }

                request.ResourceSpans.Add(rs);
                count += n;
            }

            if (count > 0)
            {
                passedOn &= await SendAsync(downstream, new SpanBatch(tenant, request, count), cancellationToken);
            }
        }

        return passedOn;
    }

    private async Task<bool> SendAsync(SpanDownstream downstream, SpanBatch batch, CancellationToken cancellationToken)
    {
        try
        {
            return await downstream(batch, cancellationToken);
        }
#pragma warning disable CA1031 // The pipeline's downstream does not throw; a test double or a cancellation might.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            _releaseFailures.Add();
            SamplingLog.ReleaseFailed(_logger, Name, ex.GetType().Name, batch.SpanCount);
            return false;
        }
    }

    private int ShardIndex(TraceId traceId) =>
        _shards.Length == 1 ? 0 : (int)(((traceId.Low ^ traceId.High) * 0x9E3779B97F4A7C15UL) >> _shardShift);

    private int TenantId(string tenant)
    {
        if (_tenantIds.TryGetValue(tenant, out var id))
        {
            return id;
        }

        lock (_tenantIds)
        {
            return _tenantIds.GetOrAdd(tenant, _tenantIds.Count);
        }
    }

    private void RegisterPolicyCounters(CompiledPolicySet set, CounterFamily traces, CounterFamily spans)
    {
        foreach (var p in set.All)
        {
            p.TracesSampled = traces.WithLabels(Name, set.SetName, p.Name, SamplingMetrics.Sampled);
            p.TracesDropped = traces.WithLabels(Name, set.SetName, p.Name, SamplingMetrics.Dropped);
            p.SpansSampled = spans.WithLabels(Name, set.SetName, p.Name, SamplingMetrics.Sampled);
            p.SpansDropped = spans.WithLabels(Name, set.SetName, p.Name, SamplingMetrics.Dropped);
        }
    }

    /// <summary>Per-thread reusable state for one <see cref="Ingest"/> call: the grouping by trace and the encoder's buffer.</summary>
    private sealed class IngestScratch
    {
        private static readonly Resource EmptyResource = new();
        private static readonly InstrumentationScope EmptyScope = new();

        private readonly Dictionary<TraceId, int> _index = [];
        private readonly ArrayBufferWriter<byte> _writer = new(4096);
        private readonly ScopeSpans _scope = new();
        private readonly ResourceSpans _resource = new();
        private readonly TraceRequest _request = new();

        public IngestScratch()
        {
            _resource.ScopeSpans.Add(_scope);
            _request.ResourceSpans.Add(_resource);
        }

        public List<List<Span>> Groups { get; } = [];

        /// <summary>Groups <paramref name="spans"/> by trace id (arrival order kept); returns the number of groups.</summary>
        public int Group(List<Span> spans)
        {
            var count = 0;
            for (var i = 0; i < spans.Count; i++)
            {
                var span = spans[i];
                if (!_index.TryGetValue(span.TraceId, out var g))
                {
                    g = count++;
                    _index.Add(span.TraceId, g);
                    if (Groups.Count <= g)
                    {
                        Groups.Add([]);
                    }
                }

                Groups[g].Add(span);
            }

            _index.Clear();
            return count;
        }

        public void ClearGroups(int count)
        {
            for (var i = 0; i < count; i++)
            {
                Groups[i].Clear();
            }
        }

        /// <summary>Encodes spans of one trace with their resource and scope as a self-contained OTLP request.</summary>
        public byte[] Encode(ResourceSpans rs, ScopeSpans ss, List<Span> spans)
        {
            _resource.Resource = rs.Resource;
            _resource.SchemaUrl = rs.SchemaUrl;
            _scope.Scope = ss.Scope;
            _scope.SchemaUrl = ss.SchemaUrl;
            _scope.Spans = spans;
            OtlpProtobuf.Encode(_request, _writer);
            var bytes = _writer.WrittenSpan.ToArray();

            // The writer held scrubbed telemetry: cleared (zeroed) before reuse.
            _writer.Clear();
            return bytes;
        }

        /// <summary>Lets go of every reference to the batch, so a thread's scratch never keeps telemetry alive.</summary>
        public void Reset()
        {
            _index.Clear();
            foreach (var g in Groups)
            {
                g.Clear();
            }

            _resource.Resource = EmptyResource;
            _resource.SchemaUrl = string.Empty;
            _scope.Scope = EmptyScope;
            _scope.SchemaUrl = string.Empty;
            _scope.Spans = [];
        }
    }
}
