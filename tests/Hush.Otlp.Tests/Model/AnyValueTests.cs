namespace Hush.Otlp.Tests.Model;

/// <summary>AnyValue keeps its kind without a kind field (see its remarks); these pin that every kind still reads back as itself only.</summary>
public sealed class AnyValueTests
{
    public static TheoryData<AnyValueKind> Kinds() =>
        [AnyValueKind.Empty, AnyValueKind.String, AnyValueKind.Bool, AnyValueKind.Int, AnyValueKind.Double, AnyValueKind.Array, AnyValueKind.KeyValueList, AnyValueKind.Bytes];

    private static AnyValue Sample(AnyValueKind kind) => kind switch
    {
        AnyValueKind.String => AnyValue.Of("1"),
        AnyValueKind.Bool => AnyValue.Of(true),
        AnyValueKind.Int => AnyValue.Of(1L),
        AnyValueKind.Double => AnyValue.Of(BitConverter.Int64BitsToDouble(1)),
        AnyValueKind.Array => AnyValue.Of(new List<AnyValue> { AnyValue.Of(1L) }),
        AnyValueKind.KeyValueList => AnyValue.Of(new List<KeyValue> { new("k", AnyValue.Of(1L)) }),
        AnyValueKind.Bytes => AnyValue.Of(new byte[] { 1 }),
        _ => AnyValue.Empty,
    };

    [Theory]
    [MemberData(nameof(Kinds))]
    public void Of_EachKind_ReadsBackOnlyAsThatKind(AnyValueKind kind)
    {
        var value = Sample(kind);

        Assert.Equal(kind, value.Kind);
        Assert.Equal(kind == AnyValueKind.String, value.StringValue is not null);
        Assert.Equal(kind == AnyValueKind.Bool, value.BoolValue);
        Assert.Equal(kind == AnyValueKind.Int ? 1 : 0, value.IntValue);
        Assert.Equal(kind == AnyValueKind.Double ? BitConverter.Int64BitsToDouble(1) : 0, value.DoubleValue);
        Assert.Equal(kind == AnyValueKind.Array, value.ArrayValue is not null);
        Assert.Equal(kind == AnyValueKind.KeyValueList, value.KeyValueListValue is not null);
        Assert.Equal(kind == AnyValueKind.Bytes, value.BytesValue is not null);
    }

    [Fact]
    public void Equals_SameBitsDifferentKinds_AreNotEqual()
    {
        // Bool true, Int 1 and the double with bit pattern 1 share their 64 bits.
        var values = new[] { AnyValue.Of(true), AnyValue.Of(1L), AnyValue.Of(BitConverter.Int64BitsToDouble(1)), AnyValue.Empty };

        for (var i = 0; i < values.Length; i++)
        {
            for (var j = 0; j < values.Length; j++)
            {
                Assert.Equal(i == j, values[i].Equals(values[j]));
            }
        }
    }

    [Fact]
    public void Default_IsEmpty_AndEqualsEmpty()
    {
        Assert.Equal(AnyValueKind.Empty, default(AnyValue).Kind);
        Assert.Equal(AnyValue.Empty, default);
        Assert.Equal(AnyValueKind.String, AnyValue.Of((string)null!).Kind);
    }

    [Fact]
    public void IsSameAs_EqualScalars_TrueAcrossInstances_KindsApart()
    {
        Assert.True(AnyValue.Of(42L).IsSameAs(AnyValue.Of(42L)));
        Assert.True(AnyValue.Of(double.NaN).IsSameAs(AnyValue.Of(double.NaN)));
        Assert.True(AnyValue.Of(true).IsSameAs(AnyValue.Of(true)));
        Assert.True(AnyValue.Empty.IsSameAs(default));
        Assert.False(AnyValue.Of(1L).IsSameAs(AnyValue.Of(true)));
        Assert.False(AnyValue.Of(1L).IsSameAs(AnyValue.Of(2L)));
        Assert.False(AnyValue.Of(1L).IsSameAs(AnyValue.Of(BitConverter.Int64BitsToDouble(1))));
    }

    [Fact]
    public void IsSameAs_StringsBytesAndContainers_SameObjectOnly()
    {
        var text = "value";
        var bytes = new byte[] { 1, 2 };
        var items = new List<AnyValue> { AnyValue.Of(1L) };
        var map = new List<KeyValue> { new("k", AnyValue.Of(1L)) };

        Assert.True(AnyValue.Of(text).IsSameAs(AnyValue.Of(text)));
        Assert.True(AnyValue.Of(bytes).IsSameAs(AnyValue.Of(bytes)));
        Assert.True(AnyValue.Of(items).IsSameAs(AnyValue.Of(items)));
        Assert.True(AnyValue.Of(map).IsSameAs(AnyValue.Of(map)));

        // Equal contents in other objects: Equals says equal, identity says not the same.
        Assert.False(AnyValue.Of(text).IsSameAs(AnyValue.Of(new string(text.AsSpan()))));
        Assert.True(AnyValue.Of(text).Equals(AnyValue.Of(new string(text.AsSpan()))));
        Assert.False(AnyValue.Of(bytes).IsSameAs(AnyValue.Of(new byte[] { 1, 2 })));
        Assert.False(AnyValue.Of(items).IsSameAs(AnyValue.Of(new List<AnyValue> { AnyValue.Of(1L) })));
    }
}
