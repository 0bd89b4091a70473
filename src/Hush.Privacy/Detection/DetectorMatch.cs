namespace Hush.Privacy.Detection;

/// <summary>A found sensitive span of text: its range in the ORIGINAL string and its data class (e.g. "email").</summary>
/// <param name="Start">Offset of the first matched char in the original value.</param>
/// <param name="Length">Number of chars of the original value covered by the match.</param>
/// <param name="DataClass">Data class of the matched text, e.g. "email", "payment_card", "credential".</param>
/// <param name="Detector">Name of the detector that produced the match.</param>
public readonly record struct DetectorMatch(int Start, int Length, string DataClass, string Detector)
{
    /// <summary>Offset one past the last matched char.</summary>
    public int End => Start + Length;

    /// <summary>Describes the match by position and class only; the matched text is never printed.</summary>
    public override string ToString() => $"{Detector}:{DataClass}@{Start}+{Length}";
}
