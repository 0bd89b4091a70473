using System.Net;
using System.Net.Http.Headers;

namespace Hush.Cli.Tests;

/// <summary>
/// <c>hush serve</c> as users run it: SIGHUP reloads the privacy policy (a broken file lists its errors and the policy
/// in force stays, the server keeps serving), SIGTERM drains and exits 0. The in-process reload logic has its own
/// tests; these prove the signal wiring of the real program.
/// </summary>
public sealed class ServeSignalTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("hush-signal-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public async Task Sighup_ReloadsThePolicy_BrokenFileKeepsTheOld_SigtermExitsZero()
    {
        var policy = Path.Combine(_directory, "policy.yaml");
        await File.WriteAllTextAsync(policy, "version: 1\n");
        var config = Path.Combine(_directory, "hush.yaml");
        await File.WriteAllTextAsync(config, $"""
            receivers:
              otlp:
                protocols:
                  http:
                    endpoint: 127.0.0.1:0
            processors:
              privacy:
                policy: {policy}
                watch: false
            exporters:
              nop: {"{}"}
            service:
              pipelines:
                traces:
                  receivers: [otlp]
                  processors: [privacy]
                  exporters: [nop]
              admin:
                endpoint: 127.0.0.1:0
              data_dir: ./data
            """);

        using var hush = await HushProcess.StartAsync(config, _directory);
        await File.WriteAllTextAsync(policy, "version: 1\nrules:\n  - { name: tickets, keys: [app.ticket], class: ticket, action: redact }\n");
        await hush.SignalAsync("HUP");
        Assert.True(await hush.WaitForOutputAsync("privacy policy reloaded (fingerprint", TimeSpan.FromSeconds(20)), hush.Output);

        await File.WriteAllTextAsync(policy, "version: 1\nrules:\n  - { name: bad, keys: [x], action: obliterate }\n");
        await hush.SignalAsync("HUP");
        Assert.True(await hush.WaitForOutputAsync("the privacy policy file is invalid", TimeSpan.FromSeconds(20)), hush.Output);
        Assert.Contains("obliterate", hush.Output, StringComparison.Ordinal);
        Assert.Null(hush.ExitCode);

        using (var client = new HttpClient())
        using (var content = new ByteArrayContent([]))
        {
            content.Headers.ContentType = new MediaTypeHeaderValue("application/x-protobuf");
            using var response = await client.PostAsync(new Uri(hush.HttpEndpoint, "/v1/traces"), content);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        await hush.StopAsync();
        Assert.Equal(0, hush.ExitCode);
    }
}
