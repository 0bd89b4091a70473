using Hush.Privacy.Detection.BuiltIn;

namespace Hush.Privacy.Detection;

/// <summary>
/// The detectors that ship with Hush, by the names a policy uses. Data classes: email → "email", payment_card →
/// "payment_card", iban → "iban", us_ssn → "national_id", phone → "phone", ipv4/ipv6 → "ip", every credential
/// detector (jwt, auth_header, cloud and SaaS keys, private_key, url_password, connection_string_password,
/// secret_query_param) → "credential".
/// </summary>
public static class BuiltInDetectors
{
    private static readonly (string Name, Func<IValueDetector> Create)[] Factories =
    [
        ("email", static () => new EmailDetector()),
        ("payment_card", static () => new PaymentCardDetector()),
        ("iban", static () => new IbanDetector()),
        ("us_ssn", static () => new SsnDetector()),
        ("phone", static () => new PhoneDetector()),
        ("ipv4", static () => new Ipv4Detector()),
        ("ipv6", static () => new Ipv6Detector()),
        ("jwt", static () => new JwtDetector()),
        ("auth_header", static () => new AuthHeaderDetector()),
        ("aws_access_key", PrefixTokenDetector.AwsAccessKey),
        ("aws_secret_key", static () => new AwsSecretKeyDetector()),
        ("github_token", PrefixTokenDetector.GitHub),
        ("slack_token", PrefixTokenDetector.Slack),
        ("stripe_key", PrefixTokenDetector.Stripe),
        ("google_api_key", PrefixTokenDetector.Google),
        ("openai_key", PrefixTokenDetector.OpenAi),
        ("private_key", static () => new PrivateKeyDetector()),
        ("url_password", static () => new UrlPasswordDetector()),
        ("connection_string_password", static () => new ConnectionStringPasswordDetector()),
        ("secret_query_param", static () => new SecretQueryParameterDetector()),
    ];

    private static readonly IReadOnlyList<string> AllNames = Array.AsReadOnly(BuildNames());

    /// <summary>All built-in detector names, in their default run order.</summary>
    public static IReadOnlyList<string> Names => AllNames;

    /// <summary>Creates the built-in detector called <paramref name="name"/> (ordinal, case-insensitive).</summary>
    public static bool TryCreate(string name, out IValueDetector? detector)
    {
        foreach ((string n, Func<IValueDetector> create) in Factories)
        {
            if (string.Equals(n, name, StringComparison.OrdinalIgnoreCase))
            {
                detector = create();
                return true;
            }
        }

        detector = null;
        return false;
    }

    /// <summary>Creates one instance of every built-in detector, in <see cref="Names"/> order.</summary>
    public static IReadOnlyList<IValueDetector> CreateAll()
    {
        var all = new IValueDetector[Factories.Length];
        for (int i = 0; i < Factories.Length; i++)
        {
            all[i] = Factories[i].Create();
        }

        return all;
    }

    private static string[] BuildNames()
    {
        var names = new string[Factories.Length];
        for (int i = 0; i < Factories.Length; i++)
        {
            names[i] = Factories[i].Name;
        }

        return names;
    }
}
