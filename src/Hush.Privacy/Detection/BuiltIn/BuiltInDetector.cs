namespace Hush.Privacy.Detection.BuiltIn;

/// <summary>Base of the hand-written detectors: a name, a data class and a prefilter on <see cref="TextFeatures"/>.</summary>
internal abstract class BuiltInDetector : IValueDetector
{
    protected BuiltInDetector(string name, string dataClass)
    {
        Name = name;
        DataClass = dataClass;
    }

    public string Name { get; }

    public string DataClass { get; }

    /// <summary>What a value needs to possibly hold a match; values without it are never scanned.</summary>
    public abstract Prefilter Prefilter { get; }

    /// <summary>False when the value cannot hold a match (its trigger chars are absent), so the scan is skipped.</summary>
    public bool MayMatch(in TextFeatures features) => Prefilter.Allows(features) && Prefilter.AllowsRuns(features);

    public void Find(TextView view, List<DetectorMatch> matches)
    {
        ArgumentNullException.ThrowIfNull(view);
        ArgumentNullException.ThrowIfNull(matches);
        var masks = default(LazyMasks);
        FindCore(view.Normalized, view.IsNormalized ? view : null, matches, ref masks);
    }

    /// <summary>
    /// Scans <paramref name="text"/>, the normalized text; <paramref name="view"/> maps positions back, or is null when
    /// the text is the original value (no normalized copy, so <see cref="DetectorSet"/> need not allocate a view).
    /// </summary>
    internal void FindIn(string text, TextView? view, List<DetectorMatch> matches)
    {
        var masks = default(LazyMasks);
        FindCore(text, view, matches, ref masks);
    }

    /// <summary><see cref="FindIn(string, TextView?, List{DetectorMatch})"/> with the scan's masks of <paramref name="text"/>.</summary>
    internal void FindIn(string text, TextView? view, List<DetectorMatch> matches, ref LazyMasks masks) => FindCore(text, view, matches, ref masks);

    /// <summary>Scans <paramref name="text"/> (the normalized text) and adds mapped matches.</summary>
    protected abstract void FindCore(string text, TextView? view, List<DetectorMatch> matches);

    /// <summary><see cref="FindCore(string, TextView?, List{DetectorMatch})"/>, for detectors that read the text's <paramref name="masks"/>.</summary>
    protected virtual void FindCore(string text, TextView? view, List<DetectorMatch> matches, ref LazyMasks masks) => FindCore(text, view, matches);

    protected void Add(TextView? view, List<DetectorMatch> matches, int start, int length)
    {
        if (length <= 0)
        {
            return;
        }

        (int s, int l) = view is null ? (start, length) : view.MapToOriginal(start, length);
        matches.Add(new DetectorMatch(s, l, DataClass, Name));
    }
}
