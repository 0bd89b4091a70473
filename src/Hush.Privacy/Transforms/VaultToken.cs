using System.Security.Cryptography;

namespace Hush.Privacy.Transforms;

/// <summary>
/// The shape of a reversible token: <c>tok_</c> + 26 Crockford base32 characters carrying 128 random bits, so a
/// token says nothing about its value. Every <see cref="ITokenVault"/> issues tokens of this shape.
/// </summary>
public static class VaultToken
{
    /// <summary>What every token starts with.</summary>
    public const string Prefix = "tok_";

    /// <summary>The length of a token: the prefix and 26 base32 characters (130 bits, covering the 128 random bits).</summary>
    public const int Length = 30;

    private const int RandomBytes = 16;

    /// <summary>A new token from the operating system's CSPRNG.</summary>
    public static string New()
    {
        Span<byte> random = stackalloc byte[RandomBytes + 1];
        RandomNumberGenerator.Fill(random[..RandomBytes]);
        random[RandomBytes] = 0;
        Span<char> text = stackalloc char[Length];
        Prefix.CopyTo(text);
        Base32.Encode(random, text[Prefix.Length..], Length - Prefix.Length);
        return new string(text);
    }

    /// <summary>True when <paramref name="text"/> has a token's shape (not whether any vault holds it).</summary>
    public static bool IsWellFormed(string? text)
    {
        if (text is not { Length: Length } || !text.StartsWith(Prefix, StringComparison.Ordinal))
        {
            return false;
        }

        foreach (var c in text.AsSpan(Prefix.Length))
        {
            if (!Base32.Alphabet.Contains(c, StringComparison.Ordinal))
            {
                return false;
            }
        }

        return true;
    }
}
