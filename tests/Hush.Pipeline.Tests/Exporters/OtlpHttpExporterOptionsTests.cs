namespace Hush.Pipeline.Tests.Exporters;

public sealed class OtlpHttpExporterOptionsTests
{
    private const string Key = "exporters.otlphttp/tempo";

    [Fact]
    public void Validate_ValidEndpoint_NoErrors()
    {
        Assert.Empty(new OtlpHttpExporterOptions { Endpoint = new Uri("http://tempo:4318") }.Validate(Key));
    }

    [Fact]
    public void Validate_EverythingWrong_ListsEveryErrorWithKeyPath()
    {
        var options = new OtlpHttpExporterOptions
        {
            Endpoint = null,
            TracesPath = "no-slash",
            Encoding = (OtlpEncoding)9,
            Headers = new Dictionary<string, string> { ["Bad Name"] = "x", ["Content-Type"] = "x", ["X-Token"] = "multi\nline-secret-value" },
            Timeout = TimeSpan.Zero,
            InitialInterval = TimeSpan.Zero,
            MaxInterval = TimeSpan.Zero,
            MaxElapsedTime = TimeSpan.Zero,
            QueueSize = 0,
            Consumers = 0,
            ShutdownTimeout = TimeSpan.FromSeconds(-1),
        };

        var errors = options.Validate(Key);

        Assert.Equal(
            [
                $"'{Key}.endpoint' is required",
                $"'{Key}.traces_path' must start with '/' and contain no query",
                $"'{Key}.encoding' must be proto or json",
                $"'{Key}.headers' entry 0 has an invalid header name (letters, digits and !#$%&'*+-.^_`|~ only)",
                $"'{Key}.headers.Content-Type' is set by the exporter and cannot be configured",
                $"'{Key}.headers.X-Token' must be a single-line value",
                $"'{Key}.timeout' must be greater than zero",
                $"'{Key}.retry_on_failure.initial_interval' must be greater than zero",
                $"'{Key}.retry_on_failure.max_interval' must be greater than zero",
                $"'{Key}.retry_on_failure.max_elapsed_time' must be greater than zero",
                $"'{Key}.sending_queue.queue_size' must be between 1 and 100000",
                $"'{Key}.sending_queue.num_consumers' must be between 1 and 64",
                $"'{Key}.shutdown_timeout' must not be negative",
            ],
            errors);
        Assert.DoesNotContain(errors, e => e.Contains("line-secret-value", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("ftp://tempo:21", "must be an absolute http or https URL")]
    [InlineData("http://user:pass@tempo:4318", "must not contain credentials")]
    public void Validate_BadEndpoint_Error(string endpoint, string expected)
    {
        var errors = new OtlpHttpExporterOptions { Endpoint = new Uri(endpoint) }.Validate(Key);
        var error = Assert.Single(errors);
        Assert.Contains(expected, error, StringComparison.Ordinal);
        Assert.DoesNotContain("pass", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_InitialAboveMax_Error()
    {
        var errors = new OtlpHttpExporterOptions
        {
            Endpoint = new Uri("http://tempo:4318"),
            InitialInterval = TimeSpan.FromSeconds(60),
            MaxInterval = TimeSpan.FromSeconds(30),
        }.Validate(Key);
        Assert.Equal([$"'{Key}.retry_on_failure.initial_interval' must not be greater than '{Key}.retry_on_failure.max_interval'"], errors);
    }

    [Theory]
    [InlineData("http://tempo:4318", null, "http://tempo:4318/v1/traces")]
    [InlineData("http://tempo:4318/", null, "http://tempo:4318/v1/traces")]
    [InlineData("https://otlp.example.com/otlp", null, "https://otlp.example.com/otlp/v1/traces")]
    [InlineData("http://tempo:4318/v1/traces", null, "http://tempo:4318/v1/traces")]
    [InlineData("http://tempo:4318/base", "/custom/traces", "http://tempo:4318/custom/traces")]
    public void ResolveTracesUrl_Variants_AppendsPathOnlyWhenNeeded(string endpoint, string? tracesPath, string expected)
    {
        var options = new OtlpHttpExporterOptions { Endpoint = new Uri(endpoint), TracesPath = tracesPath };
        Assert.Equal(expected, options.ResolveTracesUrl().ToString());
    }

    [Fact]
    public void ToString_WithHeaders_NeverPrintsHeaderValues()
    {
        var options = new OtlpHttpExporterOptions
        {
            Endpoint = new Uri("http://tempo:4318"),
            Headers = new Dictionary<string, string> { ["Authorization"] = "Bearer very-secret" },
        };
        Assert.DoesNotContain("very-secret", options.ToString(), StringComparison.Ordinal);
    }
}
