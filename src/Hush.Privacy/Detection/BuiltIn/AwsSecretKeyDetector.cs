using System.Buffers;

namespace Hush.Privacy.Detection.BuiltIn;

/// <summary>
/// AWS secret access keys: exactly 40 base64 chars assigned to <c>aws_secret_access_key</c>,
/// <c>secret_access_key</c> or <c>SecretAccessKey</c> (any case; <c>=</c> or <c>:</c>, optional quotes).
/// A bare 40-char string is not matched: git SHAs and hashes look the same.
/// </summary>
internal sealed class AwsSecretKeyDetector() : BuiltInDetector("aws_secret_key", "credential")
{
    private const int SecretChars = 40;
    private static readonly string[] Keys = ["secret_access_key", "secretaccesskey", "secret-access-key"];
    private static readonly SearchValues<string> KeySearch = SearchValues.Create(Keys, StringComparison.OrdinalIgnoreCase);

    public override Prefilter Prefilter { get; } = new(15 + SecretChars, 0, CharFlags.None, CharFlags.EqualsSign | CharFlags.Colon);

    protected override void FindCore(string text, TextView? view, List<DetectorMatch> matches)
    {
        int i = text.AsSpan().IndexOfAny(KeySearch);
        while (i >= 0)
        {
            int j = i + KeyLength(text, i);
            int limit = Math.Min(text.Length, j + 8);
            bool assigned = false;
            while (j < limit && text[j] is ' ' or '\t' or '"' or '\'' or '=' or ':')
            {
                assigned |= text[j] is '=' or ':';
                j++;
            }

            int start = j;
            while (j < text.Length && (char.IsAsciiLetterOrDigit(text[j]) || text[j] is '/' or '+' or '='))
            {
                j++;
            }

            if (assigned && j - start == SecretChars)
            {
                Add(view, matches, start, SecretChars);
            }

            int next = Math.Max(j, i + 1);
            int d = next < text.Length ? text.AsSpan(next).IndexOfAny(KeySearch) : -1;
            i = d < 0 ? -1 : next + d;
        }
    }

    private static int KeyLength(string text, int i)
    {
        foreach (string key in Keys)
        {
            if (Chars.MatchesIgnoreCase(text, i, key))
            {
                return key.Length;
            }
        }

        return Keys[0].Length;
    }
}
