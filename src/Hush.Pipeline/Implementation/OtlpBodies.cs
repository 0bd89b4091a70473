using System.Buffers;
using Hush.Otlp;

namespace Hush.Pipeline.Implementation;

/// <summary>The codec calls of the OTLP/HTTP exporter, in one place.</summary>
internal static class OtlpBodies
{
    public static void EncodeProtobuf(TraceRequest traces, IBufferWriter<byte> writer) => OtlpProtobuf.Encode(traces, writer);

    public static TraceExportResponse DecodeProtobufResponse(ReadOnlySpan<byte> body) => OtlpProtobuf.DecodeExportResponse(body);

    public static string DecodeProtobufRpcStatusMessage(ReadOnlySpan<byte> body) => OtlpProtobuf.DecodeRpcStatus(body).Message;

    public static void EncodeJson(TraceRequest traces, IBufferWriter<byte> writer) => OtlpJson.Encode(traces, writer);

    public static TraceExportResponse DecodeJsonResponse(ReadOnlySpan<byte> body) => OtlpJson.DecodeExportResponse(body);
}
