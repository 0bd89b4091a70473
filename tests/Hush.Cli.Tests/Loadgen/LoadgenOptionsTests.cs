using System.CommandLine;
using Hush.Cli.Commands;
using Hush.Cli.Loadgen;

namespace Hush.Cli.Tests.Loadgen;

public sealed class LoadgenOptionsTests
{
    [Fact]
    public void Validate_Defaults_AreValid()
    {
        Assert.Empty(new LoadgenOptions().Validate());
    }

    [Fact]
    public void Validate_ManyBadOptions_ReportsEveryOneWithItsKey()
    {
        var options = new LoadgenOptions
        {
            Endpoint = "ftp://collector:21",
            Rate = -5,
            Batch = 0,
            Concurrency = 0,
            Spans = 0,
            Duration = TimeSpan.Zero,
            Services = 0,
            PiiRatio = 2,
        };

        var errors = options.Validate();

        foreach (var key in new[] { "'--endpoint'", "'--rate'", "'--batch'", "'--concurrency'", "'--spans'", "'--duration'", "'--services'", "'--pii-ratio'" })
        {
            Assert.Contains(errors, e => e.StartsWith(key, StringComparison.Ordinal));
        }

        Assert.Equal(8, errors.Count);
    }

    [Theory]
    [InlineData("not a url")]
    [InlineData("127.0.0.1:4318")]
    [InlineData("/v1/traces")]
    [InlineData("http://user:pw@127.0.0.1:4318")]
    [InlineData("http://127.0.0.1:4318/v1/traces?x=1")]
    public void Validate_BadEndpoint_IsRefused(string endpoint)
    {
        var errors = new LoadgenOptions { Endpoint = endpoint }.Validate();

        Assert.Single(errors);
        Assert.StartsWith("'--endpoint'", errors[0], StringComparison.Ordinal);
        Assert.DoesNotContain("pw", errors[0], StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_BadHeader_NamesPositionNotValue()
    {
        var options = new LoadgenOptions
        {
            Headers = [new("bad name", "s3cr3t-value-1"), new("authorization", "Bearer s3cr3t-value-2\r\nX-Evil: 1")],
        };

        var errors = options.Validate();

        Assert.Equal(2, errors.Count);
        Assert.Contains("#1", errors[0], StringComparison.Ordinal);
        Assert.Contains("#2", errors[1], StringComparison.Ordinal);
        Assert.All(errors, e => Assert.DoesNotContain("s3cr3t", e, StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("http://127.0.0.1:4318", "http/protobuf", "http://127.0.0.1:4318/v1/traces")]
    [InlineData("http://127.0.0.1:4318/", "http/json", "http://127.0.0.1:4318/v1/traces")]
    [InlineData("https://otlp.example:443/custom/traces", "http/protobuf", "https://otlp.example/custom/traces")]
    [InlineData("http://127.0.0.1:4317", "grpc", "http://127.0.0.1:4317/opentelemetry.proto.collector.trace.v1.TraceService/Export")]
    [InlineData("http://gw:4317/prefix/", "grpc", "http://gw:4317/prefix/opentelemetry.proto.collector.trace.v1.TraceService/Export")]
    public void ResolveTarget_AppendsTheSignalPath(string endpoint, string protocolName, string expected)
    {
        Assert.True(LoadgenOptions.TryParseProtocol(protocolName, out var protocol));
        Assert.Equal(new Uri(expected), new LoadgenOptions { Endpoint = endpoint, Protocol = protocol }.ResolveTarget());
    }

    [Theory]
    [InlineData("authorization=Bearer abc=def", "authorization", "Bearer abc=def")]
    [InlineData("X-Scope-OrgID: tenant-a", "X-Scope-OrgID", "tenant-a")]
    [InlineData("x-api-key = k", "x-api-key", "k")]
    public void TryParseHeader_NameValue_Splits(string text, string name, string value)
    {
        Assert.True(LoadgenOptions.TryParseHeader(text, out var header));
        Assert.Equal(name, header.Key);
        Assert.Equal(value, header.Value);
    }

    [Theory]
    [InlineData("")]
    [InlineData("no-separator")]
    [InlineData("=value-only")]
    public void TryParseHeader_Garbage_IsRefused(string text)
    {
        Assert.False(LoadgenOptions.TryParseHeader(text, out _));
    }

    [Theory]
    [InlineData("10s", 10_000)]
    [InlineData("1.5s", 1_500)]
    [InlineData("500ms", 500)]
    [InlineData("2m", 120_000)]
    [InlineData("1h", 3_600_000)]
    [InlineData("00:00:03", 3_000)]
    public void TryParseDuration_Forms_Parse(string text, int milliseconds)
    {
        Assert.True(LoadgenCommand.TryParseDuration(text, out var value));
        Assert.Equal(TimeSpan.FromMilliseconds(milliseconds), value);
    }

    [Theory]
    [InlineData("")]
    [InlineData("ten seconds")]
    [InlineData("-5s")]
    [InlineData("5x")]
    [InlineData("1e400s")]
    public void TryParseDuration_Garbage_IsRefused(string text)
    {
        Assert.False(LoadgenCommand.TryParseDuration(text, out _));
    }

    [Theory]
    [InlineData("grpc", (int)LoadgenProtocol.Grpc)]
    [InlineData("http/json", (int)LoadgenProtocol.HttpJson)]
    [InlineData("HTTP/PROTOBUF", (int)LoadgenProtocol.HttpProtobuf)]
    public void TryParseProtocol_KnownNames_Parse(string text, int expected)
    {
        Assert.True(LoadgenOptions.TryParseProtocol(text, out var protocol));
        Assert.Equal((LoadgenProtocol)expected, protocol);
    }

    [Fact]
    public async Task Command_NegativeRateAndBadEndpoint_ExitsTwoWithEveryError()
    {
        var output = new StringWriter();
        var error = new StringWriter();

        var exit = await LoadgenCommand.Create()
            .Parse(["--rate", "-5", "--endpoint", "ftp://x", "--protocol", "smoke-signals", "--duration", "soon", "--header", "justasecretvalue"])
            .InvokeAsync(new InvocationConfiguration { Output = output, Error = error });

        Assert.Equal(LoadgenReport.ExitUsage, exit);
        var text = error.ToString();
        foreach (var key in new[] { "'--rate'", "'--endpoint'", "'--protocol'", "'--duration'", "'--header' #1" })
        {
            Assert.Contains(key, text, StringComparison.Ordinal);
        }

        Assert.DoesNotContain("justasecretvalue", text + output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RunAsync_InvalidOptions_ThrowsListingThem()
    {
        var e = await Assert.ThrowsAsync<ArgumentException>(() =>
            LoadgenRunner.RunAsync(new LoadgenOptions { Rate = -1, Batch = -1 }, TextWriter.Null, CancellationToken.None));

        Assert.Contains("'--rate'", e.Message, StringComparison.Ordinal);
        Assert.Contains("'--batch'", e.Message, StringComparison.Ordinal);
    }
}
