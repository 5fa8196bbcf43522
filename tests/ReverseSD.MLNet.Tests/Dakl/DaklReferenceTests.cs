using System.Runtime.CompilerServices;
using System.Text.Json;
using Microsoft.ML;
using ReverseSD.MLNet.Dakl;
using ReverseSD.MLNet.Retrieval;
using ReverseSD.MLNet.Tests.Retrieval;

namespace ReverseSD.MLNet.Tests.Dakl;

/// <summary>DAKL against an independent plain-loop implementation of Eq. 5–7 and a NumPy/scikit-learn fixture.</summary>
public sealed class DaklReferenceTests
{
    private sealed class Row
    {
        public float[] EnsembleEmbedding { get; set; } = [];
    }

    /// <summary>Eq. 5–7 with loops in float64: K, K̂, K_DA over Z = C ∪ X̄, G = K_DA[C] K_DA[C]ᵀ, (G + αI) A = Y, ŷ = k_DA(x) K_DA[C]ᵀ A.</summary>
    private static float[][] PlainLoopDakl(float[][] centroids, float[][] targets, float[][] targetDomain, float[][] queries, double gamma, double alpha)
    {
        var z = centroids.Concat(targetDomain).Select(r => r.Select(v => (double)v).ToArray()).ToArray();
        int r = centroids.Length, m = z.Length, t = targets[0].Length;
        double Dot(double[] a, double[] b) { double s = 0; for (int i = 0; i < a.Length; i++) s += a[i] * b[i]; return s; }
        var k = new double[m, m];
        for (int i = 0; i < m; i++) for (int j = 0; j < m; j++) k[i, j] = Dot(z[i], z[j]);
        var kDa = new double[m][];
        for (int i = 0; i < m; i++)
        {
            kDa[i] = new double[m];
            for (int j = 0; j < m; j++) kDa[i][j] = Math.Exp(-gamma * (1 - k[i, j] / Math.Sqrt(k[i, i] * k[j, j])));
        }
        // Augmented system [G + αI | Y], Gauss-Jordan with partial pivoting.
        var system = new double[r, r + t];
        for (int i = 0; i < r; i++)
        {
            for (int j = 0; j < r; j++) system[i, j] = Dot(kDa[i], kDa[j]) + (i == j ? alpha : 0);
            for (int c = 0; c < t; c++) system[i, r + c] = targets[i][c];
        }
        for (int col = 0; col < r; col++)
        {
            int pivot = Enumerable.Range(col, r - col).MaxBy(i => Math.Abs(system[i, col]));
            for (int c = 0; c < r + t; c++) (system[col, c], system[pivot, c]) = (system[pivot, c], system[col, c]);
            for (int i = 0; i < r; i++)
            {
                if (i == col) continue;
                double f = system[i, col] / system[col, col];
                for (int c = col; c < r + t; c++) system[i, c] -= f * system[col, c];
            }
        }
        var a = new double[r, t];
        for (int i = 0; i < r; i++) for (int c = 0; c < t; c++) a[i, c] = system[i, r + c] / system[i, i];

        return queries.Select(q =>
        {
            var x = q.Select(v => (double)v).ToArray();
            var features = z.Select(zj => Math.Exp(-gamma * (1 - Dot(x, zj) / Math.Sqrt(Dot(x, x) * Dot(zj, zj))))).ToArray();
            var y = new double[t];
            for (int i = 0; i < r; i++)
            {
                double g = Dot(features, kDa[i]);
                for (int c = 0; c < t; c++) y[c] += g * a[i, c];
            }
            double norm = Math.Sqrt(y.Sum(v => v * v));
            return y.Select(v => (float)(v / norm)).ToArray();
        }).ToArray();
    }

    private static float[][] ScoreWithOnnx(MLContext ml, DaklSolution solution, float[][] inputs)
    {
        var data = VectorData.Load(ml, inputs.Select(x => new Row { EnsembleEmbedding = x }).ToArray(), ("EnsembleEmbedding", solution.InputSize));
        var statistics = new DaklFitStatistics(0, 0, 0, default, default, default, default, default, false, 0);
        using var model = DomainAdaptiveKernelTransformer.Create(ml, solution, "EnsembleEmbedding", "PredictedEmbedding", data, statistics);
        return VectorData.ReadColumn(model.Transform(data), "PredictedEmbedding");
    }

    [Theory]
    [InlineData(0.001f, 10f, false, 1e-4)]   // the paper's setting in float32
    [InlineData(0.001f, 10f, true, 1e-5)]
    [InlineData(0.5f, 1f, true, 1e-5)]
    [InlineData(5f, 0.1f, true, 1e-5)]
    public void PredictionsEqualAPlainLoopImplementationOfEquations5To7(float gamma, float alpha, bool float64, double tolerance)
    {
        var random = new Random(17);
        var centroids = VectorData.Random(random, 50, 16);
        var targets = VectorData.Random(random, 50, 12).Select(VectorData.Normalise).ToArray();
        var targetDomain = VectorData.Random(random, 40, 16, shift: 0.3f);
        var fresh = VectorData.Random(random, 6, 16);
        var queries = targetDomain.Concat(fresh).ToArray();

        var expected = PlainLoopDakl(centroids, targets, targetDomain, queries, gamma, alpha);
        var solution = DaklKernelRidge.Fit(EmbeddingMatrix.FromRows(centroids), EmbeddingMatrix.FromRows(targets), EmbeddingMatrix.FromRows(targetDomain), gamma, alpha, float64: float64);
        Console.WriteLine($"DAKL vs plain loops, gamma {gamma}, alpha {alpha}, float64 {float64}: max |difference| {VectorData.MaxDifference(expected, ScoreWithOnnx(new MLContext(1), solution, queries)):G3}");
        VectorData.AssertClose(expected, solution.Predict(EmbeddingMatrix.FromRows(queries)).Chunk(12).ToArray(), tolerance);
        VectorData.AssertClose(expected, ScoreWithOnnx(new MLContext(1), solution, queries), tolerance);
    }

    /// <summary>Unit vectors around one direction (pairwise cosine about 0.8, like an ensemble's predicted embeddings) and targets linear in them.</summary>
    private static (float[][] Centroids, float[][] Targets, float[][] TargetDomain) ClusteredEmbeddings(int r, int p, int d, int t, int seed)
    {
        var random = new Random(seed);
        var mean = Enumerable.Range(0, d).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
        var projection = VectorData.Random(random, d, t);
        float[][] Rows(int n) => Enumerable.Range(0, n)
            .Select(_ => VectorData.Normalise(mean.Select(v => v + 0.6f * (float)(random.NextDouble() * 2 - 1)).ToArray())).ToArray();
        float[] Target(float[] x) => VectorData.Normalise(Enumerable.Range(0, t).Select(j => Enumerable.Range(0, d).Sum(i => x[i] * projection[i][j]) + 0.3f * (float)random.NextDouble()).ToArray());
        var centroids = Rows(r);
        return (centroids, centroids.Select(Target).ToArray(), Rows(p));
    }

    // Before the float64 solve and weights, a float32 fit put errors of 0.09 (γ = 0.01, α = 0.01) and 0.44 (α = 1e-4) into predictions on data like these.
    [Theory]
    [InlineData(0.01f, 0.01f, false)]
    [InlineData(1f, 0.01f, true)]
    [InlineData(0.01f, 1e-4f, true)]
    [InlineData(0.001f, 10f, false)]
    public void SmallAlphaCornerMatchesAFloat64PlainLoopReference(float gamma, float alpha, bool expectFloat64Kernel)
    {
        var (centroids, targets, targetDomain) = ClusteredEmbeddings(300, 200, 64, 32, 5);
        var expected = PlainLoopDakl(centroids, targets, targetDomain, targetDomain, gamma, alpha);
        var solution = DaklKernelRidge.Fit(EmbeddingMatrix.FromRows(centroids), EmbeddingMatrix.FromRows(targets), EmbeddingMatrix.FromRows(targetDomain), gamma, alpha);
        var actual = ScoreWithOnnx(new MLContext(1), solution, targetDomain);
        Console.WriteLine($"DAKL small-alpha corner, gamma {gamma}, alpha {alpha}: condition bound {solution.Timings.ConditionBound:G3}, float64 kernel {solution.Timings.Float64Kernel}, max |difference| {VectorData.MaxDifference(expected, actual):G3}");
        Assert.Equal(expectFloat64Kernel, solution.Timings.Float64Kernel);
        VectorData.AssertClose(expected, actual, 1e-3);
    }

    [Fact]
    public void RidgeSystemTooIllConditionedForFloat64IsRejectedAskingForALargerAlpha()
    {
        var (centroids, targets, targetDomain) = ClusteredEmbeddings(60, 40, 16, 8, 3);
        var error = Assert.Throws<ReverseSdInputException>(() => DaklKernelRidge.Fit(EmbeddingMatrix.FromRows(centroids), EmbeddingMatrix.FromRows(targets),
            EmbeddingMatrix.FromRows(targetDomain), 1f, 1e-15f));
        Assert.Contains("raise α", error.Message);
    }

    [Fact]
    public void KernelBlocksOfAnySizeGiveTheSameModel()
    {
        var random = new Random(2);
        var centroids = EmbeddingMatrix.FromRows(VectorData.Random(random, 30, 8));
        var targets = EmbeddingMatrix.FromRows(VectorData.Random(random, 30, 5));
        var targetDomain = EmbeddingMatrix.FromRows(VectorData.Random(random, 25, 8));
        var whole = DaklKernelRidge.Fit(centroids, targets, targetDomain, 0.01f, 10f);
        var blocked = DaklKernelRidge.Fit(centroids, targets, targetDomain, 0.01f, 10f, memoryBudgetBytes: 30 * 4 * 7);   // 7 columns per block
        VectorData.AssertClose([whole.Weights], [blocked.Weights], 1e-5);
    }

    private sealed record Fixture(float[][] Centroids, float[][] CentroidTargets, float[][] TargetDomain, float[][] Queries, FixtureCase[] Cases);

    private sealed record FixtureCase(float Gamma, float Alpha, float[][] TargetDomainPredictions, float[][] QueryPredictions);

    private static string FixturePath([CallerFilePath] string here = "")
        => Path.Combine(Path.GetDirectoryName(here)!, "..", "Fixtures", "dakl-sklearn.json");

    [Theory]
    [InlineData(true, 1e-5)]
    [InlineData(false, 1e-3)]   // float32 at γ = 0.5, α = 1 differs by 1.5e-4 (see UseFloat64)
    public void PredictionsEqualTheNumPyScikitLearnFixture(bool float64, double tolerance)
    {
        var fixture = JsonSerializer.Deserialize<Fixture>(File.ReadAllText(FixturePath()), new JsonSerializerOptions { PropertyNameCaseInsensitive = true })!;
        Assert.Equal(2, fixture.Cases.Length);
        var ml = new MLContext(1);
        foreach (var c in fixture.Cases)
        {
            var solution = DaklKernelRidge.Fit(EmbeddingMatrix.FromRows(fixture.Centroids), EmbeddingMatrix.FromRows(fixture.CentroidTargets),
                EmbeddingMatrix.FromRows(fixture.TargetDomain), c.Gamma, c.Alpha, float64: float64);
            var inputs = fixture.TargetDomain.Concat(fixture.Queries).ToArray();
            var expected = c.TargetDomainPredictions.Concat(c.QueryPredictions).ToArray();
            var actual = ScoreWithOnnx(ml, solution, inputs);
            Console.WriteLine($"DAKL vs scikit-learn, gamma {c.Gamma}, alpha {c.Alpha}, float64 {float64}: max |difference| {VectorData.MaxDifference(expected, actual):G3}");
            VectorData.AssertClose(expected, actual, c.Gamma == 0.001f && c.Alpha == 10f ? Math.Min(tolerance, 1e-4) : tolerance);
        }
    }
}
