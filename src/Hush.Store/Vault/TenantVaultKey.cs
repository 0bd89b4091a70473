using System.Buffers;
using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;

namespace Hush.Store.Vault;

/// <summary>
/// One tenant's vault key, unwrapped: two subkeys derived from a random 256-bit root by HKDF-SHA256, a MAC key
/// (subject ids, lookups, token ids: keyed, so a stolen vault cannot test guesses) and a wrap key (subject keys).
/// The root itself lives on disk only sealed under the tenant's data key. Thread-safe.
/// </summary>
internal sealed class TenantVaultKey : IDisposable
{
    public const int MacBytes = HMACSHA256.HashSizeInBytes;

    /// <summary>MAC inputs up to this many bytes are built on the stack.</summary>
    private const int StackBytes = 512;

    private static readonly byte[] MacInfo = "hush/vault/mac/v1"u8.ToArray();
    private static readonly byte[] WrapInfo = "hush/vault/wrap/v1"u8.ToArray();

    private readonly byte[] _macKey = new byte[KeyMaterial.KeyBytes];
    private readonly byte[] _wrapKey = new byte[KeyMaterial.KeyBytes];

    /// <summary>Reusable HMAC contexts: setting the key up costs more than the MAC of a short value.</summary>
    private readonly ConcurrentBag<IncrementalHash> _contexts = [];

    public TenantVaultKey(ReadOnlySpan<byte> root)
    {
        HKDF.DeriveKey(HashAlgorithmName.SHA256, root, _macKey, salt: [], info: MacInfo);
        HKDF.DeriveKey(HashAlgorithmName.SHA256, root, _wrapKey, salt: [], info: WrapInfo);
    }

    /// <summary>Where the cache and the index find an issued token: MAC of (data class, exact value).</summary>
    public void Lookup(string dataClass, string value, Span<byte> mac) => Mac("L"u8, dataClass, value, mac);

    /// <summary>
    /// The subject a value belongs to, whatever its data class: MAC of the value trimmed, NFC-normalized and
    /// lower-cased, so "Jane@Example.com" as an email and "jane@example.com" as a user id are one subject and one
    /// erasure removes both (over-erasing two ids that differ only in case is the safe side).
    /// </summary>
    public void Subject(string value, Span<byte> mac) => Mac("S"u8, NormalizeSubject(value), null, mac);

    /// <summary>Where resolution finds a token's entry: MAC of the token.</summary>
    public void TokenId(string token, Span<byte> mac) => Mac("T"u8, token, null, mac);

    public byte[] WrapSubjectKey(ReadOnlySpan<byte> subjectKey, ReadOnlySpan<byte> associatedData) => VaultSeal.Seal(_wrapKey, subjectKey, associatedData);

    public byte[]? UnwrapSubjectKey(ReadOnlySpan<byte> sealedKey, ReadOnlySpan<byte> associatedData) => VaultSeal.Open(_wrapKey, sealedKey, associatedData);

    public static string NormalizeSubject(string value) => value.Trim().Normalize(NormalizationForm.FormC).ToLowerInvariant();

    public void Dispose()
    {
        CryptographicOperations.ZeroMemory(_macKey);
        CryptographicOperations.ZeroMemory(_wrapKey);
        while (_contexts.TryTake(out var context))
        {
            context.Dispose();
        }
    }

    public override string ToString() => "TenantVaultKey([REDACTED])";

    /// <summary>HMAC-SHA256 of <c>domain ‖ 0 ‖ first ‖ 0 ‖ second</c>; the buffer that held the value is cleared.</summary>
    private void Mac(ReadOnlySpan<byte> domain, string first, string? second, Span<byte> mac)
    {
        var total = domain.Length + 1 + Encoding.UTF8.GetByteCount(first) + (second is null ? 0 : 1 + Encoding.UTF8.GetByteCount(second));
        byte[]? rented = null;
        var input = total <= StackBytes ? stackalloc byte[StackBytes] : (rented = ArrayPool<byte>.Shared.Rent(total));
        input = input[..total];
        try
        {
            domain.CopyTo(input);
            var at = domain.Length;
            input[at++] = 0;
            at += Encoding.UTF8.GetBytes(first, input[at..]);
            if (second is not null)
            {
                input[at++] = 0;
                Encoding.UTF8.GetBytes(second, input[at..]);
            }

            var context = _contexts.TryTake(out var pooled) ? pooled : IncrementalHash.CreateHMAC(HashAlgorithmName.SHA256, _macKey);
            context.AppendData(input);
            context.GetHashAndReset(mac);
            _contexts.Add(context);
        }
        finally
        {
            input.Clear();
            if (rented is not null)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }
    }
}
