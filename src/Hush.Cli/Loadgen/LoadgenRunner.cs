using System.Globalization;

namespace Hush.Cli.Loadgen;

/// <summary>
/// The core of <c>hush loadgen</c>: <see cref="LoadgenOptions.Concurrency"/> workers each
/// take a batch of the span budget, wait for the pacer, generate and encode a request, and send
/// it (retrying on 429/503/UNAVAILABLE after Retry-After or a back-off), until the duration ends
/// or the budget is spent. A progress line is printed every interval and a summary at the end.
/// </summary>
internal static class LoadgenRunner
{
    /// <summary>First back-off when the server gives no Retry-After; doubles per attempt.</summary>
    private static readonly TimeSpan InitialBackoff = TimeSpan.FromMilliseconds(100);

    /// <summary>Longest back-off without a Retry-After: 5 s keeps a throttled 10 s run informative.</summary>
    private static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(5);

    /// <summary>Runs the load and returns what happened. Throws <see cref="ArgumentException"/> listing every invalid option.</summary>
    /// <param name="options">What to send where.</param>
    /// <param name="output">Progress lines and the summary; never a header value.</param>
    /// <param name="cancellationToken">Stops the run early; the summary still covers what was sent.</param>
    /// <param name="timeProvider">Clock for pacing, the duration and timestamps; the system clock when null.</param>
    /// <param name="handler">HTTP handler override for tests; a <see cref="SocketsHttpHandler"/> when null.</param>
    public static async Task<LoadgenReport> RunAsync(
        LoadgenOptions options,
        TextWriter output,
        CancellationToken cancellationToken,
        TimeProvider? timeProvider = null,
        HttpMessageHandler? handler = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(output);
        var errors = options.Validate();
        if (errors.Count > 0)
        {
            throw new ArgumentException("Invalid loadgen options: " + string.Join("; ", errors), nameof(options));
        }

        var time = timeProvider ?? TimeProvider.System;

        // A batch larger than one second of the rate would turn pacing into multi-second bursts.
        var batch = options.Rate > 0 ? Math.Min(options.Batch, options.Rate) : options.Batch;
        using ITraceTransport transport = options.Protocol == LoadgenProtocol.Grpc
            ? new GrpcTransport(options, handler)
            : new HttpTransport(options, time, handler);
        var generator = new SpanMixGenerator(options.Seed, options.Services, options.PiiRatio, time);
        var pacer = options.Rate > 0 ? new TokenBucketPacer(options.Rate, batch, time) : null;
        var stats = new LoadgenStats();
        var run = new RunState(options, transport, pacer, stats, time, batch);

        WriteHeader(output, options, batch);

        using var stop = options.EffectiveDuration is { } duration
            ? new CancellationTokenSource(duration, time)
            : new CancellationTokenSource();
        using var stopOrCancel = CancellationTokenSource.CreateLinkedTokenSource(stop.Token, cancellationToken);
        using var reporterStop = new CancellationTokenSource();

        var start = time.GetTimestamp();
        var reporter = ReportLoopAsync(output, stats, options.ReportInterval, time, start, reporterStop.Token);
        var workers = new Task[options.Concurrency];
        for (var i = 0; i < workers.Length; i++)
        {
            // Forked here, on one thread: forking draws from the parent generator.
            var fork = generator.Fork(i);
            workers[i] = Task.Run(() => WorkerAsync(run, fork, stopOrCancel.Token, cancellationToken), CancellationToken.None);
        }

        try
        {
            await Task.WhenAll(workers);
        }
        finally
        {
            await reporterStop.CancelAsync();
            await reporter;
        }

        var report = stats.ToReport(time.GetElapsedTime(start));
        report.WriteSummary(output);
        return report;
    }

    private static async Task WorkerAsync(RunState run, SpanMixGenerator generator, CancellationToken stop, CancellationToken cancel)
    {
        try
        {
            while (!stop.IsCancellationRequested)
            {
                var spans = run.TakeSpans();
                if (spans == 0)
                {
                    return;
                }

                if (run.Pacer is not null)
                {
                    try
                    {
                        await run.Pacer.WaitAsync(spans, stop);
                    }
                    catch (OperationCanceledException) when (stop.IsCancellationRequested)
                    {
                        return;
                    }
                }

                var body = run.Transport.Encode(generator.NextRequest(spans));
                await SendWithRetriesAsync(run, spans, body, stop, cancel);
            }
        }
        catch (OperationCanceledException) when (cancel.IsCancellationRequested)
        {
            // Ctrl+C: stop quietly, the summary covers what was sent.
        }
    }

    private static async Task SendWithRetriesAsync(RunState run, int spans, byte[] body, CancellationToken stop, CancellationToken cancel)
    {
        for (var attempt = 1; ; attempt++)
        {
            var started = run.Time.GetTimestamp();
            var outcome = await run.Transport.SendAsync(body, cancel);
            run.Stats.RecordResponse(outcome, body.Length, run.Time.GetElapsedTime(started));
            switch (outcome.Disposition)
            {
                case SendDisposition.Ok:
                    run.Stats.RecordAccepted(spans, outcome.RejectedSpans);
                    return;
                case SendDisposition.Retryable when attempt < run.Options.MaxAttempts && !stop.IsCancellationRequested:
                    run.Stats.RecordRetry();
                    try
                    {
                        await Task.Delay(outcome.RetryAfter ?? Backoff(attempt), run.Time, stop);
                    }
                    catch (OperationCanceledException) when (stop.IsCancellationRequested)
                    {
                        // The run ended while backing off: this batch was not delivered.
                        run.Stats.RecordFailed(spans, permanent: false);
                        return;
                    }

                    continue;
                default:
                    run.Stats.RecordFailed(spans, outcome.Disposition == SendDisposition.Permanent);
                    return;
            }
        }
    }

    internal static TimeSpan Backoff(int attempt)
    {
        var ticks = InitialBackoff.Ticks << Math.Min(attempt - 1, 16);
        return ticks > MaxBackoff.Ticks ? MaxBackoff : TimeSpan.FromTicks(ticks);
    }

    private static async Task ReportLoopAsync(TextWriter output, LoadgenStats stats, TimeSpan interval, TimeProvider time, long start, CancellationToken token)
    {
        using var timer = new PeriodicTimer(interval, time);
        var last = start;
        try
        {
            while (await timer.WaitForNextTickAsync(token))
            {
                var now = time.GetTimestamp();
                stats.WriteInterval(output, time.GetElapsedTime(start, now), time.GetElapsedTime(last, now));
                last = now;
            }
        }
        catch (OperationCanceledException)
        {
            // The run is over.
        }
    }

    private static void WriteHeader(TextWriter output, LoadgenOptions options, int batch)
    {
        var c = CultureInfo.InvariantCulture;
        var protocol = options.Protocol switch
        {
            LoadgenProtocol.HttpJson => "http/json",
            LoadgenProtocol.Grpc => "grpc",
            _ => "http/protobuf",
        };
        var bound = (options.EffectiveDuration, options.Spans) switch
        {
            ({ } d, { } s) => string.Create(c, $"{s} spans or {d.TotalSeconds:0.#} s"),
            ({ } d, null) => string.Create(c, $"{d.TotalSeconds:0.#} s"),
            (null, { } s) => string.Create(c, $"{s} spans"),
            _ => "unbounded",
        };
        var names = new List<string>(options.Headers.Count);
        foreach (var header in options.Headers)
        {
            names.Add(header.Key);
        }

        // Header names only: values are credentials.
        output.WriteLine(
            $"hush loadgen: {protocol}{(options.Gzip ? "+gzip" : string.Empty)} -> {options.ResolveTarget()}, " +
            $"rate {(options.Rate > 0 ? options.Rate.ToString(c) + " spans/s" : "unlimited")}, batch {batch}, concurrency {options.Concurrency}, " +
            $"{bound}, services {options.Services}, seed {options.Seed}, pii {options.PiiRatio:0.###}" +
            (names.Count > 0 ? $", headers: {string.Join(", ", names)}" : string.Empty));
    }

    /// <summary>What every worker shares.</summary>
    private sealed class RunState(
        LoadgenOptions options,
        ITraceTransport transport,
        TokenBucketPacer? pacer,
        LoadgenStats stats,
        TimeProvider time,
        int batch)
    {
        private long _remaining = options.Spans ?? long.MaxValue;

        public LoadgenOptions Options { get; } = options;

        public ITraceTransport Transport { get; } = transport;

        public TokenBucketPacer? Pacer { get; } = pacer;

        public LoadgenStats Stats { get; } = stats;

        public TimeProvider Time { get; } = time;

        /// <summary>Takes up to one batch from the span budget; 0 when it is spent.</summary>
        public int TakeSpans()
        {
            while (true)
            {
                var remaining = Interlocked.Read(ref _remaining);
                if (remaining <= 0)
                {
                    return 0;
                }

                var take = (int)Math.Min(batch, remaining);
                if (Interlocked.CompareExchange(ref _remaining, remaining - take, remaining) == remaining)
                {
                    return take;
                }
            }
        }
    }
}
