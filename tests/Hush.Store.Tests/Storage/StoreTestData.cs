using System.Buffers.Binary;
using Hush.Otlp;
using Microsoft.Data.Sqlite;

namespace Hush.Store.Tests.Storage;

/// <summary>A clock the test moves by hand, so retention is tested without sleeping.</summary>
internal sealed class ManualTimeProvider(DateTimeOffset start) : TimeProvider
{
    private DateTimeOffset _now = start;

    public override DateTimeOffset GetUtcNow() => _now;

    public void Advance(TimeSpan by) => _now += by;
}

/// <summary>Small, readable spans and requests for the store tests.</summary>
internal static class Spans
{
    /// <summary>2023-11-14T22:13:20Z in Unix nanoseconds: the time every test span starts from.</summary>
    public const ulong BaseNanos = 1_700_000_000_000_000_000UL;

    public const ulong Second = 1_000_000_000UL;

    public static TraceId Trace(int n) => new(0x5eed_0000_0000_0000UL, (ulong)n);

    public static SpanId Id(int n) => new((ulong)n);

    public static Span Span(int trace, int span, string name = "GET /orders", ulong startSeconds = 0, ulong durationNanos = 1_000_000, params KeyValue[] attributes) => new()
    {
        TraceId = Trace(trace),
        SpanId = Id(span),
        Name = name,
        Kind = SpanKind.Server,
        StartTimeUnixNano = BaseNanos + (startSeconds * Second),
        EndTimeUnixNano = BaseNanos + (startSeconds * Second) + durationNanos,
        Attributes = [.. attributes],
    };

    public static TraceRequest Request(string service, params IEnumerable<Span> spans) => Request([new KeyValue("service.name", AnyValue.Of(service))], spans);

    public static TraceRequest Request(List<KeyValue> resource, IEnumerable<Span> spans) => new()
    {
        ResourceSpans =
        [
            new ResourceSpans
            {
                Resource = new Resource { Attributes = resource },
                ScopeSpans = [new ScopeSpans { Scope = new InstrumentationScope { Name = "tests" }, Spans = [.. spans] }],
            },
        ],
    };

    public static TraceRequest Merge(params TraceRequest[] requests) => new() { ResourceSpans = [.. requests.SelectMany(r => r.ResourceSpans)] };

    public static IEnumerable<Span> All(TraceRequest request) => request.ResourceSpans.SelectMany(rs => rs.ScopeSpans).SelectMany(ss => ss.Spans);

    public static string? ServiceOf(ResourceSpans resource)
        => resource.Resource.Attributes.FirstOrDefault(kv => kv.Key == "service.name").Value.StringValue;

    public static async Task<List<TraceRequest>> CollectAsync(IAsyncEnumerable<TraceRequest> traces)
    {
        var list = new List<TraceRequest>();
        await foreach (var trace in traces)
        {
            list.Add(trace);
        }

        return list;
    }

    public static TraceId TraceIdOf(TraceRequest trace) => All(trace).First().TraceId;

    public static long LatestEnd(TraceRequest trace) => All(trace).Max(s => (long)Math.Max(s.EndTimeUnixNano, s.StartTimeUnixNano));
}

/// <summary>Reads and rewrites segment files the way an attacker or a crash would: frames of <c>length u32 BE | block</c> after a 16-byte header.</summary>
internal static class SegmentFiles
{
    public const int HeaderBytes = 16;

    public static string TenantDirectory(string dataDirectory, string tenant) => Path.Combine(dataDirectory, "tenants", tenant);

    public static string[] Paths(string dataDirectory, string tenant)
    {
        var directory = TenantDirectory(dataDirectory, tenant);
        return Directory.Exists(directory) ? [.. Directory.GetFiles(directory, "*.seg").Order(StringComparer.Ordinal)] : [];
    }

    public static (byte[] Header, List<byte[]> Blocks) Read(string path)
    {
        var bytes = File.ReadAllBytes(path);
        var blocks = new List<byte[]>();
        var at = HeaderBytes;
        while (bytes.Length - at >= 4)
        {
            var length = (int)BinaryPrimitives.ReadUInt32BigEndian(bytes.AsSpan(at));
            if (length == 0 || length > bytes.Length - at - 4)
            {
                break;
            }

            blocks.Add(bytes.AsSpan(at + 4, length).ToArray());
            at += 4 + length;
        }

        Assert.Equal(bytes.Length, at);
        return (bytes[..HeaderBytes], blocks);
    }

    public static void Write(string path, byte[] header, IEnumerable<byte[]> blocks)
    {
        using var output = new MemoryStream();
        output.Write(header);
        Span<byte> length = stackalloc byte[4];
        foreach (var block in blocks)
        {
            BinaryPrimitives.WriteUInt32BigEndian(length, (uint)block.Length);
            output.Write(length);
            output.Write(block);
        }

        File.WriteAllBytes(path, output.ToArray());
    }

    /// <summary>Every block of every segment of the tenant, zeroed (erased) ones left out.</summary>
    public static List<byte[]> LiveBlocks(string dataDirectory, string tenant)
        => [.. Paths(dataDirectory, tenant).SelectMany(p => Read(p).Blocks).Where(b => b.AsSpan().ContainsAnyExcept((byte)0))];

    public static BlockHeader Header(byte[] block)
    {
        Assert.True(BlockHeader.TryRead(block, out var header, out var error), error.ToString());
        return header;
    }
}

/// <summary>Direct edits of <c>index.db</c>, with the store closed.</summary>
internal static class IndexDatabase
{
    public static int Execute(string dataDirectory, string sql)
    {
        using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = Path.Combine(dataDirectory, "index.db"), Pooling = false }.ToString());
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        return command.ExecuteNonQuery();
    }

    public static T Scalar<T>(string dataDirectory, string sql)
    {
        using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = Path.Combine(dataDirectory, "index.db"), Pooling = false }.ToString());
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        return (T)command.ExecuteScalar()!;
    }
}
