using System.Text;

namespace Hush.Store.Tests;

/// <summary>Reads every byte of a directory, as a thief with a copy of it would, looking for planted strings.</summary>
internal static class PlantedScan
{
    /// <summary>Fails naming the file and the form when any file under <paramref name="directory"/> holds a planted string.</summary>
    public static void AssertNoneIn(string directory, IEnumerable<string> planted) => AssertNoBytesIn(directory, planted.SelectMany(Forms));

    /// <summary>Fails naming the file and the form when any file under <paramref name="directory"/> holds one of the byte strings.</summary>
    public static void AssertNoBytesIn(string directory, IEnumerable<(byte[] Form, string Text)> planted)
    {
        var forms = planted.ToList();
        foreach (var file in Directory.GetFiles(directory, "*", SearchOption.AllDirectories))
        {
            byte[] bytes;
            using (var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete))
            {
                bytes = new byte[stream.Length];
                stream.ReadExactly(bytes);
            }

            foreach (var (form, text) in forms)
            {
                Assert.False(bytes.AsSpan().IndexOf(form) >= 0, $"{Path.GetFileName(file)} holds {text}");
            }
        }
    }

    private static IEnumerable<(byte[] Form, string Text)> Forms(string planted)
    {
        // A distinctive fragment, so a value stored split or prefixed is still found.
        foreach (var text in new[] { planted, planted[..^5], planted.ToUpperInvariant() })
        {
            yield return (Encoding.UTF8.GetBytes(text), text + " (UTF-8)");
            yield return (Encoding.Unicode.GetBytes(text), text + " (UTF-16LE)");
            yield return (Encoding.BigEndianUnicode.GetBytes(text), text + " (UTF-16BE)");
            yield return (Encoding.ASCII.GetBytes(Convert.ToHexStringLower(Encoding.UTF8.GetBytes(text))), text + " (hex)");
            yield return (Encoding.ASCII.GetBytes(Convert.ToHexString(Encoding.UTF8.GetBytes(text))), text + " (HEX)");
            yield return (Encoding.ASCII.GetBytes(Convert.ToBase64String(Encoding.UTF8.GetBytes(text))[..12]), text + " (base64)");
        }
    }
}
