using System.Text;
using Hush.Pipeline;
using Microsoft.AspNetCore.Http;

namespace Hush.Gateway.Admin;

/// <summary>The admin port: <c>/metrics</c> (Prometheus text 0.0.4), <c>/healthz</c>, <c>/readyz</c>.</summary>
internal sealed class AdminEndpoints(HushMetrics metrics, Func<bool> isReady, Func<string> state)
{
    public const string MetricsContentType = "text/plain; version=0.0.4; charset=utf-8";

    public async Task HandleAsync(HttpContext context)
    {
        var response = context.Response;
        if (!HttpMethods.IsGet(context.Request.Method) && !HttpMethods.IsHead(context.Request.Method))
        {
            response.Headers.Allow = "GET, HEAD";
            await TextAsync(response, StatusCodes.Status405MethodNotAllowed, "method not allowed: use GET");
            return;
        }

        switch (context.Request.Path.Value)
        {
            case "/metrics":
                // Render to memory first: Kestrel forbids synchronous writes to the response.
                using (var buffer = new MemoryStream())
                {
                    metrics.WriteTo(buffer);
                    response.StatusCode = StatusCodes.Status200OK;
                    response.ContentType = MetricsContentType;
                    response.ContentLength = buffer.Length;
                    await response.Body.WriteAsync(buffer.GetBuffer().AsMemory(0, (int)buffer.Length), context.RequestAborted);
                }

                return;
            case "/healthz":
                await TextAsync(response, StatusCodes.Status200OK, "ok");
                return;
            case "/readyz":
                var ready = isReady();
                await TextAsync(response, ready ? StatusCodes.Status200OK : StatusCodes.Status503ServiceUnavailable, ready ? "ready" : state());
                return;
            default:
                await TextAsync(response, StatusCodes.Status404NotFound, "not found: the admin port serves /metrics, /healthz and /readyz");
                return;
        }
    }

    private static async Task TextAsync(HttpResponse response, int status, string text)
    {
        var body = Encoding.UTF8.GetBytes(text + "\n");
        response.StatusCode = status;
        response.ContentType = "text/plain; charset=utf-8";
        response.ContentLength = body.Length;
        await response.Body.WriteAsync(body);
    }
}
