using ReverseSD.MLNet.Data;

namespace ReverseSD.MLNet.Tests.Data;

public sealed class PromptSplitTests
{
    private static List<string> Prompts()
    {
        var rng = new Random(3);
        var list = new List<string>();
        for (int i = 0; i < 3000; i++)
        {
            int id = rng.Next(1200);
            // The same prompt appears with other case and surrounding spaces.
            list.Add(rng.Next(3) switch { 0 => $"prompt number {id}", 1 => $"  Prompt Number {id} ", _ => $"PROMPT NUMBER {id}" });
        }
        return list;
    }

    [Fact]
    public void NoPromptIsInTwoSplits()
    {
        var prompts = Prompts();
        var splits = PromptSplit.Assign(prompts, SplitFractions.Default, 1);
        var byKey = prompts.Zip(splits).GroupBy(x => PromptSplit.KeyOf(x.First));
        Assert.All(byKey, g => Assert.Single(g.Select(x => x.Second).Distinct()));
        Assert.Equal(["test", "train", "validation"], splits.Distinct().Order());
    }

    [Fact]
    public void SplitIsDeterministicForASeedAndChangesWithIt()
    {
        var prompts = Prompts();
        Assert.Equal(PromptSplit.Assign(prompts, null, 5), PromptSplit.Assign(prompts, null, 5));
        Assert.NotEqual(PromptSplit.Assign(prompts, null, 5), PromptSplit.Assign(prompts, null, 6));
    }

    [Fact]
    public void FractionsApplyToDistinctPrompts()
    {
        var prompts = Enumerable.Range(0, 1000).Select(i => $"p{i}").ToList();
        var splits = PromptSplit.Assign(prompts, new SplitFractions(0.8, 0.1, 0.1), 0);
        Assert.Equal(800, splits.Count(s => s == "train"));
        Assert.Equal(100, splits.Count(s => s == "validation"));
        Assert.Equal(100, splits.Count(s => s == "test"));
    }

    [Theory]
    [InlineData("0.9,0.1")]
    [InlineData("0.9,0.1,0.1")]
    [InlineData("a,b,c")]
    [InlineData("1.2,-0.1,-0.1")]
    public void BadFractionsAreRejectedWithAClearMessage(string text)
    {
        var e = Assert.Throws<ReverseSdInputException>(() => SplitFractions.Parse(text));
        Assert.Contains(text.Contains('a') || text.Split(',').Length != 3 ? "three numbers" : "sum to 1", e.Message);
    }

    [Fact]
    public void ParseReadsInvariantNumbers() =>
        Assert.Equal(new SplitFractions(0.92, 0.04, 0.04), SplitFractions.Parse("0.92, 0.04 ,0.04"));
}
