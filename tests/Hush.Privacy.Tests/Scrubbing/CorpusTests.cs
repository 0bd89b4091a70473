using Hush.Otlp;
using static Hush.Privacy.Tests.TestSupport;

namespace Hush.Privacy.Tests.Scrubbing;

/// <summary>
/// A deterministic corpus (seed 20261122): every planted secret in every location, each span also
/// carrying debugging signal and look-alikes that must survive. Reports leaks (must be 0) and
/// exact counts of preserved signal and look-alikes.
/// </summary>
public sealed class CorpusTests
{
    private const int Seed = 20261122;

    /// <summary>Signal keys and values the default policy must keep byte for byte.</summary>
    private static readonly KeyValue[] Signal =
    [
        Attr("http.route", "/api/v2/orders/{orderId}/items"),
        Attr("http.request.method", "POST"),
        Attr("http.response.status_code", 503L),
        Attr("db.system", "postgresql"),
        Attr("db.operation.name", "UPDATE"),
        Attr("exception.type", "Npgsql.PostgresException"),
        Attr("http.request.header.x-request-id", "9b2f6c1e-44aa-4f0e-8d3b-7c5a2e9f1b60"),
    ];

    /// <summary>Values that look like personal data but are not; the detectors must leave them.</summary>
    private static readonly KeyValue[] LookAlikes =
    [
        Attr("app.correlation", "6f1c2d3e-4b5a-4978-8a6b-5c4d3e2f1a0b"),
        Attr("app.version", "3.12.0-rc.2+build.7"),
        Attr("app.started", "2026-11-22T09:14:47.123Z"),
        Attr("app.release_date", "2025-03-01"),
        Attr("vcs.ref.head.revision", "4c1e9f3a2b7d8e6f0a1b2c3d4e5f6a7b8c9d0e1f"),
        Attr("k8s.pod.name", "payments-worker-6b8d9c7f5-qk2zt"),
        Attr("product.sku", "4539148803436468"),
        Attr("app.build", "20261122.4"),
    ];

    [Fact]
    public void Corpus_EverySecretInEveryLocation_NoLeaksSignalAndLookAlikesKept()
    {
        var random = new Random(Seed);
        var scrubber = DefaultScrubber();
        var leaks = new List<string>();
        int spans = 0, signalKept = 0, lookAlikesKept = 0;
        foreach (var secret in PlantedSecrets.All)
        {
            foreach (var location in PlantedSecrets.Locations)
            {
                var request = Request(NewSpan("GET /api/v2/orders/{orderId}/items", [.. Signal, .. LookAlikes]), Attr("service.name", "payments"), Attr("host.name", "node-" + random.Next(1, 99)));
                PlantedSecrets.Plant(request, location, secret.Text);

                var report = scrubber.Scrub(request, Tenant);

                spans++;
                Assert.Equal(0, report.SpansDropped);
                if (PlantedSecrets.Leaks(PlantedSecrets.Visible(request), secret.Core))
                {
                    leaks.Add($"{secret.Kind} @ {location}");
                }

                var attributes = request.ResourceSpans[0].ScopeSpans[0].Spans[0].Attributes;
                signalKept += Signal.Count(s => attributes.Contains(s));
                lookAlikesKept += LookAlikes.Count(s => attributes.Contains(s));
                Assert.Contains(Attr("service.name", "payments"), request.ResourceSpans[0].Resource.Attributes);
            }
        }

        Assert.True(leaks.Count == 0, "leaks: " + string.Join(", ", leaks));
        Assert.Equal(PlantedSecrets.All.Length * PlantedSecrets.Locations.Length, spans);
        Assert.Equal(spans * Signal.Length, signalKept);
        Assert.Equal(spans * LookAlikes.Length, lookAlikesKept);
    }

    [Theory]
    [InlineData("email")]
    [InlineData("payment_card")]
    [InlineData("us_ssn")]
    [InlineData("iban")]
    public void Corpus_PercentEncodedSecretInEveryLocation_NoLeaks(string kind)
    {
        var secret = PlantedSecrets.All.Single(s => s.Kind == kind);
        var scrubber = DefaultScrubber();
        var leaks = new List<string>();
        foreach (var location in PlantedSecrets.Locations)
        {
            var request = Request(NewSpan());
            PlantedSecrets.Plant(request, location, Uri.EscapeDataString(secret.Text));

            scrubber.Scrub(request, Tenant);

            if (PlantedSecrets.Leaks(PlantedSecrets.Visible(request), secret.Core))
            {
                leaks.Add(location);
            }
        }

        Assert.True(leaks.Count == 0, "leaks: " + string.Join(", ", leaks));
    }

    [Fact]
    public void Corpus_EachPlantedSecret_IsFoundByTheDefaultDetectors()
    {
        // Guards the corpus itself: a secret no detector finds would make the leak test meaningless.
        var policy = Default();
        var matches = new List<Hush.Privacy.Detection.DetectorMatch>();
        foreach (var secret in PlantedSecrets.All)
        {
            policy.Detectors.Scan("x " + secret.Text + " y", matches);
            Assert.True(matches.Count > 0, secret.Kind);
        }
    }

    [Fact]
    public void Corpus_ErrorsAndCounters_NeverCarryPlantedValues()
    {
        var counters = new PrivacyCounters();
        var scrubber = Scrubber(Default(), counters);
        foreach (var secret in PlantedSecrets.All)
        {
            foreach (var location in PlantedSecrets.Locations)
            {
                var request = Request(NewSpan());
                PlantedSecrets.Plant(request, location, secret.Text);
                scrubber.Scrub(request, Tenant);
            }
        }

        var labels = string.Join("\n", counters.Snapshot().Select(s => $"{s.Rule} {s.DataClass} {s.Action} {s.Count}"));
        Assert.NotEmpty(counters.Snapshot());
        foreach (var secret in PlantedSecrets.All)
        {
            Assert.False(PlantedSecrets.Leaks(labels, secret.Core), secret.Kind);
        }
    }
}
