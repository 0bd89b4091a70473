using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using System.Text.Unicode;
using Hush.Otlp;
using Hush.Privacy.Detection;
using Hush.Privacy.Transforms;

namespace Hush.Privacy.Scrubbing;

/// <summary>
/// The state of one scrub call: one policy snapshot, one tenant, a reusable match list and the
/// tallies. Not thread-safe; one per call.
/// </summary>
internal sealed class ScrubSession
{
    /// <summary>Span attribute listing redactions by class when <c>accounting.span_attribute</c> is on.</summary>
    internal const string AccountingAttribute = "hush.redacted";

    /// <summary>Nested key paths (<c>parent.child</c>) longer than this are matched by the child key alone.</summary>
    private const int MaxNestedPathChars = 1024;

    /// <summary>Integers below this magnitude have fewer than 7 digits: no detector (phone, SSN, card) can match them.</summary>
    private const long MinScannedInteger = 1_000_000;

    /// <summary>
    /// Pseudonyms remembered for the rest of one call: a user's id repeats on every span of its trace (3-10 spans per
    /// trace in a request), and one HMAC costs ~2 us. Bounded so a request of distinct ids costs at most this many entries;
    /// the memo dies with the session, so no value outlives the request that carried it.
    /// </summary>
    private const int MaxMemoizedPseudonyms = 1024;

    /// <summary>
    /// Values found clean remembered for the rest of one call: most values repeat across the spans of a request
    /// (server.address, db.system, user agents, code paths, request ids on every span of a trace). They live in a
    /// direct-mapped table (<see cref="CleanTable"/>) whose slot comes from the length and a few chars, so a lookup is
    /// one string compare and a value seen once (an id, an address) costs no hash of all its chars, where a set hashed
    /// it twice (to look it up, then to add it). A collision only costs a scan. Sized to the request, at most this
    /// many slots; the table references strings of the request being scrubbed only and is cleared when the call ends,
    /// so no value outlives the request that carried it.
    /// </summary>
    private const int MaxCleanSlots = 4096;

    /// <summary>Clean-value slots per span of the request (a span carries ~20 values, most of them repeats).</summary>
    private const int CleanSlotsPerSpan = 8;

    /// <summary>Longer values are scanned every time: they rarely repeat and would make each lookup cost a scan.</summary>
    private const int MaxMemoizedCleanChars = 1024;

    /// <summary>Slots of the span-name cache and of the clean-value table of a call without a request (one value).</summary>
    private const int RecentCleanSlots = 256;

    /// <summary>
    /// Slots of the direct-mapped tables of SQL and URL rewrites remembered for the rest of one call:
    /// <c>db.statement</c> and <c>db.query.text</c> carry the same statement, and a route is called more than once per
    /// request. A slot comes from the length and five chars, as for clean values, so a statement seen once is not
    /// hashed whole twice; only values the transforms read whole (at most <see cref="MaxMemoizedCleanChars"/>).
    /// </summary>
    private const int TransformSlots = 256;

    /// <summary>Slots of the table of generalized IPv4 networks (power of two).</summary>
    private const int NetworkSlots = 256;

    /// <summary>Distinct (rule, class, action) kinds a session tallies before adding further ones straight to the shared counters.</summary>
    private const int MaxTallies = 32;

    private const string LimitsRule = "limits";
    private const string DetectorRulePrefix = "detector/";

    private static readonly UTF8Encoding StrictUtf8 = new(false, true);

    /// <summary>"detector/&lt;name&gt;" counter labels, built once per detector name (names come from the policy, never values).</summary>
    private static readonly ConcurrentDictionary<string, string> DetectorRules = new(StringComparer.Ordinal);

    private readonly PolicyScrubber _scrubber;
    private readonly CompiledPolicy _policy;
    private readonly string _tenant;
    private readonly List<DetectorMatch> _matches = [];
    private readonly bool _onlyLimits;
    private Pseudonymizer? _pseudonymizer;
    private Dictionary<string, int>? _spanTally;
    /// <summary>Memoized pseudonyms by data class, then value: ordinal string keys hash without Marvin, unlike a tuple key.</summary>
    private Dictionary<string, Dictionary<string, string>>? _pseudonyms;
    private int _memoizedPseudonyms;
    private string?[]? _cleanTable;
    private int _cleanMask;
    private string?[]? _recentNames;
    /// <summary>Generalized IPv4 networks of this call, reused for the addresses of one network (they were a new string each).</summary>
    private string?[]? _networks;
    private string?[]? _results;
    private string?[]? _sqlResults;
    private string?[]? _urlResults;
    private CounterTally[]? _tallies;
    private int _tallyCount;
    private bool _inSpan;
    private int _changed;
    private int _dropped;
    private int _oversized;
    private int _depthLimited;
    private int _spansDropped;

    /// <param name="scrubber">The scrubber whose vault, counters and keys the call uses.</param>
    /// <param name="policy">The snapshot kept for the whole call.</param>
    /// <param name="tenant">The tenant the request belongs to.</param>
    /// <param name="generalWalk">Resolve every key and value even when <see cref="CompiledPolicy.OnlyLimitsApply"/> (tests compare the two walks).</param>
    public ScrubSession(PolicyScrubber scrubber, CompiledPolicy policy, string tenant, bool generalWalk = false)
    {
        _scrubber = scrubber;
        _policy = policy;
        _tenant = tenant;
        _onlyLimits = policy.OnlyLimitsApply && !generalWalk;
    }

    private string?[] RecentNetworks => _networks ??= new string?[NetworkSlots];

    private Pseudonymizer Pseudonymizer => _pseudonymizer ??= _scrubber.PseudonymizerFor(_tenant);

    /// <summary>The tenant's pseudonym of <paramref name="value"/>, computed once per call.</summary>
    private string Pseudonym(string dataClass, string value)
    {
        _pseudonyms ??= new Dictionary<string, Dictionary<string, string>>(StringComparer.Ordinal);
        if (!_pseudonyms.TryGetValue(dataClass, out var byValue))
        {
            byValue = new Dictionary<string, string>(StringComparer.Ordinal);
            _pseudonyms[dataClass] = byValue;
        }

        if (byValue.TryGetValue(value, out var pseudonym))
        {
            return pseudonym;
        }

        pseudonym = Pseudonymizer.Pseudonymize(dataClass, value);
        if (_memoizedPseudonyms < MaxMemoizedPseudonyms)
        {
            byValue[value] = pseudonym;
            _memoizedPseudonyms++;
        }

        return pseudonym;
    }

    public ScrubReport Run(TraceRequest request)
    {
        var resourceSpans = request.ResourceSpans;
        if (resourceSpans is null)
        {
            return default;
        }

        _cleanTable = CleanTable.Rent(CleanSlotsFor(request), out _cleanMask);
        try
        {
            for (var r = resourceSpans.Count - 1; r >= 0; r--)
            {
                var rs = resourceSpans[r];
                try
                {
                    ScrubResourceSpans(rs);
                }
#pragma warning disable CA1031 // Fail closed: anything unexpected removes the data rather than letting it through.
                catch (Exception)
#pragma warning restore CA1031
                {
                    _spansDropped += CountSpans(rs);
                    resourceSpans.RemoveAt(r);
                }
            }
        }
        finally
        {
            FlushCounters();
            CleanTable.Return(_cleanTable, _cleanMask + 1);
            _cleanTable = null;
        }

        return new ScrubReport(_changed, _dropped, _oversized, _depthLimited, _spansDropped);
    }

    /// <summary>Clean-value slots for <paramref name="request"/>: a power of two from <see cref="RecentCleanSlots"/> to <see cref="MaxCleanSlots"/>.</summary>
    private static int CleanSlotsFor(TraceRequest request)
    {
        var spans = 0;
        foreach (var rs in request.ResourceSpans!)
        {
            spans += CountSpans(rs);
            if (spans * CleanSlotsPerSpan >= MaxCleanSlots)
            {
                return MaxCleanSlots;
            }
        }

        return Math.Max(RecentCleanSlots, (int)System.Numerics.BitOperations.RoundUpToPowerOf2((uint)(spans * CleanSlotsPerSpan)));
    }

    private static int CountSpans(ResourceSpans? rs)
    {
        var count = 0;
        if (rs?.ScopeSpans is null)
        {
            return 0;
        }

        foreach (var ss in rs.ScopeSpans)
        {
            count += ss?.Spans?.Count ?? 0;
        }

        return count;
    }

    private void ScrubResourceSpans(ResourceSpans rs)
    {
        rs.SchemaUrl = ScrubSchemaUrl(rs.SchemaUrl);
        if (rs.Resource is not null)
        {
            ScrubTopLevel(rs.Resource.Attributes);
        }

        if (rs.ScopeSpans is null)
        {
            return;
        }

        foreach (var ss in rs.ScopeSpans)
        {
            ss.SchemaUrl = ScrubSchemaUrl(ss.SchemaUrl);
            if (ss.Scope is not null)
            {
                ss.Scope.Name = ScrubText(ss.Scope.Name);
                ss.Scope.Version = ScrubText(ss.Scope.Version);
                ScrubTopLevel(ss.Scope.Attributes);
            }

            var spans = ss.Spans;
            if (spans is null)
            {
                continue;
            }

            for (var i = spans.Count - 1; i >= 0; i--)
            {
                try
                {
                    ScrubSpan(spans[i]);
                }
#pragma warning disable CA1031 // Fail closed, per span.
                catch (Exception)
#pragma warning restore CA1031
                {
                    _spansDropped++;
                    spans.RemoveAt(i);
                }
                finally
                {
                    _inSpan = false;
                }
            }
        }
    }

    private void ScrubSpan(Span span)
    {
        _inSpan = _policy.Document.AccountingSpanAttribute;
        _spanTally?.Clear();
        if (_onlyLimits)
        {
            LimitSpan(span);
        }
        else
        {
            ScrubSpanFields(span);
        }

        if (_inSpan && _spanTally is { Count: > 0 })
        {
            span.Attributes ??= [];
            span.Attributes.RemoveAll(static kv => kv.Key == AccountingAttribute);
            span.Attributes.Add(new KeyValue(AccountingAttribute, AnyValue.Of(FormatTally(_spanTally))));
        }
    }

    private void ScrubSpanFields(Span span)
    {
        span.Name = ScrubSpanName(span.Name);
        span.TraceState = ScrubTraceState(span.TraceState);
        ScrubAttributes(span.Attributes, 0, null, null);
        if (span.Events is not null)
        {
            foreach (var ev in span.Events)
            {
                ev.Name = ScrubText(ev.Name);
                ScrubAttributes(ev.Attributes, 0, null, null);
            }
        }

        if (span.Links is not null)
        {
            foreach (var link in span.Links)
            {
                link.TraceState = ScrubTraceState(link.TraceState);
                ScrubAttributes(link.Attributes, 0, null, null);
            }
        }

        if (span.Status is not null)
        {
            span.Status.Message = ScrubText(span.Status.Message);
        }
    }

    /// <summary>
    /// <see cref="ScrubSpanFields"/> under a policy where <see cref="CompiledPolicy.OnlyLimitsApply"/>: text passes
    /// unchanged (missing text still becomes empty, as there), span names are still URL-sanitized when the policy says
    /// so, and only arrays and maps are visited, for the depth limit. Same result, property-tested against the general
    /// walk; it reads each attribute's kind instead of resolving its key and value (0.65 us per span before).
    /// </summary>
    private void LimitSpan(Span span)
    {
        if (_policy.Document.SpanNames == SpanNameTreatment.Url)
        {
            span.Name = ScrubSpanName(span.Name);
        }
        else
        {
            span.Name ??= string.Empty;
        }

        span.TraceState ??= string.Empty;
        LimitAttributes(span.Attributes, 0);
        if (span.Events is not null)
        {
            foreach (var ev in span.Events)
            {
                ev.Name ??= string.Empty;
                LimitAttributes(ev.Attributes, 0);
            }
        }

        if (span.Links is not null)
        {
            foreach (var link in span.Links)
            {
                link.TraceState ??= string.Empty;
                LimitAttributes(link.Attributes, 0);
            }
        }

        if (span.Status is not null)
        {
            span.Status.Message ??= string.Empty;
        }
    }

    private void ScrubTopLevel(List<KeyValue>? attributes)
    {
        if (_onlyLimits)
        {
            LimitAttributes(attributes, 0);
        }
        else
        {
            ScrubAttributes(attributes, 0, null, null);
        }
    }

    /// <summary>The depth limit alone over a list of attributes (see <see cref="LimitSpan"/>). Drops compact the list.</summary>
    private void LimitAttributes(List<KeyValue>? attributes, int depth)
    {
        if (attributes is null)
        {
            return;
        }

        var write = 0;
        for (var read = 0; read < attributes.Count; read++)
        {
            var kv = attributes[read];
            if (!WithinDepth(kv.Value, depth))
            {
                _dropped++;
                continue;
            }

            if (write != read)
            {
                attributes[write] = kv;
            }

            write++;
        }

        KeepFirst(attributes, write);
    }

    /// <summary>False when <paramref name="value"/> must be dropped for the depth limit; nested values deeper than it are dropped in place.</summary>
    private bool WithinDepth(AnyValue value, int depth)
    {
        switch (value.Kind)
        {
            case AnyValueKind.Array:
                {
                    if (depth >= _policy.Document.MaxDepth)
                    {
                        DepthExceeded();
                        return false;
                    }

                    var items = value.ArrayValue!;
                    var write = 0;
                    for (var i = 0; i < items.Count; i++)
                    {
                        var item = items[i];
                        if (!WithinDepth(item, depth + 1))
                        {
                            _dropped++;
                            continue;
                        }

                        items[write++] = item;
                    }

                    KeepFirst(items, write);

                    return true;
                }

            case AnyValueKind.KeyValueList:
                if (depth >= _policy.Document.MaxDepth)
                {
                    DepthExceeded();
                    return false;
                }

                LimitAttributes(value.KeyValueListValue, depth + 1);
                return true;

            default:
                return true;
        }
    }

    private static string FormatTally(Dictionary<string, int> tally)
    {
        var classes = new string[tally.Count];
        tally.Keys.CopyTo(classes, 0);
        Array.Sort(classes, StringComparer.Ordinal);
        var sb = new StringBuilder();
        foreach (var cls in classes)
        {
            if (sb.Length > 0)
            {
                sb.Append(',');
            }

            sb.Append(cls).Append(':').Append(tally[cls].ToString(CultureInfo.InvariantCulture));
        }

        return sb.ToString();
    }

    /// <summary>Scrubs a list of attributes in place: key detection, rule lookup, value actions. Drops compact the list.</summary>
    public void ScrubAttributes(List<KeyValue>? attributes, int depth, CompiledRule? inherited, string? parentPath)
    {
        if (attributes is null)
        {
            return;
        }

        var write = 0;
        for (var read = 0; read < attributes.Count; read++)
        {
            var kv = attributes[read];
            var key = kv.Key ?? string.Empty;
            var rule = ResolveRule(key, inherited, parentPath, out var keyClean);
            var newKey = key;
            if (!keyClean)
            {
                var scrubbedKey = Detect(key, droppable: true);
                if (scrubbedKey is null)
                {
                    _dropped++;
                    continue;
                }

                newKey = scrubbedKey;
            }

            AnyValue value;
            bool keep;
            if (rule is null && kv.Value.StringValue is { } text)
            {
                // Most attributes: a string under no rule, where only the detectors apply (what ScrubValue and ApplyRule
                // would do, without their two calls and the nested path).
                var detected = Detect(text, droppable: true);
                keep = detected is not null;
                value = detected is null || ReferenceEquals(detected, text) ? kv.Value : AnyValue.Of(detected);
            }
            else
            {
                var path = parentPath is null ? key : (parentPath.Length + key.Length < MaxNestedPathChars ? parentPath + "." + key : key);
                value = ScrubValue(kv.Value, rule, depth, path, out keep);
            }

            if (!keep)
            {
                _dropped++;
                continue;
            }

            if (!ReferenceEquals(newKey, key) || !SameValue(value, kv.Value))
            {
                attributes[write] = new KeyValue(newKey, value);
            }
            else if (write != read)
            {
                attributes[write] = kv;
            }

            // An unchanged attribute in its own slot is not stored again (two write barriers per attribute saved).
            write++;
        }

        KeepFirst(attributes, write);
    }

    /// <summary>Ends a compaction: the first <paramref name="count"/> items were kept.</summary>
    private static void KeepFirst<T>(List<T> list, int count)
    {
        if (count < list.Count)
        {
            list.RemoveRange(count, list.Count - count);
        }
    }

    /// <summary>Identity check: containers are edited in place, so a deep comparison would only cost time.</summary>
    private static bool SameValue(AnyValue a, AnyValue b) => a.IsSameAs(b);

    private CompiledRule? ResolveRule(string key, CompiledRule? inherited, string? parentPath, out bool keyClean)
    {
        int index;
        if (parentPath is null)
        {
            if (_policy.TryGetCachedKey(key, out var info))
            {
                keyClean = true;
                index = info.Rule;
            }
            else
            {
                index = _policy.FindRule(key);
                keyClean = IsClean(key);
                if (keyClean)
                {
                    _policy.CacheKey(key, new KeyInfo(index));
                }
            }
        }
        else
        {
            index = parentPath.Length + key.Length < MaxNestedPathChars ? _policy.FindRule(parentPath + "." + key) : -1;
            if (index < 0)
            {
                index = _policy.FindRule(key);
            }

            keyClean = IsClean(key);
            if (index < 0)
            {
                return inherited ?? (_policy.Mode == PolicyMode.Allowlist ? _policy.UnknownKeyRule : null);
            }
        }

        if (index >= 0)
        {
            return _policy.Rules[index];
        }

        return _policy.Mode == PolicyMode.Allowlist ? _policy.UnknownKeyRule : null;
    }

    private bool IsClean(string key) =>
        !_policy.HasDetectors || key.Length == 0 || (_policy.Detectors.Scan(key, _matches) && _matches.Count == 0);

    private AnyValue ScrubValue(AnyValue value, CompiledRule? rule, int depth, string path, out bool keep)
    {
        keep = true;
        if (rule is { Action: PolicyAction.Drop })
        {
            keep = false;
            Record(rule.Name, rule.DataClass, rule.ActionLabel);
            return value;
        }

        switch (value.Kind)
        {
            case AnyValueKind.String:
                {
                    var s = value.StringValue!;
                    var result = ApplyRule(s, rule, droppable: true);
                    if (result is null)
                    {
                        keep = false;
                        return value;
                    }

                    return ReferenceEquals(result, s) ? value : AnyValue.Of(result);
                }

            case AnyValueKind.Int:
                return ScrubNumber(value, Math.Abs(value.IntValue) >= MinScannedInteger || value.IntValue == long.MinValue, rule, out keep);

            case AnyValueKind.Double:
                {
                    var d = value.DoubleValue;
                    var integral = double.IsFinite(d) && Math.Abs(d) >= MinScannedInteger && Math.Abs(d) < 1e19 && Math.Floor(d) == d;
                    return ScrubNumber(value, integral, rule, out keep);
                }

            case AnyValueKind.Bytes:
                return ScrubBytes(value, rule, out keep);

            case AnyValueKind.Array:
                {
                    if (rule is { Action: PolicyAction.Redact })
                    {
                        Record(rule.Name, rule.DataClass, rule.ActionLabel);
                        _changed++;
                        return AnyValue.Of(Redactor.Placeholder(rule.DataClass));
                    }

                    if (depth >= _policy.Document.MaxDepth)
                    {
                        DepthExceeded();
                        keep = false;
                        return value;
                    }

                    var items = value.ArrayValue!;
                    var write = 0;
                    for (var i = 0; i < items.Count; i++)
                    {
                        var item = ScrubValue(items[i], rule, depth + 1, path, out var keepItem);
                        if (!keepItem)
                        {
                            _dropped++;
                            continue;
                        }

                        items[write++] = item;
                    }

                    KeepFirst(items, write);

                    return value;
                }

            case AnyValueKind.KeyValueList:
                {
                    if (rule is { Action: PolicyAction.Redact })
                    {
                        Record(rule.Name, rule.DataClass, rule.ActionLabel);
                        _changed++;
                        return AnyValue.Of(Redactor.Placeholder(rule.DataClass));
                    }

                    if (depth >= _policy.Document.MaxDepth)
                    {
                        DepthExceeded();
                        keep = false;
                        return value;
                    }

                    ScrubAttributes(value.KeyValueListValue, depth + 1, rule, path);
                    return value;
                }

            default:
                // Empty and Bool carry no text. A rule that hides the value still hides it.
                if (rule is { Action: PolicyAction.Redact })
                {
                    Record(rule.Name, rule.DataClass, rule.ActionLabel);
                    _changed++;
                    return AnyValue.Of(Redactor.Placeholder(rule.DataClass));
                }

                return value;
        }
    }

    private void DepthExceeded()
    {
        _depthLimited++;
        Record(LimitsRule, "max_depth", "drop");
    }

    /// <summary>
    /// Numbers: hiding actions apply to their invariant text; otherwise integers of 7+ digits pass the
    /// detectors (a card or phone number sent as an int), and a finding turns the value into a string.
    /// The text is only formatted when one of those needs it: most numbers (ports, sizes, scores) need neither.
    /// </summary>
    private AnyValue ScrubNumber(AnyValue value, bool scan, CompiledRule? rule, out bool keep)
    {
        keep = true;
        if (rule is { Action: PolicyAction.Redact or PolicyAction.Pseudonymize or PolicyAction.Tokenize or PolicyAction.Mask or PolicyAction.Generalize })
        {
            var result = ApplyRule(NumberText(value, scan), rule, droppable: true);
            if (result is null)
            {
                keep = false;
                return value;
            }

            return AnyValue.Of(result);
        }

        if (!scan || (rule is not null && !rule.Detect) || !_policy.HasDetectors)
        {
            return value;
        }

        var text = NumberText(value, integral: true);
        var detected = Detect(text, droppable: true);
        if (detected is null)
        {
            keep = false;
            return value;
        }

        return ReferenceEquals(detected, text) ? value : AnyValue.Of(detected);
    }

    /// <summary>The invariant text of a number: integral doubles (only those of 7+ digits are scanned) as integers.</summary>
    private static string NumberText(AnyValue value, bool integral) => value.Kind == AnyValueKind.Int
        ? value.IntValue.ToString(CultureInfo.InvariantCulture)
        : integral ? ((long)value.DoubleValue).ToString(CultureInfo.InvariantCulture) : value.DoubleValue.ToString("R", CultureInfo.InvariantCulture);

    /// <summary>
    /// Valid UTF-8 is scrubbed as the string it is. Invalid UTF-8 (binary ids, hashes, compressed
    /// blobs) cannot be read as text, so it fails closed: hiding rules apply to its base64 form; under
    /// detection it is scanned byte-for-char (Latin-1, so embedded ASCII secrets are found) and kept
    /// only if nothing matches and the whole value fit the scan; otherwise it becomes <c>{binary}</c>.
    /// </summary>
    private AnyValue ScrubBytes(AnyValue value, CompiledRule? rule, out bool keep)
    {
        keep = true;
        var bytes = value.BytesValue!;
        if (bytes.Length == 0)
        {
            return value;
        }

        if (Utf8.IsValid(bytes))
        {
            var s = StrictUtf8.GetString(bytes);
            var result = ApplyRule(s, rule, droppable: true);
            if (result is null)
            {
                keep = false;
                return value;
            }

            return ReferenceEquals(result, s) ? value : AnyValue.Of(Encoding.UTF8.GetBytes(result));
        }

        if (rule is not null && rule.Action is not (PolicyAction.Keep or PolicyAction.Sql or PolicyAction.Url or PolicyAction.Truncate))
        {
            var result = ApplyRule(Convert.ToBase64String(bytes), rule, droppable: true);
            if (result is null)
            {
                keep = false;
                return value;
            }

            return AnyValue.Of(result);
        }

        if ((rule is not null && !rule.Detect) || !_policy.HasDetectors)
        {
            return value;
        }

        var text = Encoding.Latin1.GetString(bytes);
        var whole = _policy.Detectors.Scan(text, _matches);
        if (whole && _matches.Count == 0)
        {
            return value;
        }

        var cls = _matches.Count > 0 ? _matches[0].DataClass : "binary";
        if (_matches.Count > 0)
        {
            RecordDetector(_matches[0].Detector, cls, "redact");
        }
        else
        {
            Record(LimitsRule, cls, "redact");
        }
        _changed++;
        return AnyValue.Of(Redactor.Placeholder("binary"));
    }

    /// <summary>Applies the key's rule to a string. Returns null when the value must be dropped.</summary>
    private string? ApplyRule(string s, CompiledRule? rule, bool droppable)
    {
        if (rule is null)
        {
            return Detect(s, droppable);
        }

        if (s.Length == 0)
        {
            return s;
        }

        switch (rule.Action)
        {
            case PolicyAction.Drop:
                Record(rule.Name, rule.DataClass, rule.ActionLabel);
                return droppable ? null : Redactor.Placeholder(rule.DataClass);
            case PolicyAction.Redact:
                return Changed(rule, Redactor.Placeholder(rule.DataClass));
            case PolicyAction.Pseudonymize:
                return Changed(rule, Pseudonym(rule.DataClass, s));
            case PolicyAction.Tokenize:
                return Changed(rule, _scrubber.Vault.Tokenize(_tenant, rule.DataClass, s));
            case PolicyAction.Mask:
                return Changed(rule, Masker.Mask(CapForTransform(s), rule.KeepLast));
            case PolicyAction.Generalize:
                return Changed(rule, Generalize(s, rule.DataClass));
            case PolicyAction.Sql:
                return Transformed(rule, s, Memoized(ref _sqlResults, s, static (v, recent) => SqlNormalizer.Normalize(CapForTransform(v), recent)), droppable);
            case PolicyAction.Url:
                return Transformed(rule, s, Memoized(ref _urlResults, s, static (v, recent) => UrlSanitizer.Sanitize(CapForTransform(v), recent)), droppable);
            case PolicyAction.Truncate:
                return Transformed(rule, s, Truncator.Truncate(s, rule.MaxChars), droppable);
            default:
                return rule.Detect ? Detect(s, droppable) : s;
        }
    }

    private string Changed(CompiledRule rule, string result)
    {
        Record(rule.Name, rule.DataClass, rule.ActionLabel);
        _changed++;
        return result;
    }

    private string? Transformed(CompiledRule rule, string original, string result, bool droppable)
    {
        if (!string.Equals(original, result, StringComparison.Ordinal))
        {
            Record(rule.Name, rule.DataClass, rule.ActionLabel);
            _changed++;
        }
        else
        {
            result = original;
        }

        return rule.Detect ? Detect(result, droppable) : result;
    }

    /// <summary>
    /// The transform's result for <paramref name="s"/>, remembered for the rest of the call (a value whose slot another
    /// one took is transformed again). The transforms are pure functions of the value, so a remembered result is the
    /// one a second call would return; the counters and the detectors still run
    /// on it every time (<see cref="Transformed"/>), so accounting and findings do not change.
    /// </summary>
    private string Memoized(ref string?[]? memo, string s, Func<string, string?[], string> transform)
    {
        // Results of one shape (a statement with other literals, a route with other ids) are one string.
        var results = _results ??= new string?[TransformSlots];
        if (s.Length > MaxMemoizedCleanChars)
        {
            return transform(s, results);
        }

        // Pairs: the value at 2 * slot, its result at 2 * slot + 1.
        memo ??= new string?[2 * TransformSlots];
        var at = 2 * (SampledHash.Of(s) & (TransformSlots - 1));
        if (IsRecent(memo, at, s))
        {
            return memo[at + 1]!;
        }

        var result = transform(s, results);
        memo[at] = s;
        memo[at + 1] = result;
        return result;
    }

    /// <summary>Transforms (SQL, URL, mask) work on at most the scanned prefix: their cost stays bounded per value.</summary>
    private static string CapForTransform(string s) => s.Length <= DetectorSet.MaxScanChars ? s : Cut(s);

    private static string Cut(string s)
    {
        var cut = char.IsHighSurrogate(s[DetectorSet.MaxScanChars - 1]) ? DetectorSet.MaxScanChars - 1 : DetectorSet.MaxScanChars;
        return s[..cut];
    }

    private string Generalize(string s, string dataClass)
    {
        var trimmed = s.Trim();
        if (Generalizer.TryGeneralizeIp(trimmed, RecentNetworks, out var prefix))
        {
            return prefix;
        }

        if (Generalizer.TryGeneralizeDate(trimmed, out var year))
        {
            return year;
        }

        // Neither an address nor a date: fail closed.
        return Redactor.Placeholder(dataClass);
    }

    /// <summary>Text in places that cannot be dropped (names, messages, scope): findings are replaced inline.</summary>
    private string ScrubText(string? text) => string.IsNullOrEmpty(text) ? text ?? string.Empty : Detect(text, droppable: false)!;

    /// <summary>Schema URLs are URLs: sanitized like <c>url.full</c>, then detected.</summary>
    private string ScrubSchemaUrl(string? url)
    {
        if (string.IsNullOrEmpty(url))
        {
            return url ?? string.Empty;
        }

        var sanitized = UrlSanitizer.Sanitize(CapForTransform(url));
        if (!string.Equals(sanitized, url, StringComparison.Ordinal))
        {
            Record("schema_url", "url", "url");
            _changed++;
        }
        else
        {
            sanitized = url;
        }

        return Detect(sanitized, droppable: false)!;
    }

    private string ScrubSpanName(string? name)
    {
        if (string.IsNullOrEmpty(name))
        {
            return name ?? string.Empty;
        }

        // Span names repeat on every span of a route: a recent unchanged one is answered by one string compare,
        // before the policy's shared cache hashes it.
        _recentNames ??= new string?[RecentCleanSlots];
        var slot = SampledHash.Of(name) & (RecentCleanSlots - 1);
        if (IsRecent(_recentNames, slot, name))
        {
            return name;
        }

        if (_policy.IsKnownCleanSpanName(name))
        {
            _recentNames[slot] = name;
            return name;
        }

        var original = name;
        if (_policy.Document.SpanNames == SpanNameTreatment.Url && name.AsSpan().IndexOfAny('/', '?') >= 0)
        {
            var capped = CapForTransform(name);
            var words = capped.Split(' ');
            var changed = false;
            for (var i = 0; i < words.Length; i++)
            {
                if (words[i].AsSpan().IndexOfAny('/', '?') >= 0)
                {
                    var sanitized = UrlSanitizer.Sanitize(words[i]);
                    if (!string.Equals(sanitized, words[i], StringComparison.Ordinal))
                    {
                        words[i] = sanitized;
                        changed = true;
                    }
                }
            }

            if (changed)
            {
                Record("span_names", "url", "url");
                _changed++;
                name = string.Join(' ', words);
            }
        }

        var result = Detect(name, droppable: false)!;
        if (ReferenceEquals(result, original))
        {
            _policy.AddCleanSpanName(original);
            _recentNames[slot] = original;
        }

        return result;
    }

    /// <summary>W3C tracestate <c>k=v,k2=v2</c>: detectors run on values; a member whose value must be dropped is removed.</summary>
    private string ScrubTraceState(string? traceState)
    {
        if (string.IsNullOrEmpty(traceState) || !_policy.HasDetectors)
        {
            return traceState ?? string.Empty;
        }

        // Fast path: nothing anywhere in the header.
        if (_policy.Detectors.Scan(traceState, _matches) && _matches.Count == 0)
        {
            return traceState;
        }

        var members = CapForTransform(traceState).Split(',');
        var sb = new StringBuilder(traceState.Length);
        foreach (var member in members)
        {
            var eq = member.IndexOf('=', StringComparison.Ordinal);
            string? rebuilt;
            if (eq < 0)
            {
                rebuilt = Detect(member, droppable: true);
            }
            else
            {
                var scrubbed = Detect(member[(eq + 1)..], droppable: true);
                rebuilt = scrubbed is null ? null : string.Concat(member.AsSpan(0, eq + 1), scrubbed);
            }

            if (rebuilt is null)
            {
                _dropped++;
                continue;
            }

            if (sb.Length > 0)
            {
                sb.Append(',');
            }

            sb.Append(rebuilt);
        }

        return sb.ToString();
    }

    /// <summary>
    /// Runs the detectors and applies <c>on_detect</c> to each finding. Values longer than the scan
    /// get <c>limits.oversized_value</c>. Returns the same instance when nothing changed, null when the
    /// value must be dropped (only if <paramref name="droppable"/>).
    /// </summary>
    private string? Detect(string s, bool droppable)
    {
        if (!_policy.HasDetectors || s.Length == 0)
        {
            return s;
        }

        var memoize = s.Length <= MaxMemoizedCleanChars;
        var slot = 0;
        if (memoize)
        {
            // Only values a full scan found clean are remembered, and only an ordinally equal value is answered from
            // them: the scan depends on nothing but the text, so the answer is the one a scan would give.
            if (_cleanTable is null)
            {
                _cleanTable = new string?[RecentCleanSlots];
                _cleanMask = RecentCleanSlots - 1;
            }

            slot = SampledHash.Of(s) & _cleanMask;
            if (IsRecent(_cleanTable, slot, s))
            {
                return s;
            }
        }

        var whole = _policy.Detectors.Scan(s, _matches);
        if (whole && _matches.Count == 0)
        {
            if (memoize)
            {
                _cleanTable![slot] = s;
            }

            return s;
        }

        if (!whole)
        {
            _oversized++;
            _changed++;
            if (_policy.Document.OversizedValue == OversizedValueAction.Redact)
            {
                Record(LimitsRule, "oversized", "redact");
                return Redactor.Placeholder("oversized");
            }

            Record(LimitsRule, "oversized", "truncate");
            s = Cut(s);
            if (_matches.Count == 0)
            {
                return s;
            }
        }
        else if (_matches.Count == 0)
        {
            return s;
        }

        // A placeholder left by an earlier action ("?session={redacted}") is not a secret to find again.
        RemovePlaceholderMatches(s);
        if (_matches.Count == 0)
        {
            return s;
        }

        foreach (var m in _matches)
        {
            if (_policy.InlineActionFor(m.DataClass) == PolicyAction.Drop && droppable)
            {
                RecordDetector(m.Detector, m.DataClass, "drop");
                return null;
            }
        }

        if (_matches.Count == 1 && _matches[0].Start == 0 && _matches[0].Length == s.Length)
        {
            // The whole value is the finding (an address in network.peer.address, an email as an id): no builder.
            var whole1 = _matches[0];
            var action1 = _policy.InlineActionFor(whole1.DataClass);
            var replaced = Replace(action1, whole1.DataClass, s);
            RecordDetector(whole1.Detector, whole1.DataClass, action1 == PolicyAction.Drop ? "redact" : ActionLabel(action1));
            _changed++;
            return replaced;
        }

        var sb = new StringBuilder(s.Length + 16);
        var pos = 0;
        foreach (var m in _matches)
        {
            if (m.Start < pos || m.End > s.Length)
            {
                continue;
            }

            sb.Append(s, pos, m.Start - pos);
            var action = _policy.InlineActionFor(m.DataClass);
            sb.Append(Replace(action, m.DataClass, s.Substring(m.Start, m.Length)));
            pos = m.End;
            RecordDetector(m.Detector, m.DataClass, action == PolicyAction.Drop ? "redact" : ActionLabel(action));
        }

        sb.Append(s, pos, s.Length - pos);
        _changed++;
        return sb.ToString();
    }

    private static bool IsRecent(string?[] cache, int slot, string s) =>
        cache[slot] is { } recent && (ReferenceEquals(recent, s) || string.Equals(recent, s, StringComparison.Ordinal));

    private void RemovePlaceholderMatches(string s)
    {
        for (var i = _matches.Count - 1; i >= 0; i--)
        {
            var m = _matches[i];
            if (m.Length >= 3 && s[m.Start] == '{' && s[m.End - 1] == '}' && IsPlaceholderName(s.AsSpan(m.Start + 1, m.Length - 2)))
            {
                _matches.RemoveAt(i);
            }
        }
    }

    private static bool IsPlaceholderName(ReadOnlySpan<char> name)
    {
        foreach (var c in name)
        {
            if (!(char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c is '_' or '-' or '.'))
            {
                return false;
            }
        }

        return true;
    }

    private string Replace(PolicyAction action, string dataClass, string text) => action switch
    {
        PolicyAction.Pseudonymize => Pseudonym(dataClass, text),
        PolicyAction.Tokenize => _scrubber.Vault.Tokenize(_tenant, dataClass, text),
        PolicyAction.Mask => Masker.Mask(text, 4),
        PolicyAction.Generalize => Generalizer.TryGeneralizeIp(text, RecentNetworks, out var prefix) ? prefix : Redactor.Placeholder(dataClass),
        _ => Redactor.Placeholder(dataClass),
    };

    private static string ActionLabel(PolicyAction action) => action switch
    {
        PolicyAction.Drop => "drop",
        PolicyAction.Redact => "redact",
        PolicyAction.Mask => "mask",
        PolicyAction.Pseudonymize => "pseudonymize",
        PolicyAction.Tokenize => "tokenize",
        PolicyAction.Generalize => "generalize",
        PolicyAction.Sql => "sql",
        PolicyAction.Url => "url",
        PolicyAction.Truncate => "truncate",
        _ => "keep",
    };

    private static string DetectorRule(string detector) =>
        DetectorRules.TryGetValue(detector, out var rule) ? rule
        : DetectorRules.Count < PolicyLimits.KeyCacheCapacity ? DetectorRules.GetOrAdd(detector, static d => DetectorRulePrefix + d)
        : DetectorRulePrefix + detector;

    private void Record(string rule, string dataClass, string action) => Tally(rule, dataClass, action, detector: false);

    /// <summary>A detector's finding: counted under the rule <c>detector/&lt;name&gt;</c>, whose label is built when the counts are flushed.</summary>
    private void RecordDetector(string detector, string dataClass, string action) => Tally(detector, dataClass, action, detector: true);

    /// <summary>
    /// Counts one action in the session's tallies (flushed to the shared counters by <see cref="FlushCounters"/>): a
    /// request records thousands of actions of a handful of kinds, and each shared add was a hash, a lookup and an
    /// interlocked add on a cache line both cores write. Names are compared by reference (they come from the policy,
    /// the detectors and constants); an equal name in another string only costs another entry, which adds to the
    /// same counter.
    /// </summary>
    private void Tally(string rule, string dataClass, string action, bool detector)
    {
        _tallies ??= new CounterTally[MaxTallies];
        var found = false;
        for (var i = 0; i < _tallyCount; i++)
        {
            ref var t = ref _tallies[i];
            if (ReferenceEquals(t.Rule, rule) && ReferenceEquals(t.DataClass, dataClass) && ReferenceEquals(t.Action, action) && t.Detector == detector)
            {
                t.Count++;
                found = true;
                break;
            }
        }

        if (!found)
        {
            if (_tallyCount < MaxTallies)
            {
                _tallies[_tallyCount++] = new CounterTally { Rule = rule, DataClass = dataClass, Action = action, Detector = detector, Count = 1 };
            }
            else
            {
                _scrubber.Counters.Add(detector ? DetectorRule(rule) : rule, dataClass, action);
            }
        }

        if (_inSpan)
        {
            _spanTally ??= new Dictionary<string, int>(StringComparer.Ordinal);
            _spanTally[dataClass] = _spanTally.TryGetValue(dataClass, out var n) ? n + 1 : 1;
        }
    }

    /// <summary>Adds the session's tallies to the shared counters, once per call (also when a call fails midway).</summary>
    internal void FlushCounters()
    {
        for (var i = 0; i < _tallyCount; i++)
        {
            ref var t = ref _tallies![i];
            _scrubber.Counters.Add(t.Detector ? DetectorRule(t.Rule) : t.Rule, t.DataClass, t.Action, t.Count);
        }

        _tallyCount = 0;
    }

    /// <summary>One (rule, class, action) the session counted, and how often.</summary>
    private struct CounterTally
    {
        public string Rule;
        public string DataClass;
        public string Action;
        public bool Detector;
        public long Count;
    }

    /// <summary>How many strings the calling thread's clean-value table holds between calls (tests: none).</summary>
    internal static int CleanValuesHeldByThisThread() => CleanTable.Held();

    /// <summary>
    /// One clean-value table per thread, reused by its calls (a 4,096-slot table is 32 KiB: allocating one per request
    /// cost more than it saved on small requests). A call clears the slots it used before it gives the table back, so
    /// the table holds no string of a request once that request's call has ended.
    /// </summary>
    private static class CleanTable
    {
        [ThreadStatic]
        private static string?[]? _table;

        public static string?[] Rent(int slots, out int mask)
        {
            mask = slots - 1;
            var table = _table;
            _table = null;
            return table is not null && table.Length >= slots ? table : new string?[slots];
        }

        public static int Held() => _table is null ? 0 : _table.Count(static v => v is not null);

        public static void Return(string?[]? table, int used)
        {
            if (table is null)
            {
                return;
            }

            Array.Clear(table, 0, Math.Min(used, table.Length));
            _table = table;
        }
    }
}
