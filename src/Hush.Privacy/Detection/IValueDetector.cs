namespace Hush.Privacy.Detection;

/// <summary>Finds sensitive text inside one string value.</summary>
public interface IValueDetector
{
    /// <summary>Detector name as policies refer to it: "email", "payment_card", ... or a custom name.</summary>
    string Name { get; }

    /// <summary>Data class reported in matches, e.g. "email", "payment_card", "credential".</summary>
    string DataClass { get; }

    /// <summary>
    /// Adds matches found in <paramref name="view"/>, with ranges mapped back to the original text.
    /// Runs in time linear in the value length and never throws.
    /// </summary>
    void Find(TextView view, List<DetectorMatch> matches);
}
