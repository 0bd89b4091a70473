namespace Hush.Gateway.Receivers;

/// <summary>
/// A forward-only stream that wraps a request body and is read asynchronously, a buffer at a time; everything else
/// (seeking, writing, synchronous reads) is unsupported. Subclasses implement the memory-based <c>ReadAsync</c>
/// and report how far they are through <see cref="BytesRead"/>.
/// </summary>
internal abstract class ForwardReadStream : Stream
{
    /// <summary>Bytes read from the wrapped stream so far.</summary>
    public long BytesRead { get; protected set; }

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => BytesRead; set => throw new NotSupportedException(); }

    public abstract override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default);

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException("read asynchronously");

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
