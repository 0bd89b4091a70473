using Hush.Cli.Commands;
using Hush.Gateway.Authentication;
using Hush.Gateway.Configuration;
using Hush.Gateway.Privacy;
using Hush.Gateway.Query.Audit;
using Hush.Otlp;
using Hush.Pipeline;
using Microsoft.Extensions.Logging.Abstractions;

namespace Hush.Gateway.Tests.Query;

/// <summary><c>hush apikey</c>, <c>hush audit</c> and <c>hush pseudonym</c> against a temporary data dir.</summary>
public sealed class QueryCliTests : IDisposable
{
    private readonly string _dataDir = Directory.CreateTempSubdirectory("hush-qcli-").FullName;
    private readonly Dictionary<string, string?> _env;

    public QueryCliTests()
    {
        _env = new Dictionary<string, string?> { ["HUSH_SERVICE__DATA_DIR"] = _dataDir };
    }

    public void Dispose() => Directory.Delete(_dataDir, recursive: true);

    [Fact]
    public void ApiKey_CreateListRevoke_AuditedAndStoredHashed()
    {
        var output = new StringWriter();

        var code = ApiKeyCommand.RunCreate(null, "acme", ["engineer,investigator"], "grafana", output, TextWriter.Null, _env);

        Assert.Equal(0, code);
        var key = output.ToString().Split('\n').Select(l => l.Trim()).Single(l => l.StartsWith(TokenStore.ApiKeyPrefix, StringComparison.Ordinal));
        var store = TokenStore.OpenApiKeys(Path.Combine(_dataDir, "apikeys.json"), Path.Combine(_dataDir, "keys", "token-pepper.key"));
        var result = store.Validate(key, out var roles);
        Assert.True(result.Succeeded);
        Assert.Equal(["engineer", "investigator"], roles);
        Assert.DoesNotContain(key, File.ReadAllText(Path.Combine(_dataDir, "apikeys.json")), StringComparison.Ordinal);
        Assert.DoesNotContain(key[20..], File.ReadAllText(Path.Combine(_dataDir, "apikeys.json")), StringComparison.Ordinal);

        var list = new StringWriter();
        Assert.Equal(0, ApiKeyCommand.RunList(null, list, TextWriter.Null, _env));
        Assert.Contains("engineer,investigator", list.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain(key, list.ToString(), StringComparison.Ordinal);

        var id = result.Identity!.Id["apikey:".Length..];
        Assert.Equal(0, ApiKeyCommand.RunRevoke(null, key, TextWriter.Null, TextWriter.Null, _env));
        Assert.Equal(AuthFailure.Revoked, TokenStore.OpenApiKeys(Path.Combine(_dataDir, "apikeys.json"), Path.Combine(_dataDir, "keys", "token-pepper.key")).Validate(key).Failure);
        Assert.Equal(1, ApiKeyCommand.RunRevoke(null, id, TextWriter.Null, TextWriter.Null, _env));

        var audit = File.ReadAllText(Path.Combine(AuditLog.DirectoryFor(_dataDir), "audit.log"));
        Assert.Contains("\"action\":\"apikey.create\"", audit, StringComparison.Ordinal);
        Assert.Contains("\"action\":\"apikey.revoke\"", audit, StringComparison.Ordinal);
        Assert.DoesNotContain(key, audit, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("", "engineer")]
    [InlineData("acme", "")]
    [InlineData("acme", "root")]
    [InlineData("acme", "engineer,superuser")]
    public void ApiKey_Create_BadArguments_Exit2(string tenant, string role)
    {
        var error = new StringWriter();

        Assert.Equal(2, ApiKeyCommand.RunCreate(null, tenant, [role], null, TextWriter.Null, error, _env));
        Assert.Contains("viewer, engineer, investigator and admin", error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void ApiKey_IngestTokensAreUntouched()
    {
        ApiKeyCommand.RunCreate(null, "acme", ["viewer"], null, TextWriter.Null, TextWriter.Null, _env);

        Assert.False(File.Exists(Path.Combine(_dataDir, "tokens.json")));
    }

    [Fact]
    public void AuditVerify_IntactThenTampered_ExitCodes()
    {
        ApiKeyCommand.RunCreate(null, "acme", ["viewer"], null, TextWriter.Null, TextWriter.Null, _env);
        ApiKeyCommand.RunCreate(null, "acme", ["admin"], null, TextWriter.Null, TextWriter.Null, _env);
        var output = new StringWriter();

        Assert.Equal(0, AuditCommand.RunVerify(null, output, TextWriter.Null, _env));
        Assert.Contains("intact: 2 records", output.ToString(), StringComparison.Ordinal);

        var path = Path.Combine(AuditLog.DirectoryFor(_dataDir), "audit.log");
        File.WriteAllText(path, File.ReadAllText(path).Replace("viewer", "admin", StringComparison.Ordinal));
        var error = new StringWriter();
        Assert.Equal(1, AuditCommand.RunVerify(null, TextWriter.Null, error, _env));
        Assert.Contains("TAMPERED", error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void AuditTail_FiltersAndCounts()
    {
        ApiKeyCommand.RunCreate(null, "acme", ["viewer"], null, TextWriter.Null, TextWriter.Null, _env);
        PseudonymCommand.Run(null, "acme", null, "jane@example.com", TextWriter.Null, TextWriter.Null, _env);
        var output = new StringWriter();

        Assert.Equal(0, AuditCommand.RunTail(null, 10, null, "pseudonym", output, TextWriter.Null, _env));
        var line = Assert.Single(output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains("\"action\":\"pseudonym\"", line, StringComparison.Ordinal);
        Assert.Equal(2, AuditCommand.RunTail(null, 0, null, null, TextWriter.Null, TextWriter.Null, _env));
    }

    [Fact]
    public void Pseudonym_EqualsWhatThePrivacyStageStores_AndIsAuditedWithoutTheValue()
    {
        const string raw = "PLANTED-9c1e-jane.doe@example.com";
        var config = HushConfigLoader.LoadDefault(_env).Config!;
        using var stage = PolicyPrivacyStage.Create(config, new HushMetrics(), NullLoggerFactory.Instance, _ => null);
        var request = new TraceRequest { ResourceSpans = [new ResourceSpans { ScopeSpans = [new ScopeSpans { Spans = [new Span { TraceId = new TraceId(1, 2), SpanId = new SpanId(3), Name = "x", Attributes = [new KeyValue("user.email", AnyValue.Of(raw))] }] }] }] };
        stage.Scrub(request, new IngestContext("acme", "test", IngestTransport.Http));
        var stored = request.ResourceSpans[0].ScopeSpans[0].Spans[0].Attributes.Single(a => a.Key == "user.email").Value.StringValue;
        var output = new StringWriter();

        var code = PseudonymCommand.Run(null, "acme", null, raw, output, TextWriter.Null, _env);
        var otherTenant = new StringWriter();
        PseudonymCommand.Run(null, "globex", "email", raw, otherTenant, TextWriter.Null, _env);

        Assert.Equal(0, code);
        Assert.StartsWith("eml_", stored, StringComparison.Ordinal);
        Assert.Equal(stored, output.ToString().Trim());
        Assert.NotEqual(stored, otherTenant.ToString().Trim());
        var audit = File.ReadAllText(Path.Combine(AuditLog.DirectoryFor(_dataDir), "audit.log"));
        Assert.Contains("\"action\":\"pseudonym\"", audit, StringComparison.Ordinal);
        Assert.DoesNotContain("jane.doe", audit, StringComparison.Ordinal);
    }

    [Fact]
    public void Pseudonym_BadArguments_Exit2()
    {
        Assert.Equal(2, PseudonymCommand.Run(null, " ", null, "x", TextWriter.Null, TextWriter.Null, _env));
        Assert.Equal(2, PseudonymCommand.Run(null, "acme", null, "", TextWriter.Null, TextWriter.Null, _env));
    }

    [Fact]
    public void Pseudonym_BrokenSecret_Exit1WithoutEchoingIt()
    {
        var env = new Dictionary<string, string?>(_env) { ["HUSH_PSEUDONYM_SECRET"] = "PLANTED-not-base64!" };
        var error = new StringWriter();

        Assert.Equal(1, PseudonymCommand.Run(null, "acme", null, "jane@example.com", TextWriter.Null, error, env));
        Assert.DoesNotContain("PLANTED", error.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("jane", error.ToString(), StringComparison.Ordinal);
    }
}
