using System.Buffers.Binary;
using Hush.Cli.Commands;
using Hush.Otlp;
using Hush.Store;
using Hush.Store.Storage;

namespace Hush.Cli.Tests.Store;

/// <summary>
/// <c>hush store verify</c>: one line per tenant, exit 0 only when every tenant is intact; a damaged store names
/// the tenant, the finding kinds and the blocks, and exits 1. acme has blocks 1..3, beta block 1.
/// </summary>
public sealed class VerifyCommandTests : IDisposable
{
    private const string SpanName = "charge card for jane@example.com";
    private const int SegmentHeaderBytes = 16;

    private readonly StoreConfigDirectory _dir = new("hush-verify-");

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void RunVerify_IntactStore_Exit0AndOneIntactLinePerTenant()
    {
        Seed();

        var (code, output, error) = Verify();

        Assert.True(code == 0, output + error);
        Assert.Equal(["tenant acme: intact (3 blocks on disk, 3 live blocks, 4 spans)", "tenant beta: intact (1 blocks on disk, 1 live blocks, 1 spans)"], Lines(output));
        Assert.Empty(error);
    }

    [Fact]
    public void RunVerify_OneTenantAsked_OnlyThatTenant()
    {
        Seed();

        var (code, output, _) = Verify("beta");

        Assert.Equal(0, code);
        Assert.Equal(["tenant beta: intact (1 blocks on disk, 1 live blocks, 1 spans)"], Lines(output));
    }

    [Fact]
    public void RunVerify_ByteOfABlockChanged_Exit1TamperedNamingModifiedBlock()
    {
        Seed();
        RewriteAcmeSegment(blocks => blocks[1][^5] ^= 0x20);

        var (code, output, _) = Verify();

        Assert.Equal(1, code);
        Assert.Equal(["tenant acme: TAMPERED", "  - Modified block #1 (sequence 2)", "tenant beta: intact (1 blocks on disk, 1 live blocks, 1 spans)"], Lines(output));
        Assert.DoesNotContain("jane", output, StringComparison.Ordinal);
    }

    [Fact]
    public void RunVerify_BlockRemoved_Exit1TamperedNamingRemovedBlock()
    {
        Seed();
        RewriteAcmeSegment(blocks => blocks.RemoveAt(1));

        var (code, output, _) = Verify("acme");

        Assert.Equal(1, code);
        var lines = Lines(output);
        Assert.Equal("tenant acme: TAMPERED", lines[0]);
        Assert.Single(lines, l => l.StartsWith("  - Removed block #", StringComparison.Ordinal) && l.EndsWith("(sequence 2)", StringComparison.Ordinal));
        Assert.All(lines.Skip(1), l => Assert.StartsWith("  - ", l, StringComparison.Ordinal));
    }

    [Fact]
    public void RunVerify_EmptyStore_SaysItHoldsNoTenantAndExits0()
    {
        var (code, output, error) = Verify();

        Assert.True(code == 0, output + error);
        Assert.Equal(["the store holds no tenant yet"], Lines(output));
    }

    [Fact]
    public void RunVerify_GarbageConfig_Exit1WithAClearErrorAndNoStoreOpened()
    {
        File.WriteAllText(_dir.Config, "receivers: [otlp\n  exporters: {{{ \u0000\u00FF");

        var (code, output, error) = Verify();

        Assert.Equal(1, code);
        Assert.Empty(output);
        Assert.StartsWith($"hush: the config {_dir.Config} is invalid (", error, StringComparison.Ordinal);
        Assert.Contains("\n  - the config is not valid YAML at line 2", error, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.Combine(_dir.Path, TraceStore.TenantsDirectory)));
    }

    [Fact]
    public void RunVerify_InvalidConfig_Exit1ListingEveryErrorByKeyWithoutItsValue()
    {
        const string Planted = "s3cr3t-hunter2-value";
        File.WriteAllText(_dir.Config, $"""
            receivers:
              otlp:
                protocols:
                  http:
                    endpoint: {Planted}
            exporters:
              store: {"{"}kek_file: {Planted}{"}"}
            service:
              pipelines:
                traces:
                  receivers: [otlp]
                  exporters: [store]
            """);

        var (code, output, error) = Verify();

        Assert.Equal(1, code);
        Assert.Empty(output);
        Assert.Contains("(2 errors)", error, StringComparison.Ordinal);
        Assert.Contains("'receivers.otlp.protocols.http.endpoint'", error, StringComparison.Ordinal);
        Assert.Contains("'exporters.store.kek_file'", error, StringComparison.Ordinal);
        Assert.DoesNotContain(Planted, error, StringComparison.Ordinal);
    }

    private (int Code, string Output, string Error) Verify(string? tenant = null)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var code = StoreCommands.RunVerify(_dir.Config, tenant, output, error, new Dictionary<string, string?>());
        return (code, output.ToString(), error.ToString());
    }

    private static List<string> Lines(string text) => [.. text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.TrimEnd('\r'))];

    private void Seed()
    {
        using var kek = KeyEncryptionKey.Load(_dir.Path, null, _ => null, out _);
        using var store = TraceStore.Open(_dir.Path, kek);
        store.Append("acme", Request(1, 2));
        store.Append("acme", Request(3));
        store.Append("acme", Request(4));
        store.Append("beta", Request(1));
    }

    /// <summary>Rewrites acme's segment with its frames (<c>length u32 BE | block</c> after a 16-byte header) edited.</summary>
    private void RewriteAcmeSegment(Action<List<byte[]>> edit)
    {
        var path = Assert.Single(Directory.GetFiles(Path.Combine(_dir.Path, TraceStore.TenantsDirectory, "acme"), "*.seg"));
        var bytes = File.ReadAllBytes(path);
        var blocks = new List<byte[]>();
        for (var at = SegmentHeaderBytes; at < bytes.Length;)
        {
            var length = (int)BinaryPrimitives.ReadUInt32BigEndian(bytes.AsSpan(at));
            blocks.Add(bytes.AsSpan(at + 4, length).ToArray());
            at += 4 + length;
        }

        edit(blocks);
        using var file = File.Create(path);
        file.Write(bytes, 0, SegmentHeaderBytes);
        foreach (var block in blocks)
        {
            var length = new byte[4];
            BinaryPrimitives.WriteUInt32BigEndian(length, (uint)block.Length);
            file.Write(length);
            file.Write(block);
        }
    }

    private static TraceRequest Request(params ulong[] traces) => new()
    {
        ResourceSpans =
        [
            new ResourceSpans
            {
                Resource = new Resource { Attributes = [new KeyValue("service.name", AnyValue.Of("checkout"))] },
                ScopeSpans =
                [
                    new ScopeSpans
                    {
                        Spans = [.. traces.Select(t => new Span { TraceId = new TraceId(7, t), SpanId = new SpanId(t), Name = SpanName, StartTimeUnixNano = 1_700_000_000_000_000_000UL, EndTimeUnixNano = 1_700_000_000_000_001_000UL })],
                    },
                ],
            },
        ],
    };
}
