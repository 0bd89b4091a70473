using System.Security.Cryptography;

namespace Hush.Store;

/// <summary>
/// 32 bytes of secret key material (a key-encryption key or a data key). The bytes never leave the
/// assembly: <see cref="ToString"/> prints <c>[REDACTED]</c> and <see cref="Dispose"/> zeroes them.
/// </summary>
public sealed class KeyMaterial : IDisposable
{
    /// <summary>Key length in bytes: AES-256 and HMAC-SHA256 both want 256 bits.</summary>
    public const int KeyBytes = 32;

    private readonly byte[] _bytes;
    private bool _disposed;

    private KeyMaterial(byte[] bytes) => _bytes = bytes;

    /// <summary>Copies <paramref name="bytes"/> into new key material.</summary>
    /// <exception cref="ArgumentException">The input is not <see cref="KeyBytes"/> long (the message gives only the length).</exception>
    public static KeyMaterial Copy(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length != KeyBytes)
        {
            throw new ArgumentException($"Key material must be {KeyBytes} bytes, not {bytes.Length}.", nameof(bytes));
        }

        return new KeyMaterial(bytes.ToArray());
    }

    /// <summary>Takes ownership of <paramref name="bytes"/> (already checked to be <see cref="KeyBytes"/> long).</summary>
    internal static KeyMaterial Own(byte[] bytes)
    {
        System.Diagnostics.Debug.Assert(bytes.Length == KeyBytes, "key length");
        return new KeyMaterial(bytes);
    }

    /// <summary>The secret bytes, for the store's own cryptography only.</summary>
    internal ReadOnlySpan<byte> Span
    {
        get
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            return _bytes;
        }
    }

    /// <summary>Zeroes the bytes; the instance is unusable afterwards.</summary>
    public void Dispose()
    {
        _disposed = true;
        CryptographicOperations.ZeroMemory(_bytes);
    }

    /// <summary>Never prints the key.</summary>
    public override string ToString() => "[REDACTED]";
}
