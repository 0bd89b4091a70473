using System.Buffers;
using Hush.Otlp.Json;

namespace Hush.Otlp;

/// <summary>
/// OTLP/JSON codec for traces (UTF-8). Follows the OTLP specification's JSON mapping: lowerCamelCase
/// names (snake_case accepted on input), hex trace and span ids, integer enums (names accepted on
/// input), 64-bit integers as strings (numbers accepted on input), base64 bytes.
/// </summary>
public static class OtlpJson
{
    /// <summary>Decodes an <c>ExportTraceServiceRequest</c> from UTF-8 JSON.</summary>
    /// <exception cref="OtlpDecodeException">The payload is malformed; the message names the field and position, never the content.</exception>
    public static TraceRequest DecodeTraceRequest(ReadOnlySpan<byte> utf8Json) => TraceJsonDecoder.DecodeTraceRequest(utf8Json);

    /// <summary>Encodes a request as compact UTF-8 JSON.</summary>
    /// <exception cref="ArgumentException">Attribute values nest deeper than the codec limit.</exception>
    public static byte[] Encode(TraceRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        return TraceJsonEncoder.Encode(request);
    }

    /// <summary>Encodes a request as compact UTF-8 JSON into <paramref name="writer"/>.</summary>
    public static void Encode(TraceRequest request, IBufferWriter<byte> writer)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(writer);
        TraceJsonEncoder.Encode(request, writer);
    }

    /// <summary>Decodes an <c>ExportTraceServiceResponse</c>.</summary>
    /// <exception cref="OtlpDecodeException">The payload is malformed.</exception>
    public static TraceExportResponse DecodeExportResponse(ReadOnlySpan<byte> utf8Json) => TraceJsonDecoder.DecodeExportResponse(utf8Json);

    /// <summary>Encodes an <c>ExportTraceServiceResponse</c>; full success is <c>{}</c>.</summary>
    public static byte[] EncodeExportResponse(TraceExportResponse response)
    {
        ArgumentNullException.ThrowIfNull(response);
        return TraceJsonEncoder.EncodeExportResponse(response);
    }

    /// <summary>Encodes a <c>google.rpc.Status</c> as <c>{"code":3,"message":"..."}</c>.</summary>
    public static byte[] EncodeRpcStatus(int code, string message) => TraceJsonEncoder.EncodeRpcStatus(code, message ?? string.Empty);
}
