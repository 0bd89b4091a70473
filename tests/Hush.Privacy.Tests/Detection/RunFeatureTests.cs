using FsCheck;
using FsCheck.Fluent;
using Hush.Privacy.Detection;

namespace Hush.Privacy.Tests.Detection;

/// <summary>The group-wise run lengths equal the per-char definition they replaced, for any text.</summary>
public sealed class RunFeatureTests
{
    private static readonly Gen<string> Value = Gen.Choose(0, 30)
        .SelectMany(n => Gen.ArrayOf(Gen.Elements("0", "12", "4111", " ", "  ", "-", ".", "(", ")", "a", "DE", "/", "_", "\u00E9", "\uFF11", "x9"), n))
        .Select(string.Concat);

    [Fact]
    public void DigitRunsAndAlphanumericRun_AnyText_SameAsPerCharReference()
    {
        Prop.ForAll(Value.ToArbitrary(), AssertSameAsReference).Check(Config.QuickThrowOnFailure.WithMaxTest(3000));
    }

    /// <summary>Texts past the char-by-char limit take the vectorized walk; both must give the same runs.</summary>
    [Fact]
    public void DigitRunsAndAlphanumericRun_LongText_SameAsPerCharReference()
    {
        var longValue = Gen.Choose(2, 5).SelectMany(n => Gen.ArrayOf(Value, n)).Select(string.Concat);
        Prop.ForAll(longValue.ToArbitrary(), AssertSameAsReference).Check(Config.QuickThrowOnFailure.WithMaxTest(2000));
    }

    /// <summary>
    /// Texts of 64 chars or fewer are read as bit masks, longer ones by the group walk: around that edge (runs that
    /// touch the last bit, texts one char either side of it) both must still give the per-char definition.
    /// </summary>
    [Fact]
    public void DigitRunsAndAlphanumericRun_AroundTheMaskLimit_SameAsPerCharReference()
    {
        var nearLimit = Gen.Choose(CharMasks.MaxChars - 8, CharMasks.MaxChars + 8)
            .SelectMany(n => Gen.ArrayOf(Gen.Elements('1', '9', ' ', '-', '.', '(', 'a', 'Z', '_'), n))
            .Select(chars => new string(chars));
        Prop.ForAll(nearLimit.ToArbitrary(), AssertSameAsReference).Check(Config.QuickThrowOnFailure.WithMaxTest(3000));
    }

    [Theory]
    [InlineData(63)]
    [InlineData(64)]
    [InlineData(65)]
    public void Runs_AllDigits_CountEveryChar(int length)
    {
        var value = new string('7', length);
        Assert.Equal((length, length), TextFeatures.DigitRuns(value));
        Assert.Equal(length, TextFeatures.AlphanumericRun(value));
    }

    [Theory]
    [InlineData("4111 1111 1111 1111", 16, 16, 16)]
    [InlineData("(415) 555-2671", 7, 10, 4)]
    [InlineData("DE89 3704 0044 0532 0130 00", 20, 20, 22)]
    [InlineData("3f2a1b4c-1234-4def-8abc-0123456789ab", 10, 10, 12)]
    [InlineData("no digits here", 0, 0, 12)]
    public void Runs_KnownValues_Expected(string value, int card, int phone, int alnum)
    {
        Assert.Equal((card, phone), TextFeatures.DigitRuns(value));
        Assert.Equal(alnum, TextFeatures.AlphanumericRun(value));
    }

    private static void AssertSameAsReference(string value)
    {
        var (card, phone, alnum) = Reference(value);
        Assert.Equal((card, phone), TextFeatures.DigitRuns(value));
        Assert.Equal(alnum, TextFeatures.AlphanumericRun(value));
    }

    /// <summary>The per-char loop the prefilter used before (kept here as the definition).</summary>
    private static (int Card, int Phone, int Alnum) Reference(string text)
    {
        int card = 0, phone = 0, alnum = 0, cardCur = 0, phoneCur = 0, alnumCur = 0, seps = 0;
        bool cardSep = false, alnumSep = false;
        foreach (char c in text)
        {
            if ((uint)(c - '0') <= 9)
            {
                cardCur = cardSep || cardCur > 0 ? cardCur + 1 : 1;
                phoneCur = seps <= 2 ? phoneCur + 1 : 1;
                alnumCur = alnumSep || alnumCur > 0 ? alnumCur + 1 : 1;
                card = Math.Max(card, cardCur);
                phone = Math.Max(phone, phoneCur);
                alnum = Math.Max(alnum, alnumCur);
                cardSep = false;
                alnumSep = false;
                seps = 0;
                continue;
            }

            if (char.IsAsciiLetter(c))
            {
                alnumCur = alnumSep || alnumCur > 0 ? alnumCur + 1 : 1;
                alnum = Math.Max(alnum, alnumCur);
                alnumSep = false;
            }
            else if (c == ' ' && alnumCur > 0 && !alnumSep)
            {
                alnumSep = true;
            }
            else
            {
                alnumCur = 0;
                alnumSep = false;
            }

            if (c is ' ' or '-' && cardCur > 0 && !cardSep)
            {
                cardSep = true;
            }
            else
            {
                cardCur = 0;
                cardSep = false;
            }

            if (c is ' ' or '-' or '.' or '(' or ')')
            {
                seps++;
            }
            else
            {
                phoneCur = 0;
                seps = 3;
            }
        }

        return (card, phone, alnum);
    }
}
