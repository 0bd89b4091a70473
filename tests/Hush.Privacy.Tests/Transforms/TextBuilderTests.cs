using Hush.Privacy.Transforms;

namespace Hush.Privacy.Tests;

/// <summary>The pooled builder of the SQL and URL rewrites: same text as a StringBuilder, nothing left behind.</summary>
public sealed class TextBuilderTests
{
    [Fact]
    public void Append_PastItsCapacity_SameTextAsStringBuilder()
    {
        var builder = TextBuilder.Rent(4);
        var expected = new System.Text.StringBuilder();
        try
        {
            for (var i = 0; i < 300; i++)
            {
                builder.Append('x').Append("ab").Append("0123456789", i % 10, 10 - (i % 10)).Append("yz".AsSpan());
                expected.Append('x').Append("ab").Append("0123456789", i % 10, 10 - (i % 10)).Append("yz");
            }

            Assert.Equal(expected.ToString(), builder.ToString());
            Assert.Equal(expected.Length, builder.Length);
            Assert.Equal(expected[^1], builder[^1]);
            Assert.True(builder.Is(expected.ToString()));
            Assert.False(builder.Is(expected.ToString().AsSpan(1)));
        }
        finally
        {
            builder.Return();
        }
    }

    [Fact]
    public void Return_ClearsWhatWasWritten_AndTheNextRentStartsEmpty()
    {
        const string Value = "jane.doe@example.com";
        var builder = TextBuilder.Rent(8);
        builder.Append(Value);
        builder.Return();

        // The chars written are zero now (the rest of a pooled buffer is whatever its last user left).
        Assert.DoesNotContain(builder.Buffer[..Value.Length].ToArray(), c => c != '\0');
        var next = TextBuilder.Rent(8);
        try
        {
            Assert.Same(builder, next);
            Assert.Equal(0, next.Length);
            Assert.Equal(string.Empty, next.ToString());
        }
        finally
        {
            next.Return();
        }
    }

    [Fact]
    public void Rent_WhileRented_AnotherBuilder()
    {
        var outer = TextBuilder.Rent(8);
        var inner = TextBuilder.Rent(8);
        try
        {
            Assert.NotSame(outer, inner);
            outer.Append("outer");
            inner.Append("inner");
            Assert.Equal("outer", outer.ToString());
            Assert.Equal("inner", inner.ToString());
        }
        finally
        {
            inner.Return();
            outer.Return();
        }
    }

    [Fact]
    public void Indexer_PastTheText_Throws()
    {
        var builder = TextBuilder.Rent(8);
        try
        {
            builder.Append("ab");
            Assert.Throws<ArgumentOutOfRangeException>(() => builder[2]);
        }
        finally
        {
            builder.Return();
        }
    }
}
