namespace Hush.Privacy.Tests.Policy;

public sealed class PolicyLoaderTests
{
    [Fact]
    public void LoadDefault_ShippedPolicy_CompilesWithoutErrors()
    {
        var result = PolicyLoader.LoadDefault();

        Assert.True(result.Success, string.Join("\n", result.Errors));
        Assert.Equal(1, result.Policy!.Version);
        Assert.Equal("default-policy.yaml", result.Policy.Source);
        Assert.Equal(64, result.Policy.Fingerprint.Length);
        Assert.Equal(PolicyMode.Detect, result.Policy.Mode);
    }

    [Fact]
    public void LoadYaml_ManyMistakes_ReportsEveryErrorWithKeyPaths()
    {
        const string yaml = """
            version: 1
            mode: paranoid
            colour: blue
            on_detect:
              email: hide
            limits:
              max_depth: 0
            rules:
              - keys: [a]
                action: drop
              - keys: [b]
                action: drop
              - keys: [c]
                action: drop
              - keys: [user.id]
                action: hide
              - action: redact
              - keys: [x]
                action: truncate
              - keys: [y]
                action: pseudonymize
              - keys: [z]
                action: redact
                keep_last: 3
            """;

        var result = PolicyLoader.LoadYaml(yaml, "bad.yaml");

        Assert.False(result.Success);
        Assert.Null(result.Policy);
        Assert.Contains(result.Errors, e => e.StartsWith("'mode': unknown value 'paranoid'", StringComparison.Ordinal));
        Assert.Contains(result.Errors, e => e.StartsWith("'colour': unknown key", StringComparison.Ordinal));
        Assert.Contains(result.Errors, e => e.StartsWith("'on_detect.email': unknown inline action 'hide'", StringComparison.Ordinal));
        Assert.Contains(result.Errors, e => e.StartsWith("'limits.max_depth'", StringComparison.Ordinal));
        Assert.Contains("'rules[3].action': unknown action 'hide'; expected one of drop, redact, mask, pseudonymize, tokenize, generalize, sql, url, truncate, keep", result.Errors);
        Assert.Contains(result.Errors, e => e.StartsWith("'rules[4].keys': required", StringComparison.Ordinal));
        Assert.Contains(result.Errors, e => e.StartsWith("'rules[5].max_chars': required", StringComparison.Ordinal));
        Assert.Contains(result.Errors, e => e.StartsWith("'rules[6].class': required", StringComparison.Ordinal));
        Assert.Contains(result.Errors, e => e.StartsWith("'rules[7].keep_last': only valid with action 'mask'", StringComparison.Ordinal));
        Assert.Equal(9, result.Errors.Count);
    }

    [Fact]
    public void LoadYaml_ParseAndCompileErrors_ReportedTogetherWithFileIndexes()
    {
        const string yaml = """
            version: 1
            detectors:
              custom:
                - name: broken
                  class: x
                - name: evil
                  class: x
                  pattern: '(?=a)b'
            rules:
              - keys: [a]
                action: hide
              - name: same
                keys: [b]
                action: drop
              - name: same
                keys: [c]
                action: drop
            """;

        var result = PolicyLoader.LoadYaml(yaml, "x.yaml");

        Assert.Contains(result.Errors, e => e.StartsWith("'detectors.custom[0].pattern': required", StringComparison.Ordinal));
        Assert.Contains(result.Errors, e => e.StartsWith("'detectors.custom[1].pattern': cannot be compiled", StringComparison.Ordinal));
        Assert.Contains(result.Errors, e => e.StartsWith("'rules[0].action': unknown action 'hide'", StringComparison.Ordinal));
        Assert.Contains("'rules[2].name': duplicate rule name 'same'", result.Errors);
        Assert.Equal(4, result.Errors.Count);
    }

    [Fact]
    public void LoadYaml_MissingVersion_IsAnError()
    {
        var result = PolicyLoader.LoadYaml("mode: detect\n", "x.yaml");

        Assert.False(result.Success);
        Assert.Contains(result.Errors, e => e.StartsWith("'version': required", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("version: 2\n")]
    [InlineData("version: one\n")]
    public void LoadYaml_UnsupportedVersion_IsAnError(string yaml)
    {
        var result = PolicyLoader.LoadYaml(yaml, "x.yaml");

        Assert.Contains(result.Errors, e => e.StartsWith("'version': unsupported", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("")]
    [InlineData("just a string")]
    [InlineData("- a\n- b\n")]
    [InlineData("version: [1\n")]
    [InlineData("{{{{")]
    [InlineData("version: 1\nrules: 5\n")]
    [InlineData("version: 1\nrules:\n  - 5\n")]
    [InlineData("version: 1\ndetectors: x\n")]
    [InlineData("version: 1\ndetectors:\n  custom: 3\n")]
    [InlineData("version: 1\non_detect: [a]\n")]
    [InlineData("\0\u0001\u0002")]
    public void LoadYaml_Garbage_ReturnsErrorsWithoutThrowing(string yaml)
    {
        var result = PolicyLoader.LoadYaml(yaml, "garbage.yaml");

        Assert.False(result.Success);
        Assert.NotEmpty(result.Errors);
    }

    [Fact]
    public void LoadYaml_BacktrackingCustomPattern_IsAConfigError()
    {
        const string yaml = """
            version: 1
            detectors:
              custom:
                - name: repeated
                  class: secret
                  pattern: '(a+)\1'
            """;

        var result = PolicyLoader.LoadYaml(yaml, "x.yaml");

        Assert.False(result.Success);
        var error = Assert.Single(result.Errors);
        Assert.StartsWith("'detectors.custom[0].pattern': cannot be compiled for linear-time matching", error, StringComparison.Ordinal);
    }

    [Fact]
    public void LoadYaml_UnknownBuiltInDetector_ListsTheKnownNames()
    {
        var result = PolicyLoader.LoadYaml("version: 1\ndetectors:\n  builtin: [email, telepathy]\n", "x.yaml");

        var error = Assert.Single(result.Errors);
        Assert.StartsWith("'detectors.builtin[1]': unknown detector 'telepathy'; expected one of ", error, StringComparison.Ordinal);
        Assert.Contains("email", error, StringComparison.Ordinal);
    }

    [Fact]
    public void LoadYaml_RiskyChoices_AreWarningsNotErrors()
    {
        const string yaml = """
            version: 1
            mode: allowlist
            detectors:
              builtin: none
            rules:
              - keys: ["*"]
                action: keep
                detect: false
              - keys: [session.token]
                action: keep
            """;

        var result = PolicyLoader.LoadYaml(yaml, "risky.yaml");

        Assert.True(result.Success, string.Join("\n", result.Errors));
        Assert.Contains(result.Warnings, w => w.StartsWith("'detectors.builtin'", StringComparison.Ordinal));
        Assert.Contains(result.Warnings, w => w.StartsWith("'rules[0].keys[0]': '*' allowlists every key", StringComparison.Ordinal));
        Assert.Contains(result.Warnings, w => w.StartsWith("'rules[0].detect': false disables", StringComparison.Ordinal));
        Assert.Contains(result.Warnings, w => w.StartsWith("'rules[1]': action 'keep' on 'session.token'", StringComparison.Ordinal));
    }

    [Fact]
    public void LoadYaml_AllowlistWithoutServiceName_Warns()
    {
        var result = PolicyLoader.LoadYaml("version: 1\nmode: allowlist\nrules:\n  - keys: [http.route]\n    action: keep\n", "x.yaml");

        Assert.True(result.Success);
        Assert.Contains(result.Warnings, w => w.Contains("does not keep 'service.name'", StringComparison.Ordinal));
    }

    [Fact]
    public void LoadFile_MissingFile_IsAnErrorNamingThePath()
    {
        var path = Path.Combine(Path.GetTempPath(), "hush-no-such-policy-" + Guid.NewGuid().ToString("N") + ".yaml");

        var result = PolicyLoader.LoadFile(path);

        Assert.False(result.Success);
        Assert.Contains("file not found", Assert.Single(result.Errors), StringComparison.Ordinal);
    }

    [Fact]
    public void LoadFile_SameBytes_SameFingerprint()
    {
        var path = Path.GetTempFileName();
        try
        {
            File.WriteAllText(path, PolicyLoader.ReadDefaultYaml());
            var a = PolicyLoader.LoadFile(path).Policy!;
            var b = PolicyLoader.LoadDefault().Policy!;

            Assert.Equal(b.Fingerprint, a.Fingerprint);
            Assert.Equal(path, a.Source);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void LoadFile_InvalidUtf8_IsAnError()
    {
        var path = Path.GetTempFileName();
        try
        {
            File.WriteAllBytes(path, [0x76, 0x65, 0xff, 0xfe, 0x80]);

            var result = PolicyLoader.LoadFile(path);

            Assert.Contains("not valid UTF-8", Assert.Single(result.Errors), StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Theory]
    [InlineData("user.id", "users")]
    [InlineData("USER.ID", "users")]
    [InlineData("http.request.header.x-api-key", "secrets")]
    [InlineData("db.password", "secrets")]
    [InlineData("a1b", "single")]
    [InlineData("ab", null)]
    [InlineData("http.route", null)]
    public void FindRuleName_ExactAndGlobKeys_FirstMatchInFileOrderWins(string key, string? expected)
    {
        var policy = TestSupport.Compile("""
            version: 1
            rules:
              - name: secrets
                keys: ["*password*", "*api-key"]
                action: drop
              - name: users
                keys: [user.id]
                class: user_id
                action: pseudonymize
              - name: single
                keys: ["a?b"]
                action: redact
              - name: later
                keys: ["*.id", "db.password"]
                action: redact
            """);

        Assert.Equal(expected, policy.FindRuleName(key));
    }

    [Fact]
    public void FindRuleName_GlobBeforeExact_GlobWins()
    {
        var policy = TestSupport.Compile("""
            version: 1
            rules:
              - name: glob
                keys: ["user.*"]
                action: drop
              - name: exact
                keys: [user.id]
                class: user_id
                action: pseudonymize
            """);

        Assert.Equal("glob", policy.FindRuleName("user.id"));
    }
}
