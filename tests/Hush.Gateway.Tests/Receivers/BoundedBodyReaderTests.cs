using System.Diagnostics;
using System.IO.Compression;
using Hush.Gateway.Receivers;

namespace Hush.Gateway.Tests.Receivers;

public sealed class BoundedBodyReaderTests
{
    internal static byte[] Gzip(byte[] data)
    {
        using var output = new MemoryStream();
        using (var gz = new GZipStream(output, CompressionLevel.Fastest))
        {
            gz.Write(data);
        }

        return output.ToArray();
    }

    /// <summary>Gzip of <paramref name="zeros"/> zero bytes, written in chunks so the test holds no huge array.</summary>
    internal static byte[] GzipZeros(long zeros)
    {
        using var output = new MemoryStream();
        using (var gz = new GZipStream(output, CompressionLevel.SmallestSize))
        {
            var chunk = new byte[1 << 20];
            for (long done = 0; done < zeros; done += chunk.Length)
            {
                gz.Write(chunk, 0, (int)Math.Min(chunk.Length, zeros - done));
            }
        }

        return output.ToArray();
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(100_000)]
    [InlineData(1024)]
    public async Task ReadAsync_PlainUnderCap_ReturnsAllBytes(int size)
    {
        var data = new byte[size];
        new Random(size).NextBytes(data);

        var (status, body) = await BoundedBodyReader.ReadAsync(new MemoryStream(data), gzip: false, 1024 * 1024, null, default);

        using (body)
        {
            Assert.Equal(BodyReadStatus.Ok, status);
            Assert.Equal(data, body!.Span.ToArray());
        }
    }

    [Fact]
    public async Task ReadAsync_ExactlyAtCap_IsOkAndOneMoreIsTooLarge()
    {
        var (ok, body) = await BoundedBodyReader.ReadAsync(new MemoryStream(new byte[4096]), false, 4096, null, default);
        body?.Dispose();
        var (over, none) = await BoundedBodyReader.ReadAsync(new MemoryStream(new byte[4097]), false, 4096, null, default);

        Assert.Equal(BodyReadStatus.Ok, ok);
        Assert.Equal(BodyReadStatus.TooLarge, over);
        Assert.Null(none);
    }

    [Fact]
    public async Task ReadAsync_ContentLengthOverCap_RefusedWithoutReading()
    {
        var (status, _) = await BoundedBodyReader.ReadAsync(new MemoryStream(), false, 100, 101, default);

        Assert.Equal(BodyReadStatus.TooLarge, status);
    }

    [Fact]
    public async Task ReadAsync_Gzip_Decompresses()
    {
        var data = "hello hello hello"u8.ToArray();

        var (status, body) = await BoundedBodyReader.ReadAsync(new MemoryStream(Gzip(data)), true, 1000, null, default);

        using (body)
        {
            Assert.Equal(BodyReadStatus.Ok, status);
            Assert.Equal(data, body!.Span.ToArray());
        }
    }

    [Fact]
    public async Task ReadAsync_GzipBomb_RefusedQuicklyAtCap()
    {
        // 1 GiB of zeros compresses to about 1 MiB: it passes the compressed cap, then hits the decompressed one.
        var bomb = GzipZeros(1L << 30);
        Assert.True(bomb.Length < 4 << 20);
        var stopwatch = Stopwatch.StartNew();
        var before = GC.GetAllocatedBytesForCurrentThread();

        var (status, body) = await BoundedBodyReader.ReadAsync(new MemoryStream(bomb), true, 4 << 20, bomb.Length, default);

        Assert.Equal(BodyReadStatus.TooLarge, status);
        Assert.Null(body);
        Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(5), $"took {stopwatch.Elapsed}");
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 64 << 20);
    }

    [Fact]
    public async Task ReadAsync_CompressedBodyOverCap_IsTooLarge()
    {
        var random = new byte[10_000];
        new Random(1).NextBytes(random);

        var (status, _) = await BoundedBodyReader.ReadAsync(new MemoryStream(Gzip(random)), true, 5_000, null, default);

        Assert.Equal(BodyReadStatus.TooLarge, status);
    }

    [Theory]
    [InlineData(new byte[] { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 })]
    [InlineData(new byte[] { 0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff })]
    public async Task ReadAsync_NotGzip_IsBadCompression(byte[] garbage)
    {
        var (status, body) = await BoundedBodyReader.ReadAsync(new MemoryStream(garbage), true, 1000, null, default);

        Assert.Equal(BodyReadStatus.BadCompression, status);
        Assert.Null(body);
    }
}
