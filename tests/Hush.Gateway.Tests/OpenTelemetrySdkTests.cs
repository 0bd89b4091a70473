using System.Diagnostics;
using Hush.Gateway.Tests.Support;
using Hush.Otlp;
using OpenTelemetry;
using OpenTelemetry.Exporter;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;
using SpanKind = Hush.Otlp.SpanKind;
using StatusCode = Hush.Otlp.StatusCode;

namespace Hush.Gateway.Tests;

/// <summary>A client nobody here wrote: the OpenTelemetry .NET SDK exports to a running Hush.</summary>
public sealed class OpenTelemetrySdkTests
{
    [Theory]
    [InlineData(OtlpExportProtocol.HttpProtobuf)]
    [InlineData(OtlpExportProtocol.Grpc)]
    public async Task Export_FromOpenTelemetrySdk_SpansArriveIntactAtExporter(OtlpExportProtocol protocol)
    {
        await using var gateway = await GatewayFixture.StartAsync();
        var sourceName = "Hush.Tests.Sdk." + protocol;
        using var source = new ActivitySource(sourceName);
        var endpoint = protocol == OtlpExportProtocol.Grpc ? gateway.Server.GrpcEndpoint! : new Uri(gateway.Server.HttpEndpoint!, "v1/traces");
        var linked = new ActivityContext(ActivityTraceId.CreateRandom(), ActivitySpanId.CreateRandom(), ActivityTraceFlags.Recorded);
        string parentTraceId, parentSpanId, childSpanId;

        using (var provider = Sdk.CreateTracerProviderBuilder()
            .SetResourceBuilder(ResourceBuilder.CreateEmpty().AddService("checkout", serviceVersion: "1.2.3"))
            .AddSource(sourceName)
            .AddOtlpExporter(o =>
            {
                o.Endpoint = endpoint;
                o.Protocol = protocol;
                o.ExportProcessorType = ExportProcessorType.Simple;
            })
            .Build())
        {
            using (var parent = source.StartActivity("GET /orders/{id}", ActivityKind.Server)!)
            {
                parent.SetTag("http.route", "/orders/{id}");
                parent.SetTag("http.response.status_code", 200);
                parent.SetTag("cache.hit", true);
                parent.SetTag("load", 0.75);
                parent.SetTag("tags", new[] { "a", "b" });
                parentTraceId = parent.TraceId.ToHexString();
                parentSpanId = parent.SpanId.ToHexString();
                using (var child = source.StartActivity("SELECT orders", ActivityKind.Client, parent.Context, links: [new ActivityLink(linked)])!)
                {
                    childSpanId = child.SpanId.ToHexString();
                    child.AddEvent(new ActivityEvent("retry", tags: new ActivityTagsCollection { ["attempt"] = 2 }));
                    child.SetStatus(ActivityStatusCode.Error, "timeout");
                }
            }

            Assert.True(provider.ForceFlush(10_000));
        }

        await gateway.Sink.WaitForAsync(2);
        Assert.Equal(2, gateway.Sink.Count);

        var server = gateway.Sink.Single("GET /orders/{id}");
        Assert.Equal(SpanKind.Server, server.Kind);
        Assert.Equal(parentTraceId, server.TraceId.ToString());
        Assert.Equal(parentSpanId, server.SpanId.ToString());
        Assert.True(server.ParentSpanId.IsEmpty);
        Assert.Equal("/orders/{id}", Attribute(server.Attributes, "http.route").StringValue);
        Assert.Equal(200, Attribute(server.Attributes, "http.response.status_code").IntValue);
        Assert.True(Attribute(server.Attributes, "cache.hit").BoolValue);
        Assert.Equal(0.75, Attribute(server.Attributes, "load").DoubleValue);
        var tags = Attribute(server.Attributes, "tags").ArrayValue!;
        Assert.Equal(["a", "b"], tags.Select(t => t.StringValue));
        Assert.True(server.EndTimeUnixNano >= server.StartTimeUnixNano && server.StartTimeUnixNano > 0);

        var client = gateway.Sink.Single("SELECT orders");
        Assert.Equal(SpanKind.Client, client.Kind);
        Assert.Equal(parentTraceId, client.TraceId.ToString());
        Assert.Equal(childSpanId, client.SpanId.ToString());
        Assert.Equal(parentSpanId, client.ParentSpanId.ToString());
        Assert.Equal(StatusCode.Error, client.Status.Code);
        Assert.Equal("timeout", client.Status.Message);
        var retry = Assert.Single(client.Events);
        Assert.Equal("retry", retry.Name);
        Assert.Equal(2, Attribute(retry.Attributes, "attempt").IntValue);
        var link = Assert.Single(client.Links);
        Assert.Equal(linked.TraceId.ToHexString(), link.TraceId.ToString());
        Assert.Equal(linked.SpanId.ToHexString(), link.SpanId.ToString());

        var (tenant, resource, _) = gateway.Sink.Spans[0];
        Assert.Equal("dev", tenant);
        Assert.Equal("checkout", Attribute(resource.Resource.Attributes, "service.name").StringValue);
        Assert.Equal("1.2.3", Attribute(resource.Resource.Attributes, "service.version").StringValue);
    }

    private static AnyValue Attribute(List<KeyValue> attributes, string key) => Assert.Single(attributes, a => a.Key == key).Value;
}
