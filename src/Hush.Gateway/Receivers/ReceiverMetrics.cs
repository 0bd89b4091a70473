using Hush.Pipeline;

namespace Hush.Gateway.Receivers;

/// <summary>Why a receiver refused spans; the label values of <c>hush_receiver_spans_refused_total</c>.</summary>
internal enum RefusalReason
{
    DecodeError,
    TooLarge,
    UnsupportedMediaType,
    Throttled,
    Unavailable,
    Unauthenticated,
    PermissionDenied,
    Rejected,
}

/// <summary>
/// The receiver counters of one transport, resolved once so the request path only adds. Spans of a
/// request that could not be decoded cannot be counted: those refusals count the request in
/// <c>hush_receiver_requests_total{outcome}</c> and add 0 spans.
/// </summary>
internal sealed class ReceiverMetrics
{
    private readonly Counter[] _refused;
    private readonly Counter[] _refusedRequests;
    private readonly CounterFamily _requests;
    private readonly string _transport;

    public ReceiverMetrics(HushMetrics metrics, string transport)
    {
        _transport = transport;
        _requests = metrics.Counter("hush_receiver_requests_total", "Export requests received, by transport and outcome.", "transport", "outcome");
        Success = _requests.WithLabels(transport, "success");
        Partial = _requests.WithLabels(transport, "partial_success");
        SpansReceived = metrics.Counter("hush_receiver_spans_received_total", "Spans decoded from export requests.", "transport").WithLabels(transport);
        SpansUndecoded = metrics.Counter(
            "hush_receiver_spans_undecoded_total",
            "Spans of the above kept in wire form: checked, not decoded, because the policy changes nothing (a subset of received).",
            "transport").WithLabels(transport);
        RequestBytes = metrics.Counter("hush_receiver_request_bytes_total", "Request body bytes read, before decompression.", "transport").WithLabels(transport);
        var refused = metrics.Counter(
            "hush_receiver_spans_refused_total",
            "Spans refused by a receiver: decode_error, too_large, unsupported_media_type, throttled, unavailable, unauthenticated, permission_denied, rejected.",
            "transport",
            "reason");
        _refused =
        [
            refused.WithLabels(transport, "decode_error"),
            refused.WithLabels(transport, "too_large"),
            refused.WithLabels(transport, "unsupported_media_type"),
            refused.WithLabels(transport, "throttled"),
            refused.WithLabels(transport, "unavailable"),
            refused.WithLabels(transport, "unauthenticated"),
            refused.WithLabels(transport, "permission_denied"),
            refused.WithLabels(transport, "rejected"),
        ];

        // Throttling can be a hot path under overload: resolve every outcome once.
        _refusedRequests = new Counter[(int)RefusalReason.Rejected];
        for (var i = 0; i < _refusedRequests.Length; i++)
        {
            _refusedRequests[i] = _requests.WithLabels(transport, Label((RefusalReason)i));
        }
    }

    public Counter Success { get; }

    public Counter Partial { get; }

    public Counter SpansReceived { get; }

    public Counter SpansUndecoded { get; }

    public Counter RequestBytes { get; }

    /// <summary>Counts a refused request (outcome = the reason) and its spans when known.</summary>
    public void Refuse(RefusalReason reason, long spans = 0)
    {
        _refusedRequests[(int)reason].Add();
        _refused[(int)reason].Add(spans);
    }

    /// <summary>Counts spans the pipeline refused in an accepted request (the request counts as partial_success).</summary>
    public void Rejected(long spans) => _refused[(int)RefusalReason.Rejected].Add(spans);

    /// <summary>Counts a request refused for a reason that carries no spans (wrong method, unknown path).</summary>
    public void Outcome(string outcome) => _requests.WithLabels(_transport, outcome).Add();

    public static string Label(RefusalReason reason) => reason switch
    {
        RefusalReason.DecodeError => "decode_error",
        RefusalReason.TooLarge => "too_large",
        RefusalReason.UnsupportedMediaType => "unsupported_media_type",
        RefusalReason.Throttled => "throttled",
        RefusalReason.Unavailable => "unavailable",
        RefusalReason.Unauthenticated => "unauthenticated",
        RefusalReason.PermissionDenied => "permission_denied",
        _ => "rejected",
    };
}
