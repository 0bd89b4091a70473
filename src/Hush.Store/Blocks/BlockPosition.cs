namespace Hush.Store;

/// <summary>Where a block belongs: its tenant, segment and sequence number. All three are bound into its AES-GCM associated data.</summary>
/// <param name="Tenant">The owning tenant.</param>
/// <param name="Segment">The segment number within the tenant.</param>
/// <param name="Sequence">The block's sequence number within the tenant (monotonic across segments).</param>
public readonly record struct BlockPosition(string Tenant, ulong Segment, ulong Sequence);
