namespace Hush.Store.Implementation;

/// <summary>
/// A test seam for the paths a full disk takes: armed, the next writes put half of their bytes down and then fail as
/// <c>write(2)</c> does with <c>ENOSPC</c>. Real disk-full conditions cannot be made without privileges (a small
/// mounted file system), so the store's and the journal's rollback is tested through this. Unarmed it costs one read.
/// </summary>
internal sealed class WriteFaults
{
    private const int NoSpaceLeftOnDevice = 28;

    private int _armed;

    /// <summary>Makes the next <paramref name="writes"/> writes fail.</summary>
    public void FailNext(int writes) => Volatile.Write(ref _armed, writes);

    /// <summary>Writes <paramref name="bytes"/> to <paramref name="file"/>, or half of them and throws when armed.</summary>
    public void Write(Stream file, ReadOnlySpan<byte> bytes)
    {
        if (Volatile.Read(ref _armed) > 0 && Interlocked.Decrement(ref _armed) >= 0)
        {
            file.Write(bytes[..(bytes.Length / 2)]);
            throw new IOException("No space left on device", NoSpaceLeftOnDevice);
        }

        file.Write(bytes);
    }
}
