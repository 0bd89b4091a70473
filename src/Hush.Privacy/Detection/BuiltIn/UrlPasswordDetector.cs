namespace Hush.Privacy.Detection.BuiltIn;

/// <summary>
/// Passwords in URL userinfo: in <c>scheme://user:password@host</c> the password is the match. The authority ends
/// at the first <c>/</c>, <c>?</c>, <c>#</c> or whitespace; its last <c>@</c> ends the userinfo.
/// </summary>
internal sealed class UrlPasswordDetector() : BuiltInDetector("url_password", "credential")
{
    public override Prefilter Prefilter { get; } = new(6, 0, CharFlags.Colon | CharFlags.At | CharFlags.Slash, CharFlags.None);

    protected override void FindCore(string text, TextView? view, List<DetectorMatch> matches)
    {
        int i = text.IndexOf("://", StringComparison.Ordinal);
        while (i >= 0)
        {
            int start = i + 3;
            int end = start;
            int at = -1;
            while (end < text.Length && text[end] is not ('/' or '?' or '#' or '"' or '\'' or '<' or '>') && !char.IsWhiteSpace(text[end]))
            {
                if (text[end] == '@')
                {
                    at = end;
                }

                end++;
            }

            if (at > start)
            {
                int colon = text.IndexOf(':', start, at - start);
                if (colon >= 0 && at - colon > 1)
                {
                    Add(view, matches, colon + 1, at - colon - 1);
                }
            }

            i = end < text.Length ? text.IndexOf("://", end, StringComparison.Ordinal) : -1;
        }
    }
}
