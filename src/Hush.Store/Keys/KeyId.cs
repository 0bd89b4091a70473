using System.Buffers.Binary;
using System.Globalization;

namespace Hush.Store;

/// <summary>
/// Names one data key: 8 random bytes, stored big-endian in block headers and the key ring, printed as
/// 16 lowercase hex digits. Not secret; unique across every tenant of a key ring.
/// </summary>
public readonly record struct KeyId(ulong Value)
{
    /// <summary>Bytes a key id takes on disk.</summary>
    public const int Bytes = 8;

    /// <summary>Reads a key id from the first <see cref="Bytes"/> bytes of <paramref name="source"/>.</summary>
    public static KeyId Read(ReadOnlySpan<byte> source) => new(BinaryPrimitives.ReadUInt64BigEndian(source));

    /// <summary>Parses 16 hex digits, as <see cref="ToString"/> prints them.</summary>
    public static bool TryParse(string? text, out KeyId id)
    {
        if (text is { Length: 16 } && ulong.TryParse(text, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var value))
        {
            id = new KeyId(value);
            return true;
        }

        id = default;
        return false;
    }

    /// <summary>Writes the id big-endian into the first <see cref="Bytes"/> bytes of <paramref name="destination"/>.</summary>
    public void Write(Span<byte> destination) => BinaryPrimitives.WriteUInt64BigEndian(destination, Value);

    /// <summary>16 lowercase hex digits.</summary>
    public override string ToString() => Value.ToString("x16", CultureInfo.InvariantCulture);
}
