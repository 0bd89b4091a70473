using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Hush.Privacy;

/// <summary>The outcome of a reload: the policy now in force, and why a new file was refused.</summary>
/// <param name="Success">True when the file compiled and is now current (or was unchanged).</param>
/// <param name="Changed">True when a new snapshot replaced the old one.</param>
/// <param name="Errors">Every error of a refused file, each quoting its key path.</param>
/// <param name="Warnings">Lint warnings of the new file.</param>
/// <param name="Current">The snapshot in force after the call.</param>
public sealed record PolicyReloadResult(bool Success, bool Changed, IReadOnlyList<string> Errors, IReadOnlyList<string> Warnings, CompiledPolicy Current);

/// <summary>
/// Holds the current compiled policy and swaps it atomically. A file that fails to load leaves the
/// old snapshot in force and reports every error. Optionally watches the file (debounced), and the
/// host calls <see cref="Reload"/> on SIGHUP.
/// </summary>
public sealed partial class PolicyProvider : IDisposable
{
    /// <summary>Editors write a file in several steps; wait this long after the last change before reloading.</summary>
    public static readonly TimeSpan WatchDebounce = TimeSpan.FromMilliseconds(500);

    private readonly string? _path;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly Lock _reloadLock = new();
    private FileSystemWatcher? _watcher;
    private ITimer? _debounce;
    private CompiledPolicy _current;
    private bool _disposed;

    private PolicyProvider(CompiledPolicy initial, string? path, ILogger logger, TimeProvider time)
    {
        _current = initial;
        _path = path;
        _logger = logger;
        _time = time;
    }

    /// <summary>Raised after a new snapshot became current (on the reloading thread).</summary>
    public event Action<CompiledPolicy>? Reloaded;

    /// <summary>Raised when a reload found the file broken and kept the policy in force (on the reloading thread).</summary>
    public event Action<IReadOnlyList<string>>? ReloadFailed;

    /// <summary>The snapshot in force. Read it once per unit of work.</summary>
    public CompiledPolicy Current => Volatile.Read(ref _current);

    /// <summary>The file this provider reloads from, or null for a fixed policy.</summary>
    public string? Path => _path;

    /// <summary>A provider over the shipped default policy (never reloads).</summary>
    public static PolicyProvider FromDefault()
    {
        var result = PolicyLoader.LoadDefault();
        return result.Success
            ? FromPolicy(result.Policy!)
            : throw new InvalidOperationException("The embedded default policy does not compile: " + string.Join("; ", result.Errors));
    }

    /// <summary>A provider over a fixed, already compiled policy (tests, SDK add-ons).</summary>
    public static PolicyProvider FromPolicy(CompiledPolicy policy)
    {
        ArgumentNullException.ThrowIfNull(policy);
        return new PolicyProvider(policy, null, NullLogger.Instance, TimeProvider.System);
    }

    /// <summary>Loads <paramref name="path"/>; throws <see cref="PolicyLoadException"/> listing every error if it is invalid.</summary>
    /// <param name="path">The policy file.</param>
    /// <param name="logger">Receives reload outcomes (never attribute values).</param>
    /// <param name="watch">Reload automatically when the file changes (debounced by <see cref="WatchDebounce"/>).</param>
    /// <param name="timeProvider">Clock for the debounce; the system clock by default.</param>
    public static PolicyProvider FromFile(string path, ILogger logger, bool watch, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        var full = System.IO.Path.GetFullPath(path);
        var result = PolicyLoader.LoadFile(full);
        if (!result.Success)
        {
            throw new PolicyLoadException(full, result.Errors);
        }

        var provider = new PolicyProvider(result.Policy!, full, logger ?? NullLogger.Instance, timeProvider ?? TimeProvider.System);
        foreach (var warning in result.Warnings)
        {
            Log.PolicyWarning(provider._logger, full, warning);
        }

        if (watch)
        {
            provider.StartWatching();
        }

        return provider;
    }

    /// <summary>
    /// Re-reads the file. A valid file becomes current atomically; a broken one keeps the old policy
    /// and its errors are returned and logged. Safe to call from any thread (SIGHUP, watcher).
    /// </summary>
    public PolicyReloadResult Reload()
    {
        if (_path is null)
        {
            return new PolicyReloadResult(true, false, [], [], Current);
        }

        lock (_reloadLock)
        {
            var result = PolicyLoader.LoadFile(_path);
            if (!result.Success)
            {
                Log.ReloadFailed(_logger, _path, result.Errors.Count, Current.Fingerprint);
                foreach (var error in result.Errors)
                {
                    Log.ReloadError(_logger, _path, error);
                }

                ReloadFailed?.Invoke(result.Errors);

                return new PolicyReloadResult(false, false, result.Errors, result.Warnings, Current);
            }

            var next = result.Policy!;
            if (next.Fingerprint == Current.Fingerprint)
            {
                return new PolicyReloadResult(true, false, [], result.Warnings, Current);
            }

            Volatile.Write(ref _current, next);
            Log.Reloaded(_logger, _path, next.Fingerprint);
            Reloaded?.Invoke(next);
            return new PolicyReloadResult(true, true, [], result.Warnings, next);
        }
    }

    /// <summary>Stops watching. Safe to call twice.</summary>
    public void Dispose()
    {
        lock (_reloadLock)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            _watcher?.Dispose();
            _debounce?.Dispose();
        }
    }

    /// <summary>Called by the watcher on every change event: (re)arms the debounce timer.</summary>
    internal void OnFileChanged()
    {
        lock (_reloadLock)
        {
            if (_disposed)
            {
                return;
            }

            _debounce ??= _time.CreateTimer(static state => ((PolicyProvider)state!).OnDebounceElapsed(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
            _debounce.Change(WatchDebounce, Timeout.InfiniteTimeSpan);
        }
    }

    private void OnDebounceElapsed()
    {
        if (Volatile.Read(ref _disposed))
        {
            return;
        }

        try
        {
            Reload();
        }
#pragma warning disable CA1031 // A timer callback must not crash the process; Reload already reports file errors.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            Log.ReloadCrashed(_logger, _path ?? string.Empty, ex.GetType().Name);
        }
    }

    private void StartWatching()
    {
        var directory = System.IO.Path.GetDirectoryName(_path)!;
        var watcher = new FileSystemWatcher(directory, System.IO.Path.GetFileName(_path)!)
        {
            NotifyFilter = NotifyFilters.LastWrite | NotifyFilters.FileName | NotifyFilters.Size | NotifyFilters.CreationTime,
        };
        watcher.Changed += (_, _) => OnFileChanged();
        watcher.Created += (_, _) => OnFileChanged();
        watcher.Renamed += (_, _) => OnFileChanged();
        watcher.EnableRaisingEvents = true;
        _watcher = watcher;
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 3001, Level = LogLevel.Information, Message = "Privacy policy reloaded from {Path}; fingerprint {Fingerprint}")]
        public static partial void Reloaded(ILogger logger, string path, string fingerprint);

        [LoggerMessage(EventId = 3002, Level = LogLevel.Error, Message = "Privacy policy {Path} has {ErrorCount} errors; keeping the current policy {Fingerprint}")]
        public static partial void ReloadFailed(ILogger logger, string path, int errorCount, string fingerprint);

        [LoggerMessage(EventId = 3003, Level = LogLevel.Error, Message = "Privacy policy {Path}: {Error}")]
        public static partial void ReloadError(ILogger logger, string path, string error);

        [LoggerMessage(EventId = 3004, Level = LogLevel.Warning, Message = "Privacy policy {Path}: {Warning}")]
        public static partial void PolicyWarning(ILogger logger, string path, string warning);

        [LoggerMessage(EventId = 3005, Level = LogLevel.Error, Message = "Privacy policy reload of {Path} failed unexpectedly ({ExceptionType}); keeping the current policy")]
        public static partial void ReloadCrashed(ILogger logger, string path, string exceptionType);
    }
}

/// <summary>A policy file that cannot be loaded at startup; the message lists every error.</summary>
public sealed class PolicyLoadException : Exception
{
    /// <summary>Creates the exception.</summary>
    public PolicyLoadException(string path, IReadOnlyList<string> errors)
        : base($"The privacy policy '{path}' is invalid ({errors?.Count ?? 0} errors):{Environment.NewLine}  " + string.Join(Environment.NewLine + "  ", errors ?? []))
    {
        Errors = errors ?? [];
    }

    public PolicyLoadException()
        : this(string.Empty, [])
    {
    }

    public PolicyLoadException(string message)
        : base(message)
    {
        Errors = [];
    }

    public PolicyLoadException(string message, Exception innerException)
        : base(message, innerException)
    {
        Errors = [];
    }

    /// <summary>Every error found.</summary>
    public IReadOnlyList<string> Errors { get; }
}
