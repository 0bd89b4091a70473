using FsCheck;
using FsCheck.Fluent;
using Hush.Otlp;
using static Hush.Privacy.Tests.TestSupport;

namespace Hush.Privacy.Tests.Scrubbing;

public sealed class LeakPropertyTests
{
    private static readonly PolicyScrubber Scrubber = DefaultScrubber();

    private static readonly Gen<string> Word =
        Gen.Choose(0, 8).SelectMany(n => Gen.ArrayOf(Gen.Elements("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ".ToCharArray()), n))
            .Select(chars => new string(chars));

    [Fact]
    public void Scrub_AnySpanWithPlantedSecretInAnyLocation_NoFormOfTheSecretSurvives()
    {
        var gen =
            from secret in Gen.Elements(PlantedSecrets.All)
            from location in Gen.Elements(PlantedSecrets.Locations)
            from before in Word
            from after in Word
            from extra in Gen.Choose(0, 20)
            from tenant in Gen.Elements("acme", "globex", "initech")
            select (secret, location, before, after, extra, tenant);

        var property = Prop.ForAll(gen.ToArbitrary(), c =>
        {
            var attributes = Enumerable.Range(0, c.extra).Select(i => Attr("app.attr" + i, "value-" + i)).ToArray();
            var request = Request(NewSpan("GET /api/items/{id}", attributes), Attr("service.name", "svc"));
            var planted = (c.before.Length > 0 ? c.before + " " : "") + c.secret.Text + (c.after.Length > 0 ? " " + c.after : "");
            PlantedSecrets.Plant(request, c.location, planted);

            var report = Scrubber.Scrub(request, c.tenant);

            return report.SpansDropped == 0 && !PlantedSecrets.Leaks(PlantedSecrets.Visible(request), c.secret.Core);
        });

        // 500 cases: about two per (secret, location) pair on top of the exhaustive corpus test.
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(500), property);
    }

    [Fact]
    public void Scrub_ArbitraryGarbageInEveryLocation_NeverThrowsOrDropsSpans()
    {
        var garbage = Gen.Choose(0, 40).SelectMany(n => Gen.ArrayOf(Gen.Choose(0, 0xFFFF).Select(i => (char)i), n)).Select(chars => new string(chars));
        var gen =
            from text in garbage
            from location in Gen.Elements(PlantedSecrets.Locations)
            from bytes in Gen.ArrayOf(Gen.Choose(0, 255).Select(i => (byte)i))
            select (text, location, bytes);

        Prop.ForAll(gen.ToArbitrary(), c =>
        {
            var request = Request(NewSpan("op", Attr("raw", AnyValue.Of(c.bytes)), Attr(c.text, c.text)));
            PlantedSecrets.Plant(request, c.location, c.text);

            var report = Scrubber.Scrub(request, "acme");

            return report.SpansDropped == 0 && request.CountSpans() == 1;
        }).QuickCheckThrowOnFailure();
    }
}
