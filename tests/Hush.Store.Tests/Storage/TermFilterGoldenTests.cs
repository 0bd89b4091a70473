using System.Security.Cryptography;
using Hush.Otlp;
using Hush.Store.Reading;
using Hush.Store.Storage;

namespace Hush.Store.Tests.Storage;

/// <summary>
/// Freezes the version-2 term filter, part of the on-disk index: the keyed hash of a term and the bytes of a block's
/// filter. A faster builder must write exactly these bytes; changing them needs a new filter version.
/// </summary>
public sealed class TermFilterGoldenTests : IDisposable
{
    private readonly KeyMaterial _kek = TestData.Kek();

    public void Dispose() => _kek.Dispose();

    [Fact]
    public void Term_Version2_IsFrozen()
    {
        var index = new IndexKey(_kek, "acme");
        (TermKind Kind, string Key, string Value, string Hash)[] cases =
        [
            (TermKind.ServiceName, "", "checkout", "fb352e9e4ea67ac8"),
            (TermKind.SpanName, "", "GET /api/orders/{id}", "4c80d36901a80d91"),
            (TermKind.Attribute, "http.route", "/api/orders/{id}", "4866c068c798cc7e"),
            (TermKind.Attribute, "city", "Zürich 東京 🙂", "bbcad7b0b33ad161"),
            (TermKind.Attribute, "ключ", "", "fb35ec29a0bee1c2"),
            (TermKind.Attribute, "lone", "a\ud800b", "a3f6eb78084cd8c5"),
            (TermKind.Attribute, "", "", "cda22d959764b5f5"),
            (TermKind.Attribute, "long", new string('x', 700), "9b2d9e073706f5da"),
        ];

        var actual = cases.Select(c => index.Term(c.Kind, c.Key, c.Value).ToString("x16", System.Globalization.CultureInfo.InvariantCulture)).ToArray();

        Assert.Equal(cases.Select(c => c.Hash), actual);
    }

    [Fact]
    public void Build_Version2_IsFrozen()
    {
        var index = new IndexKey(_kek, "acme");

        var filter = TermFilter.Build(GoldenRequest(), index);

        Assert.Equal(967, filter.Length);
        Assert.Equal("e71b8dea556c927dbf1b0ef4a3526bd7cb6c48e53d19a83d5195e572be75298d", Convert.ToHexStringLower(SHA256.HashData(filter)));
    }

    [Fact]
    public void SipHashStream_AnySplitOfBytesAndAsciiText_EqualsTheOneShotHash()
    {
        var hash = new SipHash([.. Enumerable.Range(0, 16).Select(i => (byte)i)]);
        var random = new Random(11);
        for (var round = 0; round < 2000; round++)
        {
            var prefix = new byte[random.Next(0, 20)];
            random.NextBytes(prefix);
            var text = new string([.. Enumerable.Range(0, random.Next(0, 70)).Select(_ => (char)random.Next(0, 128))]);
            var whole = prefix.Concat(System.Text.Encoding.ASCII.GetBytes(text)).ToArray();

            var stream = hash.Start();
            var cut = random.Next(0, prefix.Length + 1);
            stream.Append(prefix.AsSpan(0, cut));
            foreach (var b in prefix.AsSpan(cut))
            {
                stream.Append(b);
            }

            var resumed = stream;
            resumed.AppendAscii(text);

            Assert.Equal(hash.Hash(whole), resumed.Finish());
            Assert.Equal(hash.Hash(prefix), stream.Finish());
        }
    }

    [Fact]
    public void TermOf_Prefix_EqualsTheWholeTerm()
    {
        var index = new IndexKey(_kek, "acme");
        var prefix = index.TermPrefix(TermKind.Attribute, "url.path");

        foreach (var value in new[] { string.Empty, "/a", "/api/orders/12345678", "/ünïcode/" + new string('z', 40), "\ud800" })
        {
            Assert.Equal(index.Term(TermKind.Attribute, "url.path", value), IndexKey.TermOf(prefix, value));
        }
    }

    [Fact]
    public void BloomAdder_Remainder_IsTheModuloOfEveryProbe()
    {
        var random = new Random(5);
        foreach (var bytes in new[] { 3, 66, 967, 1_000_003, 1 << 20 })
        {
            var adder = new Bloom.Adder(new byte[bytes]);
            var m = (uint)((bytes - 2) * 8);
            foreach (var value in Enumerable.Range(0, 5000).Select(_ => (uint)random.NextInt64(0, 1L << 32)).Concat([0u, m - 1, m, m + 1, uint.MaxValue]))
            {
                Assert.Equal(value % m, adder.Remainder(value));
            }
        }
    }

    /// <summary>Repeated and unique values, attributes in varying order, non-ASCII and ill-formed UTF-16, a value longer than the stack buffer, events.</summary>
    internal static TraceRequest GoldenRequest()
    {
        var random = new Random(7);
        string[] odd = ["Zürich", "東京", "🙂 ok", "a\ud800b", "\udfff", string.Empty, new string('x', 700), new string('é', 300) + "end"];
        var request = new TraceRequest();
        foreach (var service in new[] { "checkout", "payments-é" })
        {
            var spans = new List<Span>();
            for (var i = 0; i < 300; i++)
            {
                List<KeyValue> attributes =
                [
                    new("http.request.method", AnyValue.Of(i % 5 == 0 ? "POST" : "GET")),
                    new("http.route", AnyValue.Of("/api/orders/{id}")),
                    new("url.path", AnyValue.Of($"/api/orders/{random.Next(1000)}")),
                    new("http.response.status_code", AnyValue.Of(200L)),
                    new("odd", AnyValue.Of(odd[i % odd.Length])),
                    new("ключ", AnyValue.Of(odd[(i / 3) % odd.Length])),
                    new("user.id", AnyValue.Of($"user-{i}")),
                ];
                if (i % 7 == 0)
                {
                    attributes.Reverse();
                }

                if (i % 11 == 0)
                {
                    attributes.RemoveAt(i % attributes.Count);
                }

                var span = new Span
                {
                    TraceId = new TraceId(1, (ulong)(i / 4) + 1),
                    SpanId = new SpanId((ulong)i + 1),
                    Name = i % 13 == 0 ? odd[i % odd.Length] : i % 3 == 0 ? "SELECT orders" : $"GET /api/{i % 4}",
                    StartTimeUnixNano = 1_700_000_000_000_000_000UL + (ulong)i,
                    EndTimeUnixNano = 1_700_000_000_000_500_000UL + (ulong)i,
                    Attributes = attributes,
                };
                if (i % 10 == 0)
                {
                    span.Events.Add(new SpanEvent { Name = "exception", Attributes = [new("exception.message", AnyValue.Of($"boom {i % 20}")), new("odd", AnyValue.Of(odd[i % odd.Length]))] });
                }

                spans.Add(span);
            }

            request.ResourceSpans.Add(new ResourceSpans
            {
                Resource = new Resource { Attributes = [new("service.name", AnyValue.Of(service)), new("host.name", AnyValue.Of("node-" + service.Length))] },
                ScopeSpans = [new ScopeSpans { Scope = new InstrumentationScope { Name = "test" }, Spans = spans }],
            });
        }

        return request;
    }
}
