using System.IO.Compression;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Hush.Pipeline.Tests.Support;

internal sealed record ReceivedRequest(string Method, string Path, string? ContentType, string? ContentEncoding, Dictionary<string, string> Headers, byte[] Body);

internal sealed record BackendResponse(int Status, byte[]? Body = null, string? ContentType = null, string? RetryAfter = null);

/// <summary>An OTLP/HTTP backend on Kestrel at 127.0.0.1 that records requests and answers as the test says.</summary>
internal sealed class FakeBackend : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly Lock _lock = new();
    private readonly List<ReceivedRequest> _requests = [];

    private FakeBackend(WebApplication app) => _app = app;

    public Uri BaseUrl { get; private set; } = null!;

    public Func<int, ReceivedRequest, BackendResponse> Respond { get; set; } = (_, _) => new BackendResponse(200);

    public IReadOnlyList<ReceivedRequest> Requests
    {
        get
        {
            lock (_lock)
            {
                return [.. _requests];
            }
        }
    }

    public static async Task<FakeBackend> StartAsync(int port = 0, Func<int, ReceivedRequest, BackendResponse>? respond = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(o => o.Listen(IPAddress.Loopback, port));
        var app = builder.Build();
        var backend = new FakeBackend(app);
        if (respond is not null)
        {
            backend.Respond = respond;
        }

        app.Run(backend.HandleAsync);
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        backend.BaseUrl = new Uri(address.Replace("[::]", "127.0.0.1", StringComparison.Ordinal));
        return backend;
    }

    /// <summary>A loopback port with nothing listening (bound then released).</summary>
    public static int FreePort()
    {
        using var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    private async Task HandleAsync(HttpContext context)
    {
        using var buffer = new MemoryStream();
        await context.Request.Body.CopyToAsync(buffer);
        var body = buffer.ToArray();
        var encoding = context.Request.Headers.ContentEncoding.ToString();
        if (encoding == "gzip")
        {
            using var gzip = new GZipStream(new MemoryStream(body), CompressionMode.Decompress);
            using var plain = new MemoryStream();
            await gzip.CopyToAsync(plain);
            body = plain.ToArray();
        }

        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var (name, value) in context.Request.Headers)
        {
            headers[name] = value.ToString();
        }

        var request = new ReceivedRequest(context.Request.Method, context.Request.Path, context.Request.ContentType, encoding.Length == 0 ? null : encoding, headers, body);
        int index;
        lock (_lock)
        {
            index = _requests.Count;
            _requests.Add(request);
        }

        var response = Respond(index, request);
        context.Response.StatusCode = response.Status;
        if (response.RetryAfter is not null)
        {
            context.Response.Headers.RetryAfter = response.RetryAfter;
        }

        if (response.Body is not null)
        {
            context.Response.ContentType = response.ContentType ?? "application/x-protobuf";
            await context.Response.Body.WriteAsync(response.Body);
        }
    }
}
