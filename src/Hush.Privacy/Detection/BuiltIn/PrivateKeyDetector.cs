namespace Hush.Privacy.Detection.BuiltIn;

/// <summary>
/// PEM private keys (RSA, EC, DSA, OPENSSH, ENCRYPTED, PGP blocks): from <c>-----BEGIN … PRIVATE KEY-----</c> through
/// the matching <c>-----END … -----</c> line. A block without its END line is matched to the end of the value
/// (fail closed: a truncated key is still a key).
/// </summary>
internal sealed class PrivateKeyDetector() : BuiltInDetector("private_key", "credential")
{
    private const string Begin = "-----BEGIN ";
    private const string End = "-----END ";
    private const string Dashes = "-----";

    /// <summary>Longest label is "ENCRYPTED PRIVATE KEY" / "PGP PRIVATE KEY BLOCK"; 64 leaves room.</summary>
    private const int MaxLabel = 64;

    public override Prefilter Prefilter { get; } = new(Begin.Length + 16, 0, CharFlags.Dash | CharFlags.Upper, CharFlags.None);

    protected override void FindCore(string text, TextView? view, List<DetectorMatch> matches)
    {
        int i = text.IndexOf(Begin, StringComparison.Ordinal);
        while (i >= 0)
        {
            int labelStart = i + Begin.Length;
            int labelEnd = text.IndexOf(Dashes, labelStart, Math.Min(MaxLabel, text.Length - labelStart), StringComparison.Ordinal);
            int next = labelStart;
            if (labelEnd > 0 && text.AsSpan(labelStart, labelEnd - labelStart).Contains("PRIVATE KEY", StringComparison.Ordinal))
            {
                int end = text.Length;
                int endLine = text.IndexOf(End, labelEnd + Dashes.Length, StringComparison.Ordinal);
                if (endLine >= 0)
                {
                    int closeStart = endLine + End.Length;
                    int close = text.IndexOf(Dashes, closeStart, Math.Min(MaxLabel, text.Length - closeStart), StringComparison.Ordinal);
                    end = close >= 0 ? close + Dashes.Length : text.Length;
                }

                Add(view, matches, i, end - i);
                next = end;
            }

            i = next < text.Length ? text.IndexOf(Begin, next, StringComparison.Ordinal) : -1;
        }
    }
}
