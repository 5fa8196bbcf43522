using ReverseSD.MLNet.Curriculum;
using ReverseSD.MLNet.Evaluation;

namespace ReverseSD.MLNet.Tests.Curriculum;

public sealed class CurriculumTests
{
    [Fact]
    public void DifficultyIsOneMinusTheMeanCosineOverEpochs()
    {
        var d = DifficultyScorer.Score([[0.9f, 0.1f], [0.7f, 0.3f]]);
        Assert.Equal(0.2, d[0], 6);
        Assert.Equal(0.8, d[1], 6);
    }

    [Fact]
    public void OfficialWeightingCountsOnlyImprovingEpochsAndWeighsLaterOnesMore()
    {
        // Validation improves at epochs 1 and 3 (weights 1 and 3); epoch 2 is ignored.
        var d = DifficultyScorer.Score([[0.2f], [0.9f], [0.6f]], DifficultyWeighting.ImprovingEpochsWeighted, [0.5, 0.4, 0.6]);
        Assert.Equal(1 - (0.2 * 1 + 0.6 * 3) / 4, d[0], 6);
        Assert.Throws<ArgumentException>(() => DifficultyScorer.Score([[0.2f]], DifficultyWeighting.ImprovingEpochsWeighted));
    }

    [Fact]
    public void ThirdsSplitIntoEqualChunksEasiestFirst()
    {
        double[] difficulty = [0.9, 0.1, 0.5, 0.3, 0.7, 0.2];
        var c = CurriculumSplit.Thirds(difficulty);
        Assert.Equal([1, 5], c.Easy);
        Assert.Equal([3, 2], c.Medium);
        Assert.Equal([4, 0], c.Hard);
    }

    [Fact]
    public void ThresholdsFromSharesGiveTheRequestedChunkSizes()
    {
        var difficulty = Enumerable.Range(0, 100).Select(i => (double)((i * 37) % 100)).ToArray();
        var (easy, medium) = CurriculumSplit.ThresholdsFromShares(difficulty, 0.6, 0.3);
        var c = CurriculumSplit.ByThresholds(difficulty, easy, medium);
        Assert.Equal((60, 30, 10), (c.Easy.Length, c.Medium.Length, c.Hard.Length));
        Assert.True(c.Easy.Max(i => difficulty[i]) < c.Medium.Min(i => difficulty[i]));
    }

    [Fact]
    public void GrowingPrefixesKeepTheTotalStepsAndAddChunksInOrder()
    {
        var chunks = new CurriculumChunks([1, 2], [3], [0]);
        var stages = CurriculumSchedule.GrowingPrefixes(chunks, 100, [0.5, 0.3, 0.2]);
        Assert.Equal([50, 30, 20], stages.Select(s => s.Steps));
        Assert.Equal([1, 2], stages[0].Indices);
        Assert.Equal([1, 2, 3], stages[1].Indices);
        Assert.Equal([1, 2, 3, 0], stages[2].Indices);
    }

    [Fact]
    public void AnEmptyChunkHandsItsStepsToTheNextStage()
    {
        var stages = CurriculumSchedule.GrowingPrefixes(new CurriculumChunks([], [3], [0]), 90);
        Assert.Equal(90, stages.Sum(s => s.Steps));
        Assert.Equal([3], stages[0].Indices);
    }

    [Fact]
    public void AurocMatchesTheMannWhitneyCountWithTies()
    {
        // Positives 0.8, 0.4; negatives 0.4, 0.1: pairs (0.8>0.4),(0.8>0.1),(0.4=0.4 half),(0.4>0.1) = 3.5 of 4.
        Assert.Equal(0.875, Auroc.Compute([0.8, 0.4, 0.4, 0.1], [true, true, false, false]), 9);
        Assert.True(double.IsNaN(Auroc.Compute([0.1, 0.2], [true, true])));
    }

    [Fact]
    public void DifficultyReportWritesAHistogramSvgWithTheAuroc()
    {
        using var dir = new TempDirectory();
        var pairs = Enumerable.Range(0, 60).Select(i => new ScoredPair($"{i}.png", $"prompt {i}", i / 60.0, i >= 50)).ToList();
        var report = new DifficultyReport { Pairs = pairs, Chunks = CurriculumSplit.Thirds(pairs.Select(p => p.Difficulty).ToList()) };
        Assert.Equal(1.0, report.NoiseAuroc);
        string svg = dir.File("difficulty.svg");
        report.WriteHistogramSvg(svg);
        string text = File.ReadAllText(svg);
        Assert.Contains("<svg", text);
        Assert.Contains("AUROC", text);
        Assert.Equal(3, report.Examples()["hard"].Count);
    }
}
