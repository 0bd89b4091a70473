using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;

namespace Hush.Cli.Tests;

/// <summary><c>hush serve</c> as a child process, its ports read from what it prints; its output kept for assertions.</summary>
internal sealed partial class HushProcess : IDisposable
{
    private readonly Process _process;
    private readonly ConcurrentQueue<string> _output;

    private HushProcess(Process process, Uri http, ConcurrentQueue<string> output)
    {
        _process = process;
        HttpEndpoint = http;
        _output = output;
    }

    public Uri HttpEndpoint { get; }

    /// <summary>Every line printed so far; stderr lines start with <c>stderr: </c>.</summary>
    public string Output => string.Join('\n', _output);

    public int? ExitCode => _process.HasExited ? _process.ExitCode : null;

    public static async Task<HushProcess> StartAsync(string config, string workingDirectory)
    {
        var info = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "hush.dll"));
        info.ArgumentList.Add("serve");
        info.ArgumentList.Add("--config");
        info.ArgumentList.Add(config);
        var process = Process.Start(info)!;
        var http = new TaskCompletionSource<Uri>(TaskCreationOptions.RunContinuationsAsynchronously);
        var output = new ConcurrentQueue<string>();
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is not { } line)
            {
                return;
            }

            output.Enqueue(line);
            if (HttpLine().Match(line) is { Success: true } m)
            {
                http.TrySetResult(new Uri(m.Groups[1].Value));
            }
        };
        process.ErrorDataReceived += (_, e) => output.Enqueue("stderr: " + e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var ready = await Task.WhenAny(http.Task, Task.Delay(TimeSpan.FromSeconds(60)));
        if (ready != http.Task)
        {
            process.Kill(entireProcessTree: true);
            throw new InvalidOperationException("hush serve did not start:\n" + string.Join('\n', output));
        }

        return new HushProcess(process, await http.Task, output);
    }

    /// <summary>Sends a signal by name (<c>HUP</c>, <c>TERM</c>) with kill(1).</summary>
    public async Task SignalAsync(string signal)
    {
        using var kill = Process.Start("kill", ["-" + signal, _process.Id.ToString(CultureInfo.InvariantCulture)]);
        await kill.WaitForExitAsync();
    }

    /// <summary>Waits until a printed line contains <paramref name="text"/>; false after <paramref name="timeout"/>.</summary>
    public async Task<bool> WaitForOutputAsync(string text, TimeSpan timeout)
    {
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < timeout)
        {
            if (_output.Any(line => line.Contains(text, StringComparison.Ordinal)))
            {
                return true;
            }

            await Task.Delay(50);
        }

        return false;
    }

    public void Kill()
    {
        _process.Kill(entireProcessTree: true);
        _process.WaitForExit();
    }

    public async Task StopAsync()
    {
        await SignalAsync("TERM");
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await _process.WaitForExitAsync(timeout.Token);
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit();
        }

        _process.Dispose();
    }

    [GeneratedRegex(@"OTLP/HTTP listening on (http://[^/\s]+/)")]
    private static partial Regex HttpLine();
}
