namespace Hush.Privacy.Transforms;

/// <summary>
/// A process-local <see cref="ITokenVault"/> for tests and development: thread-safe (one lock), holding at most
/// <see cref="MaxEntries"/> tokens (default <see cref="DefaultMaxEntries"/>) so it cannot grow without bound; when
/// full, <see cref="Tokenize"/> throws <see cref="InvalidOperationException"/> rather than silently forgetting
/// mappings. Tokens are 128 random bits, so they reveal nothing about the value.
/// </summary>
public sealed class InMemoryTokenVault : ITokenVault
{
    /// <summary>About 100 MB of strings at typical value sizes: plenty for development, bounded for a test run.</summary>
    public const int DefaultMaxEntries = 1_000_000;

    private readonly Lock _lock = new();
    private readonly Dictionary<(string Tenant, string DataClass, string Value), string> _tokens = [];
    private readonly Dictionary<(string Tenant, string Token), string> _values = [];

    /// <summary>Creates a vault holding at most <paramref name="maxEntries"/> tokens.</summary>
    public InMemoryTokenVault(int maxEntries = DefaultMaxEntries)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxEntries, 1);
        MaxEntries = maxEntries;
    }

    /// <summary>The most tokens this vault holds.</summary>
    public int MaxEntries { get; }

    /// <summary>Number of tokens issued.</summary>
    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _values.Count;
            }
        }
    }

    /// <inheritdoc/>
    /// <exception cref="InvalidOperationException">The vault holds <see cref="MaxEntries"/> tokens already.</exception>
    public string Tokenize(string tenant, string dataClass, string value)
    {
        ArgumentNullException.ThrowIfNull(tenant);
        ArgumentNullException.ThrowIfNull(dataClass);
        ArgumentNullException.ThrowIfNull(value);
        lock (_lock)
        {
            if (_tokens.TryGetValue((tenant, dataClass, value), out string? existing))
            {
                return existing;
            }

            if (_values.Count >= MaxEntries)
            {
                throw new InvalidOperationException($"the in-memory token vault is full ({MaxEntries} entries)");
            }

            string token;
            do
            {
                token = VaultToken.New();
            }
            while (_values.ContainsKey((tenant, token)));

            _tokens[(tenant, dataClass, value)] = token;
            _values[(tenant, token)] = value;
            return token;
        }
    }

    /// <inheritdoc/>
    public bool TryResolve(string tenant, string token, out string? value)
    {
        ArgumentNullException.ThrowIfNull(tenant);
        ArgumentNullException.ThrowIfNull(token);
        lock (_lock)
        {
            return _values.TryGetValue((tenant, token), out value);
        }
    }
}
