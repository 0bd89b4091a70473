using Hush.Privacy.Detection;
using Hush.Privacy.Detection.BuiltIn;

namespace Hush.Privacy.Transforms;

/// <summary>
/// Sanitizes a full URL, a path (with or without query) or a bare query string while keeping the route shape:
/// userinfo is removed; query values of secret-looking parameters become <c>{redacted}</c> and other query values
/// have detected values replaced (<c>{email}</c>); path segments that are emails become <c>{email}</c>, numeric ids
/// (4+ digits), UUIDs, long hex and long mixed tokens become <c>{id}</c>, other segments keep their words
/// (<c>api</c>, <c>v1</c>, <c>users</c>) with any detected value replaced; a fragment holding a detected value is dropped.
/// Segments are looked at one at a time, so a value that spans several (a whole URL with credentials inside a path,
/// <c>/api/postgres://admin:pw@db/items</c>) is not found here: the privacy stage's URL rule runs the detectors over
/// the whole result as well, and that is what catches it (DefaultPolicyTests prove it).
/// </summary>
public static class UrlSanitizer
{
    /// <summary>Placeholder for a value of a secret-looking query parameter.</summary>
    public const string RedactedPlaceholder = "{redacted}";

    /// <summary>Placeholder for an identifier path segment.</summary>
    public const string IdPlaceholder = "{id}";

    /// <summary>Numeric segments of 4+ digits are ids; shorter ones are usually versions, pages or codes (v1, 404).</summary>
    private const int MinNumericId = 4;

    /// <summary>Hex runs of 16+ (64-bit ids, hashes) and mixed tokens of 16+ chars are ids, not words.</summary>
    private const int MinTokenId = 16;

    private static readonly DetectorSet Detectors = new(BuiltInDetectors.CreateAll());

    /// <summary>Sanitizes <paramref name="urlOrPathOrQuery"/>; never throws for any string content.</summary>
    public static string Sanitize(string urlOrPathOrQuery) => Sanitize(urlOrPathOrQuery, null);

    /// <summary>
    /// <see cref="Sanitize(string)"/> that hands back a changed result already in <paramref name="recent"/> (a
    /// direct-mapped table of one caller, length a power of two) and records new ones there: a route called with other
    /// ids sanitizes to the same text.
    /// </summary>
    internal static string Sanitize(string urlOrPathOrQuery, string?[]? recent)
    {
        ArgumentNullException.ThrowIfNull(urlOrPathOrQuery);
        string s = urlOrPathOrQuery;
        if (s.Length == 0)
        {
            return s;
        }

        var sb = TextBuilder.Rent(s.Length);
        try
        {
            return Sanitize(s, sb, recent);
        }
        finally
        {
            sb.Return();
        }
    }

    private static string Sanitize(string s, TextBuilder sb, string?[]? recent)
    {
        var matches = new List<DetectorMatch>();
        int i = 0;

        int scheme = s.IndexOf("://", StringComparison.Ordinal);
        if (scheme > 0 && IsScheme(s.AsSpan(0, scheme)))
        {
            int authStart = scheme + 3;
            int authEnd = s.AsSpan(authStart).IndexOfAny('/', '?', '#');
            authEnd = authEnd < 0 ? s.Length : authStart + authEnd;
            int at = s.LastIndexOf('@', authEnd - 1, authEnd - authStart);
            sb.Append(s, 0, authStart);
            int hostStart = at >= 0 ? at + 1 : authStart;
            sb.Append(s, hostStart, authEnd - hostStart);
            i = authEnd;
        }
        else if (s[0] != '/' && s[0] != '?' && !s.Contains('/') && s.Contains('='))
        {
            // A bare query string: "a=1&token=x".
            SanitizeQuery(s, 0, s.Length, sb, matches);
            return Result(s, sb, recent);
        }

        int queryAt = s.IndexOf('?', i);
        int fragmentAt = s.IndexOf('#', i);
        if (queryAt >= 0 && fragmentAt >= 0 && fragmentAt < queryAt)
        {
            queryAt = -1;
        }

        int pathEnd = queryAt >= 0 ? queryAt : fragmentAt >= 0 ? fragmentAt : s.Length;
        SanitizePath(s, i, pathEnd, sb, matches);
        if (queryAt >= 0)
        {
            int queryEnd = fragmentAt >= 0 ? fragmentAt : s.Length;
            sb.Append('?');
            SanitizeQuery(s, queryAt + 1, queryEnd, sb, matches);
        }

        if (fragmentAt >= 0)
        {
            string fragment = s[(fragmentAt + 1)..];
            Detectors.Scan(fragment, matches);
            if (matches.Count == 0)
            {
                sb.Append('#').Append(fragment);
            }
        }

        return Result(s, sb, recent);
    }

    /// <summary>The input itself when nothing changed (most routes and schema URLs): no copy of it.</summary>
    private static string Result(string input, TextBuilder sb, string?[]? recent) => sb.Is(input) ? input : sb.ToString(recent);

    private static bool IsScheme(ReadOnlySpan<char> scheme)
    {
        if (!char.IsAsciiLetter(scheme[0]))
        {
            return false;
        }

        foreach (char c in scheme)
        {
            if (!char.IsAsciiLetterOrDigit(c) && c is not ('+' or '-' or '.'))
            {
                return false;
            }
        }

        return true;
    }

    private static void SanitizePath(string s, int start, int end, TextBuilder sb, List<DetectorMatch> matches)
    {
        int i = start;
        while (i < end)
        {
            int slash = s.IndexOf('/', i, end - i);
            int segEnd = slash < 0 ? end : slash;
            if (segEnd > i)
            {
                SanitizeSegment(s, i, segEnd, sb, matches);
            }

            if (slash < 0)
            {
                break;
            }

            sb.Append('/');
            i = slash + 1;
        }
    }

    private static void SanitizeSegment(string s, int start, int end, TextBuilder sb, List<DetectorMatch> matches)
    {
        ReadOnlySpan<char> slice = s.AsSpan(start, end - start);
        if (Detectors.CannotMatch(slice))
        {
            // Most segments ("api", "users", "{id}"): the scan would find nothing, so no copy is made to run it.
            sb.Append(IsIdSegment(slice) ? IdPlaceholder : slice);
            return;
        }

        string segment = s[start..end];
        Detectors.Scan(segment, matches);
        if (matches.Count == 1 && matches[0].Start == 0 && matches[0].Length == segment.Length)
        {
            sb.Append(Redactor.Placeholder(matches[0].DataClass));
            return;
        }

        if (IsIdSegment(segment))
        {
            sb.Append(IdPlaceholder);
            return;
        }

        sb.Append(matches.Count == 0 ? segment : Redactor.RedactMatches(segment, matches));
    }

    /// <summary>
    /// True for UUIDs, and for segments whose last <c>-</c>/<c>_</c>-separated part is a numeric id (4+ digits), long
    /// hex (16+) or a long mixed token (16+ chars, 2+ digits): <c>12345</c>, <c>user-12345</c>,
    /// <c>ord_8f7a9c2b1e4d5f6a</c> are ids; <c>checkout-service-v2-production</c>, <c>how-to-x-in-2024</c> and <c>v1</c> are words.
    /// </summary>
    internal static bool IsIdSegment(ReadOnlySpan<char> segment)
    {
        if (IsUuid(segment))
        {
            return true;
        }

        int sep = segment.LastIndexOfAny('-', '_');
        if (sep < 0)
        {
            return IsIdToken(segment);
        }

        // "user-12345" is an id; "how-to-scrub-traces-in-2024" is a slug whose last word happens to be a number.
        ReadOnlySpan<char> tail = segment[(sep + 1)..];
        bool slug = segment[..sep].ContainsAny('-', '_') && !tail.ContainsAnyExceptInRange('0', '9');
        return !slug && IsIdToken(tail);
    }

    private static bool IsIdToken(ReadOnlySpan<char> token)
    {
        int digits = 0;
        int letters = 0;
        int hexLetters = 0;
        foreach (char c in token)
        {
            if (char.IsAsciiDigit(c))
            {
                digits++;
            }
            else if (char.IsAsciiLetter(c))
            {
                letters++;
                hexLetters += char.IsAsciiHexDigit(c) ? 1 : 0;
            }
            else
            {
                return false;
            }
        }

        if (digits == 0)
        {
            return false;
        }

        return (letters == 0 && digits >= MinNumericId) ||
               (hexLetters == letters && token.Length >= MinTokenId) ||
               (token.Length >= MinTokenId && digits >= 2);
    }

    private static bool IsUuid(ReadOnlySpan<char> s)
    {
        if (s.Length != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-')
        {
            return false;
        }

        for (int k = 0; k < s.Length; k++)
        {
            if (k is not (8 or 13 or 18 or 23) && !char.IsAsciiHexDigit(s[k]))
            {
                return false;
            }
        }

        return true;
    }

    private static void SanitizeQuery(string s, int start, int end, TextBuilder sb, List<DetectorMatch> matches)
    {
        int i = start;
        while (i <= end)
        {
            int amp = i < end ? s.AsSpan(i, end - i).IndexOfAny('&', ';') : -1;
            int pairEnd = amp < 0 ? end : i + amp;
            int eq = s.IndexOf('=', i, pairEnd - i);
            if (eq < 0)
            {
                // A flag without value ("?debug"): run the detectors on it all the same.
                AppendDetected(s, i, pairEnd, sb, matches);
            }
            else
            {
                string name = s[i..eq];
                sb.Append(name).Append('=');
                if (eq + 1 == pairEnd)
                {
                    // nothing to hide
                }
                else if (IsSecretName(name))
                {
                    sb.Append(RedactedPlaceholder);
                }
                else
                {
                    AppendDetected(s, eq + 1, pairEnd, sb, matches);
                }
            }

            if (amp < 0)
            {
                break;
            }

            sb.Append(s[pairEnd]);
            i = pairEnd + 1;
        }
    }

    private static void AppendDetected(string s, int start, int end, TextBuilder sb, List<DetectorMatch> matches)
    {
        ReadOnlySpan<char> slice = s.AsSpan(start, end - start);
        if (Detectors.CannotMatch(slice))
        {
            sb.Append(slice);
            return;
        }

        string text = s[start..end];
        Detectors.Scan(text, matches);
        sb.Append(matches.Count == 0 ? text : Redactor.RedactMatches(text, matches));
    }

    /// <summary>ASCII names without <c>%XX</c> are already normalized: looked up as they are, without a view.</summary>
    private static bool IsSecretName(string name) =>
        SecretQueryParameterDetector.IsSecretName(TextView.NeedsNormalization(name) ? TextView.Create(name).Normalized : name);
}
