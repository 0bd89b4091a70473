using System.CommandLine;
using System.Globalization;
using Hush.Cli.Loadgen;

namespace Hush.Cli.Commands;

/// <summary><c>hush loadgen</c>: sends realistic spans to an OTLP endpoint at a target rate and reports throughput and latency.</summary>
internal static class LoadgenCommand
{
    private const string DefaultHttpEndpoint = "http://127.0.0.1:4318";
    private const string DefaultGrpcEndpoint = "http://127.0.0.1:4317";

    public static Command Create()
    {
        var endpoint = new Option<string?>("--endpoint")
        {
            Description = $"OTLP endpoint: base URL (/v1/traces is appended) or full URL. Default {DefaultHttpEndpoint}, or {DefaultGrpcEndpoint} with --protocol grpc.",
        };
        var protocol = new Option<string>("--protocol")
        {
            Description = "http/protobuf, http/json or grpc (h2c for http://, TLS for https://).",
            DefaultValueFactory = _ => "http/protobuf",
        };
        var gzip = new Option<bool>("--gzip") { Description = "Compress request bodies with gzip." };
        var rate = new Option<int>("--rate") { Description = "Target spans per second (token bucket); 0 sends flat out.", DefaultValueFactory = _ => 0 };
        var duration = new Option<string?>("--duration") { Description = "How long to send, e.g. 10s, 500ms, 2m (default 10s unless --spans is given)." };
        var spans = new Option<long?>("--spans") { Description = "Send exactly this many spans, then stop." };
        var batch = new Option<int>("--batch") { Description = "Spans per request.", DefaultValueFactory = _ => 512 };
        var concurrency = new Option<int>("--concurrency") { Description = "Requests in flight at once.", DefaultValueFactory = _ => 4 };
        var headers = new Option<string[]>("--header")
        {
            Description = "Extra request header name=value (repeatable), e.g. authorization=Bearer ... Values are never printed.",
        };
        var services = new Option<int>("--services") { Description = "Distinct service.name values in the mix.", DefaultValueFactory = _ => 5 };
        var seed = new Option<int>("--seed") { Description = "Seed for the span mix: same seed, same spans.", DefaultValueFactory = _ => 42 };
        var piiRatio = new Option<double>("--pii-ratio") { Description = "Fraction of spans carrying planted PII or a secret (0..1).", DefaultValueFactory = _ => 0.05 };
        var timeout = new Option<string?>("--timeout") { Description = "Per-request timeout (default 10s)." };
        var maxAttempts = new Option<int>("--max-attempts") { Description = "Sends per request on 429/503/UNAVAILABLE, the first included.", DefaultValueFactory = _ => 5 };
        var insecure = new Option<bool>("--insecure") { Description = "Accept any TLS server certificate (self-signed test servers)." };

        var command = new Command("loadgen", "Send realistic OTLP trace load (HTTP protobuf/JSON or gRPC) and report spans/s, statuses and latency.");
        command.Subcommands.Add(QueryLoadCommand.Create());
        foreach (var option in new Option[] { endpoint, protocol, gzip, rate, duration, spans, batch, concurrency, headers, services, seed, piiRatio, timeout, maxAttempts, insecure })
        {
            command.Options.Add(option);
        }

        command.SetAction(async (parseResult, cancellationToken) =>
        {
            var output = parseResult.InvocationConfiguration.Output;
            var error = parseResult.InvocationConfiguration.Error;
            var errors = new List<string>();

            if (!LoadgenOptions.TryParseProtocol(parseResult.GetValue(protocol), out var proto))
            {
                errors.Add("'--protocol' must be one of http/protobuf, http/json, grpc");
            }

            TimeSpan? runFor = null;
            if (parseResult.GetValue(duration) is { } durationText)
            {
                if (TryParseDuration(durationText, out var d))
                {
                    runFor = d;
                }
                else
                {
                    errors.Add("'--duration' must be a duration such as 10s, 500ms, 2m or 1h");
                }
            }

            var requestTimeout = TimeSpan.FromSeconds(10);
            if (parseResult.GetValue(timeout) is { } timeoutText && !TryParseDuration(timeoutText, out requestTimeout))
            {
                errors.Add("'--timeout' must be a duration such as 10s or 500ms");
            }

            var headerList = new List<KeyValuePair<string, string>>();
            var headerTexts = parseResult.GetValue(headers) ?? [];
            for (var i = 0; i < headerTexts.Length; i++)
            {
                if (LoadgenOptions.TryParseHeader(headerTexts[i], out var header))
                {
                    headerList.Add(header);
                }
                else
                {
                    // Position only: the text may be a bare secret.
                    errors.Add($"'--header' #{i + 1} must be name=value");
                }
            }

            var options = new LoadgenOptions
            {
                Endpoint = parseResult.GetValue(endpoint) ?? (proto == LoadgenProtocol.Grpc ? DefaultGrpcEndpoint : DefaultHttpEndpoint),
                Protocol = proto,
                Gzip = parseResult.GetValue(gzip),
                Rate = parseResult.GetValue(rate),
                Duration = runFor,
                Spans = parseResult.GetValue(spans),
                Batch = parseResult.GetValue(batch),
                Concurrency = parseResult.GetValue(concurrency),
                Headers = headerList,
                Services = parseResult.GetValue(services),
                Seed = parseResult.GetValue(seed),
                PiiRatio = parseResult.GetValue(piiRatio),
                Timeout = requestTimeout,
                MaxAttempts = parseResult.GetValue(maxAttempts),
                Insecure = parseResult.GetValue(insecure),
            };
            errors.AddRange(options.Validate());
            if (errors.Count > 0)
            {
                foreach (var e in errors)
                {
                    await error.WriteLineAsync("hush loadgen: " + e);
                }

                return LoadgenReport.ExitUsage;
            }

            var report = await LoadgenRunner.RunAsync(options, output, cancellationToken);
            return report.ExitCode;
        });
        return command;
    }

    /// <summary>Parses <c>500ms</c>, <c>10s</c>, <c>1.5s</c>, <c>2m</c>, <c>1h</c>, or a TimeSpan such as <c>00:00:10</c>.</summary>
    internal static bool TryParseDuration(string text, out TimeSpan value)
    {
        value = default;
        var s = text.Trim();
        (string Suffix, double Scale)[] units = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600)];
        foreach (var (suffix, scale) in units)
        {
            if (s.EndsWith(suffix, StringComparison.OrdinalIgnoreCase)
                && double.TryParse(s.AsSpan(0, s.Length - suffix.Length), NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var number)
                && number * scale <= TimeSpan.MaxValue.TotalSeconds / 2)
            {
                value = TimeSpan.FromSeconds(number * scale);
                return true;
            }
        }

        return s.Contains(':', StringComparison.Ordinal) && TimeSpan.TryParse(s, CultureInfo.InvariantCulture, out value) && value >= TimeSpan.Zero;
    }
}
