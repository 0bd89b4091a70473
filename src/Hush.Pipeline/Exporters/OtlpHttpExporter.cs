using System.IO.Compression;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text.Json;
using System.Threading.Channels;
using Hush.Otlp;
using Hush.Pipeline.Implementation;
using Microsoft.Extensions.Logging;

namespace Hush.Pipeline;

/// <summary>
/// Exports batches to an OTLP/HTTP backend (Tempo, Jaeger, a Collector): <c>POST {endpoint}/v1/traces</c>
/// in protobuf or JSON, optionally gzip-compressed, with configured headers.
/// <para>
/// Delivery is asynchronous: <see cref="ExportAsync"/> returns <see cref="ExportOutcome.Success"/> once the
/// batch is in the exporter's own bounded queue (<see cref="OtlpHttpExporterOptions.QueueSize"/> batches) and
/// waits while that queue is full, which is the back-pressure the pipeline relies on. Consumers drain the
/// queue and retry 429/502/503/504 and connection errors with exponential backoff and jitter, honouring
/// <c>Retry-After</c> (capped by <see cref="OtlpHttpExporterOptions.MaxInterval"/>), until
/// <see cref="OtlpHttpExporterOptions.MaxElapsedTime"/>. Other 4xx/5xx statuses are permanent. Every outcome is
/// counted; the log says once when the backend goes down and once when it comes back, not once per retry.
/// </para>
/// </summary>
public sealed class OtlpHttpExporter : ISpanExporter
{
    /// <summary>Largest backend response read: an OTLP response or google.rpc.Status is a few hundred bytes.</summary>
    private const int MaxResponseBodyBytes = 64 * 1024;

    /// <summary>Backoff growth per attempt (the Collector's default).</summary>
    private const double BackoffMultiplier = 1.5;

    /// <summary>Jitter: each delay is drawn uniformly from ±50% of the current interval, spreading retries of many gateways.</summary>
    private const double RandomizationFactor = 0.5;

    /// <summary>After the shutdown timeout, sends are cancelled; this is how long to wait for them to notice.</summary>
    private static readonly TimeSpan AbortGrace = TimeSpan.FromSeconds(2);

    private static readonly MediaTypeHeaderValue ProtobufContentType = new("application/x-protobuf");
    private static readonly MediaTypeHeaderValue JsonContentType = new("application/json");

    private readonly OtlpHttpExporterOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly Func<double> _random;
    private readonly HttpClient _client;
    private readonly Uri _url;
    private readonly string _safeUrl;
    private readonly Channel<SpanBatch> _queue;
    private readonly Task[] _consumers;
    private readonly CancellationTokenSource _abort = new();

    private readonly Counter _sent;
    private readonly Counter _failedPermanent;
    private readonly Counter _failedRejected;
    private readonly Counter _failedExhausted;
    private readonly Counter _failedShutdown;
    private readonly Counter _failedEncode;
    private readonly Counter _requestsSuccess;
    private readonly Counter _requestsPartial;
    private readonly Counter _requestsRetryable;
    private readonly Counter _requestsPermanent;
    private readonly Counter _requestsConnectionError;

    private int _backendDown;
    private long _downSince;
    private int _disposed;
    private Task? _disposeTask;

    /// <summary>
    /// Creates the exporter and starts its consumers. <paramref name="options"/> must be valid (see
    /// <see cref="OtlpHttpExporterOptions.Validate"/>). <paramref name="handler"/> replaces the default
    /// <see cref="SocketsHttpHandler"/> (tests, custom TLS); the exporter disposes the handler it creates only.
    /// </summary>
    public OtlpHttpExporter(string name, OtlpHttpExporterOptions options, HushMetrics metrics, ILogger logger, TimeProvider timeProvider, HttpMessageHandler? handler = null)
        : this(name, options, metrics, logger, timeProvider, handler, Random.Shared.NextDouble)
    {
    }

    /// <summary>As the public constructor, with the jitter source injected (values in [0, 1)) for deterministic tests.</summary>
    internal OtlpHttpExporter(
        string name,
        OtlpHttpExporterOptions options,
        HushMetrics metrics,
        ILogger logger,
        TimeProvider timeProvider,
        HttpMessageHandler? handler,
        Func<double> random)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(metrics);
        ArgumentNullException.ThrowIfNull(logger);
        ArgumentNullException.ThrowIfNull(timeProvider);
        ArgumentNullException.ThrowIfNull(random);
        var errors = options.Validate("exporters." + name);
        if (errors.Count > 0)
        {
            throw new ArgumentException("Invalid exporter options: " + string.Join("; ", errors), nameof(options));
        }

        Name = name;
        _options = options;
        _logger = logger;
        _time = timeProvider;
        _random = random;
        _url = options.ResolveTracesUrl();
        _safeUrl = _url.GetComponents(UriComponents.SchemeAndServer | UriComponents.Path, UriFormat.UriEscaped);
        _client = handler is null
            ? new HttpClient(CreateDefaultHandler(options), disposeHandler: true)
            : new HttpClient(handler, disposeHandler: false);
        _client.Timeout = System.Threading.Timeout.InfiniteTimeSpan;

        var sent = PipelineMetrics.ExporterSpansSent(metrics);
        var failed = PipelineMetrics.ExporterSpansFailed(metrics);
        var requests = PipelineMetrics.ExporterRequests(metrics);
        _sent = sent.WithLabels(name);
        _failedPermanent = failed.WithLabels(name, "permanent");
        _failedRejected = failed.WithLabels(name, "rejected");
        _failedExhausted = failed.WithLabels(name, "retries_exhausted");
        _failedShutdown = failed.WithLabels(name, "shutdown");
        _failedEncode = failed.WithLabels(name, "encode_error");
        _requestsSuccess = requests.WithLabels(name, "success");
        _requestsPartial = requests.WithLabels(name, "partial_success");
        _requestsRetryable = requests.WithLabels(name, "retryable");
        _requestsPermanent = requests.WithLabels(name, "permanent");
        _requestsConnectionError = requests.WithLabels(name, "connection_error");

        _queue = Channel.CreateBounded<SpanBatch>(new BoundedChannelOptions(options.QueueSize) { FullMode = BoundedChannelFullMode.Wait });
        var labels = new[] { name };
        metrics.Gauge(
            PipelineMetrics.ExporterQueueBatchesName,
            "Batches waiting in an exporter's queue.",
            ["exporter"],
            () => [new KeyValuePair<string[], double>(labels, QueuedBatches)]);

        _consumers = new Task[options.Consumers];
        for (var i = 0; i < _consumers.Length; i++)
        {
            _consumers[i] = Task.Run(ConsumeAsync);
        }
    }

    /// <inheritdoc />
    public string Name { get; }

    /// <summary>Batches waiting to be sent (not counting those being sent or retried).</summary>
    public int QueuedBatches => _queue.Reader.CanCount ? _queue.Reader.Count : 0;

    /// <summary>
    /// Queues the batch and returns <see cref="ExportOutcome.Success"/>: delivery happens asynchronously.
    /// Waits while the queue is full. After disposal, or if <paramref name="cancellationToken"/> fires while
    /// waiting, the batch is counted as lost and <see cref="ExportOutcome.RetryableFailure"/> is returned.
    /// The batch must not be modified afterwards (exporters treat batches as read-only).
    /// </summary>
    public ValueTask<ExportOutcome> ExportAsync(SpanBatch batch, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(batch);

        // The batch outlives this call in the queue: a request kept in wire form must keep its bytes until it is sent.
        batch.Traces.RetainWireForm();
        if (Volatile.Read(ref _disposed) == 0 && _queue.Writer.TryWrite(batch))
        {
            return ValueTask.FromResult(ExportOutcome.Success);
        }

        return WaitToQueueAsync(batch, cancellationToken);
    }

    /// <summary>Stops taking batches and delivers the queued ones within <see cref="OtlpHttpExporterOptions.ShutdownTimeout"/>. Safe to call twice.</summary>
    public ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            _disposeTask = ShutdownAsync();
        }

        return new ValueTask(_disposeTask ?? Task.CompletedTask);
    }

    private static SocketsHttpHandler CreateDefaultHandler(OtlpHttpExporterOptions options) => new()
    {
        ConnectTimeout = options.Timeout,

        // Re-resolve DNS every 5 minutes so a backend moved behind the same name is followed.
        PooledConnectionLifetime = TimeSpan.FromMinutes(5),

        // Telemetry goes only where it is configured to go: a redirect is an error, not a new destination.
        AllowAutoRedirect = false,
        AutomaticDecompression = DecompressionMethods.None,
    };

    private async ValueTask<ExportOutcome> WaitToQueueAsync(SpanBatch batch, CancellationToken cancellationToken)
    {
        if (Volatile.Read(ref _disposed) == 0)
        {
            try
            {
                await _queue.Writer.WriteAsync(batch, cancellationToken);
                return ExportOutcome.Success;
            }
            catch (OperationCanceledException)
            {
            }
            catch (ChannelClosedException)
            {
            }
        }

        _failedShutdown.Add(batch.SpanCount);
        batch.Traces.ReleaseWireForm();
        return ExportOutcome.RetryableFailure;
    }

    private async Task ShutdownAsync()
    {
        _queue.Writer.TryComplete();
        var consumers = Task.WhenAll(_consumers);
        try
        {
            await consumers.WaitAsync(_options.ShutdownTimeout, _time);
        }
        catch (TimeoutException)
        {
            var batches = QueuedBatches;
            await _abort.CancelAsync();
            try
            {
                await consumers.WaitAsync(AbortGrace, _time);
            }
            catch (TimeoutException)
            {
                // A handler ignoring cancellation; its batch is lost.
            }

            Log.ShutdownDropped(_logger, Name, batches, _failedShutdown.Value);
        }

        // A consumer stuck in a handler that ignores cancellation may still use these; leave them to the GC then.
        if (consumers.IsCompleted)
        {
            _client.Dispose();
            _abort.Dispose();
        }
    }

    private async Task ConsumeAsync()
    {
        await foreach (var batch in _queue.Reader.ReadAllAsync())
        {
            try
            {
                await SendAsync(batch, _abort.Token);
            }
#pragma warning disable CA1031 // A consumer must survive anything one batch does; the batch is counted as lost.
            catch (Exception ex)
#pragma warning restore CA1031
            {
                _failedEncode.Add(batch.SpanCount);
                Log.EncodeFailed(_logger, Name, batch.SpanCount, ex.GetType().Name);
            }
            finally
            {
                batch.Traces.ReleaseWireForm();
            }
        }
    }

    private async Task SendAsync(SpanBatch batch, CancellationToken ct)
    {
        var spans = batch.SpanCount;
        if (ct.IsCancellationRequested)
        {
            _failedShutdown.Add(spans);
            return;
        }

        PooledBufferWriter? body;
        try
        {
            body = Encode(batch.Traces);
        }
#pragma warning disable CA1031 // An unencodable batch is dropped and counted, never retried forever.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            _failedEncode.Add(spans);
            Log.EncodeFailed(_logger, Name, spans, ex.GetType().Name);
            return;
        }

        using (body)
        {
            var start = _time.GetTimestamp();
            var interval = _options.InitialInterval;
            for (var attempt = 1; ; attempt++)
            {
                var result = await SendOnceAsync(body.WrittenMemory, batch.Tenant, ct);
                switch (result.Kind)
                {
                    case AttemptKind.Success:
                        _requestsSuccess.Add();
                        MarkUp();
                        _sent.Add(spans);
                        return;
                    case AttemptKind.PartialSuccess:
                        {
                            _requestsPartial.Add();
                            MarkUp();
                            var rejected = Math.Clamp(result.Rejected, 0, spans);
                            _sent.Add(spans - rejected);
                            _failedRejected.Add(rejected);
                            Log.PartialSuccess(_logger, Name, result.Rejected, spans, result.MessageLength);
                            return;
                        }

                    case AttemptKind.Permanent:
                        _requestsPermanent.Add();
                        MarkUp();
                        _failedPermanent.Add(spans);
                        Log.PermanentFailure(_logger, Name, spans, result.StatusCode, result.MessageLength);
                        return;
                    case AttemptKind.Cancelled:
                        _failedShutdown.Add(spans);
                        return;
                }

                if (result.Kind == AttemptKind.Retryable)
                {
                    _requestsRetryable.Add();
                }
                else
                {
                    _requestsConnectionError.Add();
                }

                MarkDown(result.Reason);
                var elapsed = _time.GetElapsedTime(start);
                if (!_options.RetryEnabled)
                {
                    _failedExhausted.Add(spans);
                    Log.RetriesExhausted(_logger, Name, spans, attempt, elapsed.TotalSeconds, result.Reason + ", retry disabled");
                    return;
                }

                var delay = result.RetryAfter ?? Jitter(interval);
                if (delay > _options.MaxInterval)
                {
                    delay = _options.MaxInterval;
                }

                if (elapsed + delay > _options.MaxElapsedTime)
                {
                    _failedExhausted.Add(spans);
                    Log.RetriesExhausted(_logger, Name, spans, attempt, elapsed.TotalSeconds, result.Reason);
                    return;
                }

                try
                {
                    await Task.Delay(delay, _time, ct);
                }
                catch (OperationCanceledException)
                {
                    _failedShutdown.Add(spans);
                    return;
                }

                interval = TimeSpan.FromTicks((long)Math.Min(interval.Ticks * BackoffMultiplier, _options.MaxInterval.Ticks));
            }
        }
    }

    private PooledBufferWriter Encode(TraceRequest traces)
    {
        var raw = new PooledBufferWriter();
        try
        {
            if (_options.Encoding == OtlpEncoding.Json)
            {
                OtlpBodies.EncodeJson(traces, raw);
            }
            else
            {
                OtlpBodies.EncodeProtobuf(traces, raw);
            }

            if (!_options.Gzip)
            {
                return raw;
            }

            var compressed = new PooledBufferWriter(raw.WrittenCount / 4);
            try
            {
                using (var gzip = new GZipStream(compressed, CompressionLevel.Fastest, leaveOpen: true))
                {
                    gzip.Write(raw.WrittenMemory.Span);
                }

                return compressed;
            }
            catch
            {
                compressed.Dispose();
                throw;
            }
            finally
            {
                raw.Dispose();
            }
        }
        catch
        {
            raw.Dispose();
            throw;
        }
    }

    private TimeSpan Jitter(TimeSpan interval)
    {
        var factor = 1 - RandomizationFactor + (2 * RandomizationFactor * Math.Clamp(_random(), 0, 1));
        return TimeSpan.FromTicks((long)(interval.Ticks * factor));
    }

    private async Task<AttemptResult> SendOnceAsync(ReadOnlyMemory<byte> body, string tenant, CancellationToken ct)
    {
        using var timeout = new CancellationTokenSource(_options.Timeout, _time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct, timeout.Token);
        using var request = new HttpRequestMessage(HttpMethod.Post, _url);
        var content = new ReadOnlyMemoryContent(body);
        content.Headers.ContentType = _options.Encoding == OtlpEncoding.Json ? JsonContentType : ProtobufContentType;
        if (_options.Gzip)
        {
            content.Headers.ContentEncoding.Add("gzip");
        }

        request.Content = content;
        foreach (var (name, value) in _options.Headers)
        {
            request.Headers.TryAddWithoutValidation(name, value);
        }

        if (_options.TenantHeaders is { } tenantHeaders)
        {
            foreach (var (name, value) in tenantHeaders(tenant))
            {
                try
                {
                    request.Headers.Remove(name);
                    request.Headers.TryAddWithoutValidation(name, value);
                }
                catch (FormatException)
                {
                    // An invalid header name from the hook is skipped; the batch still goes out.
                }
            }
        }

        try
        {
            using var response = await _client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, linked.Token);
            var status = (int)response.StatusCode;
            if (status is >= 200 and < 300)
            {
                var bytes = await ReadBoundedAsync(response.Content, linked.Token);
                var partial = DecodePartialSuccess(response.Content.Headers.ContentType?.MediaType, bytes);
                return partial is { RejectedSpans: > 0 }
                    ? new AttemptResult(AttemptKind.PartialSuccess, status, null, partial.RejectedSpans, partial.ErrorMessage.Length, string.Empty)
                    : new AttemptResult(AttemptKind.Success, status, null, 0, 0, string.Empty);
            }

            if (response.StatusCode is HttpStatusCode.TooManyRequests or HttpStatusCode.BadGateway
                or HttpStatusCode.ServiceUnavailable or HttpStatusCode.GatewayTimeout)
            {
                return new AttemptResult(AttemptKind.Retryable, status, RetryAfterOf(response), 0, 0, $"HTTP {status}");
            }

            var error = await ReadBoundedAsync(response.Content, linked.Token);
            var length = RpcStatusMessageLength(response.Content.Headers.ContentType?.MediaType, error);
            return new AttemptResult(AttemptKind.Permanent, status, null, 0, length, $"HTTP {status}");
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            return new AttemptResult(AttemptKind.Cancelled, 0, null, 0, 0, "shutdown");
        }
        catch (OperationCanceledException)
        {
            return new AttemptResult(AttemptKind.ConnectionError, 0, null, 0, 0, $"no response within {_options.Timeout.TotalSeconds}s");
        }
        catch (HttpRequestException ex)
        {
            return new AttemptResult(AttemptKind.ConnectionError, 0, null, 0, 0, Describe(ex));
        }
        catch (IOException)
        {
            return new AttemptResult(AttemptKind.ConnectionError, 0, null, 0, 0, "connection error");
        }
    }

    private TimeSpan? RetryAfterOf(HttpResponseMessage response)
    {
        var retryAfter = response.Headers.RetryAfter;
        if (retryAfter?.Delta is { } delta)
        {
            return delta < TimeSpan.Zero ? TimeSpan.Zero : delta;
        }

        if (retryAfter?.Date is { } date)
        {
            var wait = date - _time.GetUtcNow();
            return wait < TimeSpan.Zero ? TimeSpan.Zero : wait;
        }

        return null;
    }

    private static async Task<byte[]> ReadBoundedAsync(HttpContent content, CancellationToken ct)
    {
        await using var stream = await content.ReadAsStreamAsync(ct);
        var buffer = new byte[MaxResponseBodyBytes];
        var total = 0;
        while (total < buffer.Length)
        {
            var read = await stream.ReadAsync(buffer.AsMemory(total), ct);
            if (read == 0)
            {
                break;
            }

            total += read;
        }

        return buffer.AsSpan(0, total).ToArray();
    }

    private ExportPartialSuccess? DecodePartialSuccess(string? mediaType, byte[] body)
    {
        if (body.Length == 0)
        {
            return null;
        }

        try
        {
            var json = mediaType is not null ? mediaType.EndsWith("json", StringComparison.OrdinalIgnoreCase) : _options.Encoding == OtlpEncoding.Json;
            return json ? OtlpBodies.DecodeJsonResponse(body).PartialSuccess : OtlpBodies.DecodeProtobufResponse(body).PartialSuccess;
        }
        catch (OtlpDecodeException)
        {
            // A 2xx with an unreadable body: the backend took the data; nothing to count as rejected.
            return null;
        }
    }

    /// <summary>The length of the google.rpc.Status message, or 0. Only its length is logged: a backend may echo data.</summary>
    private int RpcStatusMessageLength(string? mediaType, byte[] body)
    {
        if (body.Length == 0)
        {
            return 0;
        }

        var json = mediaType is not null ? mediaType.EndsWith("json", StringComparison.OrdinalIgnoreCase) : _options.Encoding == OtlpEncoding.Json;
        try
        {
            if (!json)
            {
                return OtlpBodies.DecodeProtobufRpcStatusMessage(body).Length;
            }

            using var document = JsonDocument.Parse(body);
            return document.RootElement.ValueKind == JsonValueKind.Object
                && document.RootElement.TryGetProperty("message", out var message)
                && message.ValueKind == JsonValueKind.String
                ? message.GetString()!.Length
                : 0;
        }
        catch (OtlpDecodeException)
        {
            return 0;
        }
        catch (JsonException)
        {
            return 0;
        }
    }

    private static string Describe(HttpRequestException ex)
    {
        if (ex.InnerException is SocketException socket)
        {
            return socket.SocketErrorCode switch
            {
                SocketError.ConnectionRefused => "connection refused",
                SocketError.HostNotFound or SocketError.NoData => "host not found",
                SocketError.TimedOut => "connect timeout",
                SocketError.ConnectionReset => "connection reset",
                SocketError.NetworkUnreachable or SocketError.HostUnreachable => "network unreachable",
                var code => "socket error " + code,
            };
        }

        return ex.HttpRequestError switch
        {
            HttpRequestError.NameResolutionError => "host not found",
            HttpRequestError.SecureConnectionError => "TLS handshake failed",
            HttpRequestError.ResponseEnded => "connection closed by the backend",
            HttpRequestError.ConnectionError => "connection error",
            HttpRequestError.InvalidResponse => "invalid HTTP response",
            _ => "request failed",
        };
    }

    private void MarkDown(string reason)
    {
        if (Interlocked.CompareExchange(ref _backendDown, 1, 0) == 0)
        {
            Interlocked.Exchange(ref _downSince, _time.GetTimestamp());
            Log.BackendDown(_logger, Name, _safeUrl, reason, QueuedBatches);
        }
    }

    private void MarkUp()
    {
        if (Volatile.Read(ref _backendDown) == 1 && Interlocked.CompareExchange(ref _backendDown, 0, 1) == 1)
        {
            var seconds = Math.Round(_time.GetElapsedTime(Interlocked.Read(ref _downSince)).TotalSeconds, 1);
            Log.BackendRecovered(_logger, Name, _safeUrl, seconds);
        }
    }

    private enum AttemptKind
    {
        Success,
        PartialSuccess,
        Retryable,
        ConnectionError,
        Permanent,
        Cancelled,
    }

    private readonly record struct AttemptResult(AttemptKind Kind, int StatusCode, TimeSpan? RetryAfter, long Rejected, int MessageLength, string Reason);
}
