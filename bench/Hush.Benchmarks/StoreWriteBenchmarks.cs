using BenchmarkDotNet.Attributes;
using Hush.Otlp;
using Hush.Store;

namespace Hush.Benchmarks;

/// <summary>
/// The store's write path for one 512-span request (the <see cref="OtlpCodecBenchmarks"/> mix): OTLP encode,
/// Brotli, AES-256-GCM, then the hash-chain link. Spans per second per core = 512 / mean. Bytes per stored
/// span vs raw OTLP bytes per span are printed once at setup (BenchmarkDotNet's log). The index is not built
/// yet, so this is an upper bound for the 200,000 spans/s target. Shared 2-core machine: read Min.
/// </summary>
[MemoryDiagnoser]
[MinColumn]
[MedianColumn]
public class StoreWriteBenchmarks
{
    private const int SpanCount = 512;

    private TraceRequest _request = null!;
    private KeyMaterial _kek = null!;
    private DataKey _key = null!;
    private HashChain _chain = null!;
    private string _directory = null!;
    private KeyRing _ring = null!;
    private Hush.Store.Storage.TraceStore _store = null!;
    private string _storeDirectory = null!;
    private ulong _sequence;

    [GlobalSetup]
    public void Setup()
    {
        _request = OtlpCodecBenchmarks.BuildRequest(SpanCount);
        _directory = Path.Combine(Path.GetTempPath(), "hush-bench-" + Guid.NewGuid().ToString("N"));
        _kek = KeyMaterial.Copy(new byte[KeyMaterial.KeyBytes]);
        _ring = KeyRing.Open(_directory, _kek);
        _key = _ring.GetActiveKey("bench");
        _chain = new HashChain("bench", _kek);
        _storeDirectory = Path.Combine(Path.GetTempPath(), "hush-bench-store-" + Guid.NewGuid().ToString("N"));
        _store = Hush.Store.Storage.TraceStore.Open(_storeDirectory, _kek);
        var raw = OtlpProtobuf.GetEncodedSize(_request);
        var stored = BlockCodec.Encode(_request, _key, new BlockPosition("bench", 1, 0)).Length;
        Console.WriteLine($"// raw OTLP {raw} B = {(double)raw / SpanCount:F1} B/span; stored block {stored} B = {(double)stored / SpanCount:F1} B/span ({(double)raw / stored:F2}x smaller)");
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _store.Dispose();
        _ring.Dispose();
        _kek.Dispose();
        Directory.Delete(_directory, recursive: true);
        Directory.Delete(_storeDirectory, recursive: true);
    }

    /// <summary>OTLP encode alone: the floor the store adds to.</summary>
    [Benchmark(Baseline = true)]
    public byte[] OtlpEncode() => OtlpProtobuf.Encode(_request);

    /// <summary>Encode + compress + encrypt one block.</summary>
    [Benchmark]
    public byte[] EncodeBlock() => BlockCodec.Encode(_request, _key, new BlockPosition("bench", 1, ++_sequence));

    /// <summary>Encode + compress + encrypt + chain link.</summary>
    [Benchmark]
    public ChainEntry EncodeBlockAndChain() => _chain.Append(BlockCodec.Encode(_request, _key, new BlockPosition("bench", 1, ++_sequence)));

    /// <summary>The whole write path of the store: pack, index stats and keyed Bloom filter, encode + compress + encrypt, append, fsync, chain, SQLite index.</summary>
    [Benchmark]
    public void StoreAppend() => _store.Append("bench", _request);
}
