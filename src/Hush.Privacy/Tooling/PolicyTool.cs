using System.Globalization;
using System.Text;
using Hush.Otlp;
using Hush.Privacy.Transforms;

namespace Hush.Privacy;

/// <summary>
/// The logic behind <c>hush policy lint|test|explain</c>: each returns a process exit code and
/// writes its report to a <see cref="TextWriter"/>. Exit codes: 0 success, 1 policy errors or
/// test differences, 2 the command could not run (missing file, undecodable fixture).
/// </summary>
public static class PolicyTool
{
    /// <summary>Exit code: everything passed (warnings may be printed).</summary>
    public const int ExitOk = 0;

    /// <summary>Exit code: policy errors (lint) or fixture differences (test).</summary>
    public const int ExitFailed = 1;

    /// <summary>Exit code: the command could not run (bad arguments, unreadable input).</summary>
    public const int ExitUsage = 2;

    /// <summary>FILE argument that selects the shipped default policy.</summary>
    public const string DefaultPolicyArgument = ":default";

    /// <summary>Tenant under which <c>test</c> and <c>explain</c> pseudonymize.</summary>
    public const string TestTenant = "policy-test";

    /// <summary>Fixed master secret for <c>test</c> and <c>explain</c>, so fixture pseudonyms are stable. Never used for real data.</summary>
    private static readonly byte[] TestMasterSecret = Encoding.ASCII.GetBytes("hush policy test key: not secret");

    /// <summary>Validates a policy file: prints every error and warning; exit 1 on errors, 0 otherwise.</summary>
    public static int Lint(string path, TextWriter output)
    {
        ArgumentNullException.ThrowIfNull(output);
        var result = Load(path);
        foreach (var error in result.Errors)
        {
            output.WriteLine($"error: {error}");
        }

        foreach (var warning in result.Warnings)
        {
            output.WriteLine($"warning: {warning}");
        }

        if (!result.Success)
        {
            output.WriteLine($"{path}: {result.Errors.Count} error(s), {result.Warnings.Count} warning(s)");
            return ExitFailed;
        }

        var policy = result.Policy!;
        output.WriteLine($"{path}: ok, {result.Warnings.Count} warning(s); version {policy.Version}, mode {Lower(policy.Mode)}, {policy.Document.Rules.Count} rule(s), {policy.Detectors.Detectors.Count} detector(s), sha256 {policy.Fingerprint}");
        return ExitOk;
    }

    /// <summary>
    /// Runs the policy over fixture spans: every <c>NAME.input.json</c> (OTLP/JSON) in
    /// <paramref name="casesDirectory"/> is scrubbed with a fixed test key and compared with
    /// <c>NAME.expected.json</c>; each difference is printed as <c>path: expected X, actual Y</c>.
    /// </summary>
    public static int Test(string path, string casesDirectory, TextWriter output)
    {
        ArgumentNullException.ThrowIfNull(output);
        var result = Load(path);
        if (!result.Success)
        {
            foreach (var error in result.Errors)
            {
                output.WriteLine($"error: {error}");
            }

            return ExitFailed;
        }

        if (string.IsNullOrEmpty(casesDirectory) || !Directory.Exists(casesDirectory))
        {
            output.WriteLine($"error: cases directory '{casesDirectory}' not found");
            return ExitUsage;
        }

        var inputs = Directory.GetFiles(casesDirectory, "*.input.json");
        Array.Sort(inputs, StringComparer.Ordinal);
        if (inputs.Length == 0)
        {
            output.WriteLine($"error: no *.input.json files in '{casesDirectory}'");
            return ExitUsage;
        }

        var scrubber = TestScrubber(result.Policy!);
        int passed = 0, failed = 0, broken = 0;
        foreach (var input in inputs)
        {
            var name = Path.GetFileName(input)[..^".input.json".Length];
            var expectedPath = Path.Combine(casesDirectory, name + ".expected.json");
            TraceRequest actual, expected;
            try
            {
                actual = OtlpJson.DecodeTraceRequest(File.ReadAllBytes(input));
                if (!File.Exists(expectedPath))
                {
                    output.WriteLine($"{name}: BROKEN: {name}.expected.json is missing");
                    broken++;
                    continue;
                }

                expected = OtlpJson.DecodeTraceRequest(File.ReadAllBytes(expectedPath));
            }
            catch (Exception ex) when (ex is OtlpDecodeException or IOException or UnauthorizedAccessException)
            {
                output.WriteLine($"{name}: BROKEN: cannot read the fixture ({ex.GetType().Name}: {ex.Message})");
                broken++;
                continue;
            }

            scrubber.Scrub(actual, TestTenant);
            var differences = Diff(Flatten(expected), Flatten(actual));
            if (differences.Count == 0)
            {
                output.WriteLine($"{name}: ok");
                passed++;
                continue;
            }

            failed++;
            output.WriteLine($"{name}: FAILED ({differences.Count} difference(s))");
            foreach (var line in differences)
            {
                output.WriteLine("  " + line);
            }
        }

        output.WriteLine($"{passed} passed, {failed} failed, {broken} broken");
        return failed + broken > 0 ? ExitFailed : ExitOk;
    }

    /// <summary>Explains what the policy does to one attribute: which rule or detector fires, the output and why.</summary>
    public static int Explain(string path, string key, string value, TextWriter output)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(value);
        var result = Load(path);
        if (!result.Success)
        {
            foreach (var error in result.Errors)
            {
                output.WriteLine($"error: {error}");
            }

            return ExitFailed;
        }

        var policy = result.Policy!;
        var index = policy.FindRule(key);
        CompiledRule? rule = index >= 0 ? policy.Rules[index] : null;
        if (rule is not null)
        {
            var detail = rule.Action switch
            {
                PolicyAction.Mask => $", keep_last {rule.KeepLast}",
                PolicyAction.Truncate => $", max_chars {rule.MaxChars}",
                _ => string.Empty,
            };
            output.WriteLine($"key '{key}': rule '{rule.Name}' (rules[{index}]) matches: class {rule.DataClass}, action {rule.ActionLabel}{detail}");
            output.WriteLine(rule.ScanResult
                ? "  detectors run on what the action leaves"
                : rule.Action is PolicyAction.Keep or PolicyAction.Sql or PolicyAction.Url or PolicyAction.Truncate
                    ? "  detectors do not run: the rule sets detect: false"
                    : "  the action hides the whole value; detectors are not needed");
        }
        else if (policy.Mode == PolicyMode.Allowlist)
        {
            output.WriteLine($"key '{key}': no rule matches; allowlist mode: unknown_keys {Lower(policy.Document.UnknownKeys)}");
        }
        else
        {
            output.WriteLine($"key '{key}': no rule matches; detect mode: the key is kept and detectors run on the value");
        }

        var matches = new List<Detection.DetectorMatch>();
        policy.Detectors.Scan(key, matches);
        foreach (var m in matches)
        {
            output.WriteLine($"  the key itself matches detector {m.Detector} (class {m.DataClass}): the key is replaced ({Lower(policy.InlineActionFor(m.DataClass))})");
        }

        output.WriteLine("  detectors on the raw value:");
        var whole = policy.Detectors.Scan(value, matches);
        if (!whole)
        {
            output.WriteLine($"    the value is longer than {Detection.DetectorSet.MaxScanChars} chars: only a prefix is scanned; limits.oversized_value {Lower(policy.Document.OversizedValue)}");
        }

        foreach (var m in matches)
        {
            output.WriteLine($"    detector {m.Detector} finds class {m.DataClass} at {m.Start}+{m.Length}; on_detect: {Lower(policy.InlineActionFor(m.DataClass))}");
        }

        if (matches.Count == 0)
        {
            output.WriteLine("    none finds anything");
        }

        var (scrubbed, kept, newKey) = TestScrubber(policy).ScrubAttribute(key, AnyValue.Of(value), TestTenant, policy);
        if (!kept)
        {
            output.WriteLine("output: the attribute is dropped");
        }
        else
        {
            var shown = scrubbed.Kind == AnyValueKind.String ? scrubbed.StringValue : Render(scrubbed);
            output.WriteLine(ReferenceEquals(newKey, key) || newKey == key
                ? $"output: {key} = {shown}"
                : $"output: {newKey} = {shown}   (key replaced)");
        }

        return ExitOk;
    }

    private static PolicyLoadResult Load(string path) =>
        path == DefaultPolicyArgument ? PolicyLoader.LoadDefault() : PolicyLoader.LoadFile(path ?? string.Empty);

    private static PolicyScrubber TestScrubber(CompiledPolicy policy) =>
        new(PolicyProvider.FromPolicy(policy), new DerivedPseudonymKeyProvider(TestMasterSecret), new InMemoryTokenVault(), new PrivacyCounters());

    private static string Lower<T>(T value)
        where T : struct, Enum => value.ToString().ToLowerInvariant();

    /// <summary>Differences between two flattened requests, in path order.</summary>
    internal static List<string> Diff(List<(string Path, string Value)> expected, List<(string Path, string Value)> actual)
    {
        var e = ToDictionary(expected);
        var a = ToDictionary(actual);
        var paths = new SortedSet<string>(e.Keys, StringComparer.Ordinal);
        paths.UnionWith(a.Keys);
        var lines = new List<string>();
        foreach (var path in paths)
        {
            var hasE = e.TryGetValue(path, out var ev);
            var hasA = a.TryGetValue(path, out var av);
            if (hasE && hasA && ev == av)
            {
                continue;
            }

            lines.Add($"{path}: expected {(hasE ? ev : "(absent)")}, actual {(hasA ? av : "(absent)")}");
        }

        return lines;
    }

    private static Dictionary<string, string> ToDictionary(List<(string Path, string Value)> items)
    {
        var d = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (path, value) in items)
        {
            var p = path;
            for (var n = 2; d.ContainsKey(p); n++)
            {
                p = $"{path}#{n}";
            }

            d[p] = value;
        }

        return d;
    }

    /// <summary>Every field of a request as (path, rendered value); attributes are addressed by key so a drop shows as one difference.</summary>
    internal static List<(string Path, string Value)> Flatten(TraceRequest request)
    {
        var items = new List<(string, string)>();
        for (var r = 0; r < request.ResourceSpans.Count; r++)
        {
            var rs = request.ResourceSpans[r];
            var rp = $"resourceSpans[{r}]";
            Add(items, rp + ".schemaUrl", rs.SchemaUrl);
            FlattenAttributes(items, rp + ".resource.attributes", rs.Resource.Attributes);
            for (var s = 0; s < rs.ScopeSpans.Count; s++)
            {
                var ss = rs.ScopeSpans[s];
                var sp = $"{rp}.scopeSpans[{s}]";
                Add(items, sp + ".schemaUrl", ss.SchemaUrl);
                Add(items, sp + ".scope.name", ss.Scope.Name);
                Add(items, sp + ".scope.version", ss.Scope.Version);
                FlattenAttributes(items, sp + ".scope.attributes", ss.Scope.Attributes);
                for (var i = 0; i < ss.Spans.Count; i++)
                {
                    var span = ss.Spans[i];
                    var p = $"{sp}.spans[{i}]";
                    items.Add((p + ".traceId", span.TraceId.ToString()));
                    items.Add((p + ".spanId", span.SpanId.ToString()));
                    items.Add((p + ".parentSpanId", span.ParentSpanId.ToString()));
                    Add(items, p + ".traceState", span.TraceState);
                    Add(items, p + ".name", span.Name);
                    items.Add((p + ".kind", span.Kind.ToString()));
                    items.Add((p + ".startTimeUnixNano", span.StartTimeUnixNano.ToString(CultureInfo.InvariantCulture)));
                    items.Add((p + ".endTimeUnixNano", span.EndTimeUnixNano.ToString(CultureInfo.InvariantCulture)));
                    FlattenAttributes(items, p + ".attributes", span.Attributes);
                    for (var e = 0; e < span.Events.Count; e++)
                    {
                        Add(items, $"{p}.events[{e}].name", span.Events[e].Name);
                        FlattenAttributes(items, $"{p}.events[{e}].attributes", span.Events[e].Attributes);
                    }

                    for (var l = 0; l < span.Links.Count; l++)
                    {
                        Add(items, $"{p}.links[{l}].traceState", span.Links[l].TraceState);
                        FlattenAttributes(items, $"{p}.links[{l}].attributes", span.Links[l].Attributes);
                    }

                    items.Add((p + ".status.code", span.Status.Code.ToString()));
                    Add(items, p + ".status.message", span.Status.Message);
                }
            }
        }

        return items;
    }

    private static void Add(List<(string, string)> items, string path, string? value)
    {
        if (!string.IsNullOrEmpty(value))
        {
            items.Add((path, Quote(value)));
        }
    }

    private static void FlattenAttributes(List<(string, string)> items, string path, List<KeyValue> attributes)
    {
        foreach (var kv in attributes)
        {
            FlattenValue(items, $"{path}[{Quote(kv.Key)}]", kv.Value);
        }
    }

    private static void FlattenValue(List<(string, string)> items, string path, AnyValue value)
    {
        switch (value.Kind)
        {
            case AnyValueKind.Array:
                var list = value.ArrayValue!;
                if (list.Count == 0)
                {
                    items.Add((path, "[]"));
                }

                for (var i = 0; i < list.Count; i++)
                {
                    FlattenValue(items, $"{path}[{i}]", list[i]);
                }

                break;
            case AnyValueKind.KeyValueList:
                if (value.KeyValueListValue!.Count == 0)
                {
                    items.Add((path, "{}"));
                }

                FlattenAttributes(items, path, value.KeyValueListValue!);
                break;
            default:
                items.Add((path, Render(value)));
                break;
        }
    }

    private static string Render(AnyValue value) => value.Kind switch
    {
        AnyValueKind.String => Quote(value.StringValue!),
        AnyValueKind.Int => value.IntValue.ToString(CultureInfo.InvariantCulture),
        AnyValueKind.Double => value.DoubleValue.ToString("R", CultureInfo.InvariantCulture),
        AnyValueKind.Bool => value.BoolValue ? "true" : "false",
        AnyValueKind.Bytes => "bytes:" + Convert.ToBase64String(value.BytesValue!),
        AnyValueKind.Array => $"array({value.ArrayValue!.Count})",
        AnyValueKind.KeyValueList => $"map({value.KeyValueListValue!.Count})",
        _ => "(empty)",
    };

    private static string Quote(string s)
    {
        var sb = new StringBuilder(s.Length + 2).Append('"');
        foreach (var c in s)
        {
            switch (c)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                default:
                    if (char.IsControl(c))
                    {
                        sb.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    }
                    else
                    {
                        sb.Append(c);
                    }

                    break;
            }
        }

        return sb.Append('"').ToString();
    }
}
