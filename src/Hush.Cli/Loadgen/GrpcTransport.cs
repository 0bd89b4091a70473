using System.Buffers.Binary;
using System.Globalization;
using System.IO.Compression;
using System.Net;
using System.Net.Http.Headers;
using Hush.Otlp;

namespace Hush.Cli.Loadgen;

/// <summary>
/// OTLP/gRPC without a gRPC library: one length-prefixed protobuf message per HTTP/2 POST
/// (h2c by prior knowledge for <c>http://</c>, ALPN over TLS for <c>https://</c>), status from
/// the <c>grpc-status</c> trailer (or header, for trailers-only responses).
/// </summary>
internal sealed class GrpcTransport : ITraceTransport
{
    /// <summary>The Export method of opentelemetry.proto.collector.trace.v1.TraceService.</summary>
    public const string ExportPath = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

    /// <summary>gRPC message prefix: 1 byte compressed flag, 4 bytes big-endian length.</summary>
    internal const int FrameHeaderLength = 5;

    private static readonly MediaTypeHeaderValue GrpcContentType = new("application/grpc");

    private readonly HttpClient _client;
    private readonly Uri _target;
    private readonly bool _gzip;
    private readonly IReadOnlyList<KeyValuePair<string, string>> _headers;
    private readonly TimeSpan _timeout;

    public GrpcTransport(LoadgenOptions options, HttpMessageHandler? handler = null)
    {
        _target = options.ResolveTarget();
        _gzip = options.Gzip;
        _headers = options.Headers;
        _timeout = options.Timeout;
        _client = new HttpClient(handler ?? HttpTransport.CreateHandler(options), disposeHandler: true)
        {
            Timeout = System.Threading.Timeout.InfiniteTimeSpan,
            MaxResponseContentBufferSize = HttpTransport.MaxResponseBytes,
            DefaultRequestVersion = HttpVersion.Version20,
            DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
        };
    }

    public byte[] Encode(TraceRequest request)
    {
        var message = OtlpProtobuf.Encode(request);
        if (_gzip)
        {
            message = HttpTransport.Gzip(message);
        }

        var frame = new byte[FrameHeaderLength + message.Length];
        frame[0] = _gzip ? (byte)1 : (byte)0;
        BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(1), (uint)message.Length);
        message.CopyTo(frame.AsSpan(FrameHeaderLength));
        return frame;
    }

    public async Task<SendOutcome> SendAsync(byte[] body, CancellationToken cancellationToken)
    {
        using var content = new ByteArrayContent(body);
        content.Headers.ContentType = GrpcContentType;
        using var message = new HttpRequestMessage(HttpMethod.Post, _target)
        {
            Content = content,
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
        };
        message.Headers.TryAddWithoutValidation("te", "trailers");
        message.Headers.TryAddWithoutValidation("grpc-timeout", ((long)_timeout.TotalMilliseconds).ToString(CultureInfo.InvariantCulture) + "m");
        if (_gzip)
        {
            message.Headers.TryAddWithoutValidation("grpc-encoding", "gzip");
        }

        message.Headers.TryAddWithoutValidation("grpc-accept-encoding", "gzip");
        foreach (var (name, value) in _headers)
        {
            // gRPC metadata keys are lower-case.
            message.Headers.TryAddWithoutValidation(name.ToLowerInvariant(), value);
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_timeout);
        try
        {
            using var response = await _client.SendAsync(message, HttpCompletionOption.ResponseContentRead, timeout.Token);
            var httpStatus = (int)response.StatusCode;
            if (httpStatus != 200)
            {
                var label = "http " + httpStatus.ToString(CultureInfo.InvariantCulture);
                return httpStatus switch
                {
                    429 or 503 => new SendOutcome(SendDisposition.Retryable, label, true, null, 0),
                    502 or 504 => new SendOutcome(SendDisposition.Retryable, label, false, null, 0),
                    >= 400 and < 500 => new SendOutcome(SendDisposition.Permanent, label, false, null, 0),
                    _ => new SendOutcome(SendDisposition.Failed, label, false, null, 0),
                };
            }

            var bytes = await response.Content.ReadAsByteArrayAsync(timeout.Token);

            // Trailers-only responses carry grpc-status in the headers; otherwise it is a trailer, read after the body.
            var code = Header(response.Headers, "grpc-status") ?? Header(response.TrailingHeaders, "grpc-status");
            if (code is null || !int.TryParse(code, NumberStyles.None, CultureInfo.InvariantCulture, out var grpcStatus))
            {
                return new SendOutcome(SendDisposition.Failed, "grpc no-status", false, null, 0);
            }

            var statusLabel = $"grpc {grpcStatus} {StatusName(grpcStatus)}";
            if (grpcStatus == 0)
            {
                var encoding = Header(response.Headers, "grpc-encoding");
                return new SendOutcome(SendDisposition.Ok, statusLabel, false, null, RejectedSpans(bytes, encoding));
            }

            if (grpcStatus is 8 or 14)
            {
                return new SendOutcome(SendDisposition.Retryable, statusLabel, true, RetryDelay(response), 0);
            }

            return new SendOutcome(IsPermanent(grpcStatus) ? SendDisposition.Permanent : SendDisposition.Failed, statusLabel, false, null, 0);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return new SendOutcome(SendDisposition.Failed, "error timeout", false, null, 0);
        }
        catch (HttpRequestException e)
        {
            return new SendOutcome(SendDisposition.Failed, "error " + e.HttpRequestError, false, null, 0);
        }
    }

    public void Dispose() => _client.Dispose();

    /// <summary>Codes that mean "this request is wrong": sending it again cannot help.</summary>
    internal static bool IsPermanent(int code) => code is 3 or 5 or 6 or 7 or 9 or 11 or 12 or 16;

    internal static string StatusName(int code) => code switch
    {
        0 => "OK",
        1 => "CANCELLED",
        2 => "UNKNOWN",
        3 => "INVALID_ARGUMENT",
        4 => "DEADLINE_EXCEEDED",
        5 => "NOT_FOUND",
        6 => "ALREADY_EXISTS",
        7 => "PERMISSION_DENIED",
        8 => "RESOURCE_EXHAUSTED",
        9 => "FAILED_PRECONDITION",
        10 => "ABORTED",
        11 => "OUT_OF_RANGE",
        12 => "UNIMPLEMENTED",
        13 => "INTERNAL",
        14 => "UNAVAILABLE",
        15 => "DATA_LOSS",
        16 => "UNAUTHENTICATED",
        _ => "CODE",
    };

    private static string? Header(HttpHeaders headers, string name) =>
        headers.TryGetValues(name, out var values) ? values.FirstOrDefault() : null;

    private static TimeSpan? RetryDelay(HttpResponseMessage response)
    {
        var pushback = Header(response.TrailingHeaders, "grpc-retry-pushback-ms") ?? Header(response.Headers, "grpc-retry-pushback-ms");
        if (pushback is not null && long.TryParse(pushback, NumberStyles.None, CultureInfo.InvariantCulture, out var ms))
        {
            return HttpTransport.Clamp(TimeSpan.FromMilliseconds(ms));
        }

        var details = Header(response.TrailingHeaders, "grpc-status-details-bin") ?? Header(response.Headers, "grpc-status-details-bin");
        return details is null ? null : HttpTransport.Clamp(GrpcRetryInfo.TryRead(details));
    }

    private static long RejectedSpans(byte[] body, string? encoding)
    {
        if (body.Length < FrameHeaderLength)
        {
            return 0;
        }

        var length = BinaryPrimitives.ReadUInt32BigEndian(body.AsSpan(1));
        if (length > (uint)(body.Length - FrameHeaderLength))
        {
            return 0;
        }

        try
        {
            var message = body.AsSpan(FrameHeaderLength, (int)length);
            if (body[0] == 1)
            {
                if (!string.Equals(encoding, "gzip", StringComparison.OrdinalIgnoreCase))
                {
                    return 0;
                }

                using var input = new MemoryStream(message.ToArray());
                using var gzip = new GZipStream(input, CompressionMode.Decompress);
                using var output = new MemoryStream();
                gzip.CopyTo(output);
                return OtlpProtobuf.DecodeExportResponse(output.ToArray()).PartialSuccess?.RejectedSpans ?? 0;
            }

            return OtlpProtobuf.DecodeExportResponse(message).PartialSuccess?.RejectedSpans ?? 0;
        }
        catch (Exception e) when (e is OtlpDecodeException or InvalidDataException)
        {
            return 0;
        }
    }
}

/// <summary>
/// Reads <c>google.rpc.RetryInfo.retry_delay</c> out of a <c>grpc-status-details-bin</c> trailer
/// (base64 of google.rpc.Status{ repeated Any details = 3 }). Returns null on anything unexpected.
/// </summary>
internal static class GrpcRetryInfo
{
    private const string RetryInfoType = "type.googleapis.com/google.rpc.RetryInfo";

    /// <summary>A trailer larger than 8 KiB is not a status we want to parse.</summary>
    private const int MaxDetailsChars = 8192;

    public static TimeSpan? TryRead(string base64)
    {
        if (base64.Length > MaxDetailsChars)
        {
            return null;
        }

        var padded = base64.Trim();
        padded += (padded.Length % 4) switch { 2 => "==", 3 => "=", _ => string.Empty };
        var bytes = new byte[padded.Length];
        if (!Convert.TryFromBase64String(padded, bytes, out var written))
        {
            return null;
        }

        ReadOnlySpan<byte> status = bytes.AsSpan(0, written);
        while (TryField(ref status, out var field, out var wireType, out var payload, out _))
        {
            if (field != 3 || wireType != 2)
            {
                continue;
            }

            string? typeUrl = null;
            byte[] value = [];
            var any = payload;
            while (TryField(ref any, out var f, out var w, out var p, out _))
            {
                if (f == 1 && w == 2)
                {
                    typeUrl = System.Text.Encoding.UTF8.GetString(p);
                }
                else if (f == 2 && w == 2)
                {
                    value = p.ToArray();
                }
            }

            if (typeUrl != RetryInfoType)
            {
                continue;
            }

            ReadOnlySpan<byte> retryInfo = value;
            while (TryField(ref retryInfo, out var f, out var w, out var duration, out _))
            {
                if (f != 1 || w != 2)
                {
                    continue;
                }

                long seconds = 0, nanos = 0;
                while (TryField(ref duration, out var df, out var dw, out _, out var number))
                {
                    if (df == 1 && dw == 0)
                    {
                        seconds = (long)number;
                    }
                    else if (df == 2 && dw == 0)
                    {
                        nanos = (long)number;
                    }
                }

                if (seconds is < 0 or > 86_400 || nanos is < 0 or > 999_999_999)
                {
                    return null;
                }

                return TimeSpan.FromSeconds(seconds) + TimeSpan.FromTicks(nanos / 100);
            }
        }

        return null;
    }

    /// <summary>Reads one field: length-delimited payloads in <paramref name="payload"/>, varints in <paramref name="number"/>. False at the end or on malformed input.</summary>
    private static bool TryField(ref ReadOnlySpan<byte> data, out int field, out int wireType, out ReadOnlySpan<byte> payload, out ulong number)
    {
        field = 0;
        wireType = 0;
        payload = default;
        number = 0;
        if (data.IsEmpty || !TryVarint(ref data, out var tag))
        {
            data = default;
            return false;
        }

        field = (int)(tag >> 3);
        wireType = (int)(tag & 7);
        switch (wireType)
        {
            case 0:
                if (!TryVarint(ref data, out number))
                {
                    return Fail(ref data);
                }

                return true;
            case 1:
                if (data.Length < 8)
                {
                    return Fail(ref data);
                }

                data = data[8..];
                return true;
            case 2:
                if (!TryVarint(ref data, out var length) || length > (ulong)data.Length)
                {
                    return Fail(ref data);
                }

                payload = data[..(int)length];
                data = data[(int)length..];
                return true;
            case 5:
                if (data.Length < 4)
                {
                    return Fail(ref data);
                }

                data = data[4..];
                return true;
            default:
                return Fail(ref data);
        }
    }

    private static bool Fail(ref ReadOnlySpan<byte> data)
    {
        data = default;
        return false;
    }

    private static bool TryVarint(ref ReadOnlySpan<byte> data, out ulong value)
    {
        value = 0;
        for (var i = 0; i < 10 && i < data.Length; i++)
        {
            value |= (ulong)(data[i] & 0x7F) << (7 * i);
            if ((data[i] & 0x80) == 0)
            {
                data = data[(i + 1)..];
                return true;
            }
        }

        return false;
    }
}
