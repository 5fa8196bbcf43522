using Microsoft.ML;
using ReverseSD.MLNet.Dakl;
using ReverseSD.MLNet.Ensemble;
using ReverseSD.MLNet.Evaluation;
using ReverseSD.MLNet.Retrieval;
using ReverseSD.MLNet.Tests.Retrieval;

namespace ReverseSD.MLNet.Tests.Dakl;

public sealed class DomainAdaptiveKernelTests
{
    private sealed class Row
    {
        public float[] EnsembleEmbedding { get; set; } = [];
        public float[] PromptEmbedding { get; set; } = [];
    }

    private const int D = 12, T = 8;

    private static (IDataView Train, IDataView Target) Data(MLContext ml, int n = 300, int p = 40)
    {
        var random = new Random(21);
        var train = VectorData.Random(random, n, D).Select(z => new Row { EnsembleEmbedding = z, PromptEmbedding = VectorData.Normalise(z[..T]) }).ToArray();
        var target = VectorData.Random(random, p, D, shift: 0.2f).Select(z => new Row { EnsembleEmbedding = z, PromptEmbedding = new float[T] }).ToArray();
        return (VectorData.Load(ml, train, ("EnsembleEmbedding", D), ("PromptEmbedding", T)), VectorData.Load(ml, target, ("EnsembleEmbedding", D), ("PromptEmbedding", T)));
    }

    private static DomainAdaptiveKernelOptions Options(IDataView target, KMeansEngine engine, int seed) => new()
    {
        TargetDomainData = target, NumberOfCentroids = 20, Gamma = 0.1f, KMeansEngine = engine, KMeansMaximumIterations = 10, Seed = seed,
    };

    [Theory]
    [InlineData(KMeansEngine.TorchSharp)]
    [InlineData(KMeansEngine.MLNet)]
    public void SameSeedGivesSameCentroidsAndPredictions(KMeansEngine engine)
    {
        var ml = new MLContext(1);
        var (train, target) = Data(ml);
        using var first = ml.Regression.Trainers.DomainAdaptiveKernel(Options(target, engine, 5)).Fit(train);
        using var second = ml.Regression.Trainers.DomainAdaptiveKernel(Options(target, engine, 5)).Fit(train);
        Assert.Equal(20, first.Statistics.Centroids);
        Assert.Equal(first.Solution.NormalisedPoints, second.Solution.NormalisedPoints);
        VectorData.AssertClose(VectorData.ReadColumn(first.Transform(target), "PredictedEmbedding"), VectorData.ReadColumn(second.Transform(target), "PredictedEmbedding"), 0);
        using var other = ml.Regression.Trainers.DomainAdaptiveKernel(Options(target, engine, 6)).Fit(train);
        Assert.NotEqual(first.Solution.NormalisedPoints, other.Solution.NormalisedPoints);
    }

    [Fact]
    public void ValidationDataWithGridsChoosesTheGammaAndAlphaWithTheBestValidationCosine()
    {
        var ml = new MLContext(1);
        var (train, target) = Data(ml);
        var (validation, _) = Data(ml, n: 60, p: 1);
        var options = Options(target, KMeansEngine.TorchSharp, 3);
        options.ValidationData = validation;
        options.GammaGrid = [0.01f, 1f];
        options.AlphaGrid = [0.1f, 10f];
        using var selected = ml.Regression.Trainers.DomainAdaptiveKernel(options).Fit(train);
        var s = selected.Selection;
        Assert.True(s.OnValidation);
        Assert.Equal([(0.01f, 0.1f), (0.01f, 10f), (1f, 0.1f), (1f, 10f)], s.Grid.Select(p => (p.Gamma, p.Alpha)));
        var best = s.Grid.MaxBy(p => p.ValidationMeanCosine)!;
        Assert.Equal((best.Gamma, best.Alpha), (s.Gamma, s.Alpha));

        // The recorded cosines are real: a fixed fit at each grid point scores its recorded cosine on the validation rows,
        // the kept transformer is the best one, and the input's own cosine decides Used.
        var truth = VectorData.ReadColumn(validation, "PromptEmbedding");
        double Cosine(float[][] predicted) => PromptEmbeddingEvaluator.Evaluate(predicted, truth).MeanCosine;
        foreach (var point in s.Grid)
        {
            var fixedOptions = Options(target, KMeansEngine.TorchSharp, 3);
            (fixedOptions.Gamma, fixedOptions.Alpha) = (point.Gamma, point.Alpha);
            using var fixedFit = ml.Regression.Trainers.DomainAdaptiveKernel(fixedOptions).Fit(train);
            Assert.False(fixedFit.Selection.OnValidation);
            Assert.Equal(point.ValidationMeanCosine, Cosine(VectorData.ReadColumn(fixedFit.Transform(validation), "PredictedEmbedding")), 5);
        }
        Assert.Equal(best.ValidationMeanCosine, Cosine(VectorData.ReadColumn(selected.Transform(validation), "PredictedEmbedding")), 5);
        // Here the input (12 values) is not in the label's space (8 values): nothing to compare with, DAKL is kept. With the same
        // sizes (the ensemble's embedding) it is kept only when it beats the input (EnsemblePipelineTests.DaklSelection*).
        Assert.Null(s.PlainEnsembleValidationMeanCosine);
        Assert.True(s.Used);
    }

    [Fact]
    public void SavedModelLoadsInPlainMLNetAndGivesTheSamePredictions()
    {
        var ml = new MLContext(1);
        var (train, target) = Data(ml);
        using var model = ml.Regression.Trainers.DomainAdaptiveKernel(Options(target, KMeansEngine.TorchSharp, 1)).Fit(train);
        var before = VectorData.ReadColumn(model.Transform(target), "PredictedEmbedding");
        VectorData.AssertClose(before, VectorData.SaveLoadAndRead(ml, model, target, "PredictedEmbedding"), 0);
        var torch = model.Solution.Predict(EmbeddingMatrix.Read(target, "EnsembleEmbedding", "test")).Chunk(T).ToArray();
        VectorData.AssertClose(before, torch, 1e-5);
        Assert.All(before, y => Assert.Equal(1.0, Math.Sqrt(y.Sum(v => (double)v * v)), 4));
    }

    [Fact]
    public void CentroidCountIsCappedAtTheTrainingSetSizeWithoutKMeans()
    {
        var ml = new MLContext(1);
        var (train, target) = Data(ml, n: 30);
        using var model = ml.Regression.Trainers.DomainAdaptiveKernel(target).Fit(train);   // default r = 10,000
        Assert.Equal((30, 30, 40, TimeSpan.Zero), (model.Statistics.TrainingSamples, model.Statistics.Centroids, model.Statistics.TargetDomainSamples, model.Statistics.KMeans));
        Assert.Equal(70, model.Solution.Points);
    }

    [Fact]
    public void CentroidTargetsAreTheNearestSampleOrTheNormalisedMemberMean()
    {
        var x = EmbeddingMatrix.FromRows([[0f], [1f], [10f], [11f]]);
        var y = EmbeddingMatrix.FromRows([[1f, 0f], [0f, 1f], [0.6f, 0.8f], [-1f, 0f]]);
        var centroids = EmbeddingMatrix.FromRows([[0.4f], [10.6f]]);
        var nearest = CentroidClustering.Targets(x, y, centroids, CentroidTarget.NearestSample, 1 << 20);
        Assert.Equal([1f, 0f, -1f, 0f], nearest.Values);
        var mean = CentroidClustering.Targets(x, y, centroids, CentroidTarget.MemberMean, 1 << 20);
        // (1, 1)/√2 and (−0.4, 0.8)/√0.8
        VectorData.AssertClose([[MathF.Sqrt(0.5f), MathF.Sqrt(0.5f), -0.4f / MathF.Sqrt(0.8f), 0.8f / MathF.Sqrt(0.8f)]], [mean.Values], 1e-6);
    }

    [Theory]
    [InlineData(KMeansInitialization.Random)]
    [InlineData(KMeansInitialization.KMeansPlusPlus)]
    public void TorchKMeansFindsWellSeparatedClusters(KMeansInitialization initialization)
    {
        var random = new Random(8);
        float[][] centres = [[10, 0], [0, 10], [-10, -10]];
        var rows = Enumerable.Range(0, 150).Select(i => centres[i % 3].Select(c => c + (float)(random.NextDouble() - 0.5)).ToArray()).ToArray();
        var found = CentroidClustering.Run(EmbeddingMatrix.FromRows(rows),
            new CentroidClustering.Settings(3, KMeansEngine.TorchSharp, initialization, 50, 0, 3, 1 << 20));
        var sorted = Enumerable.Range(0, 3).Select(i => found.Row(i).ToArray()).OrderBy(c => c[0]).ThenBy(c => c[1]).ToArray();
        float[][] expected = [[-10, -10], [0, 10], [10, 0]];
        if (initialization == KMeansInitialization.KMeansPlusPlus)
            VectorData.AssertClose(expected, sorted, 0.2);
        else
            Assert.Equal(3, sorted.Length);   // random seeding may merge two blobs; only k-means++ is guaranteed here
    }

    [Fact]
    public void InvalidOptionsAndInputsAreRejected()
    {
        var ml = new MLContext(1);
        var (train, target) = Data(ml, n: 20);
        Assert.Throws<ArgumentOutOfRangeException>(() => ml.Regression.Trainers.DomainAdaptiveKernel(target, gamma: 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => ml.Regression.Trainers.DomainAdaptiveKernel(target, alpha: -1));
        Assert.Throws<ArgumentOutOfRangeException>(() => ml.Regression.Trainers.DomainAdaptiveKernel(target, numberOfCentroids: 0));
        Assert.Throws<ArgumentException>(() => ml.Regression.Trainers.DomainAdaptiveKernel(target, outputColumnName: "EnsembleEmbedding"));
        Assert.Throws<ReverseSdInputException>(() => ml.Regression.Trainers.DomainAdaptiveKernel(new DomainAdaptiveKernelOptions { TargetDomainData = target, TargetDomainColumnName = "Nope" }));
        var estimator = ml.Regression.Trainers.DomainAdaptiveKernel(new DomainAdaptiveKernelOptions
        {
            TargetDomainData = target, TargetDomainColumnName = "EnsembleEmbedding", InputColumnName = "Missing",
        });
        Assert.Throws<ReverseSdInputException>(() => estimator.GetOutputSchema(SchemaShapes.Of(train.Schema)));
        Assert.Throws<ReverseSdInputException>(() => estimator.Fit(train));
    }
}
