using Microsoft.ML;
using ReverseSD.MLNet.Retrieval;

namespace ReverseSD.MLNet.Tests.Retrieval;

public sealed class NearestNeighborRegressionTests
{
    private sealed class Row
    {
        public float[] ImageFeatures { get; set; } = [];
        public float[] PromptEmbedding { get; set; } = [];
    }

    private const int D = 8, T = 6;

    private static (IDataView Train, IDataView Queries, float[][] Features, float[][] Targets, float[][] QueryFeatures) Data(MLContext ml, int n = 60)
    {
        var random = new Random(11);
        var features = VectorData.Random(random, n, D);
        var targets = VectorData.Random(random, n, T).Select(VectorData.Normalise).ToArray();
        var queries = VectorData.Random(random, 10, D);
        var train = VectorData.Load(ml, features.Zip(targets, (f, t) => new Row { ImageFeatures = f, PromptEmbedding = t }).ToArray(), ("ImageFeatures", D), ("PromptEmbedding", T));
        var q = VectorData.Load(ml, queries.Select(f => new Row { ImageFeatures = f, PromptEmbedding = new float[T] }).ToArray(), ("ImageFeatures", D), ("PromptEmbedding", T));
        return (train, q, features, targets, queries);
    }

    private static float[] BruteForce(float[] query, float[][] features, float[][] targets, int k, NeighborWeighting weighting, float temperature)
    {
        var q = VectorData.Normalise(query);
        var ranked = features.Select((f, i) => (Cos: VectorData.Normalise(f).Zip(q, (a, b) => (double)a * b).Sum(), Index: i))
            .OrderByDescending(x => x.Cos).Take(k).ToArray();
        double max = ranked.Max(x => x.Cos);
        var weights = ranked.Select(x => weighting switch
        {
            NeighborWeighting.Uniform => 1.0,
            NeighborWeighting.Similarity => x.Cos,
            _ => Math.Exp((x.Cos - max) / temperature),
        }).ToArray();
        var sum = new double[T];
        for (int j = 0; j < ranked.Length; j++)
            for (int c = 0; c < T; c++) sum[c] += weights[j] * targets[ranked[j].Index][c];
        return VectorData.Normalise(sum.Select(v => (float)v).ToArray());
    }

    [Theory]
    [InlineData(NeighborWeighting.Uniform)]
    [InlineData(NeighborWeighting.Similarity)]
    [InlineData(NeighborWeighting.Softmax)]
    public void PredictionsEqualABruteForceLoopInOnnxAndTorchSharp(NeighborWeighting weighting)
    {
        var ml = new MLContext(seed: 1);
        var (train, queries, features, targets, queryFeatures) = Data(ml);
        using var model = ml.Regression.Trainers.NearestNeighborRegression(numberOfNeighbors: 5, weighting: weighting, temperature: 0.1f).Fit(train);
        var expected = queryFeatures.Select(q => BruteForce(q, features, targets, 5, weighting, 0.1f)).ToArray();

        var onnx = VectorData.ReadColumn(model.Transform(queries), "PredictedEmbedding");
        VectorData.AssertClose(expected, onnx, 1e-5);
        var torch = model.Model.Predict(EmbeddingMatrix.FromRows(queryFeatures));
        VectorData.AssertClose(expected, torch.Chunk(T).ToArray(), 1e-5);
    }

    [Fact]
    public void SavedModelLoadsInPlainMLNetAndGivesTheSamePredictions()
    {
        var ml = new MLContext(seed: 1);
        var (train, queries, _, _, _) = Data(ml);
        using var model = ml.Regression.Trainers.NearestNeighborRegression(numberOfNeighbors: 3).Fit(train);
        var before = VectorData.ReadColumn(model.Transform(queries), "PredictedEmbedding");
        var after = VectorData.SaveLoadAndRead(ml, model, queries, "PredictedEmbedding");
        VectorData.AssertClose(before, after, 0);
    }

    [Fact]
    public void NumberOfNeighborsIsCappedAtTheTrainingSetSize()
    {
        var ml = new MLContext(seed: 1);
        var (train, queries, features, targets, queryFeatures) = Data(ml, n: 4);
        using var model = ml.Regression.Trainers.NearestNeighborRegression(numberOfNeighbors: 50, weighting: NeighborWeighting.Uniform).Fit(train);
        Assert.Equal(4, model.NumberOfNeighbors);
        var expected = queryFeatures.Select(q => BruteForce(q, features, targets, 4, NeighborWeighting.Uniform, 1)).ToArray();
        VectorData.AssertClose(expected, VectorData.ReadColumn(model.Transform(queries), "PredictedEmbedding"), 1e-5);
    }

    [Fact]
    public void MissingFeatureColumnIsRejectedBeforeReadingData()
    {
        var ml = new MLContext(seed: 1);
        var (train, _, _, _, _) = Data(ml);
        var estimator = ml.Regression.Trainers.NearestNeighborRegression(featureColumnName: "NoSuchColumn");
        var error = Assert.Throws<ReverseSdInputException>(() => estimator.GetOutputSchema(SchemaShapes.Of(train.Schema)));
        Assert.Contains("NoSuchColumn", error.Message);
        Assert.Throws<ReverseSdInputException>(() => estimator.Fit(train));
    }

    [Fact]
    public void InvalidNeighborCountOrTemperatureIsRejectedWhenTheEstimatorIsBuilt()
    {
        var ml = new MLContext(seed: 1);
        Assert.Throws<ArgumentOutOfRangeException>(() => ml.Regression.Trainers.NearestNeighborRegression(numberOfNeighbors: 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => ml.Regression.Trainers.NearestNeighborRegression(temperature: 0));
    }
}
