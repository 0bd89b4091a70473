using System.Buffers;

namespace Hush.Privacy.Transforms;

/// <summary>
/// The few <see cref="System.Text.StringBuilder"/> operations the SQL and URL rewrites use, on a pooled buffer that one
/// thread reuses: each rewrite allocated a builder and a buffer the size of its input besides its result (~2/3 of the
/// scrub's allocation on the loadgen mix). <see cref="Return"/> clears every char written before the buffer is kept,
/// so no text of a value stays behind. Not thread-safe: rent, build, return on one thread.
/// </summary>
internal sealed class TextBuilder
{
    [ThreadStatic]
    private static TextBuilder? _cached;

    private char[] _chars;
    private int _length;

    private TextBuilder(int capacity) => _chars = ArrayPool<char>.Shared.Rent(Math.Max(capacity, 16));

    public int Length => _length;

    /// <summary>The whole buffer, written or not (tests check that nothing written stays after <see cref="Return"/>).</summary>
    internal ReadOnlySpan<char> Buffer => _chars;

    public char this[int index] => (uint)index < (uint)_length ? _chars[index] : throw new ArgumentOutOfRangeException(nameof(index));

    /// <summary>An empty builder with room for <paramref name="capacity"/> chars: this thread's, unless it is rented already.</summary>
    public static TextBuilder Rent(int capacity)
    {
        var builder = _cached;
        if (builder is null)
        {
            return new TextBuilder(capacity);
        }

        _cached = null;
        builder.Reserve(capacity);
        return builder;
    }

    /// <summary>Clears what was written and keeps the builder for the thread's next rewrite.</summary>
    public void Return()
    {
        Array.Clear(_chars, 0, _length);
        _length = 0;
        _cached = this;
    }

    public TextBuilder Append(char c)
    {
        Reserve(_length + 1);
        _chars[_length++] = c;
        return this;
    }

    public TextBuilder Append(string? s) => s is null ? this : Append(s.AsSpan());

    public TextBuilder Append(string s, int start, int count) => Append(s.AsSpan(start, count));

    public TextBuilder Append(ReadOnlySpan<char> s)
    {
        Reserve(_length + s.Length);
        s.CopyTo(_chars.AsSpan(_length));
        _length += s.Length;
        return this;
    }

    /// <summary>True when the text built equals <paramref name="other"/>.</summary>
    public bool Is(ReadOnlySpan<char> other) => AsSpan().SequenceEqual(other);

    public override string ToString() => new(_chars, 0, _length);

    /// <summary>The text built as a string: the one in <paramref name="recent"/> when it holds this text, else a new one recorded there.</summary>
    public string ToString(string?[]? recent)
    {
        if (recent is null || _length == 0)
        {
            return ToString();
        }

        var slot = SampledHash.Of(AsSpan()) & (recent.Length - 1);
        if (recent[slot] is { } known && Is(known))
        {
            return known;
        }

        var text = ToString();
        recent[slot] = text;
        return text;
    }

    /// <summary>The text built so far (valid until the next append).</summary>
    public ReadOnlySpan<char> AsSpan() => _chars.AsSpan(0, _length);

    private void Reserve(int capacity)
    {
        if (capacity <= _chars.Length)
        {
            return;
        }

        var larger = ArrayPool<char>.Shared.Rent(Math.Max(capacity, 2 * _chars.Length));
        _chars.AsSpan(0, _length).CopyTo(larger);
        Array.Clear(_chars, 0, _length);
        ArrayPool<char>.Shared.Return(_chars);
        _chars = larger;
    }
}
