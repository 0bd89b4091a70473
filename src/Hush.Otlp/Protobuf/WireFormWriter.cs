namespace Hush.Otlp.Protobuf;

/// <summary>
/// Encodes a request still in wire form: its parts' bytes one after the other (a repeated field's entries concatenate,
/// so the parts of a merged batch are one valid request), each resource given its stamped attributes on the way. The
/// stamps go last into the resource's attribute list, where decoding the part and adding them would put them, and a
/// resource missing from a part is written with the stamps alone.
/// </summary>
internal static class WireFormWriter
{
    private const byte Field1 = (1 << 3) | (byte)WireType.LengthDelimited;

    public static int GetSize(WireForm wire)
    {
        var size = 0;
        foreach (var part in wire.Parts)
        {
            size += part.Stamps is null ? part.Bytes.Length : Splice(part.Bytes.Span, part.EncodedStamps, default, write: false);
        }

        return size;
    }

    /// <summary>Writes the request into <paramref name="destination"/> (at least <see cref="GetSize"/> bytes) and returns its size.</summary>
    public static int Write(WireForm wire, Span<byte> destination)
    {
        var written = 0;
        foreach (var part in wire.Parts)
        {
            var bytes = part.Bytes.Span;
            if (part.Stamps is not null)
            {
                written += Splice(bytes, part.EncodedStamps, destination[written..], write: true);
            }
            else
            {
                bytes.CopyTo(destination[written..]);
                written += bytes.Length;
            }
        }

        return written;
    }

    /// <summary>
    /// One part with <paramref name="stamp"/> appended to each resource (the scanner guarantees every top-level field is
    /// a ResourceSpans and each holds at most one resource). Measures only, unless <paramref name="write"/>.
    /// </summary>
    private static int Splice(ReadOnlySpan<byte> data, byte[] stamp, Span<byte> destination, bool write)
    {
        var written = 0;
        var pos = 0;
        while (pos < data.Length)
        {
            pos++; // the ResourceSpans tag
            var (start, end) = Body(data, ref pos);
            var (fieldStart, fieldEnd, resourceStart, resourceEnd) = FindResource(data, start, end);
            var resourceBody = resourceEnd - resourceStart + stamp.Length;
            var resourceField = 1 + ProtoSize.Varint((ulong)resourceBody) + resourceBody;
            var body = end - start - (fieldEnd - fieldStart) + resourceField;
            if (write)
            {
                var w = destination[written..];
                var at = 0;
                w[at++] = Field1;
                at += WriteVarint(w[at..], body);
                w[at++] = Field1;
                at += WriteVarint(w[at..], resourceBody);
                at += Copy(data[resourceStart..resourceEnd], w[at..]);
                at += Copy(stamp, w[at..]);
                at += Copy(data[start..fieldStart], w[at..]);
                Copy(data[fieldEnd..end], w[at..]);
            }

            written += 1 + ProtoSize.Varint((ulong)body) + body;
        }

        return written;
    }

    /// <summary>The resource field of one ResourceSpans body (tag to end, and its body); empty ranges at the start when it has none.</summary>
    private static (int FieldStart, int FieldEnd, int BodyStart, int BodyEnd) FindResource(ReadOnlySpan<byte> data, int start, int end)
    {
        var pos = start;
        while (pos < end)
        {
            var fieldStart = pos;
            var tag = data[pos++];
            var (bodyStart, bodyEnd) = Body(data, ref pos);
            if (tag == Field1)
            {
                return (fieldStart, bodyEnd, bodyStart, bodyEnd);
            }
        }

        return (start, start, start, start);
    }

    private static (int Start, int End) Body(ReadOnlySpan<byte> data, ref int pos)
    {
        ulong length = 0;
        for (var shift = 0; ; shift += 7)
        {
            var b = data[pos++];
            length |= (ulong)(b & 0x7F) << shift;
            if (b < 0x80)
            {
                break;
            }
        }

        var start = pos;
        pos += (int)length;
        return (start, pos);
    }

    private static int Copy(ReadOnlySpan<byte> source, Span<byte> destination)
    {
        source.CopyTo(destination);
        return source.Length;
    }

    private static int WriteVarint(Span<byte> destination, int value)
    {
        var v = (uint)value;
        var i = 0;
        while (v >= 0x80)
        {
            destination[i++] = (byte)(v | 0x80);
            v >>= 7;
        }

        destination[i++] = (byte)v;
        return i;
    }
}
