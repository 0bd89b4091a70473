using Hush.Otlp;
using Microsoft.Extensions.Logging;
using static Hush.Privacy.Tests.TestSupport;

namespace Hush.Privacy.Tests.Policy;

public sealed class PolicyProviderTests : IDisposable
{
    private const string RedactPolicy = "version: 1\nrules:\n  - name: v1\n    keys: [k]\n    action: redact\n";
    private const string DropPolicy = "version: 1\nrules:\n  - name: v2\n    keys: [k]\n    action: drop\n";

    private readonly string _dir = Directory.CreateTempSubdirectory("hush-policy-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Write(string yaml)
    {
        var path = Path.Combine(_dir, "policy.yaml");
        File.WriteAllText(path, yaml);
        return path;
    }

    [Fact]
    public void FromFile_BrokenFile_ThrowsListingEveryError()
    {
        var path = Write("version: 1\nmode: nope\nrules:\n  - keys: [a]\n    action: hide\n");

        var ex = Assert.Throws<PolicyLoadException>(() => PolicyProvider.FromFile(path, new ListLogger(), watch: false));

        Assert.Equal(2, ex.Errors.Count);
        Assert.Contains("'rules[0].action'", ex.Message, StringComparison.Ordinal);
        Assert.Contains("'mode'", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Reload_GoodFile_SwapsAndRaisesReloaded()
    {
        using var provider = PolicyProvider.FromFile(Write(RedactPolicy), new ListLogger(), watch: false);
        CompiledPolicy? seen = null;
        provider.Reloaded += p => seen = p;
        var before = provider.Current;

        Write(DropPolicy);
        var result = provider.Reload();

        Assert.True(result.Success);
        Assert.True(result.Changed);
        Assert.NotSame(before, provider.Current);
        Assert.Same(provider.Current, seen);
        Assert.Equal("v2", provider.Current.FindRuleName("k"));
    }

    [Fact]
    public void Reload_BrokenFile_KeepsOldPolicyAndReportsErrors()
    {
        var logger = new ListLogger();
        using var provider = PolicyProvider.FromFile(Write(RedactPolicy), logger, watch: false);
        var before = provider.Current;

        Write("version: 1\nrules:\n  - keys: [k]\n    action: vanish\n");
        var result = provider.Reload();

        Assert.False(result.Success);
        Assert.Same(before, provider.Current);
        Assert.Same(before, result.Current);
        Assert.Contains(result.Errors, e => e.StartsWith("'rules[0].action': unknown action 'vanish'", StringComparison.Ordinal));
        Assert.Contains(logger.Lines, l => l.Contains("keeping the current policy", StringComparison.Ordinal));
    }

    [Fact]
    public void Reload_UnchangedFile_ReportsNoChange()
    {
        using var provider = PolicyProvider.FromFile(Write(RedactPolicy), new ListLogger(), watch: false);

        var result = provider.Reload();

        Assert.True(result.Success);
        Assert.False(result.Changed);
    }

    [Fact]
    public void OnFileChanged_Debounced_ReloadsOnceAfterQuietPeriod()
    {
        var time = new ManualTime();
        using var provider = PolicyProvider.FromFile(Write(RedactPolicy), new ListLogger(), watch: false, time);
        var reloads = 0;
        provider.Reloaded += _ => reloads++;

        Write(DropPolicy);
        provider.OnFileChanged();
        time.Advance(TimeSpan.FromMilliseconds(100));
        provider.OnFileChanged();
        time.Advance(TimeSpan.FromMilliseconds(499));
        Assert.Equal(0, reloads);

        time.Advance(TimeSpan.FromMilliseconds(2));
        Assert.Equal(1, reloads);
        Assert.Equal("v2", provider.Current.FindRuleName("k"));
    }

    [Fact]
    public async Task Reload_DuringConcurrentScrubs_EachRequestSeesOneWholeSnapshot()
    {
        // Two rules that must agree within one snapshot: under v1 both keys are redacted, under v2 both dropped.
        const string v1 = "version: 1\nrules:\n  - name: v1\n    keys: [a, b]\n    action: redact\n";
        const string v2 = "version: 1\nrules:\n  - name: v2\n    keys: [a, b]\n    action: drop\n";
        using var provider = PolicyProvider.FromFile(Write(v1), new ListLogger(), watch: false);
        var scrubber = new PolicyScrubber(provider, new DerivedPseudonymKeyProvider(MasterSecret), new Transforms.InMemoryTokenVault(), new PrivacyCounters());
        var mixed = 0;
        using var stop = new CancellationTokenSource();

        var workers = Enumerable.Range(0, 2).Select(_ => Task.Run(() =>
        {
            for (var i = 0; i < 20_000 && !stop.IsCancellationRequested; i++)
            {
                var request = new TraceRequest();
                for (var r = 0; r < 4; r++)
                {
                    request.ResourceSpans.Add(Request(NewSpan("op", Attr("a", "x"), Attr("b", "y"))).ResourceSpans[0]);
                }

                scrubber.Scrub(request, Tenant);
                var counts = request.ResourceSpans.Select(rs => rs.ScopeSpans[0].Spans[0].Attributes.Count).Distinct().Count();
                if (counts != 1)
                {
                    Interlocked.Increment(ref mixed);
                }
            }
        })).ToArray();

        for (var i = 0; i < 40; i++)
        {
            Write(i % 2 == 0 ? v2 : v1);
            Assert.True(provider.Reload().Success);
        }

        await stop.CancelAsync();
        await Task.WhenAll(workers);
        Assert.Equal(0, mixed);
    }

    [Fact]
    public void FromDefault_IsTheShippedPolicy()
    {
        using var provider = PolicyProvider.FromDefault();

        Assert.Equal(PolicyLoader.LoadDefault().Policy!.Fingerprint, provider.Current.Fingerprint);
        Assert.False(provider.Reload().Changed);
    }

    [Fact]
    public void Dispose_Twice_IsSafe()
    {
        var provider = PolicyProvider.FromFile(Write(RedactPolicy), new ListLogger(), watch: true);

        provider.Dispose();
        provider.Dispose();
    }

    internal sealed class ListLogger : ILogger
    {
        public List<string> Lines { get; } = [];

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            lock (Lines)
            {
                Lines.Add(formatter(state, exception));
            }
        }
    }

    /// <summary>A TimeProvider whose timers fire only when the test advances time.</summary>
    internal sealed class ManualTime : TimeProvider
    {
        private readonly List<ManualTimer> _timers = [];
        private DateTimeOffset _now = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

        public override DateTimeOffset GetUtcNow() => _now;

        public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
        {
            var timer = new ManualTimer(this, callback, state);
            timer.Change(dueTime, period);
            _timers.Add(timer);
            return timer;
        }

        public void Advance(TimeSpan by)
        {
            _now += by;
            foreach (var timer in _timers.ToArray())
            {
                timer.FireIfDue(_now);
            }
        }

        internal sealed class ManualTimer(ManualTime owner, TimerCallback callback, object? state) : ITimer
        {
            private DateTimeOffset? _due;

            public bool Change(TimeSpan dueTime, TimeSpan period)
            {
                _due = dueTime == Timeout.InfiniteTimeSpan ? null : owner._now + dueTime;
                return true;
            }

            public void FireIfDue(DateTimeOffset now)
            {
                if (_due is { } due && due <= now)
                {
                    _due = null;
                    callback(state);
                }
            }

            public void Dispose() => _due = null;

            public ValueTask DisposeAsync()
            {
                _due = null;
                return ValueTask.CompletedTask;
            }
        }
    }
}
