using ReverseSD.MLNet.Evaluation;

namespace ReverseSD.MLNet.Tests.Evaluation;

public sealed class EvaluationMetricsTests
{
    [Fact]
    public void MeanCosineAndStandardErrorMatchHandComputedValues()
    {
        float[][] predicted = [[1, 0], [1, 1], [0, 1]];
        float[][] targets = [[1, 0], [1, 0], [1, 0]];
        var metrics = PromptEmbeddingEvaluator.Evaluate(predicted, targets);
        double c = Math.Sqrt(0.5);
        Assert.Equal([1, c, 0], metrics.SampleCosines.Select(v => Math.Round(v, 12)).ToArray(), new ToleranceComparer(1e-9));
        double mean = (1 + c) / 3;
        double sd = Math.Sqrt((Math.Pow(1 - mean, 2) + Math.Pow(c - mean, 2) + Math.Pow(mean, 2)) / 2);
        Assert.Equal(mean, metrics.MeanCosine, 12);
        Assert.Equal(sd / Math.Sqrt(3), metrics.StandardError, 12);
        Assert.Equal(3, metrics.Count);
    }

    [Fact]
    public void MeanEmbeddingBaselineIsTheNormalisedMeanOfTheTrainingTargets()
    {
        float[] mean = PromptEmbeddingEvaluator.MeanEmbedding([[1, 0], [0, 1], [1, 0]]);
        Assert.Equal(2 / Math.Sqrt(5), mean[0], 6);
        Assert.Equal(1 / Math.Sqrt(5), mean[1], 6);
        var baseline = PromptEmbeddingEvaluator.EvaluateConstant(mean, [[1, 0], [0, 1]]);
        Assert.Equal((2 + 1) / Math.Sqrt(5) / 2, baseline.MeanCosine, 6);
    }

    [Theory]
    [InlineData(2.0, 10, 0.0734)]      // textbook two-sided value 0.07339
    [InlineData(2.228, 10, 0.05)]      // critical value of the 5 % two-sided test
    [InlineData(12.706, 1, 0.05)]
    [InlineData(3.169, 10, 0.01)]
    [InlineData(1.96, 100000, 0.05)]   // approaches the normal distribution
    [InlineData(0.0, 5, 1.0)]
    public void TwoSidedPValueMatchesStudentTTables(double t, double df, double expected)
    {
        Assert.Equal(expected, PairedTTest.TwoSidedPValue(t, df), 3);
        Assert.Equal(expected, PairedTTest.TwoSidedPValue(-t, df), 3);
    }

    [Fact]
    public void RegularizedIncompleteBetaAndLogGammaMatchClosedForms()
    {
        // I_x(2, 3) = 6x² − 8x³ + 3x⁴ ; I_x(1, 1) = x ; Γ(5) = 24 ; Γ(0.5) = √π
        foreach (double x in new[] { 0.1, 0.5, 0.9 })
        {
            Assert.Equal(6 * x * x - 8 * x * x * x + 3 * x * x * x * x, PairedTTest.RegularizedIncompleteBeta(2, 3, x), 12);
            Assert.Equal(x, PairedTTest.RegularizedIncompleteBeta(1, 1, x), 12);
        }
        Assert.Equal(Math.Log(24), PairedTTest.LogGamma(5), 12);
        Assert.Equal(Math.Log(Math.Sqrt(Math.PI)), PairedTTest.LogGamma(0.5), 12);
    }

    [Fact]
    public void PairedTTestOnKnownDifferences()
    {
        // Differences 1, 2, 3, 4, 5 with a zero baseline: mean 3, sd √2.5, t = 3 / (√2.5/√5) = 4.2426, df 4, p = 0.01324.
        double[] a = [1, 2, 3, 4, 5];
        double[] b = [0, 0, 0, 0, 0];
        var result = PairedTTest.Run(a, b);
        Assert.Equal(3, result.MeanDifference, 12);
        Assert.Equal(3 / Math.Sqrt(0.5), result.T, 9);
        Assert.Equal(4, result.DegreesOfFreedom);
        Assert.Equal(0.01324, result.PValue, 4);
        Assert.Throws<ArgumentException>(() => PairedTTest.Run([1, 2], [1]));
    }

    [Fact]
    public void PerSampleCosinesRoundTripThroughTheCsvFile()
    {
        using var dir = new TempDirectory();
        var model = CosineMetrics.FromSamples([0.25, 0.5, 0.123456789012345]);
        var baseline = CosineMetrics.FromSamples([0.1, 0.2, 0.3]);
        PromptEmbeddingEvaluator.WriteSampleCosines(dir.File("cos.csv"), ["a.png", "b,c.png", "d.png"], model, baseline);
        Assert.Equal(model.SampleCosines, PromptEmbeddingEvaluator.ReadSampleCosines(dir.File("cos.csv")));
        Assert.Equal(baseline.SampleCosines, PromptEmbeddingEvaluator.ReadSampleCosines(dir.File("cos.csv"), "baseline_cosine"));
    }

    private sealed class ToleranceComparer(double tolerance) : IEqualityComparer<double>
    {
        public bool Equals(double x, double y) => Math.Abs(x - y) <= tolerance;
        public int GetHashCode(double obj) => 0;
    }
}
