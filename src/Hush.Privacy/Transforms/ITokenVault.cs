namespace Hush.Privacy.Transforms;

/// <summary>
/// Reversible tokenization: a value is replaced by an opaque random token, and only the vault can give it back
/// (resolution is an audited, privileged operation). Tokens are scoped to a tenant.
/// </summary>
public interface ITokenVault
{
    /// <summary>Returns the token of <paramref name="value"/>: stable per (tenant, data class, value), shaped "tok_...".</summary>
    string Tokenize(string tenant, string dataClass, string value);

    /// <summary>Looks a token up within <paramref name="tenant"/>; another tenant's token never resolves.</summary>
    bool TryResolve(string tenant, string token, out string? value);
}
