using System.Text;
using Hush.Otlp.Protobuf;

namespace Hush.Otlp;

/// <summary>
/// OTLP <c>ExportTraceServiceRequest</c> (field-compatible with <c>TracesData</c>): the unit a
/// receiver decodes and the pipeline carries. Mutable: processors edit it in place.
/// </summary>
/// <remarks>
/// A request can also be held in its <b>wire form</b> (<see cref="OtlpProtobuf.TryKeepWireForm"/>): the protobuf bytes
/// it arrived in, checked but not decoded. It is decoded, once, the first time anything reads
/// <see cref="ResourceSpans"/>; until then it can be counted, stamped (<see cref="StampResources"/>), merged with other
/// wire-form requests (<see cref="Append"/>) and encoded (a copy, with the stamps spliced in) without a single span
/// object. That is the whole cost of a request no stage needs to look into: a policy that provably changes nothing,
/// and exporters that forward bytes. Its buffers are given back by <see cref="ReleaseWireForm"/>.
/// </remarks>
public sealed class TraceRequest
{
    private List<ResourceSpans>? _resourceSpans;
    private WireForm? _wire;
    private List<IDisposable>? _owners;

    /// <summary>Who still needs the wire bytes: the pipeline, plus each exporter that keeps the request after its export returned.</summary>
    private int _holders = 1;

    public TraceRequest()
    {
    }

    private TraceRequest(WireForm wire, IDisposable? owner)
    {
        _wire = wire;
        if (owner is not null)
        {
            _owners = [owner];
        }
    }

    /// <summary>The request's resources; reading it decodes a request still in its wire form.</summary>
    /// <exception cref="InvalidOperationException">The request's wire bytes were released before it was decoded.</exception>
    public List<ResourceSpans> ResourceSpans
    {
        get => Volatile.Read(ref _wire) is null ? _resourceSpans ??= [] : Decode();
        set
        {
            _resourceSpans = value;
            Volatile.Write(ref _wire, null);
        }
    }

    /// <summary>True while the request is only its (checked) wire bytes: nothing has decoded it yet.</summary>
    public bool IsWireForm => Volatile.Read(ref _wire) is { IsReleased: false };

    /// <summary>
    /// For a request in wire form: the deepest nesting level at which an array or map attribute value starts (0 is a
    /// top-level attribute's value), or -1 when it has none. -1 for a decoded request.
    /// </summary>
    public int WireContainerDepth => Volatile.Read(ref _wire)?.ContainerDepth ?? -1;

    /// <summary>The wire form while there is one, for the encoder.</summary>
    internal WireForm? Wire
    {
        get
        {
            var wire = Volatile.Read(ref _wire);
            return wire is { IsReleased: true } ? throw WireReleased() : wire;
        }
    }

    internal static TraceRequest FromWire(ReadOnlyMemory<byte> bytes, IDisposable? owner, WireSummary summary) =>
        new(new WireForm(new WirePart(bytes, summary.SchemaUrls), summary.SpanCount, summary.ContainerDepth), owner);

    /// <summary>Counts the spans in the request.</summary>
    public int CountSpans()
    {
        if (Volatile.Read(ref _wire) is { } wire)
        {
            return wire.SpanCount;
        }

        var count = 0;
        foreach (var rs in ResourceSpans)
        {
            foreach (var ss in rs.ScopeSpans)
            {
                count += ss.Spans.Count;
            }
        }

        return count;
    }

    /// <summary>The distinct non-empty schema URLs of a request in wire form (empty for a decoded one).</summary>
    public IReadOnlyList<string> GetWireSchemaUrls()
    {
        if (Wire is not { } wire)
        {
            return [];
        }

        var urls = new List<string>();
        foreach (var part in wire.Parts)
        {
            foreach (var range in part.SchemaUrls)
            {
                var url = Encoding.UTF8.GetString(part.Bytes.Span[range]);
                if (!urls.Contains(url))
                {
                    urls.Add(url);
                }
            }
        }

        return urls;
    }

    /// <summary>Adds the string attribute <paramref name="key"/> = <paramref name="value"/> to every resource (last, after its own).</summary>
    public void StampResources(string key, string value)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(value);
        var attribute = new KeyValue(key, AnyValue.Of(value));
        if (Wire is { } wire)
        {
            foreach (var part in wire.Parts)
            {
                part.AddStamp(attribute);
            }

            return;
        }

        foreach (var rs in ResourceSpans)
        {
            rs.Resource.Attributes.Add(attribute);
        }
    }

    /// <summary>
    /// Moves the resources of <paramref name="other"/> to the end of this request (and its buffers, given back with
    /// this request's); <paramref name="other"/> is left empty. Two wire-form requests stay in wire form.
    /// </summary>
    public void Append(TraceRequest other)
    {
        ArgumentNullException.ThrowIfNull(other);
        if (Wire is { } mine && other.Wire is { } theirs)
        {
            mine.Parts.AddRange(theirs.Parts);
            mine.SpanCount += theirs.SpanCount;
            mine.ContainerDepth = Math.Max(mine.ContainerDepth, theirs.ContainerDepth);
        }
        else
        {
            ResourceSpans.AddRange(other.ResourceSpans);
        }

        if (Interlocked.Exchange(ref other._owners, null) is { } owners)
        {
            (_owners ??= []).AddRange(owners);
        }

        other.ResourceSpans = [];
    }

    /// <summary>
    /// Decodes a request still in wire form now, then clears and gives back its wire bytes at once: what the privacy
    /// stage does before a policy that may change values runs, so no raw value stays behind in a buffer.
    /// </summary>
    public void DecodeWireForm()
    {
        if (IsWireForm)
        {
            Decode();
        }

        ReleaseWireForm();
    }

    /// <summary>
    /// Adds a holder of the wire bytes: an exporter that keeps the request after its export returned (a queue) calls
    /// this before it returns and <see cref="ReleaseWireForm"/> once it no longer reads the request.
    /// </summary>
    public void RetainWireForm() => Interlocked.Increment(ref _holders);

    /// <summary>
    /// One holder is done with the wire form (the pipeline holds it from the start; see <see cref="RetainWireForm"/>).
    /// When the last one is, the buffers go back (cleared by their owners): a request decoded before keeps its spans,
    /// one still in wire form can no longer be read. Nothing to do for a request that never had a wire form.
    /// </summary>
    public void ReleaseWireForm()
    {
        if (Interlocked.Decrement(ref _holders) > 0)
        {
            return;
        }

        if (Volatile.Read(ref _wire) is { } wire)
        {
            wire.IsReleased = true;
        }

        if (Interlocked.Exchange(ref _owners, null) is { } owners)
        {
            foreach (var owner in owners)
            {
                owner.Dispose();
            }
        }
    }

    private static InvalidOperationException WireReleased() =>
        new("The request's wire bytes were released before it was decoded: it can no longer be read.");

    /// <summary>Decodes the wire form once (concurrent readers wait for the first); the bytes stay until released.</summary>
    private List<ResourceSpans> Decode()
    {
        var wire = Volatile.Read(ref _wire);
        if (wire is null)
        {
            return _resourceSpans ??= [];
        }

        lock (wire)
        {
            if (Volatile.Read(ref _wire) is null)
            {
                return _resourceSpans!;
            }

            if (wire.IsReleased)
            {
                throw WireReleased();
            }

            var resources = new List<ResourceSpans>();
            foreach (var part in wire.Parts)
            {
                var decoded = TraceProtoDecoder.DecodeTraceRequest(part.Bytes.Span).ResourceSpans;
                if (part.Stamps is { } stamps)
                {
                    foreach (var rs in decoded)
                    {
                        rs.Resource.Attributes.AddRange(stamps);
                    }
                }

                resources.AddRange(decoded);
            }

            _resourceSpans = resources;
            Volatile.Write(ref _wire, null);
            return resources;
        }
    }
}

/// <summary>A request's wire form: the checked protobuf of one or more requests, in order.</summary>
internal sealed class WireForm(WirePart first, int spanCount, int containerDepth)
{
    public List<WirePart> Parts { get; } = [first];

    public int SpanCount { get; set; } = spanCount;

    public int ContainerDepth { get; set; } = containerDepth;

    /// <summary>Set once the bytes were given back: reading them is then a bug.</summary>
    public bool IsReleased { get; set; }
}

/// <summary>The bytes of one received request, and the resource attributes stamped on it since.</summary>
internal sealed class WirePart(ReadOnlyMemory<byte> bytes, Range[] schemaUrls)
{
    public ReadOnlyMemory<byte> Bytes { get; } = bytes;

    /// <summary>Where its distinct schema URLs are in <see cref="Bytes"/>.</summary>
    public Range[] SchemaUrls { get; } = schemaUrls;

    private byte[]? _encodedStamps;

    /// <summary>Attributes added to every resource, in order (null: none).</summary>
    public List<KeyValue>? Stamps { get; private set; }

    /// <summary>
    /// <see cref="Stamps"/> as the entries of <c>Resource.attributes</c>, encoded once (every encoding of the part, and
    /// its size, splices the same bytes).
    /// </summary>
    public byte[] EncodedStamps => _encodedStamps ??= TraceProtoEncoder.EncodeAttributes(1, Stamps ?? []);

    public void AddStamp(KeyValue attribute)
    {
        (Stamps ??= []).Add(attribute);
        _encodedStamps = null;
    }
}
