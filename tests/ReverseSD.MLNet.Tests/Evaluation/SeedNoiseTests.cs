using ReverseSD.MLNet.Evaluation;

namespace ReverseSD.MLNet.Tests.Evaluation;

public sealed class SeedNoiseTests
{
    [Fact]
    public void StatisticIsTheMeanOverPromptsOfTheStdOfCosinesToThePromptsMeanPrediction()
    {
        // Prompt a: predictions [1,0] and [0,1]; mean [0.5,0.5]; both cosines √½, std 0.
        // Prompt b: [1,0], [1,0], [0,1]; mean [2/3,1/3]; cosines 2/√5, 2/√5, 1/√5; population std √2/(3√5).
        // Prompt c has one image and is left out.
        string[] prompts = ["a", "a", "b", "b", "b", "c"];
        float[][] predictions = [[1, 0], [0, 1], [1, 0], [1, 0], [0, 1], [1, 0]];
        float[][] targets = [[1, 0], [1, 0], [1, 0], [1, 0], [1, 0], [0, 1]];
        var s = SeedNoise.Measure(prompts, predictions, targets);
        Assert.Equal(2, s.Prompts);
        Assert.Equal(5, s.Images);
        Assert.Equal((0 + Math.Sqrt(2) / (3 * Math.Sqrt(5))) / 2, s.MeanStandardDeviation, 6);
        Assert.Equal(3.0 / 5, s.MeanCosine, 6);
    }

    [Fact]
    public void IdenticalPredictionsPerPromptHaveZeroSeedNoise()
    {
        string[] prompts = ["a", "a", "b", "b"];
        float[][] predictions = [[0.3f, 0.4f], [0.3f, 0.4f], [-1, 2], [-1, 2]];
        Assert.Equal(0, SeedNoise.Measure(prompts, predictions, predictions).MeanStandardDeviation, 9);
    }

    [Fact]
    public void DataWithOneImagePerPromptIsRejectedNamingTheFix()
    {
        var error = Assert.Throws<ReverseSdInputException>(() => SeedNoise.Measure(["a", "b"], [[1f], [1f]], [[1f], [1f]]));
        Assert.Contains("--seeds-per-prompt", error.Message);
    }
}
