using System.Collections.Frozen;
using System.Text;
using Hush.Privacy.Detection;

namespace Hush.Privacy.Transforms;

/// <summary>Replaces sensitive text with a placeholder naming its data class, e.g. <c>{email}</c>.</summary>
public static class Redactor
{
    private static readonly FrozenDictionary<string, string> Common = new[]
    {
        "email", "payment_card", "iban", "national_id", "phone", "ip", "credential", "redacted", "id", "name", "user_id",
    }.ToFrozenDictionary(static c => c, static c => "{" + c + "}", StringComparer.Ordinal);

    /// <summary>The placeholder for <paramref name="dataClass"/>: <c>"{" + dataClass + "}"</c>.</summary>
    public static string Placeholder(string dataClass)
    {
        ArgumentNullException.ThrowIfNull(dataClass);
        return Common.TryGetValue(dataClass, out string? p) ? p : "{" + dataClass + "}";
    }

    /// <summary>
    /// Replaces only the matched text of <paramref name="value"/> with the placeholder of each match's class; the rest
    /// of the value is kept. Matches may come in any order and may overlap (overlaps are merged first).
    /// Ranges outside the value are ignored.
    /// </summary>
    public static string RedactMatches(string value, IReadOnlyList<DetectorMatch> matches)
    {
        ArgumentNullException.ThrowIfNull(value);
        ArgumentNullException.ThrowIfNull(matches);
        if (matches.Count == 0)
        {
            return value;
        }

        IReadOnlyList<DetectorMatch> ordered = matches;
        if (!IsSortedDisjoint(matches, value.Length))
        {
            var copy = new List<DetectorMatch>(matches.Count);
            foreach (DetectorMatch m in matches)
            {
                if (IsInRange(m, value.Length))
                {
                    copy.Add(m);
                }
            }

            if (copy.Count == 0)
            {
                return value;
            }

            DetectorSet.Merge(copy);
            ordered = copy;
        }

        var sb = new StringBuilder(value.Length);
        int pos = 0;
        foreach (DetectorMatch m in ordered)
        {
            sb.Append(value, pos, m.Start - pos);
            sb.Append(Placeholder(m.DataClass));
            pos = m.Start + m.Length;
        }

        sb.Append(value, pos, value.Length - pos);
        return sb.ToString();
    }

    private static bool IsInRange(DetectorMatch m, int length) =>
        m.Start >= 0 && m.Length > 0 && m.Start <= length - m.Length && m.DataClass is not null;

    private static bool IsSortedDisjoint(IReadOnlyList<DetectorMatch> matches, int length)
    {
        int end = 0;
        for (int i = 0; i < matches.Count; i++)
        {
            DetectorMatch m = matches[i];
            if (!IsInRange(m, length) || m.Start < end)
            {
                return false;
            }

            end = m.Start + m.Length;
        }

        return true;
    }
}
