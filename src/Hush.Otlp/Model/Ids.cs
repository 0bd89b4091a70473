using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;

namespace Hush.Otlp;

/// <summary>
/// A 16-byte W3C trace id. <see cref="Empty"/> (all zero) stands for an absent id; OTLP calls
/// an all-zero trace id invalid, and the codecs reject any length other than 0 or 16.
/// </summary>
public readonly struct TraceId : IEquatable<TraceId>
{
    /// <summary>Length of a trace id in bytes.</summary>
    public const int Length = 16;

    /// <summary>High 8 bytes, big-endian.</summary>
    public ulong High { get; }

    /// <summary>Low 8 bytes, big-endian.</summary>
    public ulong Low { get; }

    public TraceId(ulong high, ulong low)
    {
        High = high;
        Low = low;
    }

    public static TraceId Empty => default;

    public bool IsEmpty => High == 0 && Low == 0;

    /// <summary>Reads an id from exactly 16 bytes.</summary>
    public static TraceId FromBytes(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length != Length)
        {
            ThrowWrongLength(bytes.Length);
        }

        return new TraceId(BinaryPrimitives.ReadUInt64BigEndian(bytes), BinaryPrimitives.ReadUInt64BigEndian(bytes[8..]));
    }

    public void WriteTo(Span<byte> destination)
    {
        BinaryPrimitives.WriteUInt64BigEndian(destination, High);
        BinaryPrimitives.WriteUInt64BigEndian(destination[8..], Low);
    }

    public byte[] ToBytes()
    {
        var bytes = new byte[Length];
        WriteTo(bytes);
        return bytes;
    }

    /// <summary>Lower-case hex, 32 characters, as OTLP/JSON and Tempo print it.</summary>
    public override string ToString()
    {
        Span<byte> bytes = stackalloc byte[Length];
        WriteTo(bytes);
        return Convert.ToHexStringLower(bytes);
    }

    /// <summary>Parses 32 hex digits (either case). An empty string gives <see cref="Empty"/>.</summary>
    public static bool TryParse(ReadOnlySpan<char> hex, out TraceId id)
    {
        id = default;
        if (hex.IsEmpty)
        {
            return true;
        }

        if (hex.Length != Length * 2)
        {
            return false;
        }

        Span<byte> bytes = stackalloc byte[Length];
        if (Convert.FromHexString(hex, bytes, out _, out var written) != System.Buffers.OperationStatus.Done || written != Length)
        {
            return false;
        }

        id = FromBytes(bytes);
        return true;
    }

    public bool Equals(TraceId other) => High == other.High && Low == other.Low;

    public override bool Equals(object? obj) => obj is TraceId other && Equals(other);

    public override int GetHashCode() => HashCode.Combine(High, Low);

    public static bool operator ==(TraceId left, TraceId right) => left.Equals(right);

    public static bool operator !=(TraceId left, TraceId right) => !left.Equals(right);

    [DoesNotReturn]
    private static void ThrowWrongLength(int length) =>
        throw new ArgumentException($"A trace id is {Length} bytes, not {length}.");
}

/// <summary>
/// An 8-byte span id. <see cref="Empty"/> (all zero) stands for an absent id, such as the parent of a root span.
/// </summary>
public readonly struct SpanId : IEquatable<SpanId>
{
    /// <summary>Length of a span id in bytes.</summary>
    public const int Length = 8;

    /// <summary>The 8 bytes, big-endian.</summary>
    public ulong Value { get; }

    public SpanId(ulong value) => Value = value;

    public static SpanId Empty => default;

    public bool IsEmpty => Value == 0;

    /// <summary>Reads an id from exactly 8 bytes.</summary>
    public static SpanId FromBytes(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length != Length)
        {
            ThrowWrongLength(bytes.Length);
        }

        return new SpanId(BinaryPrimitives.ReadUInt64BigEndian(bytes));
    }

    public void WriteTo(Span<byte> destination) => BinaryPrimitives.WriteUInt64BigEndian(destination, Value);

    public byte[] ToBytes()
    {
        var bytes = new byte[Length];
        WriteTo(bytes);
        return bytes;
    }

    /// <summary>Lower-case hex, 16 characters.</summary>
    public override string ToString()
    {
        Span<byte> bytes = stackalloc byte[Length];
        WriteTo(bytes);
        return Convert.ToHexStringLower(bytes);
    }

    /// <summary>Parses 16 hex digits (either case). An empty string gives <see cref="Empty"/>.</summary>
    public static bool TryParse(ReadOnlySpan<char> hex, out SpanId id)
    {
        id = default;
        if (hex.IsEmpty)
        {
            return true;
        }

        if (hex.Length != Length * 2)
        {
            return false;
        }

        Span<byte> bytes = stackalloc byte[Length];
        if (Convert.FromHexString(hex, bytes, out _, out var written) != System.Buffers.OperationStatus.Done || written != Length)
        {
            return false;
        }

        id = FromBytes(bytes);
        return true;
    }

    public bool Equals(SpanId other) => Value == other.Value;

    public override bool Equals(object? obj) => obj is SpanId other && Equals(other);

    public override int GetHashCode() => Value.GetHashCode();

    public static bool operator ==(SpanId left, SpanId right) => left.Equals(right);

    public static bool operator !=(SpanId left, SpanId right) => !left.Equals(right);

    [DoesNotReturn]
    private static void ThrowWrongLength(int length) =>
        throw new ArgumentException($"A span id is {Length} bytes, not {length}.");
}
