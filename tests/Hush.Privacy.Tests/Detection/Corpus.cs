using System.Globalization;
using System.Text;

namespace Hush.Privacy.Tests.Detection;

/// <summary>Reads the golden corpus files in testdata/ (format documented at the top of detectors.txt).</summary>
internal static class Corpus
{
    public sealed record Case(string Detector, bool ShouldMatch, string Input, string Expected, int Line)
    {
        public override string ToString() => $"{Detector} line {Line} ({(ShouldMatch ? "+" : "-")})";
    }

    public static string PathOf(string file) => TestData.PathOf("Detection", file);

    public static IReadOnlyList<Case> DetectorCases()
    {
        var cases = new List<Case>();
        string? section = null;
        int line = 0;
        foreach (string raw in File.ReadLines(PathOf("detectors.txt")))
        {
            line++;
            if (raw.Length == 0 || raw[0] == '#')
            {
                continue;
            }

            if (raw[0] == '[')
            {
                section = raw[1..raw.IndexOf(']')];
                continue;
            }

            if (section is null || raw.Length < 3 || raw[1] != ' ' || raw[0] is not ('+' or '-'))
            {
                throw new InvalidDataException($"detectors.txt line {line}: expected '[name]', '+ input' or '- input'");
            }

            string body = raw[2..];
            string input = body;
            string expected = body;
            int arrow = body.IndexOf(" => ", StringComparison.Ordinal);
            if (raw[0] == '+' && arrow >= 0)
            {
                input = body[..arrow];
                expected = body[(arrow + 4)..];
            }

            cases.Add(new Case(section, raw[0] == '+', Unescape(input), Unescape(expected), line));
        }

        return cases;
    }

    public static IReadOnlyList<string> CleanValues() =>
        File.ReadLines(PathOf("clean-values.txt")).Where(l => l.Length > 0 && l[0] != '#').Select(Unescape).ToList();

    public static string Unescape(string s)
    {
        if (!s.Contains('\\'))
        {
            return s;
        }

        var sb = new StringBuilder(s.Length);
        for (int i = 0; i < s.Length; i++)
        {
            if (s[i] != '\\' || i + 1 >= s.Length)
            {
                sb.Append(s[i]);
                continue;
            }

            char e = s[++i];
            switch (e)
            {
                case 'n': sb.Append('\n'); break;
                case 't': sb.Append('\t'); break;
                case '\\': sb.Append('\\'); break;
                case 'u':
                    sb.Append((char)int.Parse(s.AsSpan(i + 1, 4), NumberStyles.HexNumber, CultureInfo.InvariantCulture));
                    i += 4;
                    break;
                default: sb.Append('\\').Append(e); break;
            }
        }

        return sb.ToString();
    }
}
