using System.Buffers.Binary;
using System.Text;

namespace Hush.Gateway.Receivers;

/// <summary>gRPC status codes Hush answers with (the wire numbers).</summary>
internal enum GrpcStatusCode
{
    Ok = 0,
    InvalidArgument = 3,
    PermissionDenied = 7,
    ResourceExhausted = 8,
    Unimplemented = 12,
    Internal = 13,
    Unavailable = 14,
    Unauthenticated = 16,
}

/// <summary>The unary request message of a gRPC call, or why there is none.</summary>
internal readonly record struct GrpcReadResult(GrpcStatusCode Status, string? Error, PooledBuffer? Message)
{
    public static GrpcReadResult Fail(GrpcStatusCode status, string error) => new(status, error, null);
}

/// <summary>
/// gRPC over HTTP/2 length-prefixed messages: 1 byte compressed flag, 4 bytes big-endian length,
/// then the message. Export is unary: exactly one message per request.
/// </summary>
internal static class GrpcFraming
{
    public const int HeaderLength = 5;

    /// <summary>
    /// Reads the one request message. A length over <paramref name="maxMessageBytes"/> is refused
    /// before reading it; a body that ends early is refused without waiting for more.
    /// </summary>
    public static async ValueTask<GrpcReadResult> ReadUnaryAsync(Stream body, int maxMessageBytes, bool gzipEncoding, CancellationToken cancellationToken)
    {
        var header = new byte[HeaderLength];
        var got = await body.ReadAtLeastAsync(header, HeaderLength, throwOnEndOfStream: false, cancellationToken);
        if (got == 0)
        {
            return GrpcReadResult.Fail(GrpcStatusCode.Internal, "the request has no message");
        }

        if (got < HeaderLength)
        {
            return GrpcReadResult.Fail(GrpcStatusCode.Internal, $"the request ends inside the {HeaderLength}-byte message header after {got} bytes");
        }

        var flag = header[0];
        var length = BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(1));
        if (flag > 1)
        {
            return GrpcReadResult.Fail(GrpcStatusCode.Internal, $"the message header has compressed flag {flag}; it must be 0 or 1");
        }

        if (length > (uint)maxMessageBytes)
        {
            return GrpcReadResult.Fail(GrpcStatusCode.ResourceExhausted, $"the message declares {length} bytes, more than the limit of {maxMessageBytes}");
        }

        if (flag == 1 && !gzipEncoding)
        {
            return GrpcReadResult.Fail(GrpcStatusCode.Unimplemented, "the message is compressed but grpc-encoding is not gzip; Hush accepts gzip or identity");
        }

        var message = new PooledBuffer((int)length);
        try
        {
            var read = length == 0 ? 0 : await body.ReadAtLeastAsync(message.Array.AsMemory(0, (int)length), (int)length, throwOnEndOfStream: false, cancellationToken);
            message.Length = read;
            if (read < length)
            {
                message.Dispose();
                return GrpcReadResult.Fail(GrpcStatusCode.Internal, $"the message is truncated: it declares {length} bytes and the request ended after {read}");
            }

            var extra = new byte[1];
            if (await body.ReadAsync(extra, cancellationToken) > 0)
            {
                message.Dispose();
                return GrpcReadResult.Fail(GrpcStatusCode.Internal, "the request has more than one message; Export takes exactly one");
            }

            if (flag == 0)
            {
                return new GrpcReadResult(GrpcStatusCode.Ok, null, message);
            }

            using (message)
            {
                using var compressed = new MemoryStream(message.Array, 0, message.Length, writable: false);
                var (status, unzipped) = await BoundedBodyReader.ReadAsync(compressed, gzip: true, maxMessageBytes, null, cancellationToken);
                return status switch
                {
                    BodyReadStatus.Ok => new GrpcReadResult(GrpcStatusCode.Ok, null, unzipped),
                    BodyReadStatus.TooLarge => GrpcReadResult.Fail(GrpcStatusCode.ResourceExhausted, $"the message decompresses to more than the limit of {maxMessageBytes} bytes"),
                    _ => GrpcReadResult.Fail(GrpcStatusCode.Internal, "the message is not valid gzip"),
                };
            }
        }
        catch
        {
            message.Dispose();
            throw;
        }
    }

    /// <summary>Frames one uncompressed message.</summary>
    public static byte[] Frame(ReadOnlySpan<byte> message)
    {
        var framed = new byte[HeaderLength + message.Length];
        BinaryPrimitives.WriteUInt32BigEndian(framed.AsSpan(1), (uint)message.Length);
        message.CopyTo(framed.AsSpan(HeaderLength));
        return framed;
    }

    /// <summary>Percent-encodes a grpc-message value as the gRPC spec asks: UTF-8, printable ASCII except '%' kept.</summary>
    public static string EncodeMessage(string message)
    {
        var bytes = Encoding.UTF8.GetBytes(message);
        var sb = new StringBuilder(bytes.Length);
        foreach (var b in bytes)
        {
            if (b is >= 0x20 and <= 0x7E and not (byte)'%')
            {
                sb.Append((char)b);
            }
            else
            {
                sb.Append('%').Append(b.ToString("X2"));
            }
        }

        return sb.ToString();
    }

    /// <summary>
    /// A <c>google.rpc.Status</c> with one <c>google.rpc.RetryInfo</c> detail, for the
    /// <c>grpc-status-details-bin</c> trailer: OTLP clients read the retry delay from it.
    /// </summary>
    public static byte[] EncodeStatusWithRetryInfo(int code, string message, TimeSpan retryDelay)
    {
        var duration = new List<byte>();
        WriteTag(duration, 1, 0);
        WriteVarint(duration, (ulong)(long)retryDelay.TotalSeconds);
        var nanos = (int)(retryDelay.Ticks % TimeSpan.TicksPerSecond * 100);
        if (nanos > 0)
        {
            WriteTag(duration, 2, 0);
            WriteVarint(duration, (ulong)nanos);
        }

        var retryInfo = new List<byte>();
        WriteBytes(retryInfo, 1, [.. duration]);
        var any = new List<byte>();
        WriteBytes(any, 1, "type.googleapis.com/google.rpc.RetryInfo"u8);
        WriteBytes(any, 2, [.. retryInfo]);
        var status = new List<byte>();
        WriteTag(status, 1, 0);
        WriteVarint(status, (ulong)code);
        WriteBytes(status, 2, Encoding.UTF8.GetBytes(message));
        WriteBytes(status, 3, [.. any]);
        return [.. status];
    }

    private static void WriteTag(List<byte> to, int field, int wireType) => WriteVarint(to, (ulong)((field << 3) | wireType));

    private static void WriteBytes(List<byte> to, int field, ReadOnlySpan<byte> value)
    {
        WriteTag(to, field, 2);
        WriteVarint(to, (ulong)value.Length);
        foreach (var b in value)
        {
            to.Add(b);
        }
    }

    private static void WriteVarint(List<byte> to, ulong value)
    {
        while (value >= 0x80)
        {
            to.Add((byte)(value | 0x80));
            value >>= 7;
        }

        to.Add((byte)value);
    }
}
