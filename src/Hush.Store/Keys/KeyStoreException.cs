namespace Hush.Store;

/// <summary>
/// A key source or key ring is unusable: missing, unreadable, corrupt, or sealed under another
/// key-encryption key. The message names the file or variable and the reason, never key bytes.
/// </summary>
public sealed class KeyStoreException : Exception
{
    /// <summary>Creates the exception.</summary>
    public KeyStoreException()
    {
    }

    /// <summary>Creates the exception with a message that must not contain key material.</summary>
    public KeyStoreException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message that must not contain key material.</summary>
    public KeyStoreException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates the exception naming <paramref name="location"/> (a path or an environment variable).</summary>
    public KeyStoreException(string message, string location)
        : base(message) => Location = location;

    /// <summary>The file or environment variable at fault, when there is one.</summary>
    public string? Location { get; }
}
