namespace Hush.Privacy.Detection.BuiltIn;

/// <summary>
/// A built-in detector that reads the <see cref="CharMasks"/> of short texts (phone, IBAN): it takes the scan's masks,
/// so a value's masks are built once for the run checks and every such detector, and builds its own when called alone.
/// </summary>
internal abstract class MaskReadingDetector(string name, string dataClass) : BuiltInDetector(name, dataClass)
{
    protected sealed override void FindCore(string text, TextView? view, List<DetectorMatch> matches)
    {
        var masks = default(LazyMasks);
        FindCore(text, view, matches, ref masks);
    }

    protected abstract override void FindCore(string text, TextView? view, List<DetectorMatch> matches, ref LazyMasks masks);
}
