namespace Hush.Store.Vault;

/// <summary>
/// The token vault cannot do what was asked: its file is unreadable, corrupt, full, or was modified. The message
/// names the file and the reason; it never carries a value, a token's value or key material.
/// </summary>
public sealed class TokenVaultException : Exception
{
    /// <summary>Creates the exception.</summary>
    public TokenVaultException()
    {
    }

    /// <summary>Creates the exception with a message that must not contain a value or key material.</summary>
    public TokenVaultException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message that must not contain a value or key material.</summary>
    public TokenVaultException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
