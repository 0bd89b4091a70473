using Microsoft.Extensions.Logging;

namespace Hush.Pipeline.Tests.Support;

internal sealed record LogEntry(LogLevel Level, int EventId, string Message);

/// <summary>Collects formatted log lines (with their state values) so tests can assert what was and was not logged.</summary>
internal sealed class CollectingLoggerFactory : ILoggerFactory, ILogger
{
    private readonly Lock _lock = new();
    private readonly List<LogEntry> _entries = [];

    public IReadOnlyList<LogEntry> Entries
    {
        get
        {
            lock (_lock)
            {
                return [.. _entries];
            }
        }
    }

    public string AllText => string.Join("\n", Entries.Select(e => e.Message));

    public ILogger CreateLogger(string categoryName) => this;

    public void AddProvider(ILoggerProvider provider)
    {
    }

    public void Dispose()
    {
    }

    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        var text = formatter(state, exception);
        if (state is IEnumerable<KeyValuePair<string, object?>> values)
        {
            text += " |" + string.Join("|", values.Select(v => v.Key + "=" + v.Value));
        }

        if (exception is not null)
        {
            text += " |exception=" + exception;
        }

        lock (_lock)
        {
            _entries.Add(new LogEntry(logLevel, eventId.Id, text));
        }
    }
}
