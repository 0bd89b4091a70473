using Hush.Privacy.Detection;

namespace Hush.Privacy.Tests.Detection;

public sealed class BuiltInDetectorsTests
{
    [Fact]
    public void Names_CoverEveryRequiredFamily()
    {
        string[] required =
        [
            "email", "payment_card", "iban", "us_ssn", "phone", "ipv4", "ipv6", "jwt", "auth_header", "aws_access_key",
            "aws_secret_key", "github_token", "slack_token", "stripe_key", "google_api_key", "openai_key", "private_key",
            "url_password", "connection_string_password", "secret_query_param",
        ];
        Assert.Equal(required, BuiltInDetectors.Names);
    }

    [Fact]
    public void TryCreate_EachName_CreatesDetectorWithThatName()
    {
        foreach (string name in BuiltInDetectors.Names)
        {
            Assert.True(BuiltInDetectors.TryCreate(name, out IValueDetector? d));
            Assert.Equal(name, d!.Name);
            Assert.False(string.IsNullOrEmpty(d.DataClass));
        }
    }

    [Fact]
    public void TryCreate_CaseInsensitive_Creates()
    {
        Assert.True(BuiltInDetectors.TryCreate("EMAIL", out IValueDetector? d));
        Assert.Equal("email", d!.Name);
    }

    [Theory]
    [InlineData("")]
    [InlineData("emails")]
    [InlineData("credit_card")]
    public void TryCreate_UnknownName_FalseAndNull(string name)
    {
        Assert.False(BuiltInDetectors.TryCreate(name, out IValueDetector? d));
        Assert.Null(d);
    }

    [Theory]
    [InlineData("email", "email")]
    [InlineData("payment_card", "payment_card")]
    [InlineData("us_ssn", "national_id")]
    [InlineData("phone", "phone")]
    [InlineData("ipv4", "ip")]
    [InlineData("ipv6", "ip")]
    [InlineData("jwt", "credential")]
    [InlineData("private_key", "credential")]
    public void DataClass_PerDetector_IsStable(string name, string dataClass)
    {
        Assert.True(BuiltInDetectors.TryCreate(name, out IValueDetector? d));
        Assert.Equal(dataClass, d!.DataClass);
    }

    [Fact]
    public void Find_DirectCallOnNormalizedView_MapsToOriginal()
    {
        Assert.True(BuiltInDetectors.TryCreate("email", out IValueDetector? d));
        string value = "x=a%40b.io";
        var matches = new List<DetectorMatch>();
        d!.Find(TextView.Create(value), matches);
        Assert.Equal("a%40b.io", value.Substring(matches[0].Start, matches[0].Length));
    }

    [Fact]
    public void Match_ToString_HasNoText()
    {
        var m = new DetectorMatch(3, 5, "email", "email");
        Assert.Equal("email:email@3+5", m.ToString());
    }
}
