using System.Runtime.CompilerServices;

namespace Hush.Privacy.Tests.Detection;

/// <summary>
/// Finds a file in a feature's testdata/ folder: next to the test binaries when the project copies it, else in the
/// source tree (the test project copies only its root testdata/ folder today).
/// </summary>
internal static class TestData
{
    public static string PathOf(string feature, string file, [CallerFilePath] string callerFile = "")
    {
        var candidates = new List<string> { Path.Combine(AppContext.BaseDirectory, feature, "testdata", file) };
        string? sourceDir = Path.GetDirectoryName(Path.GetDirectoryName(callerFile));
        if (!string.IsNullOrEmpty(sourceDir))
        {
            candidates.Add(Path.Combine(sourceDir, feature, "testdata", file));
        }

        foreach (string start in new[] { AppContext.BaseDirectory, Directory.GetCurrentDirectory() })
        {
            for (DirectoryInfo? d = new(start); d is not null; d = d.Parent)
            {
                candidates.Add(Path.Combine(d.FullName, "tests", "Hush.Privacy.Tests", feature, "testdata", file));
            }
        }

        foreach (string c in candidates)
        {
            if (File.Exists(c))
            {
                return c;
            }
        }

        throw new FileNotFoundException($"test data file {feature}/testdata/{file} not found");
    }
}
