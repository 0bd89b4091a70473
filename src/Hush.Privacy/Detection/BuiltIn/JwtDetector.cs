using System.Buffers;
using System.Buffers.Text;
using System.Text.Json;

namespace Hush.Privacy.Detection.BuiltIn;

/// <summary>
/// JSON Web Tokens: three (or five, for JWE) base64url parts separated by dots, whose header part decodes to a JSON
/// object with an <c>"alg"</c> member. The whole token is the match.
/// </summary>
internal sealed class JwtDetector() : BuiltInDetector("jwt", "credential")
{
    /// <summary>Headers are tiny (typ, alg, kid, x5t); 2 Ki chars bounds the decode work per candidate.</summary>
    private const int MaxHeaderChars = 2048;

    public override Prefilter Prefilter { get; } = new(16, 0, CharFlags.Dot | CharFlags.Upper, CharFlags.None);

    protected override void FindCore(string text, TextView? view, List<DetectorMatch> matches)
    {
        int i = text.IndexOf("eyJ", StringComparison.Ordinal);
        while (i >= 0)
        {
            int next = i + 3;
            if (!Chars.IsBase64Url(Chars.Prev(text, i)))
            {
                int headerEnd = SkipPart(text, i);
                if (headerEnd < text.Length && text[headerEnd] == '.' && headerEnd - i <= MaxHeaderChars)
                {
                    int payloadEnd = SkipPart(text, headerEnd + 1);
                    if (payloadEnd > headerEnd + 1 && payloadEnd < text.Length && text[payloadEnd] == '.')
                    {
                        int end = SkipPart(text, payloadEnd + 1);
                        for (int extra = 0; extra < 2 && end + 1 < text.Length && text[end] == '.' && Chars.IsBase64Url(text[end + 1]); extra++)
                        {
                            end = SkipPart(text, end + 1);
                        }

                        if (HeaderHasAlg(text.AsSpan(i, headerEnd - i)))
                        {
                            Add(view, matches, i, end - i);
                            next = end;
                        }
                    }
                }
            }

            i = next < text.Length ? text.IndexOf("eyJ", next, StringComparison.Ordinal) : -1;
        }
    }

    private static int SkipPart(string s, int i)
    {
        while (i < s.Length && Chars.IsBase64Url(s[i]))
        {
            i++;
        }

        // Some encoders keep base64 padding.
        while (i < s.Length && s[i] == '=')
        {
            i++;
        }

        return i;
    }

    internal static bool HeaderHasAlg(ReadOnlySpan<char> header)
    {
        header = header.TrimEnd('=');
        byte[] rented = ArrayPool<byte>.Shared.Rent(Base64Url.GetMaxDecodedLength(header.Length));
        try
        {
            if (Base64Url.DecodeFromChars(header, rented, out _, out int written) != OperationStatus.Done)
            {
                return false;
            }

            var reader = new Utf8JsonReader(rented.AsSpan(0, written));
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return false;
            }

            while (reader.Read())
            {
                if (reader.TokenType == JsonTokenType.PropertyName && reader.CurrentDepth == 1 && reader.ValueTextEquals("alg"u8))
                {
                    return true;
                }

                if (reader.TokenType is JsonTokenType.StartObject or JsonTokenType.StartArray)
                {
                    reader.Skip();
                }
            }

            return false;
        }
        catch (JsonException)
        {
            return false;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented, clearArray: true);
        }
    }
}
