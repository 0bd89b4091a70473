namespace Hush.Privacy.Transforms;

/// <summary>Crockford base32 (<c>0123456789ABCDEFGHJKMNPQRSTVWXYZ</c>: no I, L, O, U, so ids read back unambiguously).</summary>
internal static class Base32
{
    public const string Alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

    /// <summary>Encodes the first <paramref name="chars"/> × 5 bits of <paramref name="bytes"/>, most significant first.</summary>
    public static void Encode(ReadOnlySpan<byte> bytes, Span<char> destination, int chars)
    {
        for (int c = 0; c < chars; c++)
        {
            int bit = c * 5;
            int index = bit >> 3;
            int offset = bit & 7;
            int word = bytes[index] << 8;
            if (index + 1 < bytes.Length)
            {
                word |= bytes[index + 1];
            }

            destination[c] = Alphabet[(word >> (11 - offset)) & 31];
        }
    }
}
