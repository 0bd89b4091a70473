using BenchmarkDotNet.Attributes;
using Hush.Cli.Loadgen;
using Hush.Otlp;
using Hush.Store;

namespace Hush.Benchmarks;

/// <summary>
/// The store's write path for one 512-span request: OTLP encode, Brotli, AES-256-GCM, the hash-chain link, and
/// (<see cref="StoreAppend"/>) the whole of it with the keyed index and the fsync. Two mixes: the
/// <see cref="OtlpCodecBenchmarks"/> request, where every span is a trace of its own and carries eight
/// high-cardinality values (the worst case for the trace index and the Bloom filters), and the traffic of
/// <c>hush loadgen</c> (<see cref="SpanMixGenerator"/>: traces of 3 to 10 spans over 5 services), already
/// scrubbed (no planted PII). The <c>PipelineBatch</c> rows append 8,192 spans at once, the batch the pipeline hands
/// the store in service, where one fsync, SQLite transaction and chain head serve 32 blocks. Spans per second per core
/// = spans per call / mean (512 or 8,192). Bytes per stored span (segment bytes, frames included) vs raw OTLP bytes
/// per span are printed at cleanup (BenchmarkDotNet's log). Shared 2-core machine: read Min.
/// </summary>
[MemoryDiagnoser]
[MinColumn]
[MedianColumn]
public class StoreWriteBenchmarks
{
    private const int SpanCount = 512;

    /// <summary>The pipeline's default <c>send_batch_size</c>: what one append carries in service.</summary>
    private const int PipelineBatchSpans = 8192;

    private TraceRequest _request = null!;
    private TraceRequest[] _traffic = null!;
    private TraceRequest _batch = null!;
    private TraceRequest[] _trafficBatches = null!;
    private int _next;
    private KeyMaterial _kek = null!;
    private DataKey _key = null!;
    private HashChain _chain = null!;
    private string _directory = null!;
    private KeyRing _ring = null!;
    private Hush.Store.Storage.TraceStore _store = null!;
    private string _storeDirectory = null!;
    private ulong _sequence;
    private Hush.Store.Storage.IndexKey _indexKey = null!;
    private TraceId[] _traceIds = null!;
    private byte[] _tokens = null!;

    [GlobalSetup]
    public void Setup()
    {
        _request = OtlpCodecBenchmarks.BuildRequest(SpanCount);
        var generator = new SpanMixGenerator(seed: 42, services: 5, piiRatio: 0);
        _traffic = [.. Enumerable.Range(0, 32).Select(_ => generator.NextRequest(SpanCount))];
        _batch = OtlpCodecBenchmarks.BuildRequest(PipelineBatchSpans);
        _trafficBatches = [.. Enumerable.Range(0, 4).Select(_ => generator.NextRequest(PipelineBatchSpans))];
        _directory = Path.Combine(Path.GetTempPath(), "hush-bench-" + Guid.NewGuid().ToString("N"));
        _kek = KeyMaterial.Copy(new byte[KeyMaterial.KeyBytes]);
        _ring = KeyRing.Open(_directory, _kek);
        _key = _ring.GetActiveKey("bench");
        _chain = new HashChain("bench", _kek);
        _storeDirectory = Path.Combine(Path.GetTempPath(), "hush-bench-store-" + Guid.NewGuid().ToString("N"));
        _store = Hush.Store.Storage.TraceStore.Open(_storeDirectory, _kek);
        _indexKey = new Hush.Store.Storage.IndexKey(_kek, "bench");
        _traceIds = [.. _request.ResourceSpans.SelectMany(rs => rs.ScopeSpans.SelectMany(ss => ss.Spans.Select(s => s.TraceId))).Distinct()];
        _tokens = new byte[_traceIds.Length * Hush.Store.Storage.IndexKey.TraceTokenBytes];
        var raw = OtlpProtobuf.GetEncodedSize(_request);
        var stored = BlockCodec.Encode(_request, _key, new BlockPosition("bench", 1, 0)).Length;
        Console.WriteLine($"// raw OTLP {raw} B = {(double)raw / SpanCount:F1} B/span; stored block {stored} B = {(double)stored / SpanCount:F1} B/span ({(double)raw / stored:F2}x smaller)");
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        if (_store.SpansWritten > 0)
        {
            var raw = OtlpProtobuf.GetEncodedSize(_traffic[0]);
            Console.WriteLine($"// stored {_store.BytesWritten} B for {_store.SpansWritten} spans = {(double)_store.BytesWritten / _store.SpansWritten:F1} B/span in blocks of <= 256 spans; raw OTLP of the traffic mix {(double)raw / SpanCount:F1} B/span");
        }

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

    /// <summary>The 512 trace tokens of the worst-case request as index version 1 wrote them: one HMAC-SHA256 call per trace.</summary>
    [Benchmark]
    public byte[] TraceTokensVersion1()
    {
        _indexKey.TraceTokens(_traceIds, 1, _tokens);
        return _tokens;
    }

    /// <summary>The same tokens as version 2 writes them: the ids' bytes, then one AES-256-ECB call over all of them.</summary>
    [Benchmark]
    public byte[] TraceTokensVersion2()
    {
        _indexKey.TraceTokens(_traceIds, 2, _tokens);
        return _tokens;
    }

    /// <summary>The whole write path of the store: pack, index stats and keyed Bloom filter, encode + compress + encrypt, append, fsync, chain, SQLite index.</summary>
    [Benchmark]
    public void StoreAppend() => _store.Append("bench", _request);

    /// <summary>The whole write path for a request of <c>hush loadgen</c>'s traffic (32 requests in turn, so trace ids vary).</summary>
    [Benchmark]
    public void StoreAppendTrafficMix() => _store.Append("traffic", _traffic[_next++ % _traffic.Length]);

    /// <summary><see cref="StoreAppend"/> with the pipeline's batch of 8,192 spans (per core = 8,192 / mean).</summary>
    [Benchmark]
    public void StoreAppendPipelineBatch() => _store.Append("bench", _batch);

    /// <summary><see cref="StoreAppendTrafficMix"/> with the pipeline's batch of 8,192 spans (4 requests in turn).</summary>
    [Benchmark]
    public void StoreAppendTrafficMixPipelineBatch() => _store.Append("traffic", _trafficBatches[_next++ % _trafficBatches.Length]);
}
