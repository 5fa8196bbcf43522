using ReverseSD.MLNet.Text;

namespace ReverseSD.MLNet.Tests.Text;

public sealed class PromptEmbeddingMemoTests
{
    [Fact]
    public void EachDistinctTextReachesTheEncoderOnceUntilCleared()
    {
        var calls = new List<string[]>();
        var memo = new PromptEmbeddingMemo((texts, _, _) =>
        {
            calls.Add([.. texts]);
            return texts.Select(t => new[] { t.Length, (float)t[0] }).ToArray();
        });
        var first = memo.Encode(["a cat", "a dog", "a cat"], null, default);
        var second = memo.Encode(["a dog", "a bird"], null, default);
        Assert.Equal([["a cat", "a dog"], ["a bird"]], calls);
        Assert.Equal(3, memo.EncodedTexts);
        Assert.Equal(first[0], first[2]);
        Assert.Equal(first[1], second[0]);
        Assert.Equal([6f, 'a'], second[1]);

        // Callers get copies: changing one changes nothing the memo hands out later.
        first[0][0] = -1;
        Assert.Equal(5f, memo.Encode(["a cat"], null, default)[0][0]);

        memo.Clear();
        memo.Encode(["a cat"], null, default);
        Assert.Equal(["a cat"], calls[^1]);
        Assert.Equal(4, memo.EncodedTexts);
    }
}
