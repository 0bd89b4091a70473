namespace Hush.Otlp;

/// <summary>OTLP <c>Span.SpanKind</c>. Values are the wire numbers.</summary>
public enum SpanKind
{
    Unspecified = 0,
    Internal = 1,
    Server = 2,
    Client = 3,
    Producer = 4,
    Consumer = 5,
}

/// <summary>OTLP <c>Status.StatusCode</c>. Values are the wire numbers.</summary>
public enum StatusCode
{
    Unset = 0,
    Ok = 1,
    Error = 2,
}

/// <summary>OTLP <c>ResourceSpans</c>.</summary>
public sealed class ResourceSpans
{
    public Resource Resource { get; set; } = new();

    public List<ScopeSpans> ScopeSpans { get; set; } = [];

    public string SchemaUrl { get; set; } = string.Empty;
}

/// <summary>OTLP <c>Resource</c>.</summary>
public sealed class Resource
{
    public List<KeyValue> Attributes { get; set; } = [];

    public uint DroppedAttributesCount { get; set; }
}

/// <summary>OTLP <c>ScopeSpans</c>.</summary>
public sealed class ScopeSpans
{
    public InstrumentationScope Scope { get; set; } = new();

    public List<Span> Spans { get; set; } = [];

    public string SchemaUrl { get; set; } = string.Empty;
}

/// <summary>OTLP <c>InstrumentationScope</c>.</summary>
public sealed class InstrumentationScope
{
    public string Name { get; set; } = string.Empty;

    public string Version { get; set; } = string.Empty;

    public List<KeyValue> Attributes { get; set; } = [];

    public uint DroppedAttributesCount { get; set; }
}

/// <summary>OTLP <c>Span</c>.</summary>
public sealed class Span
{
    public TraceId TraceId { get; set; }

    public SpanId SpanId { get; set; }

    public string TraceState { get; set; } = string.Empty;

    public SpanId ParentSpanId { get; set; }

    /// <summary>W3C trace flags in the low 8 bits; bits 8-9 carry the "parent is remote" flags.</summary>
    public uint Flags { get; set; }

    public string Name { get; set; } = string.Empty;

    public SpanKind Kind { get; set; }

    public ulong StartTimeUnixNano { get; set; }

    public ulong EndTimeUnixNano { get; set; }

    public List<KeyValue> Attributes { get; set; } = [];

    public uint DroppedAttributesCount { get; set; }

    public List<SpanEvent> Events { get; set; } = [];

    public uint DroppedEventsCount { get; set; }

    public List<SpanLink> Links { get; set; } = [];

    public uint DroppedLinksCount { get; set; }

    public SpanStatus Status { get; set; } = new();
}

/// <summary>OTLP <c>Span.Event</c>.</summary>
public sealed class SpanEvent
{
    public ulong TimeUnixNano { get; set; }

    public string Name { get; set; } = string.Empty;

    public List<KeyValue> Attributes { get; set; } = [];

    public uint DroppedAttributesCount { get; set; }
}

/// <summary>OTLP <c>Span.Link</c>.</summary>
public sealed class SpanLink
{
    public TraceId TraceId { get; set; }

    public SpanId SpanId { get; set; }

    public string TraceState { get; set; } = string.Empty;

    public List<KeyValue> Attributes { get; set; } = [];

    public uint DroppedAttributesCount { get; set; }

    public uint Flags { get; set; }
}

/// <summary>OTLP <c>Status</c>.</summary>
public sealed class SpanStatus
{
    public string Message { get; set; } = string.Empty;

    public StatusCode Code { get; set; }
}

/// <summary>OTLP <c>ExportTraceServiceResponse</c>: absent partial success means full success.</summary>
public sealed class TraceExportResponse
{
    public ExportPartialSuccess? PartialSuccess { get; set; }
}

/// <summary>OTLP <c>ExportTracePartialSuccess</c>.</summary>
public sealed class ExportPartialSuccess
{
    public long RejectedSpans { get; set; }

    public string ErrorMessage { get; set; } = string.Empty;
}
