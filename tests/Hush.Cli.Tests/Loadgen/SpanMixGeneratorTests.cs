using Hush.Cli.Loadgen;
using Hush.Otlp;

namespace Hush.Cli.Tests.Loadgen;

public sealed class SpanMixGeneratorTests
{
    private static readonly ManualTimeProvider FixedClock = new(new DateTimeOffset(2026, 11, 22, 9, 0, 0, TimeSpan.Zero));

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(512)]
    [InlineData(5000)]
    public void NextRequest_AnyCount_ContainsExactlyThatManySpans(int spans)
    {
        var generator = new SpanMixGenerator(seed: 1);

        Assert.Equal(spans, generator.NextRequest(spans).CountSpans());
    }

    [Fact]
    public void NextRequest_SameSeed_SameBytes()
    {
        var a = new SpanMixGenerator(seed: 7, timeProvider: FixedClock);
        var b = new SpanMixGenerator(seed: 7, timeProvider: FixedClock);

        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(OtlpProtobuf.Encode(a.NextRequest(300)), OtlpProtobuf.Encode(b.NextRequest(300)));
        }
    }

    [Fact]
    public void NextRequest_DifferentSeed_DifferentContent()
    {
        var a = new SpanMixGenerator(seed: 7, timeProvider: FixedClock);
        var b = new SpanMixGenerator(seed: 8, timeProvider: FixedClock);

        Assert.NotEqual(OtlpProtobuf.Encode(a.NextRequest(300)), OtlpProtobuf.Encode(b.NextRequest(300)));
    }

    [Fact]
    public void NextRequest_SuccessiveRequests_HaveFreshIds()
    {
        var generator = new SpanMixGenerator(seed: 3);
        var seen = new HashSet<SpanId>();
        var traces = new HashSet<TraceId>();

        for (var i = 0; i < 20; i++)
        {
            foreach (var span in Spans(generator.NextRequest(500)))
            {
                Assert.True(seen.Add(span.SpanId), "span ids repeat");
                Assert.False(span.TraceId.IsEmpty);
                traces.Add(span.TraceId);
            }
        }

        // 10,000 spans in traces of 3-10 spans.
        Assert.InRange(traces.Count, 10_000 / 10, 10_000 / 3 + 20);
    }

    [Fact]
    public void NextRequest_Spans_CarryAboutTwentyAttributes()
    {
        var spans = Spans(new SpanMixGenerator(seed: 42).NextRequest(3000)).ToList();

        var average = spans.Average(s => s.Attributes.Count);
        Assert.InRange(average, 17, 24);
        Assert.All(spans, s => Assert.InRange(s.Attributes.Count, 15, 30));
    }

    [Fact]
    public void NextRequest_ParentAndLinkIds_ResolveWithinTheTrace()
    {
        var request = new SpanMixGenerator(seed: 42).NextRequest(2000);
        var byTrace = Spans(request).GroupBy(s => s.TraceId).ToList();

        foreach (var trace in byTrace)
        {
            var ids = trace.Select(s => s.SpanId).ToHashSet();
            Assert.Single(trace, s => s.ParentSpanId.IsEmpty);
            Assert.All(trace, s => Assert.True(s.ParentSpanId.IsEmpty || ids.Contains(s.ParentSpanId), "dangling parent"));
            Assert.All(trace.SelectMany(s => s.Links), l => Assert.True(l.TraceId == trace.Key && ids.Contains(l.SpanId), "dangling link"));
            Assert.True(trace.Count() <= SpanMixGenerator.MaxTraceSpans);
        }

        // Whole traces except possibly the last one cut at the batch boundary.
        Assert.True(byTrace.Count(t => t.Count() < SpanMixGenerator.MinTraceSpans) <= 1);
    }

    [Fact]
    public void NextRequest_Mix_HasEveryKindAndRealisticAttributes()
    {
        var spans = Spans(new SpanMixGenerator(seed: 42).NextRequest(3000)).ToList();
        var keys = spans.SelectMany(s => s.Attributes).Select(a => a.Key).ToHashSet();

        foreach (var kind in new[] { SpanKind.Server, SpanKind.Client, SpanKind.Internal, SpanKind.Producer, SpanKind.Consumer })
        {
            Assert.Contains(spans, s => s.Kind == kind);
        }

        foreach (var key in new[]
        {
            "http.request.method", "url.full", "url.path", "url.query", "http.route", "http.response.status_code", "server.address",
            "client.address", "user_agent.original", "db.system", "db.query.text", "db.operation.name", "enduser.id", "user.email",
            "net.peer.ip", "messaging.system", "messaging.destination.name", "rpc.system", "rpc.method",
        })
        {
            Assert.Contains(key, keys);
        }

        Assert.Contains(spans, s => s.Attributes.Any(a => a.Key == "db.query.text" && a.Value.StringValue!.Contains('\'', StringComparison.Ordinal)));
        Assert.Contains(spans, s => s.Attributes.Any(a => a.Key == "url.query" && a.Value.StringValue!.Contains("token=", StringComparison.Ordinal)));
        Assert.All(spans, s => Assert.True(s.EndTimeUnixNano > s.StartTimeUnixNano));
    }

    [Fact]
    public void NextRequest_ErrorSpans_CarryExceptionEvents()
    {
        var spans = Spans(new SpanMixGenerator(seed: 42).NextRequest(5000)).ToList();
        var failed = spans.Where(s => s.Status.Code == StatusCode.Error && s.Events.Any(e => e.Name == "exception")).ToList();

        Assert.NotEmpty(failed);
        Assert.All(failed, s =>
        {
            var exception = s.Events.First(e => e.Name == "exception");
            var keys = exception.Attributes.Select(a => a.Key).ToList();
            Assert.Contains("exception.type", keys);
            Assert.Contains("exception.message", keys);
            Assert.Contains("exception.stacktrace", keys);
        });
    }

    [Fact]
    public void NextRequest_Resources_NameEachServiceOnce()
    {
        var request = new SpanMixGenerator(seed: 42, services: 3).NextRequest(2000);
        var names = request.ResourceSpans.Select(rs => rs.Resource.Attributes.Single(a => a.Key == "service.name").Value.StringValue).ToList();

        Assert.Equal(3, names.Count);
        Assert.Equal(names.Count, names.Distinct().Count());
        foreach (var key in new[] { "service.version", "host.name", "k8s.pod.name", "deployment.environment" })
        {
            Assert.All(request.ResourceSpans, rs => Assert.Contains(rs.Resource.Attributes, a => a.Key == key));
        }
    }

    [Theory]
    [InlineData(0.05)]
    [InlineData(0.2)]
    [InlineData(1.0)]
    public void NextRequest_PiiRatio_PlantsThatFractionOfSpans(double ratio)
    {
        var spans = Spans(new SpanMixGenerator(seed: 42, piiRatio: ratio).NextRequest(3000)).ToList();

        var planted = spans.Count(CarriesPlantedValue);

        Assert.InRange(planted / (double)spans.Count, ratio * 0.75, Math.Min(1, ratio * 1.25));
    }

    [Fact]
    public void NextRequest_ZeroPiiRatio_PlantsNothing()
    {
        var spans = Spans(new SpanMixGenerator(seed: 42, piiRatio: 0).NextRequest(3000));

        Assert.DoesNotContain(spans, CarriesPlantedValue);
    }

    [Fact]
    public void NextRequest_PlantedValues_CoverEveryKind()
    {
        var text = string.Join("\n", Spans(new SpanMixGenerator(seed: 42, piiRatio: 0.3).NextRequest(3000)).SelectMany(Strings));

        Assert.Contains(SpanMixGenerator.Planted.Emails, text.Contains);
        Assert.Contains(SpanMixGenerator.Planted.Cards, text.Contains);
        Assert.Contains(SpanMixGenerator.Planted.Phones, text.Contains);
        Assert.Contains(SpanMixGenerator.Planted.BearerTokens, text.Contains);
        Assert.Contains(SpanMixGenerator.Planted.AwsKeys, text.Contains);
        Assert.Contains(SpanMixGenerator.Planted.Jwts, text.Contains);
    }

    [Fact]
    public void PlantedCards_PassLuhn()
    {
        Assert.All(SpanMixGenerator.Planted.Cards, card => Assert.True(Luhn(card), "not a Luhn-valid card"));
    }

    [Fact]
    public void PlantedJwts_HaveThreeBase64UrlParts()
    {
        Assert.All(SpanMixGenerator.Planted.Jwts, jwt =>
        {
            var parts = jwt.Split('.');
            Assert.Equal(3, parts.Length);
            Assert.StartsWith("eyJ", parts[0], StringComparison.Ordinal);
            Assert.All(parts, p => Assert.Matches("^[A-Za-z0-9_-]+$", p));
        });
    }

    [Fact]
    public void NextRequest_EditingAResult_DoesNotChangeLaterRequests()
    {
        var a = new SpanMixGenerator(seed: 5, timeProvider: FixedClock);
        var b = new SpanMixGenerator(seed: 5, timeProvider: FixedClock);
        var first = a.NextRequest(4000);
        b.NextRequest(4000);

        // Scrub everything in place, nested arrays included, as the privacy stage would.
        foreach (var span in Spans(first))
        {
            for (var i = 0; i < span.Attributes.Count; i++)
            {
                if (span.Attributes[i].Value.ArrayValue is { } array)
                {
                    array.Clear();
                }

                span.Attributes[i] = new(span.Attributes[i].Key, AnyValue.Of("x"));
            }
        }

        foreach (var rs in first.ResourceSpans)
        {
            rs.Resource.Attributes.Clear();
        }

        Assert.Equal(OtlpProtobuf.Encode(b.NextRequest(4000)), OtlpProtobuf.Encode(a.NextRequest(4000)));
    }

    [Fact]
    public void Constructor_BadArguments_Throw()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new SpanMixGenerator(services: 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new SpanMixGenerator(services: SpanMixGenerator.MaxServices + 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => new SpanMixGenerator(piiRatio: 1.5));
        Assert.Throws<ArgumentOutOfRangeException>(() => new SpanMixGenerator(piiRatio: double.NaN));
        Assert.Throws<ArgumentOutOfRangeException>(() => new SpanMixGenerator().NextRequest(-1));
    }

    internal static IEnumerable<Span> Spans(TraceRequest request) =>
        request.ResourceSpans.SelectMany(rs => rs.ScopeSpans).SelectMany(ss => ss.Spans);

    internal static bool CarriesPlantedValue(Span span)
    {
        foreach (var s in Strings(span))
        {
            foreach (var planted in SpanMixGenerator.PlantedValues)
            {
                if (s.Contains(planted, StringComparison.Ordinal))
                {
                    return true;
                }
            }
        }

        return false;
    }

    internal static IEnumerable<string> Strings(Span span)
    {
        yield return span.Name;
        yield return span.Status.Message;
        foreach (var s in Strings(span.Attributes))
        {
            yield return s;
        }

        foreach (var e in span.Events)
        {
            yield return e.Name;
            foreach (var s in Strings(e.Attributes))
            {
                yield return s;
            }
        }

        foreach (var l in span.Links)
        {
            foreach (var s in Strings(l.Attributes))
            {
                yield return s;
            }
        }
    }

    private static IEnumerable<string> Strings(IEnumerable<KeyValue> attributes)
    {
        foreach (var kv in attributes)
        {
            if (kv.Value.StringValue is { } s)
            {
                yield return s;
            }
            else if (kv.Value.ArrayValue is { } array)
            {
                foreach (var v in array)
                {
                    if (v.StringValue is { } item)
                    {
                        yield return item;
                    }
                }
            }
        }
    }

    private static bool Luhn(string number)
    {
        var digits = number.Where(char.IsAsciiDigit).Select(c => c - '0').Reverse().ToArray();
        var sum = 0;
        for (var i = 0; i < digits.Length; i++)
        {
            var d = i % 2 == 1 ? digits[i] * 2 : digits[i];
            sum += d > 9 ? d - 9 : d;
        }

        return digits.Length >= 13 && sum % 10 == 0;
    }
}
