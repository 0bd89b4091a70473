using System.Buffers;
using System.IO.Compression;

namespace Hush.Gateway.Receivers;

/// <summary>How reading a request body ended.</summary>
internal enum BodyReadStatus
{
    Ok,

    /// <summary>The body (before or after decompression) is over the cap; reading stopped at the cap.</summary>
    TooLarge,

    /// <summary>The body is not valid gzip.</summary>
    BadCompression,
}

/// <summary>
/// Bytes in a buffer rented from <see cref="ArrayPool{T}.Shared"/>. Dispose clears the used part
/// before returning it: the buffer held telemetry.
/// </summary>
internal sealed class PooledBuffer : IDisposable
{
    private byte[]? _array;

    public PooledBuffer(int capacity)
    {
        _array = ArrayPool<byte>.Shared.Rent(Math.Max(capacity, 1));
    }

    public int Length { get; set; }

    public byte[] Array => _array ?? throw new ObjectDisposedException(nameof(PooledBuffer));

    public ReadOnlySpan<byte> Span => Array.AsSpan(0, Length);

    public ReadOnlyMemory<byte> Memory => Array.AsMemory(0, Length);

    /// <summary>Grows to at least <paramref name="capacity"/>, keeping the content.</summary>
    public void Grow(int capacity)
    {
        var old = Array;
        if (capacity <= old.Length)
        {
            return;
        }

        var bigger = ArrayPool<byte>.Shared.Rent(capacity);
        old.AsSpan(0, Length).CopyTo(bigger);
        old.AsSpan(0, Length).Clear();
        ArrayPool<byte>.Shared.Return(old);
        _array = bigger;
    }

    public void Dispose()
    {
        var array = _array;
        if (array is null)
        {
            return;
        }

        _array = null;
        array.AsSpan(0, Math.Min(Length, array.Length)).Clear();
        ArrayPool<byte>.Shared.Return(array);
    }
}

/// <summary>
/// Reads request bodies with a hard cap, decompressing gzip as a stream so that a small body that
/// expands to gigabytes (a gzip bomb) is stopped at the cap with bounded memory and time.
/// </summary>
internal static class BoundedBodyReader
{
    /// <summary>First buffer when the length is unknown: most OTLP requests are under 16 KiB.</summary>
    private const int InitialBufferBytes = 16 * 1024;

    /// <summary>
    /// Reads all of <paramref name="source"/>, gunzipping it when <paramref name="gzip"/>. The result
    /// buffer is null unless the status is <see cref="BodyReadStatus.Ok"/>; the caller disposes it.
    /// </summary>
    public static async ValueTask<(BodyReadStatus Status, PooledBuffer? Body)> ReadAsync(
        Stream source, bool gzip, int maxBytes, long? lengthHint, CancellationToken cancellationToken)
    {
        if (lengthHint > maxBytes)
        {
            return (BodyReadStatus.TooLarge, null);
        }

        if (!gzip)
        {
            return await ReadCappedAsync(source, maxBytes, (int)(lengthHint ?? InitialBufferBytes), cancellationToken);
        }

        // The compressed bytes are capped too: the limit holds before and after decompression.
        var capped = new CappedStream(source, maxBytes);
        try
        {
            await using var unzip = new GZipStream(capped, CompressionMode.Decompress, leaveOpen: true);
            var result = await ReadCappedAsync(unzip, maxBytes, (int)Math.Min(maxBytes, (lengthHint ?? InitialBufferBytes) * 4), cancellationToken);
            if (capped.Exceeded)
            {
                result.Body?.Dispose();
                return (BodyReadStatus.TooLarge, null);
            }

            return result;
        }
        catch (InvalidDataException)
        {
            return (capped.Exceeded ? BodyReadStatus.TooLarge : BodyReadStatus.BadCompression, null);
        }
    }

    private static async ValueTask<(BodyReadStatus Status, PooledBuffer? Body)> ReadCappedAsync(Stream source, int maxBytes, int firstSize, CancellationToken cancellationToken)
    {
        var buffer = new PooledBuffer(Math.Clamp(firstSize, 1, maxBytes) + 1);
        try
        {
            while (true)
            {
                if (buffer.Length == buffer.Array.Length)
                {
                    if (buffer.Length > maxBytes)
                    {
                        break;
                    }

                    buffer.Grow((int)Math.Min((long)buffer.Length * 2, (long)maxBytes + 1));
                }

                // Never read past maxBytes + 1: one byte over is proof enough, and memory stays bounded.
                var room = Math.Min(buffer.Array.Length, maxBytes + 1) - buffer.Length;
                var read = await source.ReadAsync(buffer.Array.AsMemory(buffer.Length, room), cancellationToken);
                if (read == 0)
                {
                    return (BodyReadStatus.Ok, buffer);
                }

                buffer.Length += read;
                if (buffer.Length > maxBytes)
                {
                    break;
                }
            }

            buffer.Dispose();
            return (BodyReadStatus.TooLarge, null);
        }
        catch
        {
            buffer.Dispose();
            throw;
        }
    }

    /// <summary>Passes reads through until <c>limit</c> bytes, then reports end of stream and sets <see cref="Exceeded"/>.</summary>
    private sealed class CappedStream(Stream inner, int limit) : ForwardReadStream
    {
        public bool Exceeded { get; private set; }

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (Exceeded)
            {
                return 0;
            }

            var room = (int)Math.Min(buffer.Length, limit + 1L - BytesRead);
            var read = await inner.ReadAsync(buffer[..room], cancellationToken);
            BytesRead += read;
            if (BytesRead > limit)
            {
                Exceeded = true;
                return 0;
            }

            return read;
        }
    }
}
