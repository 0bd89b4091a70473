namespace Hush.Store;

/// <summary>
/// One process at a time owns a data directory's store: <c>{data_dir}/store.lock</c>, held open exclusively
/// (an OS file lock) while <c>hush serve</c> runs or a <c>hush store|erase|keys</c> command works. A second
/// owner gets a clear error instead of two writers racing on the key ring and segments.
/// </summary>
public sealed class StoreLock : IDisposable
{
    public const string FileName = "store.lock";

    private readonly FileStream _file;

    private StoreLock(FileStream file) => _file = file;

    /// <exception cref="IOException">Another process holds the store (message says what to do).</exception>
    public static StoreLock Acquire(string dataDirectory)
    {
        Directory.CreateDirectory(dataDirectory);
        var path = Path.Combine(Path.GetFullPath(dataDirectory), FileName);
        try
        {
            var options = new FileStreamOptions { Mode = FileMode.OpenOrCreate, Access = FileAccess.ReadWrite, Share = FileShare.None };
            if (!OperatingSystem.IsWindows())
            {
                options.UnixCreateMode = OwnerOnlyFile.FileMode;
            }

            return new StoreLock(new FileStream(path, options));
        }
        catch (IOException ex)
        {
            throw new IOException($"the store in {Path.GetDirectoryName(path)} is in use by another process (is 'hush serve' running on it? stop it first)", ex);
        }
    }

    public void Dispose() => _file.Dispose();
}
