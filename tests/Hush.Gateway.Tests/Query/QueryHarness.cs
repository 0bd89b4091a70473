using System.Net;
using System.Text;
using Hush.Gateway.Authentication;
using Hush.Gateway.Configuration;
using Hush.Gateway.Query;
using Hush.Gateway.Query.Audit;
using Hush.Gateway.Tests.Support;
using Hush.Privacy.Transforms;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Hush.Gateway.Tests.Query;

/// <summary>What a query answered.</summary>
internal sealed record QueryResponse(int Status, string? ContentType, byte[] Body, IHeaderDictionary Headers, bool Handled)
{
    public string Text => Encoding.UTF8.GetString(Body);
}

/// <summary>A <see cref="QueryApi"/> over an in-memory reader and vault in a temporary data dir, driven with in-process contexts.</summary>
internal sealed class QueryHarness : IDisposable
{
    private readonly ILoggerFactory _loggerFactory;

    public QueryHarness(QueryConfig? config = null, bool withReader = true, bool withVault = true, JwtValidator? jwt = null, TimeProvider? time = null, Hush.Pipeline.HushMetrics? metrics = null)
    {
        DataDir = Directory.CreateTempSubdirectory("hush-query-").FullName;
        Clock = time ?? new ManualClock(new DateTimeOffset(2031, 1, 2, 3, 4, 5, TimeSpan.Zero));
        Config = config ?? QueryConfig.Default;
        Reader = new InMemoryTraceReader();
        Vault = new InMemoryTokenVault();
        Keys = TokenStore.OpenApiKeys(Path.Combine(DataDir, "apikeys.json"), Path.Combine(DataDir, "keys", "token-pepper.key"), Clock);
        Audit = AuditLog.Open(DataDir, Clock);
        _loggerFactory = LoggerFactory.Create(b => b.SetMinimumLevel(LogLevel.Trace).AddProvider(Logs));
        Metrics = metrics ?? new Hush.Pipeline.HushMetrics();
        Api = new QueryApi(Config, DataDir, withReader ? Reader : null, withVault ? Vault : null, Audit, new QueryAuthenticator(Config.Auth, Keys, jwt), Clock, _loggerFactory.CreateLogger<QueryApi>(), jwt, Metrics);
    }

    public string DataDir { get; }

    /// <summary>The registry the API's metrics go to.</summary>
    public Hush.Pipeline.HushMetrics Metrics { get; }

    public TimeProvider Clock { get; }

    public QueryConfig Config { get; }

    public InMemoryTraceReader Reader { get; }

    public InMemoryTokenVault Vault { get; }

    public TokenStore Keys { get; }

    public AuditLog Audit { get; }

    public QueryApi Api { get; }

    public CapturingLoggerProvider Logs { get; } = new();

    public string AuditText => File.Exists(Audit.LogPath) ? File.ReadAllText(Audit.LogPath) : string.Empty;

    public string Key(string tenant, params string[] roles) => Keys.Create(tenant, [], "test", roles).Token;

    public async Task<QueryResponse> SendAsync(
        string pathAndQuery,
        string? key = null,
        string? tenant = null,
        bool loopback = false,
        string? accept = null,
        string method = "GET",
        string? body = null,
        string? authorization = null)
    {
        var context = new DefaultHttpContext();
        var question = pathAndQuery.IndexOf('?', StringComparison.Ordinal);
        context.Request.Method = method;
        context.Request.Path = question < 0 ? pathAndQuery : pathAndQuery[..question];
        context.Request.QueryString = question < 0 ? QueryString.Empty : new QueryString(pathAndQuery[question..]);
        context.Connection.RemoteIpAddress = loopback ? IPAddress.Loopback : IPAddress.Parse("192.0.2.10");
        if (authorization is not null)
        {
            context.Request.Headers.Authorization = authorization;
        }
        else if (key is not null)
        {
            context.Request.Headers.Authorization = "Bearer " + key;
        }

        if (tenant is not null)
        {
            context.Request.Headers["X-Scope-OrgID"] = tenant;
        }

        if (accept is not null)
        {
            context.Request.Headers.Accept = accept;
        }

        if (body is not null)
        {
            var bytes = Encoding.UTF8.GetBytes(body);
            context.Request.Body = new MemoryStream(bytes);
            context.Request.ContentLength = bytes.Length;
            context.Request.ContentType = "application/json";
        }

        var output = new MemoryStream();
        context.Response.Body = output;
        var handled = await Api.TryHandleAsync(context);
        return new QueryResponse(context.Response.StatusCode, context.Response.ContentType, output.ToArray(), context.Response.Headers, handled);
    }

    public void Dispose()
    {
        Api.Dispose();
        _loggerFactory.Dispose();
        Directory.Delete(DataDir, recursive: true);
    }
}
