using BenchmarkDotNet.Attributes;
using Hush.Privacy.Detection;
using Hush.Privacy.Transforms;

namespace Hush.Benchmarks;

/// <summary>
/// <see cref="DetectorSet.Scan"/> with every built-in detector over 1,000 realistic attribute values: mostly clean
/// (routes, status codes, hostnames, ids, durations, user agents, SQL shapes), about 5% holding PII or secrets.
/// Values per second per core = 1,000 / mean. The scrub stage target (400,000 spans/s per core at ~20 values per
/// span) needs a clean short value well under 100 ns. Baseline: the same values through an empty set.
/// </summary>
[MemoryDiagnoser]
public class DetectorBenchmarks
{
    private const int ValueCount = 1000;

    private static readonly string[] Clean =
    [
        "GET", "POST", "200", "404", "503", "/api/v1/users/{id}", "/api/v1/orders/{orderId}/items", "/healthz",
        "checkout.svc.cluster.local", "payments-api-5f7c9d8b7-qwz4k", "us-east-1", "postgresql", "redis", "grpc",
        "SELECT * FROM orders WHERE id = ?", "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", "250ms", "1.5s",
        "v1.28.3", "2024-01-15T10:20:30.123Z", "checkout", "OrderService/PlaceOrder", "true", "8080", "http",
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
        "https://api.example.com/v2/search?q=shoes&page=3", "123e4567-e89b-12d3-a456-426614174000", "OK", "ERROR",
        "kafka.orders.created", "System.TimeoutException: The operation has timed out.", "1024", "en-US",
    ];

    private static readonly string[] Sensitive =
    [
        "jane.doe@example.com", "user 4111 1111 1111 1111 paid", "+1 (415) 555-2671", "203.0.113.77",
        "Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
        "https://api.example.com/cb?code=abc123&state=x", "postgres://app:hunter2@db:5432/orders", "123-45-6789",
        "AKIAIOSFODNN7EXAMPLE", "DE89 3704 0044 0532 0130 00",
    ];

    private readonly List<DetectorMatch> _matches = new(16);
    private string[] _values = null!;
    private DetectorSet _all = null!;
    private DetectorSet _none = null!;
    private string _cleanShort = null!;

    [GlobalSetup]
    public void Setup()
    {
        var random = new Random(42);
        _values = new string[ValueCount];
        for (int i = 0; i < ValueCount; i++)
        {
            // Fresh string instances, as the OTLP decoder produces them.
            string source = i % 20 == 0 ? Sensitive[random.Next(Sensitive.Length)] : Clean[random.Next(Clean.Length)];
            _values[i] = new string(source.AsSpan());
        }

        _all = new DetectorSet(BuiltInDetectors.CreateAll());
        _none = new DetectorSet([]);
        _cleanShort = new string("/api/v1/users/{id}".AsSpan());
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = ValueCount)]
    public int EmptySet() => ScanAll(_none);

    [Benchmark(OperationsPerInvoke = ValueCount)]
    public int AllBuiltIns_MixedValues() => ScanAll(_all);

    [Benchmark]
    public bool AllBuiltIns_CleanShortValue() => _all.Scan(_cleanShort, _matches);

    [Benchmark(OperationsPerInvoke = ValueCount)]
    public int ScanAndRedact_MixedValues()
    {
        int total = 0;
        foreach (string value in _values)
        {
            _all.Scan(value, _matches);
            total += _matches.Count == 0 ? value.Length : Redactor.RedactMatches(value, _matches).Length;
        }

        return total;
    }

    private int ScanAll(DetectorSet set)
    {
        int found = 0;
        foreach (string value in _values)
        {
            set.Scan(value, _matches);
            found += _matches.Count;
        }

        return found;
    }
}
