using System.Text.RegularExpressions;

namespace Hush.Privacy.Detection;

/// <summary>
/// A custom detector from a policy: the pattern is compiled with <see cref="RegexOptions.NonBacktracking"/> (matching
/// time linear in the input, so no pattern can hang the gateway) and a match timeout as a second guard. Matching runs
/// on the normalized text; ranges are mapped back to the original value.
/// </summary>
public sealed class RegexDetector : IValueDetector
{
    /// <summary>Second guard after linear-time matching: a 64 Ki-char value takes well under a millisecond normally.</summary>
    public static readonly TimeSpan MatchTimeout = TimeSpan.FromMilliseconds(250);

    private readonly Regex _regex;

    /// <summary>Compiles the detector.</summary>
    /// <exception cref="ArgumentException">The name or class is empty, or the pattern is invalid or uses a construct
    /// that linear-time matching cannot support (backreferences, lookarounds, atomic groups, conditionals).</exception>
    public RegexDetector(string name, string dataClass, string pattern, bool ignoreCase = false)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentException.ThrowIfNullOrWhiteSpace(dataClass);
        ArgumentNullException.ThrowIfNull(pattern);
        if (pattern.Length == 0)
        {
            throw new ArgumentException($"custom detector '{name}': the pattern is empty", nameof(pattern));
        }

        Name = name;
        DataClass = dataClass;
        RegexOptions options = RegexOptions.NonBacktracking | RegexOptions.CultureInvariant;
        if (ignoreCase)
        {
            options |= RegexOptions.IgnoreCase;
        }

        try
        {
            _regex = new Regex(pattern, options, MatchTimeout);
        }
        catch (NotSupportedException ex)
        {
            throw new ArgumentException(
                $"custom detector '{name}': the pattern uses a construct that linear-time matching does not support " +
                $"(backreferences, lookarounds, atomic groups and conditionals are not allowed): {ex.Message}",
                nameof(pattern),
                ex);
        }
        catch (ArgumentException ex)
        {
            throw new ArgumentException($"custom detector '{name}': the pattern is not a valid regular expression: {ex.Message}", nameof(pattern), ex);
        }
    }

    /// <inheritdoc/>
    public string Name { get; }

    /// <inheritdoc/>
    public string DataClass { get; }

    /// <inheritdoc/>
    public void Find(TextView view, List<DetectorMatch> matches)
    {
        ArgumentNullException.ThrowIfNull(view);
        ArgumentNullException.ThrowIfNull(matches);
        int before = matches.Count;
        try
        {
            foreach (ValueMatch m in _regex.EnumerateMatches(view.Normalized))
            {
                if (m.Length == 0)
                {
                    continue;
                }

                (int s, int l) = view.MapToOriginal(m.Index, m.Length);
                matches.Add(new DetectorMatch(s, l, DataClass, Name));
            }
        }
        catch (RegexMatchTimeoutException)
        {
            // Fail closed: a value that cannot be checked in time is treated as entirely sensitive.
            matches.RemoveRange(before, matches.Count - before);
            matches.Add(new DetectorMatch(0, view.Original.Length, DataClass, Name));
        }
    }
}
