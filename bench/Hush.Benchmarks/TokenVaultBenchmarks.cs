using BenchmarkDotNet.Attributes;
using Hush.Privacy.Transforms;
using Hush.Store;
using Hush.Store.Vault;

namespace Hush.Benchmarks;

/// <summary>
/// <see cref="TokenVault.Tokenize"/> on the ingest path: a repeated value (the cache: one HMAC, no I/O) against the
/// in-memory vault's dictionary lookup, and a new value (HMAC, subject key, AES-GCM, one SQLite WAL commit). Shared
/// 2-core machine: read Min.
/// </summary>
[MemoryDiagnoser]
[MinColumn]
[MedianColumn]
public class TokenVaultBenchmarks
{
    private KeyMaterial _kek = null!;
    private KeyRing _ring = null!;
    private TokenVault _vault = null!;
    private InMemoryTokenVault _memory = null!;
    private string _directory = null!;
    private long _next;

    [GlobalSetup]
    public void Setup()
    {
        _directory = Path.Combine(Path.GetTempPath(), "hush-bench-vault-" + Guid.NewGuid().ToString("N"));
        _kek = KeyMaterial.Copy(new byte[KeyMaterial.KeyBytes]);
        _ring = KeyRing.Open(_directory, _kek);
        _vault = TokenVault.Open(_directory, _ring);
        _memory = new InMemoryTokenVault();
        _vault.Tokenize("bench", "customer_id", "cust-000042");
        _memory.Tokenize("bench", "customer_id", "cust-000042");
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _vault.Dispose();
        _ring.Dispose();
        _kek.Dispose();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_directory, recursive: true);
    }

    /// <summary>A repeated value in the process-local vault: the floor.</summary>
    [Benchmark(Baseline = true)]
    public string InMemoryRepeated() => _memory.Tokenize("bench", "customer_id", "cust-000042");

    /// <summary>A repeated value in the durable vault: served by the cache.</summary>
    [Benchmark]
    public string DurableRepeated() => _vault.Tokenize("bench", "customer_id", "cust-000042");

    /// <summary>A value never seen before: a new subject and entry written to vault.db before the token returns.</summary>
    [Benchmark]
    public string DurableNew() => _vault.Tokenize("bench", "customer_id", "new-" + Interlocked.Increment(ref _next));
}
