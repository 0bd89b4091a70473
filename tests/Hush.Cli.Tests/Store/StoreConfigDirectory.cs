using Microsoft.Data.Sqlite;

namespace Hush.Cli.Tests.Store;

/// <summary>A temporary data directory with a minimal <c>hush.yaml</c> (one OTLP/HTTP receiver, the store exporter) pointing at it; deleted on dispose.</summary>
internal sealed class StoreConfigDirectory : IDisposable
{
    public StoreConfigDirectory(string prefix)
    {
        Path = Directory.CreateTempSubdirectory(prefix).FullName;
        Config = System.IO.Path.Combine(Path, "hush.yaml");
        File.WriteAllText(Config, $"""
            receivers:
              otlp:
                protocols:
                  http:
                    endpoint: 127.0.0.1:0
            exporters:
              store: {"{}"}
            service:
              pipelines:
                traces:
                  receivers: [otlp]
                  exporters: [store]
              data_dir: {Path}
            """);
    }

    /// <summary>The data directory.</summary>
    public string Path { get; }

    /// <summary>The config file inside it.</summary>
    public string Config { get; }

    public void Dispose()
    {
        // The store's SQLite index keeps pooled connections open; release them so the directory can go.
        SqliteConnection.ClearAllPools();
        Directory.Delete(Path, recursive: true);
    }
}
