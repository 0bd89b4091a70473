using System.Buffers;
using Hush.Privacy.Detection.BuiltIn;

namespace Hush.Privacy.Tests.Detection;

/// <summary>The char-by-char searches short texts use give the vectorized search's answer at every position.</summary>
public sealed class NextCharTests
{
    private static readonly SearchValues<char> StartChars = SearchValues.Create("+(0123456789");

    [Fact]
    public void NextDigitAndNextStart_RandomTexts_SameAsVectorizedSearch()
    {
        var random = new Random(11);
        const string alphabet = "0123456789abcdefABCDEF-_.+( )/:@=%é\u0660\uff10";
        for (var n = 0; n < 3000; n++)
        {
            // Lengths on both sides of the 64-char switch to the vectorized search, including texts without any digit.
            var chars = new char[random.Next(0, 140)];
            var digitFree = random.Next(5) == 0;
            for (var k = 0; k < chars.Length; k++)
            {
                var c = alphabet[random.Next(alphabet.Length)];
                chars[k] = digitFree && char.IsAsciiDigit(c) ? 'x' : c;
            }

            var text = new string(chars);
            for (var i = 0; i <= text.Length; i++)
            {
                var digit = text.AsSpan(i).IndexOfAnyInRange('0', '9');
                Assert.Equal(digit < 0 ? -1 : i + digit, Chars.NextDigit(text, i));
                var start = text.AsSpan(i).IndexOfAny(StartChars);
                Assert.Equal(start < 0 ? -1 : i + start, PhoneDetector.NextStart(text, i));
            }
        }
    }
}
