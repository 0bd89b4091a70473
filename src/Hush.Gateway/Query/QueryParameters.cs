using System.Globalization;
using Hush.Gateway.Query.TraceQl;
using Hush.Otlp;
using Hush.Store.Reading;

namespace Hush.Gateway.Query;

/// <summary>A request parameter Hush cannot use; answered 400. The message names the parameter, never its value.</summary>
internal sealed class QueryParameterException(string message) : Exception(message)
{
}

/// <summary>Parsers for the Tempo API's request parameters. None echoes a value in its error.</summary>
internal static class QueryParameters
{
    /// <summary>Epoch seconds; Tempo's start and end. Null when absent.</summary>
    public static DateTimeOffset? EpochSeconds(string? text, string name)
    {
        if (string.IsNullOrEmpty(text))
        {
            return null;
        }

        if (!long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds) || seconds > 253_402_300_799)
        {
            throw new QueryParameterException($"'{name}' must be a time in epoch seconds");
        }

        return DateTimeOffset.FromUnixTimeSeconds(seconds);
    }

    /// <summary>A positive integer, capped at <paramref name="max"/>; <paramref name="fallback"/> when absent.</summary>
    public static int PositiveInt(string? text, string name, int fallback, int max)
    {
        if (string.IsNullOrEmpty(text))
        {
            return Math.Min(fallback, max);
        }

        if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value) || value < 1)
        {
            throw new QueryParameterException($"'{name}' must be a positive integer");
        }

        return Math.Min(value, max);
    }

    /// <summary>A Go-style duration (<c>100ms</c>, <c>1.5s</c>, <c>1m30s</c>) as nanoseconds; null when absent.</summary>
    public static ulong? Duration(string? text, string name)
    {
        if (string.IsNullOrEmpty(text))
        {
            return null;
        }

        if (text.Length > 64)
        {
            throw new QueryParameterException($"'{name}' must be a duration such as 100ms or 1.5s");
        }

        double total = 0;
        var i = 0;
        while (i < text.Length)
        {
            var start = i;
            while (i < text.Length && (char.IsAsciiDigit(text[i]) || text[i] == '.'))
            {
                i++;
            }

            var unitStart = i;
            while (i < text.Length && (char.IsAsciiLetter(text[i]) || text[i] == 'µ'))
            {
                i++;
            }

            if (unitStart == start || !double.TryParse(text.AsSpan(start, unitStart - start), NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var number))
            {
                throw new QueryParameterException($"'{name}' must be a duration such as 100ms or 1.5s");
            }

            total += number * (text[unitStart..i] switch
            {
                "ns" => 1,
                "us" or "µs" => 1e3,
                "ms" => 1e6,
                "s" => 1e9,
                "m" => 60e9,
                "h" => 3600e9,
                _ => throw new QueryParameterException($"'{name}' must be a duration such as 100ms or 1.5s (units ns, us, ms, s, m, h)"),
            });
        }

        return total >= ulong.MaxValue ? ulong.MaxValue : (ulong)total;
    }

    /// <summary>A trace id of 1 to 32 hex digits (Tempo left-pads shorter ones with zeros).</summary>
    public static bool TryParseTraceId(string? text, out TraceId id)
    {
        id = default;
        if (string.IsNullOrEmpty(text) || text.Length > 32)
        {
            return false;
        }

        foreach (var c in text)
        {
            if (!char.IsAsciiHexDigit(c))
            {
                return false;
            }
        }

        return TraceId.TryParse(text.PadLeft(32, '0'), out id) && !id.IsEmpty;
    }
}

/// <summary>
/// Tempo's legacy search: <c>tags</c> in logfmt (<c>service.name=checkout http.status_code=500</c>). Each tag must hold
/// on some span of the trace: <c>name</c> is the span name, <c>status</c> (or <c>error=true</c>) the status, anything
/// else a span or resource attribute compared as text.
/// </summary>
internal sealed class LegacyTags
{
    /// <summary>Tempo's legacy form rarely carries more than a handful.</summary>
    private const int MaxTags = 32;

    private LegacyTags(List<KeyValuePair<string, string>> tags) => Tags = tags;

    public IReadOnlyList<KeyValuePair<string, string>> Tags { get; }

    /// <summary>Only the span name and <c>service.name</c> are sound hints: other values are compared as text, the index holds strings.</summary>
    public IReadOnlyList<TermHint> Hints => [.. Tags
        .Where(t => t.Key is "name" or "service.name")
        .Select(t => t.Key == "name" ? new TermHint(TermKind.SpanName, string.Empty, t.Value) : new TermHint(TermKind.ServiceName, string.Empty, t.Value))];

    /// <summary>True when only service-level keys are used (what a viewer may filter on).</summary>
    public bool IsServiceLevel => Tags.All(t => t.Key is "name" or "service.name" or "status" or "error");

    public static LegacyTags Parse(string? text)
    {
        var tags = new List<KeyValuePair<string, string>>();
        text ??= string.Empty;
        if (text.Length > TraceQlLexer.MaxQueryChars)
        {
            throw new QueryParameterException("'tags' is too long");
        }

        var i = 0;
        while (i < text.Length)
        {
            if (char.IsWhiteSpace(text[i]))
            {
                i++;
                continue;
            }

            var keyStart = i;
            while (i < text.Length && text[i] != '=' && !char.IsWhiteSpace(text[i]) && text[i] != '"')
            {
                i++;
            }

            if (i == keyStart || i >= text.Length || text[i] != '=')
            {
                throw new QueryParameterException("'tags' must be logfmt: key=value pairs separated by spaces");
            }

            var key = text[keyStart..i];
            i++;
            string value;
            if (i < text.Length && text[i] == '"')
            {
                var builder = new System.Text.StringBuilder();
                i++;
                while (true)
                {
                    if (i >= text.Length)
                    {
                        throw new QueryParameterException("'tags' has a quoted value that is not closed");
                    }

                    var c = text[i++];
                    if (c == '"')
                    {
                        break;
                    }

                    if (c == '\\' && i < text.Length)
                    {
                        c = text[i++];
                    }

                    builder.Append(c);
                }

                value = builder.ToString();
            }
            else
            {
                var valueStart = i;
                while (i < text.Length && !char.IsWhiteSpace(text[i]))
                {
                    i++;
                }

                value = text[valueStart..i];
            }

            tags.Add(new(key, value));
            if (tags.Count > MaxTags)
            {
                throw new QueryParameterException($"'tags' holds more than {MaxTags} tags");
            }
        }

        return new LegacyTags(tags);
    }

    /// <summary>The spans that satisfy at least one tag, or null when some tag holds on no span (the trace does not match).</summary>
    public List<SpanRef>? Match(TraceView trace)
    {
        if (Tags.Count == 0)
        {
            return [.. trace.Spans];
        }

        var satisfied = new bool[Tags.Count];
        var spans = new List<SpanRef>();
        foreach (var span in trace.Spans)
        {
            var any = false;
            for (var t = 0; t < Tags.Count; t++)
            {
                if (Holds(Tags[t], span))
                {
                    satisfied[t] = true;
                    any = true;
                }
            }

            if (any)
            {
                spans.Add(span);
            }
        }

        return satisfied.All(s => s) ? spans : null;
    }

    private static bool Holds(KeyValuePair<string, string> tag, SpanRef span)
    {
        switch (tag.Key)
        {
            case "name":
                return span.Span.Name == tag.Value;
            case "status":
                return span.Span.Status.Code.ToString().Equals(tag.Value, StringComparison.OrdinalIgnoreCase);
            case "error" when tag.Value == "true":
                return span.Span.Status.Code == StatusCode.Error;
        }

        return (TraceView.TryGet(span.Span.Attributes, tag.Key, out var value) && Text(value) == tag.Value)
            || (TraceView.TryGet(span.Resource.Resource.Attributes, tag.Key, out value) && Text(value) == tag.Value);
    }

    /// <summary>A scalar as text (what legacy tag values are compared with); null for arrays, maps and bytes.</summary>
    public static string? Text(AnyValue value) => value.Kind switch
    {
        AnyValueKind.String => value.StringValue,
        AnyValueKind.Bool => value.BoolValue ? "true" : "false",
        AnyValueKind.Int => value.IntValue.ToString(CultureInfo.InvariantCulture),
        AnyValueKind.Double => value.DoubleValue.ToString("R", CultureInfo.InvariantCulture),
        _ => null,
    };
}
