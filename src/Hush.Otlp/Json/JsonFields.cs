using System.Text.Json;

namespace Hush.Otlp.Json;

/// <summary>Property-name matching: OTLP/JSON's lowerCamelCase, plus the proto snake_case names protobuf JSON parsers also accept.</summary>
internal static class JsonFields
{
    public static bool Is(ref readonly Utf8JsonReader reader, ReadOnlySpan<byte> camel) => reader.ValueTextEquals(camel);

    public static bool Is(ref readonly Utf8JsonReader reader, ReadOnlySpan<byte> camel, ReadOnlySpan<byte> snake) =>
        reader.ValueTextEquals(camel) || reader.ValueTextEquals(snake);
}
