using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;

namespace Hush.Privacy;

/// <summary>Supplies the per-tenant HMAC key used for pseudonyms (at least 32 bytes).</summary>
public interface IPseudonymKeyProvider
{
    /// <summary>The key of <paramref name="tenant"/>; the same tenant always gets the same key.</summary>
    byte[] GetKey(string tenant);
}

/// <summary>
/// Derives each tenant's pseudonym key from one master secret with HKDF-SHA256
/// (info = <c>"hush/pseudonym/v1/" + tenant</c>), so tenants never share pseudonyms and no per-tenant
/// key needs storing. Keys are cached; the cache is bounded.
/// </summary>
public sealed class DerivedPseudonymKeyProvider : IPseudonymKeyProvider
{
    /// <summary>Minimum master secret length: 256 bits, the HMAC-SHA256 block security level.</summary>
    public const int MinMasterSecretBytes = 32;

    /// <summary>Derived key length in bytes.</summary>
    public const int KeyBytes = 32;

    /// <summary>Tenants whose derived key is cached (32 bytes each; derivation costs about a microsecond).</summary>
    private const int CacheCapacity = 10_000;

    private const string InfoPrefix = "hush/pseudonym/v1/";

    private readonly byte[] _master;
    private readonly ConcurrentDictionary<string, byte[]> _cache = new(StringComparer.Ordinal);

    /// <summary>Creates the provider over a copy of <paramref name="masterSecret"/>.</summary>
    /// <exception cref="ArgumentException">The secret is shorter than <see cref="MinMasterSecretBytes"/>.</exception>
    public DerivedPseudonymKeyProvider(byte[] masterSecret)
    {
        ArgumentNullException.ThrowIfNull(masterSecret);
        if (masterSecret.Length < MinMasterSecretBytes)
        {
            throw new ArgumentException($"The pseudonym master secret must be at least {MinMasterSecretBytes} bytes, not {masterSecret.Length}.", nameof(masterSecret));
        }

        _master = (byte[])masterSecret.Clone();
    }

    /// <inheritdoc/>
    public byte[] GetKey(string tenant)
    {
        ArgumentNullException.ThrowIfNull(tenant);
        if (_cache.TryGetValue(tenant, out var key))
        {
            return key;
        }

        key = HKDF.DeriveKey(HashAlgorithmName.SHA256, _master, KeyBytes, salt: [], info: Encoding.UTF8.GetBytes(InfoPrefix + tenant));
        if (_cache.Count < CacheCapacity)
        {
            _cache.TryAdd(tenant, key);
        }

        return key;
    }

    /// <summary>Never prints the secret.</summary>
    public override string ToString() => "DerivedPseudonymKeyProvider([REDACTED])";
}
