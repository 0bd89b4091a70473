using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Hush.Otlp.Implementation;
using static Hush.Otlp.Json.JsonFields;

namespace Hush.Otlp.Json;

/// <summary>
/// Decodes OTLP/JSON with <see cref="Utf8JsonReader"/>: hex ids, enums as numbers or names, 64-bit
/// integers as strings or numbers, base64 bytes, NaN/Infinity as strings, null as absent, unknown
/// fields skipped. Errors name the message, the field and the byte offset, never the content.
/// </summary>
internal static class TraceJsonDecoder
{
    /// <summary>Longest escaped id string inspected: 32 hex digits, each possibly written as a 6-byte \u escape.</summary>
    private const int MaxIdTextBytes = 6 * 2 * TraceId.Length;

    /// <summary>Initial capacity of the per-thread attribute scratch list: above the ~20 attributes of a typical span.</summary>
    private const int ScratchCapacity = 64;

    [ThreadStatic]
    private static List<KeyValue>? _scratch;

    private static readonly byte[][] SpanKindNames =
    [
        "SPAN_KIND_UNSPECIFIED"u8.ToArray(),
        "SPAN_KIND_INTERNAL"u8.ToArray(),
        "SPAN_KIND_SERVER"u8.ToArray(),
        "SPAN_KIND_CLIENT"u8.ToArray(),
        "SPAN_KIND_PRODUCER"u8.ToArray(),
        "SPAN_KIND_CONSUMER"u8.ToArray(),
    ];

    private static readonly byte[][] StatusCodeNames =
    [
        "STATUS_CODE_UNSET"u8.ToArray(),
        "STATUS_CODE_OK"u8.ToArray(),
        "STATUS_CODE_ERROR"u8.ToArray(),
    ];

    private static readonly JsonReaderOptions ReaderOptions = new()
    {
        MaxDepth = CodecLimits.MaxJsonDepth,
        CommentHandling = JsonCommentHandling.Disallow,
        AllowTrailingCommas = false,
    };

    private delegate T RootReader<T>(ref Utf8JsonReader reader);

    public static TraceRequest DecodeTraceRequest(ReadOnlySpan<byte> json) => DecodeRoot(json, ReadRequest);

    public static TraceExportResponse DecodeExportResponse(ReadOnlySpan<byte> json) => DecodeRoot(json, ReadResponse);

    private static T DecodeRoot<T>(ReadOnlySpan<byte> json, RootReader<T> read)
    {
        // Tolerate a UTF-8 byte order mark, as JSON parsers commonly do (RFC 8259 section 8.1).
        if (json.StartsWith("\uFEFF"u8))
        {
            json = json[3..];
        }

        // RFC 8259 requires UTF-8 throughout; checking once up front (vectorized) also covers property
        // names and skipped values, which the reader never transcodes.
        if (!System.Text.Unicode.Utf8.IsValid(json))
        {
            var offset = FirstInvalidUtf8(json);
            throw new OtlpDecodeException($"Invalid OTLP JSON at byte offset {offset}: the document is not valid UTF-8.") { Offset = offset };
        }

        var reader = new Utf8JsonReader(json, ReaderOptions);
        try
        {
            if (!reader.Read())
            {
                throw Error(ref reader, "document", "is empty");
            }

            var result = read(ref reader);
            if (reader.Read())
            {
                throw Error(ref reader, "document", "has content after the top-level object");
            }

            return result;
        }
        catch (JsonException e)
        {
            // The reader's own message may quote payload characters, so only its position is kept.
            throw new OtlpDecodeException(
                $"Invalid OTLP JSON at line {(e.LineNumber ?? 0) + 1}, byte {(e.BytePositionInLine ?? 0) + 1} of that line: not well-formed JSON or nested deeper than {CodecLimits.MaxJsonDepth} levels.")
            { Offset = reader.BytesConsumed };
        }
        catch (InvalidOperationException)
        {
            // Raised by the reader when string content cannot be transcoded (invalid UTF-8).
            throw new OtlpDecodeException($"Invalid OTLP JSON near byte offset {reader.TokenStartIndex}: a string is not valid UTF-8.") { Offset = reader.TokenStartIndex };
        }
        catch (DecoderFallbackException)
        {
            throw new OtlpDecodeException($"Invalid OTLP JSON near byte offset {reader.TokenStartIndex}: a string is not valid UTF-8.") { Offset = reader.TokenStartIndex };
        }
    }

    private static int FirstInvalidUtf8(ReadOnlySpan<byte> data)
    {
        var offset = 0;
        while (offset < data.Length && Rune.DecodeFromUtf8(data[offset..], out _, out var consumed) == OperationStatus.Done)
        {
            offset += consumed;
        }

        return offset;
    }

    private static TraceRequest ReadRequest(ref Utf8JsonReader r)
    {
        var request = new TraceRequest();
        StartObject(ref r, "ExportTraceServiceRequest");
        while (NextProperty(ref r))
        {
            if (Is(ref r, "resourceSpans"u8, "resource_spans"u8))
            {
                if (StartArrayOrNull(ref r, "ExportTraceServiceRequest.resourceSpans"))
                {
                    while (NextElement(ref r))
                    {
                        if (r.TokenType != JsonTokenType.Null)
                        {
                            request.ResourceSpans.Add(ReadResourceSpans(ref r));
                        }
                    }
                }
            }
            else
            {
                r.Skip();
            }
        }

        return request;
    }

    private static ResourceSpans ReadResourceSpans(ref Utf8JsonReader r)
    {
        var rs = new ResourceSpans();
        StartObject(ref r, "ResourceSpans");
        while (NextProperty(ref r))
        {
            if (Is(ref r, "resource"u8))
            {
                if (StartObjectOrNull(ref r, "ResourceSpans.resource"))
                {
                    ReadResource(ref r, rs.Resource);
                }
            }
            else if (Is(ref r, "scopeSpans"u8, "scope_spans"u8))
            {
                if (StartArrayOrNull(ref r, "ResourceSpans.scopeSpans"))
                {
                    while (NextElement(ref r))
                    {
                        if (r.TokenType != JsonTokenType.Null)
                        {
                            rs.ScopeSpans.Add(ReadScopeSpans(ref r));
                        }
                    }
                }
            }
            else if (Is(ref r, "schemaUrl"u8, "schema_url"u8))
            {
                rs.SchemaUrl = ReadString(ref r, "ResourceSpans.schemaUrl");
            }
            else
            {
                r.Skip();
            }
        }

        return rs;
    }

    /// <summary>Reads the members of an object whose StartObject has been consumed.</summary>
    private static void ReadResource(ref Utf8JsonReader r, Resource resource)
    {
        while (NextProperty(ref r))
        {
            if (Is(ref r, "attributes"u8))
            {
                ReadAttributes(ref r, resource.Attributes, "Resource.attributes", 0);
            }
            else if (Is(ref r, "droppedAttributesCount"u8, "dropped_attributes_count"u8))
            {
                resource.DroppedAttributesCount = ReadUInt32(ref r, "Resource.droppedAttributesCount");
            }
            else
            {
                r.Skip();
            }
        }
    }

    private static ScopeSpans ReadScopeSpans(ref Utf8JsonReader r)
    {
        var ss = new ScopeSpans();
        StartObject(ref r, "ScopeSpans");
        while (NextProperty(ref r))
        {
            if (Is(ref r, "scope"u8))
            {
                if (StartObjectOrNull(ref r, "ScopeSpans.scope"))
                {
                    ReadScope(ref r, ss.Scope);
                }
            }
            else if (Is(ref r, "spans"u8))
            {
                if (StartArrayOrNull(ref r, "ScopeSpans.spans"))
                {
                    while (NextElement(ref r))
                    {
                        if (r.TokenType != JsonTokenType.Null)
                        {
                            ss.Spans.Add(ReadSpan(ref r));
                        }
                    }
                }
            }
            else if (Is(ref r, "schemaUrl"u8, "schema_url"u8))
            {
                ss.SchemaUrl = ReadString(ref r, "ScopeSpans.schemaUrl");
            }
            else
            {
                r.Skip();
            }
        }

        return ss;
    }

    private static void ReadScope(ref Utf8JsonReader r, InstrumentationScope scope)
    {
        while (NextProperty(ref r))
        {
            if (Is(ref r, "name"u8))
            {
                scope.Name = ReadString(ref r, "InstrumentationScope.name");
            }
            else if (Is(ref r, "version"u8))
            {
                scope.Version = ReadString(ref r, "InstrumentationScope.version");
            }
            else if (Is(ref r, "attributes"u8))
            {
                ReadAttributes(ref r, scope.Attributes, "InstrumentationScope.attributes", 0);
            }
            else if (Is(ref r, "droppedAttributesCount"u8, "dropped_attributes_count"u8))
            {
                scope.DroppedAttributesCount = ReadUInt32(ref r, "InstrumentationScope.droppedAttributesCount");
            }
            else
            {
                r.Skip();
            }
        }
    }

    private static Span ReadSpan(ref Utf8JsonReader r)
    {
        var span = new Span();
        StartObject(ref r, "Span");
        while (NextProperty(ref r))
        {
            if (Is(ref r, "traceId"u8, "trace_id"u8))
            {
                span.TraceId = ReadTraceId(ref r, "Span.traceId");
            }
            else if (Is(ref r, "spanId"u8, "span_id"u8))
            {
                span.SpanId = ReadSpanId(ref r, "Span.spanId");
            }
            else if (Is(ref r, "traceState"u8, "trace_state"u8))
            {
                span.TraceState = ReadString(ref r, "Span.traceState");
            }
            else if (Is(ref r, "parentSpanId"u8, "parent_span_id"u8))
            {
                span.ParentSpanId = ReadSpanId(ref r, "Span.parentSpanId");
            }
            else if (Is(ref r, "flags"u8))
            {
                span.Flags = ReadUInt32(ref r, "Span.flags");
            }
            else if (Is(ref r, "name"u8))
            {
                span.Name = ReadString(ref r, "Span.name");
            }
            else if (Is(ref r, "kind"u8))
            {
                span.Kind = (SpanKind)ReadEnum(ref r, "Span.kind", SpanKindNames);
            }
            else if (Is(ref r, "startTimeUnixNano"u8, "start_time_unix_nano"u8))
            {
                span.StartTimeUnixNano = ReadUInt64(ref r, "Span.startTimeUnixNano");
            }
            else if (Is(ref r, "endTimeUnixNano"u8, "end_time_unix_nano"u8))
            {
                span.EndTimeUnixNano = ReadUInt64(ref r, "Span.endTimeUnixNano");
            }
            else if (Is(ref r, "attributes"u8))
            {
                ReadAttributes(ref r, span.Attributes, "Span.attributes", 0);
            }
            else if (Is(ref r, "droppedAttributesCount"u8, "dropped_attributes_count"u8))
            {
                span.DroppedAttributesCount = ReadUInt32(ref r, "Span.droppedAttributesCount");
            }
            else if (Is(ref r, "events"u8))
            {
                if (StartArrayOrNull(ref r, "Span.events"))
                {
                    while (NextElement(ref r))
                    {
                        if (r.TokenType != JsonTokenType.Null)
                        {
                            span.Events.Add(ReadEvent(ref r));
                        }
                    }
                }
            }
            else if (Is(ref r, "droppedEventsCount"u8, "dropped_events_count"u8))
            {
                span.DroppedEventsCount = ReadUInt32(ref r, "Span.droppedEventsCount");
            }
            else if (Is(ref r, "links"u8))
            {
                if (StartArrayOrNull(ref r, "Span.links"))
                {
                    while (NextElement(ref r))
                    {
                        if (r.TokenType != JsonTokenType.Null)
                        {
                            span.Links.Add(ReadLink(ref r));
                        }
                    }
                }
            }
            else if (Is(ref r, "droppedLinksCount"u8, "dropped_links_count"u8))
            {
                span.DroppedLinksCount = ReadUInt32(ref r, "Span.droppedLinksCount");
            }
            else if (Is(ref r, "status"u8))
            {
                if (StartObjectOrNull(ref r, "Span.status"))
                {
                    ReadStatus(ref r, span.Status);
                }
            }
            else
            {
                r.Skip();
            }
        }

        return span;
    }

    private static SpanEvent ReadEvent(ref Utf8JsonReader r)
    {
        var ev = new SpanEvent();
        StartObject(ref r, "Span.Event");
        while (NextProperty(ref r))
        {
            if (Is(ref r, "timeUnixNano"u8, "time_unix_nano"u8))
            {
                ev.TimeUnixNano = ReadUInt64(ref r, "Span.Event.timeUnixNano");
            }
            else if (Is(ref r, "name"u8))
            {
                ev.Name = ReadString(ref r, "Span.Event.name");
            }
            else if (Is(ref r, "attributes"u8))
            {
                ReadAttributes(ref r, ev.Attributes, "Span.Event.attributes", 0);
            }
            else if (Is(ref r, "droppedAttributesCount"u8, "dropped_attributes_count"u8))
            {
                ev.DroppedAttributesCount = ReadUInt32(ref r, "Span.Event.droppedAttributesCount");
            }
            else
            {
                r.Skip();
            }
        }

        return ev;
    }

    private static SpanLink ReadLink(ref Utf8JsonReader r)
    {
        var link = new SpanLink();
        StartObject(ref r, "Span.Link");
        while (NextProperty(ref r))
        {
            if (Is(ref r, "traceId"u8, "trace_id"u8))
            {
                link.TraceId = ReadTraceId(ref r, "Span.Link.traceId");
            }
            else if (Is(ref r, "spanId"u8, "span_id"u8))
            {
                link.SpanId = ReadSpanId(ref r, "Span.Link.spanId");
            }
            else if (Is(ref r, "traceState"u8, "trace_state"u8))
            {
                link.TraceState = ReadString(ref r, "Span.Link.traceState");
            }
            else if (Is(ref r, "attributes"u8))
            {
                ReadAttributes(ref r, link.Attributes, "Span.Link.attributes", 0);
            }
            else if (Is(ref r, "droppedAttributesCount"u8, "dropped_attributes_count"u8))
            {
                link.DroppedAttributesCount = ReadUInt32(ref r, "Span.Link.droppedAttributesCount");
            }
            else if (Is(ref r, "flags"u8))
            {
                link.Flags = ReadUInt32(ref r, "Span.Link.flags");
            }
            else
            {
                r.Skip();
            }
        }

        return link;
    }

    private static void ReadStatus(ref Utf8JsonReader r, SpanStatus status)
    {
        while (NextProperty(ref r))
        {
            if (Is(ref r, "message"u8))
            {
                status.Message = ReadString(ref r, "Status.message");
            }
            else if (Is(ref r, "code"u8))
            {
                status.Code = (StatusCode)ReadEnum(ref r, "Status.code", StatusCodeNames);
            }
            else
            {
                r.Skip();
            }
        }
    }

    private static void ReadAttributes(ref Utf8JsonReader r, List<KeyValue> target, string field, int depth)
    {
        if (!StartArrayOrNull(ref r, field))
        {
            return;
        }

        if (depth > 0)
        {
            while (NextElement(ref r))
            {
                if (r.TokenType != JsonTokenType.Null)
                {
                    target.Add(ReadKeyValue(ref r, depth));
                }
            }

            return;
        }

        // Top-level lists collect into a reused scratch list first, so the model's list is sized once
        // instead of regrowing 4 times for a typical 20-attribute span. Nested maps (depth > 0) never
        // use the scratch, so the recursion cannot clobber it.
        var scratch = _scratch ??= new List<KeyValue>(ScratchCapacity);
        try
        {
            while (NextElement(ref r))
            {
                if (r.TokenType != JsonTokenType.Null)
                {
                    scratch.Add(ReadKeyValue(ref r, depth));
                }
            }

            target.AddRange(scratch);
        }
        finally
        {
            // Clear drops the references to decoded values; a list grown by a huge request is not kept.
            scratch.Clear();
            if (scratch.Capacity > ScratchCapacity * 16)
            {
                _scratch = null;
            }
        }
    }


    private static KeyValue ReadKeyValue(ref Utf8JsonReader r, int depth)
    {
        StartObject(ref r, "KeyValue");
        var key = string.Empty;
        var value = AnyValue.Empty;
        while (NextProperty(ref r))
        {
            if (Is(ref r, "key"u8))
            {
                r.Read();
                if (r.TokenType == JsonTokenType.String)
                {
                    key = r.ValueIsEscaped || r.HasValueSequence ? r.GetString()! : AttributeKeyCache.GetOrAdd(r.ValueSpan);
                }
                else if (r.TokenType != JsonTokenType.Null)
                {
                    throw Error(ref r, "KeyValue.key", "must be a string");
                }
            }
            else if (Is(ref r, "value"u8))
            {
                r.Read();
                if (r.TokenType != JsonTokenType.Null)
                {
                    value = ReadAnyValue(ref r, depth);
                }
            }
            else
            {
                r.Skip();
            }
        }

        return new KeyValue(key, value);
    }

    /// <summary>Reads an AnyValue object (the reader is on its StartObject); the last member present wins.</summary>
    private static AnyValue ReadAnyValue(ref Utf8JsonReader r, int depth)
    {
        if (r.TokenType != JsonTokenType.StartObject)
        {
            throw Error(ref r, "AnyValue", "must be an object");
        }

        var value = AnyValue.Empty;
        while (NextProperty(ref r))
        {
            if (Is(ref r, "stringValue"u8, "string_value"u8))
            {
                r.Read();
                if (r.TokenType != JsonTokenType.Null)
                {
                    value = AnyValue.Of(StringValue(ref r, "AnyValue.stringValue"));
                }
            }
            else if (Is(ref r, "boolValue"u8, "bool_value"u8))
            {
                r.Read();
                value = r.TokenType switch
                {
                    JsonTokenType.True => AnyValue.Of(true),
                    JsonTokenType.False => AnyValue.Of(false),
                    JsonTokenType.Null => value,
                    _ => throw Error(ref r, "AnyValue.boolValue", "must be true or false"),
                };
            }
            else if (Is(ref r, "intValue"u8, "int_value"u8))
            {
                r.Read();
                if (r.TokenType != JsonTokenType.Null)
                {
                    value = AnyValue.Of(Int64Value(ref r, "AnyValue.intValue"));
                }
            }
            else if (Is(ref r, "doubleValue"u8, "double_value"u8))
            {
                r.Read();
                if (r.TokenType != JsonTokenType.Null)
                {
                    value = AnyValue.Of(DoubleValue(ref r, "AnyValue.doubleValue"));
                }
            }
            else if (Is(ref r, "bytesValue"u8, "bytes_value"u8))
            {
                r.Read();
                if (r.TokenType != JsonTokenType.Null)
                {
                    value = AnyValue.Of(BytesValue(ref r, "AnyValue.bytesValue"));
                }
            }
            else if (Is(ref r, "arrayValue"u8, "array_value"u8))
            {
                CheckDepth(ref r, depth);
                if (StartObjectOrNull(ref r, "AnyValue.arrayValue"))
                {
                    var list = new List<AnyValue>();
                    while (NextProperty(ref r))
                    {
                        if (Is(ref r, "values"u8) && StartArrayOrNull(ref r, "ArrayValue.values"))
                        {
                            while (NextElement(ref r))
                            {
                                list.Add(r.TokenType == JsonTokenType.Null ? AnyValue.Empty : ReadAnyValue(ref r, depth + 1));
                            }
                        }
                        else
                        {
                            r.Skip();
                        }
                    }

                    value = AnyValue.Of(list);
                }
            }
            else if (Is(ref r, "kvlistValue"u8, "kvlist_value"u8))
            {
                CheckDepth(ref r, depth);
                if (StartObjectOrNull(ref r, "AnyValue.kvlistValue"))
                {
                    var list = new List<KeyValue>();
                    while (NextProperty(ref r))
                    {
                        if (Is(ref r, "values"u8))
                        {
                            ReadAttributes(ref r, list, "KeyValueList.values", depth + 1);
                        }
                        else
                        {
                            r.Skip();
                        }
                    }

                    value = AnyValue.Of(list);
                }
            }
            else
            {
                r.Skip();
            }
        }

        return value;
    }

    private static void CheckDepth(ref Utf8JsonReader r, int depth)
    {
        if (depth >= CodecLimits.MaxAnyValueDepth)
        {
            throw Error(ref r, "AnyValue", $"nests deeper than {CodecLimits.MaxAnyValueDepth} levels");
        }
    }

    private static TraceExportResponse ReadResponse(ref Utf8JsonReader r)
    {
        var response = new TraceExportResponse();
        StartObject(ref r, "ExportTraceServiceResponse");
        while (NextProperty(ref r))
        {
            if (Is(ref r, "partialSuccess"u8, "partial_success"u8))
            {
                if (StartObjectOrNull(ref r, "ExportTraceServiceResponse.partialSuccess"))
                {
                    var partial = response.PartialSuccess ??= new ExportPartialSuccess();
                    while (NextProperty(ref r))
                    {
                        if (Is(ref r, "rejectedSpans"u8, "rejected_spans"u8))
                        {
                            r.Read();
                            if (r.TokenType != JsonTokenType.Null)
                            {
                                partial.RejectedSpans = Int64Value(ref r, "ExportTracePartialSuccess.rejectedSpans");
                            }
                        }
                        else if (Is(ref r, "errorMessage"u8, "error_message"u8))
                        {
                            partial.ErrorMessage = ReadString(ref r, "ExportTracePartialSuccess.errorMessage");
                        }
                        else
                        {
                            r.Skip();
                        }
                    }
                }
            }
            else
            {
                r.Skip();
            }
        }

        return response;
    }

    // ---- structural helpers ----

    /// <summary>The reader is on a value that must be an object (the StartObject token).</summary>
    private static void StartObject(ref Utf8JsonReader r, string message)
    {
        if (r.TokenType != JsonTokenType.StartObject)
        {
            throw Error(ref r, message, "must be a JSON object");
        }
    }

    /// <summary>Moves to the property's value; true when it is an object, false when null.</summary>
    private static bool StartObjectOrNull(ref Utf8JsonReader r, string field)
    {
        r.Read();
        if (r.TokenType == JsonTokenType.Null)
        {
            return false;
        }

        StartObject(ref r, field);
        return true;
    }

    /// <summary>Moves to the property's value; true when it is an array, false when null.</summary>
    private static bool StartArrayOrNull(ref Utf8JsonReader r, string field)
    {
        r.Read();
        if (r.TokenType == JsonTokenType.Null)
        {
            return false;
        }

        if (r.TokenType != JsonTokenType.StartArray)
        {
            throw Error(ref r, field, "must be a JSON array");
        }

        return true;
    }

    /// <summary>Advances to the next property name of the current object; false at its end.</summary>
    private static bool NextProperty(ref Utf8JsonReader r)
    {
        r.Read();
        return r.TokenType != JsonTokenType.EndObject;
    }

    /// <summary>Advances to the next element of the current array; false at its end.</summary>
    private static bool NextElement(ref Utf8JsonReader r)
    {
        r.Read();
        return r.TokenType != JsonTokenType.EndArray;
    }

    // ---- scalar helpers: each moves from the property name to its value ----

    private static string ReadString(ref Utf8JsonReader r, string field)
    {
        r.Read();
        return r.TokenType == JsonTokenType.Null ? string.Empty : StringValue(ref r, field);
    }

    private static string StringValue(ref Utf8JsonReader r, string field)
    {
        if (r.TokenType != JsonTokenType.String)
        {
            throw Error(ref r, field, "must be a string");
        }

        return r.GetString()!;
    }

    private static uint ReadUInt32(ref Utf8JsonReader r, string field)
    {
        var value = ReadUInt64(ref r, field);
        if (value > uint.MaxValue)
        {
            throw Error(ref r, field, "does not fit in 32 bits");
        }

        return (uint)value;
    }

    private static ulong ReadUInt64(ref Utf8JsonReader r, string field)
    {
        r.Read();
        switch (r.TokenType)
        {
            case JsonTokenType.Null:
                return 0;
            case JsonTokenType.Number when r.TryGetUInt64(out var number):
                return number;
            case JsonTokenType.String:
                {
                    Span<char> buffer = stackalloc char[32];
                    if (TryCopyShortString(ref r, buffer, out var length)
                        && ulong.TryParse(buffer[..length], NumberStyles.None, CultureInfo.InvariantCulture, out var parsed))
                    {
                        return parsed;
                    }

                    break;
                }

            default:
                break;
        }

        throw Error(ref r, field, "must be a non-negative integer (a number or a decimal string)");
    }

    private static long Int64Value(ref Utf8JsonReader r, string field)
    {
        switch (r.TokenType)
        {
            case JsonTokenType.Number when r.TryGetInt64(out var number):
                return number;
            case JsonTokenType.String:
                {
                    Span<char> buffer = stackalloc char[32];
                    if (TryCopyShortString(ref r, buffer, out var length)
                        && long.TryParse(buffer[..length], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var parsed))
                    {
                        return parsed;
                    }

                    break;
                }

            default:
                break;
        }

        throw Error(ref r, field, "must be a 64-bit integer (a number or a decimal string)");
    }

    private static double DoubleValue(ref Utf8JsonReader r, string field)
    {
        switch (r.TokenType)
        {
            case JsonTokenType.Number when r.TryGetDouble(out var number):
                return number;
            case JsonTokenType.String:
                {
                    if (r.ValueTextEquals("NaN"u8))
                    {
                        return double.NaN;
                    }

                    if (r.ValueTextEquals("Infinity"u8))
                    {
                        return double.PositiveInfinity;
                    }

                    if (r.ValueTextEquals("-Infinity"u8))
                    {
                        return double.NegativeInfinity;
                    }

                    Span<char> buffer = stackalloc char[64];
                    if (TryCopyShortString(ref r, buffer, out var length)
                        && double.TryParse(buffer[..length], NumberStyles.Float, CultureInfo.InvariantCulture, out var parsed))
                    {
                        return parsed;
                    }

                    break;
                }

            default:
                break;
        }

        throw Error(ref r, field, "must be a number, a numeric string, \"NaN\", \"Infinity\" or \"-Infinity\"");
    }

    private static byte[] BytesValue(ref Utf8JsonReader r, string field)
    {
        if (r.TokenType != JsonTokenType.String)
        {
            throw Error(ref r, field, "must be a base64 string");
        }

        if (r.TryGetBytesFromBase64(out var bytes))
        {
            return bytes;
        }

        // Protobuf JSON also accepts the URL-safe alphabet and missing padding.
        var text = r.GetString()!;
        var normalized = new StringBuilder(text.Length + 3).Append(text).Replace('-', '+').Replace('_', '/');
        while (normalized.Length % 4 != 0)
        {
            normalized.Append('=');
        }

        var buffer = ArrayPool<byte>.Shared.Rent((normalized.Length / 4 * 3) + 3);
        try
        {
            if (Convert.TryFromBase64String(normalized.ToString(), buffer, out var written))
            {
                return buffer.AsSpan(0, written).ToArray();
            }
        }
        finally
        {
            // The buffer held an attribute value.
            ArrayPool<byte>.Shared.Return(buffer, clearArray: true);
        }

        throw Error(ref r, field, "is not valid base64");
    }

    private static int ReadEnum(ref Utf8JsonReader r, string field, byte[][] names)
    {
        r.Read();
        switch (r.TokenType)
        {
            case JsonTokenType.Null:
                return 0;
            case JsonTokenType.Number when r.TryGetInt32(out var number):
                return number;
            case JsonTokenType.String:
                {
                    for (var i = 0; i < names.Length; i++)
                    {
                        if (r.ValueTextEquals(names[i]))
                        {
                            return i;
                        }
                    }

                    Span<char> buffer = stackalloc char[16];
                    if (TryCopyShortString(ref r, buffer, out var length)
                        && int.TryParse(buffer[..length], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var parsed))
                    {
                        return parsed;
                    }

                    break;
                }

            default:
                break;
        }

        throw Error(ref r, field, "must be an enum number or name");
    }

    private static TraceId ReadTraceId(ref Utf8JsonReader r, string field)
    {
        Span<char> hex = stackalloc char[MaxIdTextBytes];
        var length = ReadIdText(ref r, field, hex);
        if (length != 0 && length != 2 * TraceId.Length)
        {
            throw Error(ref r, field, $"must be {2 * TraceId.Length} hex digits, not {length} characters");
        }

        if (!TraceId.TryParse(hex[..length], out var id))
        {
            throw Error(ref r, field, "is not hexadecimal");
        }

        return id;
    }

    private static SpanId ReadSpanId(ref Utf8JsonReader r, string field)
    {
        Span<char> hex = stackalloc char[MaxIdTextBytes];
        var length = ReadIdText(ref r, field, hex);
        if (length != 0 && length != 2 * SpanId.Length)
        {
            throw Error(ref r, field, $"must be {2 * SpanId.Length} hex digits, not {length} characters");
        }

        if (!SpanId.TryParse(hex[..length], out var id))
        {
            throw Error(ref r, field, "is not hexadecimal");
        }

        return id;
    }

    /// <summary>Copies an id string into <paramref name="buffer"/> and returns its length; null gives 0.</summary>
    private static int ReadIdText(ref Utf8JsonReader r, string field, scoped Span<char> buffer)
    {
        r.Read();
        if (r.TokenType == JsonTokenType.Null)
        {
            return 0;
        }

        if (r.TokenType != JsonTokenType.String)
        {
            throw Error(ref r, field, "must be a hex string");
        }

        if (!TryCopyShortString(ref r, buffer, out var length))
        {
            throw Error(ref r, field, $"is longer than {MaxIdTextBytes} bytes; ids are hex strings of 32 (trace) or 16 (span) digits");
        }

        return length;
    }

    /// <summary>Copies a short string token without allocating; false when it does not fit.</summary>
    private static bool TryCopyShortString(ref Utf8JsonReader r, scoped Span<char> buffer, out int length)
    {
        length = 0;
        var raw = r.HasValueSequence ? r.ValueSequence.Length : r.ValueSpan.Length;
        if (raw > buffer.Length)
        {
            return false;
        }

        length = r.CopyString(buffer);
        return true;
    }

    private static OtlpDecodeException Error(ref Utf8JsonReader r, string field, string what) =>
        new($"Invalid OTLP JSON in {field} at byte offset {r.TokenStartIndex}: {what}.") { Offset = r.TokenStartIndex };
}
