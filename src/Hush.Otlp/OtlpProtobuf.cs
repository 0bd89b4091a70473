using System.Buffers;
using Hush.Otlp.Protobuf;

namespace Hush.Otlp;

/// <summary>
/// OTLP protobuf codec for traces: <c>ExportTraceServiceRequest</c> (and the field-identical
/// <c>TracesData</c>), its response, and <c>google.rpc.Status</c>. Hand-written over spans; no
/// dependency on Google.Protobuf.
/// </summary>
public static class OtlpProtobuf
{
    /// <summary>Decodes an <c>ExportTraceServiceRequest</c>.</summary>
    /// <exception cref="OtlpDecodeException">The payload is malformed; the message names the field and byte offset, never the content.</exception>
    public static TraceRequest DecodeTraceRequest(ReadOnlySpan<byte> data) => TraceProtoDecoder.DecodeTraceRequest(data);

    /// <summary>
    /// Keeps an <c>ExportTraceServiceRequest</c> in its wire form (see <see cref="TraceRequest"/>) when it has the plain
    /// shape SDKs write and would decode: no object is built now. False, and nothing kept, for anything else (then decode
    /// it with <see cref="DecodeTraceRequest(ReadOnlySpan{byte})"/>, which accepts or names the error), for a request
    /// without spans, and for one with a resource attribute named <paramref name="reservedResourceKey"/>.
    /// </summary>
    /// <param name="data">The bytes; they must stay unchanged until the request is released.</param>
    /// <param name="owner">Disposed by <see cref="TraceRequest.ReleaseWireForm"/> (the buffer's owner, which clears it); may be null.</param>
    /// <param name="reservedResourceKey">UTF-8 of a resource attribute key that must be handled on decoded spans; empty for none.</param>
    /// <param name="request">The request in wire form.</param>
    public static bool TryKeepWireForm(ReadOnlyMemory<byte> data, IDisposable? owner, ReadOnlySpan<byte> reservedResourceKey, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out TraceRequest? request)
    {
        if (TraceProtoScanner.TryScan(data.Span, reservedResourceKey, out var summary))
        {
            request = TraceRequest.FromWire(data, owner, summary);
            return true;
        }

        request = null;
        return false;
    }

    /// <summary>
    /// Decodes only the spans of <paramref name="traceId"/> from an <c>ExportTraceServiceRequest</c>: every other span is
    /// skipped after its id, and scopes and resources without a span of the trace are left out. Same errors as
    /// <see cref="DecodeTraceRequest(ReadOnlySpan{byte})"/> for the parts it reads.
    /// </summary>
    /// <exception cref="OtlpDecodeException">The payload is malformed.</exception>
    public static TraceRequest DecodeTraceRequest(ReadOnlySpan<byte> data, TraceId traceId)
    {
        if (traceId.IsEmpty)
        {
            throw new ArgumentException("Filter on a trace id that is not empty.", nameof(traceId));
        }

        return TraceProtoDecoder.DecodeTraceRequest(data, traceId);
    }

    /// <summary>Exact number of bytes <see cref="Encode(TraceRequest)"/> produces.</summary>
    /// <exception cref="ArgumentException">Attribute values nest deeper than the codec limit.</exception>
    public static int GetEncodedSize(TraceRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        return TraceProtoEncoder.GetEncodedSize(request);
    }

    /// <summary>Encodes into <paramref name="destination"/> and returns the number of bytes written.</summary>
    /// <exception cref="ArgumentException">The destination is too small, or attribute values nest deeper than the codec limit.</exception>
    public static int Encode(TraceRequest request, Span<byte> destination)
    {
        ArgumentNullException.ThrowIfNull(request);
        return TraceProtoEncoder.Encode(request, destination);
    }

    /// <summary>Encodes into a new array of exactly the encoded size.</summary>
    public static byte[] Encode(TraceRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        return TraceProtoEncoder.Encode(request);
    }

    /// <summary>Encodes into <paramref name="writer"/>: one <c>GetSpan</c> of an estimate (about 1.3 KB per span), and one more of the exact size only when the estimate falls short.</summary>
    public static void Encode(TraceRequest request, IBufferWriter<byte> writer)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(writer);
        TraceProtoEncoder.Encode(request, writer);
    }

    /// <summary>Decodes an <c>ExportTraceServiceResponse</c>; a present but empty partial_success yields a non-null, zero <see cref="ExportPartialSuccess"/>.</summary>
    /// <exception cref="OtlpDecodeException">The payload is malformed.</exception>
    public static TraceExportResponse DecodeExportResponse(ReadOnlySpan<byte> data) => TraceProtoDecoder.DecodeExportResponse(data);

    /// <summary>Encodes an <c>ExportTraceServiceResponse</c>; full success (no partial success) is the empty message.</summary>
    public static byte[] EncodeExportResponse(TraceExportResponse response)
    {
        ArgumentNullException.ThrowIfNull(response);
        return TraceProtoEncoder.EncodeExportResponse(response);
    }

    /// <summary>Encodes a <c>google.rpc.Status</c> with no details, as OTLP/HTTP error bodies carry.</summary>
    public static byte[] EncodeRpcStatus(int code, string message) => TraceProtoEncoder.EncodeRpcStatus(code, message ?? string.Empty);

    /// <summary>Decodes a <c>google.rpc.Status</c>; details are skipped.</summary>
    /// <exception cref="OtlpDecodeException">The payload is malformed.</exception>
    public static (int Code, string Message) DecodeRpcStatus(ReadOnlySpan<byte> data) => TraceProtoDecoder.DecodeRpcStatus(data);
}
