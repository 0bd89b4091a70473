using Hush.Otlp;
using Hush.Store;

namespace Hush.Store.Tests;

/// <summary>Deterministic randomness, so persisted formats can be frozen.</summary>
internal sealed class SeededRandomSource(int seed) : IRandomSource
{
    private readonly Random _random = new(seed);

    public void Fill(Span<byte> destination) => _random.NextBytes(destination);
}

internal sealed class FixedTimeProvider(DateTimeOffset now) : TimeProvider
{
    public override DateTimeOffset GetUtcNow() => now;
}

/// <summary>A temporary data directory, deleted on dispose.</summary>
internal sealed class TempDirectory : IDisposable
{
    public TempDirectory() => Directory.CreateDirectory(Path);

    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "hush-store-" + Guid.NewGuid().ToString("N"));

    public void Dispose() => Directory.Delete(Path, recursive: true);
}

internal static class TestData
{
    public static readonly DateTimeOffset Epoch = new(2026, 1, 2, 3, 4, 5, TimeSpan.Zero);

    public static KeyMaterial Kek(byte start = 1)
    {
        var bytes = new byte[32];
        for (var i = 0; i < bytes.Length; i++)
        {
            bytes[i] = (byte)(start + i);
        }

        return KeyMaterial.Copy(bytes);
    }

    public static string TestdataPath(string name) => Path.Combine(AppContext.BaseDirectory, "testdata", name);

    /// <summary>The source testdata directory, for regenerating a golden file under a new version.</summary>
    public static string SourceTestdataPath(string name, [System.Runtime.CompilerServices.CallerFilePath] string caller = "")
        => Path.Combine(Path.GetDirectoryName(Path.GetDirectoryName(caller)!)!, "testdata", name);

    public static TraceRequest Request(int spans, string service = "checkout")
    {
        var list = new List<Span>();
        for (var i = 0; i < spans; i++)
        {
            list.Add(new Span
            {
                TraceId = new TraceId(0x0102030405060708UL, (ulong)i + 1),
                SpanId = new SpanId((ulong)i + 100),
                Name = "GET /api/orders/{id}",
                Kind = SpanKind.Server,
                StartTimeUnixNano = 1_700_000_000_000_000_000UL + (ulong)i,
                EndTimeUnixNano = 1_700_000_000_000_500_000UL + (ulong)i,
                Attributes = [new("http.response.status_code", AnyValue.Of(200L)), new("http.route", AnyValue.Of("/api/orders/{id}"))],
            });
        }

        return new TraceRequest
        {
            ResourceSpans =
            [
                new ResourceSpans
                {
                    Resource = new Resource { Attributes = [new("service.name", AnyValue.Of(service))] },
                    ScopeSpans = [new ScopeSpans { Scope = new InstrumentationScope { Name = "test" }, Spans = list }],
                },
            ],
        };
    }
}
