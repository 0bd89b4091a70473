using System.Collections.Concurrent;
using System.Globalization;
using System.Text;

namespace Hush.Pipeline;

/// <summary>
/// Hush's own metrics registry, rendered in the Prometheus text exposition format 0.0.4
/// (<c># HELP</c>, <c># TYPE</c>, escaped label values). Registration is thread-safe; hot paths
/// hold a <see cref="Counter"/> obtained once from <see cref="CounterFamily.WithLabels"/>.
/// Label values must be bounded vocabularies (pipeline, exporter, reason names): never a tenant-supplied
/// value, attribute value or span name.
/// </summary>
public sealed class HushMetrics
{
    /// <summary>Numbers every rendering, so a <see cref="OncePerScrape{T}"/> reader can tell one scrape from the next.</summary>
    private static long _scrapes;

    /// <summary>The scrape this thread is rendering, or 0 outside one (rendering is synchronous).</summary>
    [ThreadStatic]
    private static long _currentScrape;

    private readonly Lock _lock = new();
    private readonly Dictionary<string, MetricFamily> _families = new(StringComparer.Ordinal);

    /// <summary>
    /// Registers (or returns the already registered) counter family <paramref name="name"/>.
    /// Counter names end in <c>_total</c> by convention. Registering the same name with other label names throws.
    /// </summary>
    public CounterFamily Counter(string name, string help, params string[] labelNames)
    {
        ArgumentNullException.ThrowIfNull(help);
        ArgumentNullException.ThrowIfNull(labelNames);
        ValidateName(name);
        foreach (var label in labelNames)
        {
            ValidateName(label);
        }

        lock (_lock)
        {
            if (_families.TryGetValue(name, out var existing))
            {
                if (existing is CounterFamily counter && counter.LabelNames.AsSpan().SequenceEqual(labelNames))
                {
                    return counter;
                }

                throw new ArgumentException($"Metric '{name}' is already registered with another type or other label names.", nameof(name));
            }

            var family = new CounterFamily(name, help, [.. labelNames]);
            _families.Add(name, family);
            return family;
        }
    }

    /// <summary>
    /// Registers (or returns the already registered) histogram family <paramref name="name"/> with the given upper
    /// bucket bounds (ascending; <c>+Inf</c> is added). Exposed as <c>_bucket{le}</c>, <c>_sum</c> and <c>_count</c>.
    /// Registering the same name with other label names or buckets throws.
    /// </summary>
    public HistogramFamily Histogram(string name, string help, double[] buckets, params string[] labelNames)
    {
        ArgumentNullException.ThrowIfNull(help);
        ArgumentNullException.ThrowIfNull(buckets);
        ArgumentNullException.ThrowIfNull(labelNames);
        ValidateName(name);
        foreach (var label in labelNames)
        {
            ValidateName(label);
        }

        for (var i = 0; i < buckets.Length; i++)
        {
            if (!double.IsFinite(buckets[i]) || (i > 0 && buckets[i] <= buckets[i - 1]))
            {
                throw new ArgumentException("Histogram buckets must be finite and strictly ascending.", nameof(buckets));
            }
        }

        lock (_lock)
        {
            if (_families.TryGetValue(name, out var existing))
            {
                if (existing is HistogramFamily histogram && histogram.LabelNames.AsSpan().SequenceEqual(labelNames) && histogram.Buckets.AsSpan().SequenceEqual(buckets))
                {
                    return histogram;
                }

                throw new ArgumentException($"Metric '{name}' is already registered with another type, other label names or other buckets.", nameof(name));
            }

            var family = new HistogramFamily(name, help, [.. buckets], [.. labelNames]);
            _families.Add(name, family);
            return family;
        }
    }

    /// <summary>Registers an unlabelled gauge read at scrape time. Registering the same name again replaces the reader.</summary>
    public void Gauge(string name, string help, Func<double> read)
    {
        ArgumentNullException.ThrowIfNull(read);
        Observed(ObservedFamily.GaugeType, name, help, [], () => [new KeyValuePair<string[], double>([], read())], replace: true);
    }

    /// <summary>
    /// Registers a labelled gauge read at scrape time. Registering the same name again with the same label
    /// names adds a reader (so each pipeline or exporter instance contributes its own series).
    /// </summary>
    public void Gauge(string name, string help, string[] labelNames, Func<IEnumerable<KeyValuePair<string[], double>>> read) =>
        Observed(ObservedFamily.GaugeType, name, help, labelNames, read, replace: false);

    /// <summary>
    /// Registers a labelled counter whose totals are kept elsewhere (such as the privacy engine's counters)
    /// and read at scrape time. The reader must only ever report growing values. Registering the same name
    /// again with the same label names adds a reader.
    /// </summary>
    public void ObservedCounter(string name, string help, string[] labelNames, Func<IEnumerable<KeyValuePair<string[], double>>> read) =>
        Observed(ObservedFamily.CounterType, name, help, labelNames, read, replace: false);

    /// <summary>
    /// Wraps <paramref name="read"/> so that the readers of one scrape share one call: several families drawn from
    /// the same query (blocks, spans and bytes per tenant) then cost one query per scrape, and the next scrape reads
    /// afresh (nothing is cached between scrapes, so a scrape right after a change sees it). Outside a scrape every
    /// call reads.
    /// </summary>
    public static Func<T> OncePerScrape<T>(Func<T> read)
    {
        ArgumentNullException.ThrowIfNull(read);
        Tuple<long, T>? last = null;
        return () =>
        {
            var scrape = _currentScrape;
            var seen = Volatile.Read(ref last);
            if (scrape != 0 && seen is not null && seen.Item1 == scrape)
            {
                return seen.Item2;
            }

            var value = read();
            if (scrape != 0)
            {
                Volatile.Write(ref last, Tuple.Create(scrape, value));
            }

            return value;
        };
    }

    /// <summary>Writes every family in the text exposition format (UTF-8), families ordered by name.</summary>
    public void WriteTo(Stream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        var bytes = Encoding.UTF8.GetBytes(ToText());
        stream.Write(bytes);
    }

    /// <summary>Renders every family in the text exposition format, families ordered by name.</summary>
    public string ToText()
    {
        MetricFamily[] families;
        lock (_lock)
        {
            families = [.. _families.Values];
        }

        Array.Sort(families, static (a, b) => string.CompareOrdinal(a.Name, b.Name));
        var sb = new StringBuilder(families.Length * 128);
        var outer = _currentScrape;
        _currentScrape = Interlocked.Increment(ref _scrapes);
        try
        {
            foreach (var family in families)
            {
                sb.Append("# HELP ").Append(family.Name).Append(' ');
                AppendEscapedHelp(sb, family.Help);
                sb.Append('\n');
                sb.Append("# TYPE ").Append(family.Name).Append(' ').Append(family.TypeName).Append('\n');
                family.AppendSamples(sb);
            }
        }
        finally
        {
            _currentScrape = outer;
        }

        return sb.ToString();
    }

    private void Observed(string typeName, string name, string help, string[] labelNames, Func<IEnumerable<KeyValuePair<string[], double>>> read, bool replace)
    {
        ArgumentNullException.ThrowIfNull(help);
        ArgumentNullException.ThrowIfNull(labelNames);
        ArgumentNullException.ThrowIfNull(read);
        ValidateName(name);
        foreach (var label in labelNames)
        {
            ValidateName(label);
        }

        lock (_lock)
        {
            if (_families.TryGetValue(name, out var existing))
            {
                if (existing is ObservedFamily observed && observed.TypeName == typeName && observed.LabelNames.AsSpan().SequenceEqual(labelNames))
                {
                    observed.AddReader(read, replace);
                    return;
                }

                throw new ArgumentException($"Metric '{name}' is already registered with another type or other label names.", nameof(name));
            }

            var family = new ObservedFamily(typeName, name, help, [.. labelNames]);
            family.AddReader(read, replace);
            _families.Add(name, family);
        }
    }

    private static void ValidateName(string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        for (var i = 0; i < name.Length; i++)
        {
            var c = name[i];
            var ok = c is (>= 'a' and <= 'z') or (>= 'A' and <= 'Z') or '_' || (i > 0 && c is >= '0' and <= '9');
            if (!ok)
            {
                throw new ArgumentException($"Metric or label name has an invalid character at offset {i}.", nameof(name));
            }
        }
    }

    internal static void AppendEscapedHelp(StringBuilder sb, string help)
    {
        foreach (var c in help)
        {
            switch (c)
            {
                case '\\': sb.Append(@"\\"); break;
                case '\n': sb.Append(@"\n"); break;
                default: sb.Append(c); break;
            }
        }
    }

    internal static void AppendEscapedLabelValue(StringBuilder sb, string value)
    {
        foreach (var c in value)
        {
            switch (c)
            {
                case '\\': sb.Append(@"\\"); break;
                case '\n': sb.Append(@"\n"); break;
                case '"': sb.Append("\\\""); break;
                default: sb.Append(c); break;
            }
        }
    }

    internal static void AppendSample(StringBuilder sb, string name, string[] labelNames, string[] labelValues, double value)
    {
        sb.Append(name);
        if (labelNames.Length > 0)
        {
            sb.Append('{');
            for (var i = 0; i < labelNames.Length; i++)
            {
                if (i > 0)
                {
                    sb.Append(',');
                }

                sb.Append(labelNames[i]).Append("=\"");
                AppendEscapedLabelValue(sb, i < labelValues.Length ? labelValues[i] : string.Empty);
                sb.Append('"');
            }

            sb.Append('}');
        }

        sb.Append(' ').Append(FormatValue(value)).Append('\n');
    }

    internal static string FormatValue(double value) =>
        double.IsPositiveInfinity(value) ? "+Inf"
        : double.IsNegativeInfinity(value) ? "-Inf"
        : double.IsNaN(value) ? "NaN"
        : value.ToString("R", CultureInfo.InvariantCulture);

    internal static int CompareLabelValues(string[] a, string[] b)
    {
        for (var i = 0; i < Math.Min(a.Length, b.Length); i++)
        {
            var c = string.CompareOrdinal(a[i], b[i]);
            if (c != 0)
            {
                return c;
            }
        }

        return a.Length.CompareTo(b.Length);
    }
}

/// <summary>A named metric with HELP and TYPE lines.</summary>
public abstract class MetricFamily
{
    private protected MetricFamily(string name, string help, string[] labelNames)
    {
        Name = name;
        Help = help;
        LabelNames = labelNames;
    }

    /// <summary>The metric name, such as <c>hush_pipeline_spans_submitted_total</c>.</summary>
    public string Name { get; }

    /// <summary>The HELP text.</summary>
    public string Help { get; }

    internal string[] LabelNames { get; }

    internal abstract string TypeName { get; }

    internal abstract void AppendSamples(StringBuilder sb);
}

/// <summary>A counter with a fixed set of label names; one <see cref="Counter"/> per combination of label values.</summary>
public sealed class CounterFamily : MetricFamily
{
    private readonly ConcurrentDictionary<string, Counter> _children = new(StringComparer.Ordinal);

    internal CounterFamily(string name, string help, string[] labelNames)
        : base(name, help, labelNames)
    {
        if (labelNames.Length == 0)
        {
            // An unlabelled counter is exposed as 0 from the start, so rate() works from the first scrape.
            WithLabels();
        }
    }

    internal override string TypeName => "counter";

    /// <summary>
    /// The counter for these label values (one per label name, in order). Cache the result: the lookup
    /// allocates a key. Label values must come from a bounded vocabulary.
    /// </summary>
    public Counter WithLabels(params string[] labelValues)
    {
        ArgumentNullException.ThrowIfNull(labelValues);
        if (labelValues.Length != LabelNames.Length)
        {
            throw new ArgumentException(
                $"Metric '{Name}' takes {LabelNames.Length} label values, not {labelValues.Length}.", nameof(labelValues));
        }

        var key = labelValues.Length switch
        {
            0 => string.Empty,
            1 => labelValues[0] ?? string.Empty,
            _ => string.Join('\u0001', labelValues),
        };
        if (_children.TryGetValue(key, out var counter))
        {
            return counter;
        }

        var copy = new string[labelValues.Length];
        for (var i = 0; i < copy.Length; i++)
        {
            copy[i] = labelValues[i] ?? string.Empty;
        }

        return _children.GetOrAdd(key, static (_, values) => new Counter(values), copy);
    }

    internal override void AppendSamples(StringBuilder sb)
    {
        var children = _children.Values.ToArray();
        Array.Sort(children, static (a, b) => HushMetrics.CompareLabelValues(a.LabelValues, b.LabelValues));
        foreach (var child in children)
        {
            HushMetrics.AppendSample(sb, Name, LabelNames, child.LabelValues, child.Value);
        }
    }
}

/// <summary>One monotonically increasing series. Thread-safe; <see cref="Add"/> is one interlocked add.</summary>
public sealed class Counter
{
    private long _value;

    internal Counter(string[] labelValues) => LabelValues = labelValues;

    internal string[] LabelValues { get; }

    /// <summary>The current total.</summary>
    public long Value => Interlocked.Read(ref _value);

    /// <summary>Adds <paramref name="value"/> (which must not be negative: counters only go up).</summary>
    public void Add(long value = 1)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(value);
        Interlocked.Add(ref _value, value);
    }
}

/// <summary>A histogram with a fixed set of label names and buckets; one <see cref="Histogram"/> per combination of label values.</summary>
public sealed class HistogramFamily : MetricFamily
{
    private readonly ConcurrentDictionary<string, Histogram> _children = new(StringComparer.Ordinal);

    internal HistogramFamily(string name, string help, double[] buckets, string[] labelNames)
        : base(name, help, labelNames)
    {
        Buckets = buckets;
    }

    internal double[] Buckets { get; }

    internal override string TypeName => "histogram";

    /// <summary>The histogram for these label values (bounded vocabularies only). Cache the result.</summary>
    public Histogram WithLabels(params string[] labelValues)
    {
        ArgumentNullException.ThrowIfNull(labelValues);
        if (labelValues.Length != LabelNames.Length)
        {
            throw new ArgumentException($"Metric '{Name}' takes {LabelNames.Length} label values, not {labelValues.Length}.", nameof(labelValues));
        }

        var copy = Array.ConvertAll(labelValues, v => v ?? string.Empty);
        return _children.GetOrAdd(string.Join('\u0001', copy), static (_, state) => new Histogram(state.Values, state.Buckets), (Values: copy, Buckets));
    }

    internal override void AppendSamples(StringBuilder sb)
    {
        var children = _children.Values.ToArray();
        Array.Sort(children, static (a, b) => HushMetrics.CompareLabelValues(a.LabelValues, b.LabelValues));
        string[] bucketLabels = [.. LabelNames, "le"];
        foreach (var child in children)
        {
            var (counts, count, sum) = child.Snapshot();
            long cumulative = 0;
            for (var i = 0; i <= Buckets.Length; i++)
            {
                cumulative += counts[i];
                var le = i < Buckets.Length ? HushMetrics.FormatValue(Buckets[i]) : "+Inf";
                HushMetrics.AppendSample(sb, Name + "_bucket", bucketLabels, [.. child.LabelValues, le], cumulative);
            }

            HushMetrics.AppendSample(sb, Name + "_sum", LabelNames, child.LabelValues, sum);
            HushMetrics.AppendSample(sb, Name + "_count", LabelNames, child.LabelValues, count);
        }
    }
}

/// <summary>One histogram series. Thread-safe; <see cref="Observe"/> is a bucket search and three interlocked updates.</summary>
public sealed class Histogram
{
    private readonly double[] _buckets;
    private readonly long[] _counts;
    private long _count;
    private long _sumBits;

    internal Histogram(string[] labelValues, double[] buckets)
    {
        LabelValues = labelValues;
        _buckets = buckets;
        _counts = new long[buckets.Length + 1];
    }

    internal string[] LabelValues { get; }

    /// <summary>Records one observation (such as a latency in seconds).</summary>
    public void Observe(double value)
    {
        var i = Array.BinarySearch(_buckets, value);
        Interlocked.Increment(ref _counts[i >= 0 ? i : ~i]);
        Interlocked.Increment(ref _count);
        long seen, next;
        do
        {
            seen = Interlocked.Read(ref _sumBits);
            next = BitConverter.DoubleToInt64Bits(BitConverter.Int64BitsToDouble(seen) + value);
        }
        while (Interlocked.CompareExchange(ref _sumBits, next, seen) != seen);
    }

    internal (long[] Counts, long Count, double Sum) Snapshot()
    {
        var counts = new long[_counts.Length];
        for (var i = 0; i < counts.Length; i++)
        {
            counts[i] = Interlocked.Read(ref _counts[i]);
        }

        return (counts, Interlocked.Read(ref _count), BitConverter.Int64BitsToDouble(Interlocked.Read(ref _sumBits)));
    }
}

/// <summary>A gauge, or a counter kept elsewhere, read at scrape time from one or more readers.</summary>
internal sealed class ObservedFamily : MetricFamily
{
    internal const string GaugeType = "gauge";
    internal const string CounterType = "counter";

    private readonly Lock _lock = new();
    private Func<IEnumerable<KeyValuePair<string[], double>>>[] _readers = [];

    internal ObservedFamily(string typeName, string name, string help, string[] labelNames)
        : base(name, help, labelNames)
    {
        TypeName = typeName;
    }

    internal override string TypeName { get; }

    internal void AddReader(Func<IEnumerable<KeyValuePair<string[], double>>> read, bool replace)
    {
        lock (_lock)
        {
            _readers = replace ? [read] : [.. _readers, read];
        }
    }

    internal override void AppendSamples(StringBuilder sb)
    {
        var samples = new List<KeyValuePair<string[], double>>();
        foreach (var reader in Volatile.Read(ref _readers))
        {
            try
            {
                samples.AddRange(reader());
            }
#pragma warning disable CA1031 // A broken reader must not break the whole scrape; its series is simply absent.
            catch (Exception)
#pragma warning restore CA1031
            {
            }
        }

        samples.Sort(static (a, b) => HushMetrics.CompareLabelValues(a.Key, b.Key));
        foreach (var sample in samples)
        {
            HushMetrics.AppendSample(sb, Name, LabelNames, sample.Key, sample.Value);
        }
    }
}
