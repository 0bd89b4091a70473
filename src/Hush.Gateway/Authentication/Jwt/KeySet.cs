using System.Text.Json;
using Microsoft.IdentityModel.Tokens;

namespace Hush.Gateway.Authentication.Jwt;

/// <summary>
/// The public signature keys of one JWKS document, immutable, with the validation parameters that trust exactly
/// these keys. A new document makes a new set; cached validations made with an older set are not reused.
/// </summary>
internal sealed class KeySet
{
    private readonly HashSet<string> _kids;

    private KeySet(IList<SecurityKey> keys, TokenValidationParameters template)
    {
        _kids = new HashSet<string>(StringComparer.Ordinal);
        foreach (var key in keys)
        {
            if (key.KeyId is { Length: > 0 } kid)
            {
                _kids.Add(kid);
            }
        }

        Parameters = template.Clone();
        Parameters.IssuerSigningKeys = keys;
        Kids = string.Join(", ", _kids.Order(StringComparer.Ordinal));
        Count = keys.Count;
    }

    /// <summary>The template parameters with <see cref="TokenValidationParameters.IssuerSigningKeys"/> set to these keys.</summary>
    public TokenValidationParameters Parameters { get; }

    /// <summary>The key ids, sorted, for the log (key ids are public).</summary>
    public string Kids { get; }

    /// <summary>How many keys there are.</summary>
    public int Count { get; }

    /// <summary>True when a key has id <paramref name="kid"/> (ordinal: RFC 7517 key ids are case-sensitive).</summary>
    public bool Contains(string kid) => _kids.Contains(kid);

    /// <summary>
    /// Parses a JWKS document, keeping only RSA and EC signature keys. Throws <see cref="InvalidDataException"/> when
    /// the text is not a JWKS or holds no usable key.
    /// </summary>
    public static KeySet Parse(string json, TokenValidationParameters template)
    {
        JsonWebKeySet set;
        try
        {
            set = new JsonWebKeySet(json);
        }
        catch (Exception e) when (e is ArgumentException or JsonException)
        {
            throw new InvalidDataException("not a JWKS document", e);
        }

        // A symmetric ("oct") key in a published document is a secret anyone can read: never a verification key.
        for (var i = set.Keys.Count - 1; i >= 0; i--)
        {
            var key = set.Keys[i];
            if (key.Kty is not ("RSA" or "EC") || key.Use is { Length: > 0 } and not "sig")
            {
                set.Keys.RemoveAt(i);
            }
        }

        var keys = set.GetSigningKeys();
        if (keys.Count == 0)
        {
            throw new InvalidDataException("the JWKS document holds no RSA or EC signature key");
        }

        return new KeySet(keys, template);
    }
}
