using System.Diagnostics;
using System.Net;
using OpenTelemetry;
using OpenTelemetry.Exporter;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace Hush.Otlp.Tests.Protobuf;

/// <summary>Decodes what the real OpenTelemetry .NET SDK exporter sends (captured in-process, no network).</summary>
public sealed class SdkInteropTests
{
    [Fact]
    public void DecodeTraceRequest_OpenTelemetryDotnetExporterPayload_ReadsTheSpan()
    {
        var handler = new CaptureHandler();
        var sourceName = "Hush.Otlp.Tests.Interop." + Guid.NewGuid().ToString("N");
        ActivityTraceId traceId;
        ActivitySpanId spanId;
        using (var provider = Sdk.CreateTracerProviderBuilder()
            .AddSource(sourceName)
            .SetResourceBuilder(ResourceBuilder.CreateEmpty().AddService("interop-service"))
            .AddOtlpExporter(o =>
            {
                o.Endpoint = new Uri("http://127.0.0.1:9/v1/traces");
                o.Protocol = OtlpExportProtocol.HttpProtobuf;
                o.ExportProcessorType = ExportProcessorType.Simple;
                o.HttpClientFactory = () => new HttpClient(handler, disposeHandler: false);
            })
            .Build())
        using (var source = new ActivitySource(sourceName, "2.0.0"))
        {
            using (var activity = source.StartActivity("GET /orders/{id}", ActivityKind.Server)!)
            {
                traceId = activity.TraceId;
                spanId = activity.SpanId;
                activity.SetTag("http.request.method", "GET");
                activity.SetTag("http.response.status_code", 404);
                activity.SetTag("ratio", 0.5);
                activity.SetTag("cached", true);
                activity.SetTag("tags", new[] { "a", "b" });
                activity.AddEvent(new ActivityEvent("cache.miss", tags: new ActivityTagsCollection { ["key.count"] = 3L }));
                activity.SetStatus(ActivityStatusCode.Error, "not found");
            }

            provider!.ForceFlush();
        }

        var body = Assert.Single(handler.Bodies);
        var request = OtlpProtobuf.DecodeTraceRequest(body);

        var rs = Assert.Single(request.ResourceSpans);
        Assert.Contains(rs.Resource.Attributes, a => a.Key == "service.name" && a.Value.StringValue == "interop-service");
        var ss = Assert.Single(rs.ScopeSpans);
        Assert.Equal(sourceName, ss.Scope.Name);
        Assert.Equal("2.0.0", ss.Scope.Version);
        var span = Assert.Single(ss.Spans);
        Assert.Equal(traceId.ToHexString(), span.TraceId.ToString());
        Assert.Equal(spanId.ToHexString(), span.SpanId.ToString());
        Assert.True(span.ParentSpanId.IsEmpty);
        Assert.Equal("GET /orders/{id}", span.Name);
        Assert.Equal(SpanKind.Server, span.Kind);
        Assert.True(span.EndTimeUnixNano >= span.StartTimeUnixNano);
        Assert.True(span.StartTimeUnixNano > 1_600_000_000_000_000_000UL);
        Assert.Equal("GET", span.Attributes.Single(a => a.Key == "http.request.method").Value.StringValue);
        Assert.Equal(404, span.Attributes.Single(a => a.Key == "http.response.status_code").Value.IntValue);
        Assert.Equal(0.5, span.Attributes.Single(a => a.Key == "ratio").Value.DoubleValue);
        Assert.True(span.Attributes.Single(a => a.Key == "cached").Value.BoolValue);
        var tags = span.Attributes.Single(a => a.Key == "tags").Value.ArrayValue!;
        Assert.Equal(["a", "b"], tags.Select(t => t.StringValue));
        var ev = Assert.Single(span.Events);
        Assert.Equal("cache.miss", ev.Name);
        Assert.Equal(3, ev.Attributes.Single().Value.IntValue);
        Assert.Equal(StatusCode.Error, span.Status.Code);
        Assert.Equal("not found", span.Status.Message);

        // And our encoding of it is what the reference encoder makes of the same model.
        Assert.Equal(Google.Protobuf.MessageExtensions.ToByteArray(ReferenceModel.ToReference(request)), OtlpProtobuf.Encode(request));
    }

    private sealed class CaptureHandler : HttpMessageHandler
    {
        public List<byte[]> Bodies { get; } = [];

        // The exporter sends synchronously on .NET 5 and later.
        protected override HttpResponseMessage Send(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            using var stream = new MemoryStream();
            request.Content!.CopyTo(stream, null, cancellationToken);
            lock (Bodies)
            {
                Bodies.Add(stream.ToArray());
            }

            return new HttpResponseMessage(HttpStatusCode.OK) { Content = new ByteArrayContent([]) };
        }

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var body = await request.Content!.ReadAsByteArrayAsync(cancellationToken);
            lock (Bodies)
            {
                Bodies.Add(body);
            }

            return new HttpResponseMessage(HttpStatusCode.OK) { Content = new ByteArrayContent([]) };
        }
    }
}
