using System.Globalization;
using System.Text.Json;
using Hush.Gateway.Query.TraceQl;
using Hush.Otlp;

namespace Hush.Gateway.Query;

/// <summary>One trace of a search answer, with the spans that matched.</summary>
internal sealed record SearchHit(TraceView Trace, List<SpanRef> Matched);

/// <summary>
/// Writes Tempo's search response: <c>{"traces":[{traceID, rootServiceName, rootTraceName, startTimeUnixNano,
/// durationMs, spanSets, spanSet}], "metrics":{...}}</c>; 64-bit numbers as strings as in Tempo's protojson.
/// </summary>
internal static class SearchResponseWriter
{
    /// <summary>Nested attribute values deeper than this are cut: search shows a summary, trace by id the whole.</summary>
    private const int MaxValueDepth = 8;

    public static byte[] Write(IReadOnlyList<SearchHit> hits, int spansPerSpanSet, IReadOnlyList<TqlField> attributeFields, bool withAttributes, long inspectedTraces, long inspectedSpans)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteStartArray("traces");
            foreach (var hit in hits)
            {
                var trace = hit.Trace;
                json.WriteStartObject();
                json.WriteString("traceID", trace.TraceId.ToString());
                json.WriteString("rootServiceName", trace.RootServiceName);
                json.WriteString("rootTraceName", trace.RootName);
                json.WriteString("startTimeUnixNano", trace.StartUnixNano.ToString(CultureInfo.InvariantCulture));
                json.WriteNumber("durationMs", trace.DurationNanos / 1_000_000);
                json.WriteStartArray("spanSets");
                WriteSpanSet(json, hit, spansPerSpanSet, attributeFields, withAttributes);
                json.WriteEndArray();

                // Deprecated in Tempo but still read by older Grafana versions: the first spanset again.
                json.WritePropertyName("spanSet");
                WriteSpanSet(json, hit, spansPerSpanSet, attributeFields, withAttributes);
                json.WriteEndObject();
            }

            json.WriteEndArray();
            json.WriteStartObject("metrics");
            json.WriteNumber("inspectedTraces", inspectedTraces);
            json.WriteString("inspectedSpans", inspectedSpans.ToString(CultureInfo.InvariantCulture));
            json.WriteNumber("completedJobs", 1);
            json.WriteNumber("totalJobs", 1);
            json.WriteEndObject();
            json.WriteEndObject();
        }

        return buffer.ToArray();
    }

    private static void WriteSpanSet(Utf8JsonWriter json, SearchHit hit, int spansPerSpanSet, IReadOnlyList<TqlField> attributeFields, bool withAttributes)
    {
        json.WriteStartObject();
        json.WriteStartArray("spans");
        for (var i = 0; i < hit.Matched.Count && i < spansPerSpanSet; i++)
        {
            var span = hit.Matched[i];
            json.WriteStartObject();
            json.WriteString("spanID", span.Span.SpanId.ToString());
            json.WriteString("name", span.Span.Name);
            json.WriteString("startTimeUnixNano", span.Span.StartTimeUnixNano.ToString(CultureInfo.InvariantCulture));
            json.WriteString("durationNanos", span.DurationNanos.ToString(CultureInfo.InvariantCulture));
            if (withAttributes)
            {
                WriteMatchedAttributes(json, span, attributeFields);
            }

            json.WriteEndObject();
        }

        json.WriteEndArray();
        json.WriteNumber("matched", hit.Matched.Count);
        json.WriteEndObject();
    }

    /// <summary>The attributes the query compared, as Tempo returns them (omitted when there are none).</summary>
    private static void WriteMatchedAttributes(Utf8JsonWriter json, SpanRef span, IReadOnlyList<TqlField> fields)
    {
        var written = new HashSet<string>(StringComparer.Ordinal);
        var open = false;
        foreach (var field in fields)
        {
            if (field.Kind != TqlFieldKind.Attribute || written.Contains(field.Key))
            {
                continue;
            }

            AnyValue value = default;
            var found = (field.Scope != TqlScope.Resource && TraceView.TryGet(span.Span.Attributes, field.Key, out value))
                || (field.Scope != TqlScope.Span && TraceView.TryGet(span.Resource.Resource.Attributes, field.Key, out value));
            if (!found)
            {
                continue;
            }

            if (!open)
            {
                json.WriteStartArray("attributes");
                open = true;
            }

            written.Add(field.Key);
            json.WriteStartObject();
            json.WriteString("key", field.Key);
            json.WritePropertyName("value");
            WriteValue(json, value, 0);
            json.WriteEndObject();
        }

        if (open)
        {
            json.WriteEndArray();
        }
    }

    /// <summary>An OTLP JSON <c>AnyValue</c>: ints as strings, bytes as base64.</summary>
    public static void WriteValue(Utf8JsonWriter json, AnyValue value, int depth)
    {
        json.WriteStartObject();
        switch (value.Kind)
        {
            case AnyValueKind.String:
                json.WriteString("stringValue", value.StringValue);
                break;
            case AnyValueKind.Bool:
                json.WriteBoolean("boolValue", value.BoolValue);
                break;
            case AnyValueKind.Int:
                json.WriteString("intValue", value.IntValue.ToString(CultureInfo.InvariantCulture));
                break;
            case AnyValueKind.Double:
                if (double.IsFinite(value.DoubleValue))
                {
                    json.WriteNumber("doubleValue", value.DoubleValue);
                }
                else
                {
                    json.WriteString("doubleValue", double.IsNaN(value.DoubleValue) ? "NaN" : value.DoubleValue > 0 ? "Infinity" : "-Infinity");
                }

                break;
            case AnyValueKind.Bytes:
                json.WriteBase64String("bytesValue", value.BytesValue);
                break;
            case AnyValueKind.Array when depth < MaxValueDepth:
                json.WriteStartObject("arrayValue");
                json.WriteStartArray("values");
                foreach (var item in value.ArrayValue!)
                {
                    WriteValue(json, item, depth + 1);
                }

                json.WriteEndArray();
                json.WriteEndObject();
                break;
            case AnyValueKind.KeyValueList when depth < MaxValueDepth:
                json.WriteStartObject("kvlistValue");
                json.WriteStartArray("values");
                foreach (var item in value.KeyValueListValue!)
                {
                    json.WriteStartObject();
                    json.WriteString("key", item.Key);
                    json.WritePropertyName("value");
                    WriteValue(json, item.Value, depth + 1);
                    json.WriteEndObject();
                }

                json.WriteEndArray();
                json.WriteEndObject();
                break;
        }

        json.WriteEndObject();
    }
}
