using System.Buffers.Binary;
using System.IO.Compression;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Hush.Otlp;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Hush.Cli.Tests.Loadgen;

/// <summary>What the fake server answers to the n-th request (0-based).</summary>
internal sealed record FakeResponse(int HttpStatus = 200, int GrpcStatus = 0)
{
    public string? RetryAfter { get; init; }

    public string? GrpcPushbackMs { get; init; }

    public long RejectedSpans { get; init; }

    /// <summary>Raw body instead of an encoded ExportTraceServiceResponse.</summary>
    public byte[]? RawBody { get; init; }

    /// <summary>gRPC only: leave out the grpc-status trailer.</summary>
    public bool OmitGrpcStatus { get; init; }
}

/// <summary>What one request brought.</summary>
internal sealed record ReceivedRequest(TraceRequest? Request, string? ContentType, string? ContentEncoding, IReadOnlyDictionary<string, string> Headers, DateTimeOffset At, string Protocol, string Path);

/// <summary>
/// A minimal OTLP receiver on Kestrel, 127.0.0.1 port 0: HTTP/1.1 for OTLP/HTTP, or HTTP/2-only
/// (h2c) for OTLP/gRPC. Decodes every request with the Hush codecs and records it.
/// </summary>
internal sealed class FakeOtlpServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly Func<int, FakeResponse> _respond;
    private readonly List<ReceivedRequest> _received = [];
    private readonly Lock _lock = new();
    private int _count;

    private FakeOtlpServer(WebApplication app, Func<int, FakeResponse> respond)
    {
        _app = app;
        _respond = respond;
    }

    public Uri BaseAddress { get; private set; } = null!;

    public IReadOnlyList<ReceivedRequest> Received
    {
        get
        {
            lock (_lock)
            {
                return [.. _received];
            }
        }
    }

    public static async Task<FakeOtlpServer> StartAsync(bool grpc, Func<int, FakeResponse>? respond = null, bool tls = false)
    {
        using var certificate = tls ? SelfSignedCertificate() : null;
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Limits.MaxRequestBodySize = 256 * 1024 * 1024;
            k.Listen(IPAddress.Loopback, 0, o =>
            {
                o.Protocols = grpc ? HttpProtocols.Http2 : HttpProtocols.Http1;
                if (certificate is not null)
                {
                    o.UseHttps(X509CertificateLoader.LoadPkcs12(certificate.Export(X509ContentType.Pfx), null));
                }
            });
        });
        var app = builder.Build();
        var server = new FakeOtlpServer(app, respond ?? (_ => new FakeResponse()));
        app.Run(grpc ? server.HandleGrpcAsync : server.HandleHttpAsync);
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        server.BaseAddress = new Uri(address);
        return server;
    }

    private static X509Certificate2 SelfSignedCertificate()
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest("CN=127.0.0.1", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var san = new SubjectAlternativeNameBuilder();
        san.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(san.Build());
        return request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddHours(1));
    }

    public int SpanCount()
    {
        var n = 0;
        foreach (var r in Received)
        {
            n += r.Request?.CountSpans() ?? 0;
        }

        return n;
    }

    public IEnumerable<Span> AllSpans()
    {
        foreach (var r in Received)
        {
            if (r.Request is null)
            {
                continue;
            }

            foreach (var rs in r.Request.ResourceSpans)
            {
                foreach (var ss in rs.ScopeSpans)
                {
                    foreach (var s in ss.Spans)
                    {
                        yield return s;
                    }
                }
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    private async Task HandleHttpAsync(HttpContext context)
    {
        var index = Interlocked.Increment(ref _count) - 1;
        var body = await ReadAllAsync(context.Request.Body);
        var encoding = context.Request.Headers.ContentEncoding.ToString();
        if (encoding == "gzip")
        {
            body = Gunzip(body);
        }

        var contentType = context.Request.ContentType;
        var json = contentType?.Contains("json", StringComparison.Ordinal) == true;
        Record(Decode(body, json), contentType, encoding, context, index);

        var plan = _respond(index);
        context.Response.StatusCode = plan.HttpStatus;
        if (plan.RetryAfter is not null)
        {
            context.Response.Headers.RetryAfter = plan.RetryAfter;
        }

        if (plan.HttpStatus == 200)
        {
            context.Response.ContentType = json ? "application/json" : "application/x-protobuf";
            var response = plan.RawBody ?? EncodeResponse(plan.RejectedSpans, json);
            await context.Response.Body.WriteAsync(response);
        }
    }

    private async Task HandleGrpcAsync(HttpContext context)
    {
        var index = Interlocked.Increment(ref _count) - 1;
        var frame = await ReadAllAsync(context.Request.Body);
        TraceRequest? request = null;
        if (frame.Length >= 5)
        {
            var length = (int)BinaryPrimitives.ReadUInt32BigEndian(frame.AsSpan(1));
            var message = frame.AsSpan(5, Math.Min(length, frame.Length - 5)).ToArray();
            if (frame[0] == 1)
            {
                message = Gunzip(message);
            }

            request = Decode(message, json: false);
        }

        Record(request, context.Request.ContentType, context.Request.Headers["grpc-encoding"].ToString(), context, index);

        var plan = _respond(index);
        context.Response.StatusCode = plan.HttpStatus;
        if (plan.HttpStatus != 200)
        {
            return;
        }

        context.Response.ContentType = "application/grpc";
        if (plan.GrpcStatus == 0)
        {
            var message = plan.RawBody ?? EncodeResponse(plan.RejectedSpans, json: false);
            var output = new byte[5 + message.Length];
            BinaryPrimitives.WriteUInt32BigEndian(output.AsSpan(1), (uint)message.Length);
            message.CopyTo(output.AsSpan(5));
            await context.Response.Body.WriteAsync(output);
        }

        if (plan.GrpcPushbackMs is not null)
        {
            context.Response.AppendTrailer("grpc-retry-pushback-ms", plan.GrpcPushbackMs);
        }

        if (!plan.OmitGrpcStatus)
        {
            context.Response.AppendTrailer("grpc-status", plan.GrpcStatus.ToString(System.Globalization.CultureInfo.InvariantCulture));
            context.Response.AppendTrailer("grpc-message", plan.GrpcStatus == 0 ? string.Empty : "test%20status");
        }
    }

    private void Record(TraceRequest? request, string? contentType, string? encoding, HttpContext context, int index)
    {
        _ = index;
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var (name, value) in context.Request.Headers)
        {
            headers[name] = value.ToString();
        }

        lock (_lock)
        {
            _received.Add(new ReceivedRequest(request, contentType, encoding, headers, DateTimeOffset.UtcNow, context.Request.Protocol, context.Request.Path.Value ?? string.Empty));
        }
    }

    private static TraceRequest? Decode(byte[] body, bool json)
    {
        try
        {
            return json ? OtlpJson.DecodeTraceRequest(body) : OtlpProtobuf.DecodeTraceRequest(body);
        }
        catch (OtlpDecodeException)
        {
            return null;
        }
    }

    private static byte[] EncodeResponse(long rejected, bool json)
    {
        var response = new TraceExportResponse
        {
            PartialSuccess = rejected > 0 ? new ExportPartialSuccess { RejectedSpans = rejected, ErrorMessage = "rejected by test" } : null,
        };
        return json ? OtlpJson.EncodeExportResponse(response) : OtlpProtobuf.EncodeExportResponse(response);
    }

    private static async Task<byte[]> ReadAllAsync(Stream stream)
    {
        using var buffer = new MemoryStream();
        await stream.CopyToAsync(buffer);
        return buffer.ToArray();
    }

    private static byte[] Gunzip(byte[] data)
    {
        using var input = new MemoryStream(data);
        using var gzip = new GZipStream(input, CompressionMode.Decompress);
        using var output = new MemoryStream();
        gzip.CopyTo(output);
        return output.ToArray();
    }
}
