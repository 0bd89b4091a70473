namespace Hush.Store;

/// <summary>One tenant's data key (DEK): encrypts that tenant's blocks. Its bytes stay inside the store.</summary>
public sealed class DataKey
{
    internal DataKey(KeyId id, string tenant, DateTimeOffset createdAt, KeyMaterial material)
    {
        Id = id;
        Tenant = tenant;
        CreatedAt = createdAt;
        Material = material;
    }

    /// <summary>The id block headers carry.</summary>
    public KeyId Id { get; }

    /// <summary>The tenant the key belongs to.</summary>
    public string Tenant { get; }

    /// <summary>When the key was created (whole milliseconds).</summary>
    public DateTimeOffset CreatedAt { get; }

    internal KeyMaterial Material { get; }

    /// <summary>Names the key, never prints it.</summary>
    public override string ToString() => $"DataKey({Id}, tenant {Tenant}, [REDACTED])";
}
