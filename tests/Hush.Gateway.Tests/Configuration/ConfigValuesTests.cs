using System.Net;
using Hush.Gateway.Configuration.Implementation;

namespace Hush.Gateway.Tests.Configuration;

public sealed class ConfigValuesTests
{
    [Theory]
    [InlineData("200ms", 200)]
    [InlineData("5s", 5_000)]
    [InlineData("1m", 60_000)]
    [InlineData("1h30m", 5_400_000)]
    [InlineData("1.5s", 1_500)]
    [InlineData("0", 0)]
    [InlineData("250us", 0.25)]
    public void TryParseDuration_Valid_Parses(string text, double milliseconds)
    {
        Assert.True(ConfigValues.TryParseDuration(text, out var value));
        Assert.Equal(milliseconds, value.TotalMilliseconds);
    }

    [Theory]
    [InlineData("")]
    [InlineData("5")]
    [InlineData("5 sec")]
    [InlineData("ms")]
    [InlineData("-1s")]
    [InlineData("1.2.3s")]
    [InlineData("99999999999999999999h")]
    public void TryParseDuration_Garbage_Fails(string text) => Assert.False(ConfigValues.TryParseDuration(text, out _));

    [Theory]
    [InlineData("4194304", 4_194_304)]
    [InlineData("4MiB", 4_194_304)]
    [InlineData("512 KiB", 524_288)]
    [InlineData("2mb", 2_000_000)]
    [InlineData("1GiB", 1_073_741_824)]
    public void TryParseSize_Valid_Parses(string text, long expected)
    {
        Assert.True(ConfigValues.TryParseSize(text, out var value));
        Assert.Equal(expected, value);
    }

    [Theory]
    [InlineData("")]
    [InlineData("4 parsecs")]
    [InlineData("-1")]
    [InlineData("MiB")]
    [InlineData("99999999999999999999GiB")]
    public void TryParseSize_Garbage_Fails(string text) => Assert.False(ConfigValues.TryParseSize(text, out _));

    [Theory]
    [InlineData("127.0.0.1:4317", "127.0.0.1", 4317)]
    [InlineData("localhost:0", "127.0.0.1", 0)]
    [InlineData("[::1]:4318", "::1", 4318)]
    [InlineData(":4318", "0.0.0.0", 4318)]
    public void TryParseEndpoint_Valid_Parses(string text, string address, int port)
    {
        Assert.True(ConfigValues.TryParseEndpoint(text, out var a, out var p, out _));
        Assert.Equal(IPAddress.Parse(address), a);
        Assert.Equal(port, p);
    }

    [Theory]
    [InlineData("4317")]
    [InlineData("127.0.0.1:65536")]
    [InlineData("127.0.0.1:-1")]
    [InlineData("::1:4318")]
    [InlineData("tempo:4318")]
    [InlineData("127.0.0.1:")]
    public void TryParseEndpoint_Garbage_Fails(string text) => Assert.False(ConfigValues.TryParseEndpoint(text, out _, out _, out var problem) || problem.Length == 0);
}
