using System.Buffers;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace Hush.Otlp.Json;

/// <summary>
/// Writes OTLP/JSON: lowerCamelCase names, lower-case hex ids, enums as integers, 64-bit integers as
/// decimal strings, bytes as base64, non-finite doubles as "NaN"/"Infinity"/"-Infinity", and proto3
/// defaults omitted (except inside an AnyValue, where the set member is always written).
/// </summary>
internal static class TraceJsonEncoder
{
    /// <summary>Longest decimal form of a 64-bit integer: 20 digits or a sign and 19 digits.</summary>
    private const int MaxInt64Chars = 20;

    private static readonly JsonWriterOptions WriterOptions = new()
    {
        // OTLP/JSON is not embedded in HTML; keeping non-ASCII as UTF-8 keeps payloads small.
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        SkipValidation = true,
        Indented = false,
        MaxDepth = Implementation.CodecLimits.MaxJsonDepth,
    };

    public static byte[] Encode(TraceRequest request)
    {
        var buffer = new ArrayBufferWriter<byte>(4096);
        Encode(request, buffer);
        return buffer.WrittenSpan.ToArray();
    }

    public static void Encode(TraceRequest request, IBufferWriter<byte> output)
    {
        using var w = new Utf8JsonWriter(output, WriterOptions);
        w.WriteStartObject();
        if (request.ResourceSpans.Count > 0)
        {
            w.WriteStartArray("resourceSpans"u8);
            foreach (var rs in request.ResourceSpans)
            {
                WriteResourceSpans(w, rs);
            }

            w.WriteEndArray();
        }

        w.WriteEndObject();
    }

    private static void WriteResourceSpans(Utf8JsonWriter w, ResourceSpans rs)
    {
        w.WriteStartObject();
        var resource = rs.Resource;
        if (resource.Attributes.Count > 0 || resource.DroppedAttributesCount != 0)
        {
            w.WriteStartObject("resource"u8);
            WriteAttributes(w, resource.Attributes, 0);
            WriteCount(w, "droppedAttributesCount"u8, resource.DroppedAttributesCount);
            w.WriteEndObject();
        }

        if (rs.ScopeSpans.Count > 0)
        {
            w.WriteStartArray("scopeSpans"u8);
            foreach (var ss in rs.ScopeSpans)
            {
                WriteScopeSpans(w, ss);
            }

            w.WriteEndArray();
        }

        WriteNonEmpty(w, "schemaUrl"u8, rs.SchemaUrl);
        w.WriteEndObject();
    }

    private static void WriteScopeSpans(Utf8JsonWriter w, ScopeSpans ss)
    {
        w.WriteStartObject();
        var scope = ss.Scope;
        if (scope.Name.Length > 0 || scope.Version.Length > 0 || scope.Attributes.Count > 0 || scope.DroppedAttributesCount != 0)
        {
            w.WriteStartObject("scope"u8);
            WriteNonEmpty(w, "name"u8, scope.Name);
            WriteNonEmpty(w, "version"u8, scope.Version);
            WriteAttributes(w, scope.Attributes, 0);
            WriteCount(w, "droppedAttributesCount"u8, scope.DroppedAttributesCount);
            w.WriteEndObject();
        }

        if (ss.Spans.Count > 0)
        {
            w.WriteStartArray("spans"u8);
            foreach (var span in ss.Spans)
            {
                WriteSpan(w, span);
            }

            w.WriteEndArray();
        }

        WriteNonEmpty(w, "schemaUrl"u8, ss.SchemaUrl);
        w.WriteEndObject();
    }

    private static void WriteSpan(Utf8JsonWriter w, Span span)
    {
        w.WriteStartObject();
        WriteTraceId(w, span.TraceId);
        WriteSpanId(w, "spanId"u8, span.SpanId);
        WriteNonEmpty(w, "traceState"u8, span.TraceState);
        WriteSpanId(w, "parentSpanId"u8, span.ParentSpanId);
        WriteCount(w, "flags"u8, span.Flags);
        WriteNonEmpty(w, "name"u8, span.Name);
        if (span.Kind != 0)
        {
            w.WriteNumber("kind"u8, (int)span.Kind);
        }

        WriteUInt64String(w, "startTimeUnixNano"u8, span.StartTimeUnixNano);
        WriteUInt64String(w, "endTimeUnixNano"u8, span.EndTimeUnixNano);
        WriteAttributes(w, span.Attributes, 0);
        WriteCount(w, "droppedAttributesCount"u8, span.DroppedAttributesCount);
        if (span.Events.Count > 0)
        {
            w.WriteStartArray("events"u8);
            foreach (var ev in span.Events)
            {
                w.WriteStartObject();
                WriteUInt64String(w, "timeUnixNano"u8, ev.TimeUnixNano);
                WriteNonEmpty(w, "name"u8, ev.Name);
                WriteAttributes(w, ev.Attributes, 0);
                WriteCount(w, "droppedAttributesCount"u8, ev.DroppedAttributesCount);
                w.WriteEndObject();
            }

            w.WriteEndArray();
        }

        WriteCount(w, "droppedEventsCount"u8, span.DroppedEventsCount);
        if (span.Links.Count > 0)
        {
            w.WriteStartArray("links"u8);
            foreach (var link in span.Links)
            {
                w.WriteStartObject();
                WriteTraceId(w, link.TraceId);
                WriteSpanId(w, "spanId"u8, link.SpanId);
                WriteNonEmpty(w, "traceState"u8, link.TraceState);
                WriteAttributes(w, link.Attributes, 0);
                WriteCount(w, "droppedAttributesCount"u8, link.DroppedAttributesCount);
                WriteCount(w, "flags"u8, link.Flags);
                w.WriteEndObject();
            }

            w.WriteEndArray();
        }

        WriteCount(w, "droppedLinksCount"u8, span.DroppedLinksCount);
        var status = span.Status;
        if (status.Message.Length > 0 || status.Code != 0)
        {
            w.WriteStartObject("status"u8);
            WriteNonEmpty(w, "message"u8, status.Message);
            if (status.Code != 0)
            {
                w.WriteNumber("code"u8, (int)status.Code);
            }

            w.WriteEndObject();
        }

        w.WriteEndObject();
    }

    private static void WriteAttributes(Utf8JsonWriter w, List<KeyValue> attributes, int depth)
    {
        if (attributes.Count == 0)
        {
            return;
        }

        w.WriteStartArray("attributes"u8);
        foreach (var kv in attributes)
        {
            WriteKeyValue(w, kv, depth);
        }

        w.WriteEndArray();
    }

    private static void WriteKeyValue(Utf8JsonWriter w, in KeyValue kv, int depth)
    {
        w.WriteStartObject();
        w.WriteString("key"u8, kv.Key);
        w.WritePropertyName("value"u8);
        WriteAnyValue(w, kv.Value, depth);
        w.WriteEndObject();
    }

    private static void WriteAnyValue(Utf8JsonWriter w, in AnyValue value, int depth)
    {
        w.WriteStartObject();
        switch (value.Kind)
        {
            case AnyValueKind.String:
                w.WriteString("stringValue"u8, value.StringValue);
                break;
            case AnyValueKind.Bool:
                w.WriteBoolean("boolValue"u8, value.BoolValue);
                break;
            case AnyValueKind.Int:
                {
                    Span<byte> digits = stackalloc byte[MaxInt64Chars];
                    value.IntValue.TryFormat(digits, out var written, default, System.Globalization.CultureInfo.InvariantCulture);
                    w.WriteString("intValue"u8, digits[..written]);
                    break;
                }

            case AnyValueKind.Double:
                {
                    var d = value.DoubleValue;
                    if (double.IsFinite(d))
                    {
                        w.WriteNumber("doubleValue"u8, d);
                    }
                    else
                    {
                        w.WriteString("doubleValue"u8, double.IsNaN(d) ? "NaN"u8 : d > 0 ? "Infinity"u8 : "-Infinity"u8);
                    }

                    break;
                }

            case AnyValueKind.Bytes:
                w.WriteBase64String("bytesValue"u8, value.BytesValue);
                break;
            case AnyValueKind.Array:
                CheckDepth(depth);
                w.WriteStartObject("arrayValue"u8);
                w.WriteStartArray("values"u8);
                foreach (var element in value.ArrayValue!)
                {
                    WriteAnyValue(w, element, depth + 1);
                }

                w.WriteEndArray();
                w.WriteEndObject();
                break;
            case AnyValueKind.KeyValueList:
                CheckDepth(depth);
                w.WriteStartObject("kvlistValue"u8);
                w.WriteStartArray("values"u8);
                foreach (var kv in value.KeyValueListValue!)
                {
                    WriteKeyValue(w, kv, depth + 1);
                }

                w.WriteEndArray();
                w.WriteEndObject();
                break;
            default:
                break;
        }

        w.WriteEndObject();
    }

    private static void CheckDepth(int depth)
    {
        if (depth >= Implementation.CodecLimits.MaxAnyValueDepth)
        {
            throw new ArgumentException($"Attribute values nest deeper than {Implementation.CodecLimits.MaxAnyValueDepth} levels (or contain a cycle); OTLP receivers would reject them.");
        }
    }

    private static void WriteTraceId(Utf8JsonWriter w, TraceId id)
    {
        if (id.IsEmpty)
        {
            return;
        }

        Span<byte> bytes = stackalloc byte[TraceId.Length];
        Span<byte> hex = stackalloc byte[2 * TraceId.Length];
        id.WriteTo(bytes);
        ToHexLower(bytes, hex);
        w.WriteString("traceId"u8, hex);
    }

    private static void WriteSpanId(Utf8JsonWriter w, ReadOnlySpan<byte> name, SpanId id)
    {
        if (id.IsEmpty)
        {
            return;
        }

        Span<byte> bytes = stackalloc byte[SpanId.Length];
        Span<byte> hex = stackalloc byte[2 * SpanId.Length];
        id.WriteTo(bytes);
        ToHexLower(bytes, hex);
        w.WriteString(name, hex);
    }

    private static void ToHexLower(ReadOnlySpan<byte> bytes, Span<byte> utf8Hex)
    {
        ReadOnlySpan<byte> digits = "0123456789abcdef"u8;
        for (var i = 0; i < bytes.Length; i++)
        {
            utf8Hex[2 * i] = digits[bytes[i] >> 4];
            utf8Hex[(2 * i) + 1] = digits[bytes[i] & 0xF];
        }
    }

    private static void WriteUInt64String(Utf8JsonWriter w, ReadOnlySpan<byte> name, ulong value)
    {
        if (value == 0)
        {
            return;
        }

        Span<byte> digits = stackalloc byte[MaxInt64Chars];
        value.TryFormat(digits, out var written, default, System.Globalization.CultureInfo.InvariantCulture);
        w.WriteString(name, digits[..written]);
    }

    private static void WriteCount(Utf8JsonWriter w, ReadOnlySpan<byte> name, uint value)
    {
        if (value != 0)
        {
            w.WriteNumber(name, value);
        }
    }

    private static void WriteNonEmpty(Utf8JsonWriter w, ReadOnlySpan<byte> name, string value)
    {
        if (!string.IsNullOrEmpty(value))
        {
            w.WriteString(name, value);
        }
    }

    public static byte[] EncodeExportResponse(TraceExportResponse response)
    {
        var buffer = new ArrayBufferWriter<byte>(128);
        using (var w = new Utf8JsonWriter(buffer, WriterOptions))
        {
            w.WriteStartObject();
            if (response.PartialSuccess is { } partial)
            {
                w.WriteStartObject("partialSuccess"u8);
                if (partial.RejectedSpans != 0)
                {
                    Span<byte> digits = stackalloc byte[MaxInt64Chars];
                    partial.RejectedSpans.TryFormat(digits, out var written, default, System.Globalization.CultureInfo.InvariantCulture);
                    w.WriteString("rejectedSpans"u8, digits[..written]);
                }

                WriteNonEmpty(w, "errorMessage"u8, partial.ErrorMessage);
                w.WriteEndObject();
            }

            w.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }

    public static byte[] EncodeRpcStatus(int code, string message)
    {
        var buffer = new ArrayBufferWriter<byte>(128);
        using (var w = new Utf8JsonWriter(buffer, WriterOptions))
        {
            w.WriteStartObject();
            w.WriteNumber("code"u8, code);
            w.WriteString("message"u8, message);
            w.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }
}
