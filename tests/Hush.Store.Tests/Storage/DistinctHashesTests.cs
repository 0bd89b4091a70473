using Hush.Store.Storage;

namespace Hush.Store.Tests.Storage;

public sealed class DistinctHashesTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void Add_KeepsExactlyTheDistinctHashes_AsAHashSetWould(int seed)
    {
        var random = new Random(seed);
        var set = new DistinctHashes();
        for (var block = 0; block < 4; block++)
        {
            var expected = new HashSet<ulong>();

            // Many repeats, a zero, and clustered high bits (the slot index), across several growths.
            var values = Enumerable.Range(0, 3_000 * (block + 1)).Select(_ => random.Next(4) switch
            {
                0 => 0UL,
                1 => (ulong)random.Next(50) << 56,
                _ => (ulong)random.NextInt64(),
            }).ToList();
            foreach (var value in values)
            {
                set.Add(value);
                expected.Add(value);
            }

            Assert.Equal(expected.Count, set.Count);
            var filter = Bloom.Create(2, set.Count, 10, 7, minBits: 512);
            var adder = new Bloom.Adder(filter);
            set.AddEachTo(ref adder);
            var reference = Bloom.Create(2, expected.Count, 10, 7, minBits: 512);
            var referenceAdder = new Bloom.Adder(reference);
            foreach (var value in expected)
            {
                referenceAdder.Add(value);
            }

            Assert.Equal(reference, filter);
            set.Clear(keepSlots: block % 2 == 0 ? 1 << 20 : 16);
            Assert.Equal(0, set.Count);
        }
    }
}
