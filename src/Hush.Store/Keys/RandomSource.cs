using System.Security.Cryptography;

namespace Hush.Store;

/// <summary>Where keys, key ids and nonces come from; tests inject a seeded one to freeze formats.</summary>
internal interface IRandomSource
{
    void Fill(Span<byte> destination);
}

/// <summary>The operating system's CSPRNG.</summary>
internal sealed class SystemRandomSource : IRandomSource
{
    public static readonly SystemRandomSource Instance = new();

    private SystemRandomSource()
    {
    }

    public void Fill(Span<byte> destination) => RandomNumberGenerator.Fill(destination);
}
