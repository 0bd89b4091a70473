using Hush.Privacy.Tests.Detection;

namespace Hush.Privacy.Tests.TransformTests;

/// <summary>Reads "input" / "=> expected" pairs from a transform's testdata file.</summary>
internal static class TransformCorpus
{
    public static TheoryData<int, string, string> Pairs(string file)
    {
        var data = new TheoryData<int, string, string>();
        string[] lines = File.ReadAllLines(TestData.PathOf("Transforms", file));
        string? input = null;
        int inputLine = 0;
        for (int i = 0; i < lines.Length; i++)
        {
            string line = lines[i];
            if (line.Length == 0 || line[0] == '#')
            {
                continue;
            }

            if (line.StartsWith("=> ", StringComparison.Ordinal) || line == "=>")
            {
                if (input is null)
                {
                    throw new InvalidDataException($"{file} line {i + 1}: expected line without input");
                }

                data.Add(inputLine, Corpus.Unescape(input), Corpus.Unescape(line.Length > 3 ? line[3..] : string.Empty));
                input = null;
            }
            else
            {
                input = line;
                inputLine = i + 1;
            }
        }

        return data;
    }
}
