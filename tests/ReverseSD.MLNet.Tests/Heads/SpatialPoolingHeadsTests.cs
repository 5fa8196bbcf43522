using Microsoft.ML;
using Microsoft.ML.Data;
using ReverseSD.MLNet.Evaluation;
using ReverseSD.MLNet.Heads;
using TorchSharp;
using static TorchSharp.torch;

namespace ReverseSD.MLNet.Tests.Heads;

public sealed class SpatialPoolingHeadsTests
{
    // A small feature map: K channels over a 3 × 3 grid of positions, flattened channel-major as resnet18-map's 512 × 7 × 7.
    private const int MapChannels = 4, Positions = 9, FeatureSize = MapChannels * Positions, EmbeddingSize = 16, VocabularySize = 5;

    private sealed class Row
    {
        public float[] ImageFeatures { get; set; } = [];
        public float[] PooledFeatures { get; set; } = [];
        public float[] PromptEmbedding { get; set; } = [];
        public float[] VocabularyLabels { get; set; } = [];
    }

    /// <summary>
    /// One "object" per image: a channel signature placed at one of the nine positions, over weak noise. The target embedding
    /// depends on WHERE the object is (and on its signature), which the average over positions cannot tell.
    /// </summary>
    private static Row[] Rows(int count, int seed)
    {
        var relation = new Random(42);
        var byPosition = VectorData.Random(relation, Positions, EmbeddingSize);
        var bySignature = VectorData.Random(relation, MapChannels, EmbeddingSize);
        var random = new Random(seed);
        var rows = new Row[count];
        for (int r = 0; r < count; r++)
        {
            int position = random.Next(Positions);
            var signature = Enumerable.Range(0, MapChannels).Select(_ => (float)random.NextDouble()).ToArray();
            var map = new float[FeatureSize];
            for (int c = 0; c < MapChannels; c++)
                for (int p = 0; p < Positions; p++)
                    map[c * Positions + p] = 0.05f * (float)random.NextDouble() + (p == position ? 2 * signature[c] : 0);
            var y = new float[EmbeddingSize];
            for (int j = 0; j < EmbeddingSize; j++)
                y[j] = 2 * byPosition[position][j] + Enumerable.Range(0, MapChannels).Sum(c => signature[c] * bySignature[c][j]);
            var pooled = Enumerable.Range(0, MapChannels).Select(c => map.AsSpan(c * Positions, Positions).ToArray().Average()).ToArray();
            rows[r] = new Row
            {
                ImageFeatures = map, PooledFeatures = pooled, PromptEmbedding = VectorData.Normalise(y),
                VocabularyLabels = Enumerable.Range(0, VocabularySize).Select(j => position % VocabularySize == j ? 1f : 0f).ToArray(),
            };
        }
        return rows;
    }

    private static IDataView Load(MLContext ml, Row[] rows) => VectorData.Load(ml, rows,
        (nameof(Row.ImageFeatures), FeatureSize), (nameof(Row.PooledFeatures), MapChannels), (nameof(Row.PromptEmbedding), EmbeddingSize),
        (nameof(Row.VocabularyLabels), VocabularySize));

    private static PromptEmbeddingHeadsTrainer.Options Options(int mapChannels, int spatialChannels = 3, int seed = 3, int epochs = 30,
        string features = nameof(Row.ImageFeatures)) => new()
    {
        FeatureColumnName = features,
        LabelColumnName = nameof(Row.PromptEmbedding),
        FeatureMapChannels = mapChannels,
        SpatialChannels = spatialChannels,
        NumberOfEpochs = epochs,
        Seed = seed,
        BatchSize = 32,
        LearningRate = 1e-2,
        Device = HeadsDevice.Cpu,
        VocabularyWords = Enumerable.Range(0, VocabularySize).Select(i => $"w{i}").ToArray(),
    };

    [Fact]
    public void ThePoolingOutputsTheAverageOverPositionsThenCChannelsPerPosition()
    {
        using var gate = TorchRandom.Gate.EnterScope();
        torch.manual_seed(1);
        using var pooling = new LearnedSpatialPooling(MapChannels, Positions, 3);
        var rows = Rows(5, 1);
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        var x = torch.tensor(rows.SelectMany(r => r.ImageFeatures).ToArray(), [5, FeatureSize]);

        var y = pooling.call(x);

        Assert.Equal(new long[] { 5, MapChannels + Positions * 3 }, y.shape);
        Assert.Equal(MapChannels + Positions * 3, pooling.OutputSize);
        var values = y.data<float>().ToArray();
        for (int r = 0; r < 5; r++)
            for (int c = 0; c < MapChannels; c++)
                Assert.Equal(rows[r].PooledFeatures[c], values[r * pooling.OutputSize + c], 5);
        // Position p's C values are W·x_p + b, position-major after the pooled part.
        var w = pooling.Projection.weight!.data<float>().ToArray();
        var b = pooling.Projection.bias!.data<float>().ToArray();
        for (int p = 0; p < Positions; p++)
            for (int k = 0; k < 3; k++)
            {
                float expected = b[k] + Enumerable.Range(0, MapChannels).Sum(c => w[k * MapChannels + c] * rows[2].ImageFeatures[c * Positions + p]);
                Assert.Equal(expected, values[2 * pooling.OutputSize + MapChannels + p * 3 + k], 4);
            }
    }

    [Theory]
    [InlineData(HeadConfiguration.Vanilla)]
    [InlineData(HeadConfiguration.Independent)]
    [InlineData(HeadConfiguration.VocabularyFeedsEmbedding)]
    [InlineData(HeadConfiguration.EmbeddingFeedsVocabulary)]
    public void TheCompiledOnnxGraphMatchesTheTorchForwardPassWithinTolerance(HeadConfiguration configuration)
    {
        using var gate = TorchRandom.Gate.EnterScope();
        var ml = new MLContext(1);
        var rows = Rows(64, 1);
        var data = Load(ml, rows);
        var options = Options(MapChannels, epochs: 2);
        options.Configuration = configuration;
        options.HiddenLayerSizes = [12];
        options.SpatialDropout = 0.3; // training only: the graph and the eval-mode forward have none
        using var tensors = new HeadsTensors(rows.Select(r => r.ImageFeatures).ToArray(), rows.Select(r => r.PromptEmbedding).ToArray(),
            configuration == HeadConfiguration.Vanilla ? null : rows.Select(r => r.VocabularyLabels).ToArray(), torch.CPU);
        using var network = PromptEmbeddingHeadsTrainer.CreateNetwork(options, FeatureSize, EmbeddingSize, VocabularySize, torch.CPU);
        var result = HeadsTrainingLoop.Run(network, PromptEmbeddingHeadsTrainer.LoopSettings(options), tensors, null,
            [new TrainingStage(Enumerable.Range(0, rows.Length).ToArray(), Epochs: 2)]);
        using var model = PromptEmbeddingHeadsTrainer.Compile(ml, network, options.VocabularyWords!, null, options, data, result);

        Assert.NotNull(network.SpatialPooling);
        float[][] torchEmbedding, torchProbabilities;
        using (var noGrad = torch.no_grad())
        {
            network.eval();
            var (embedding, logits) = network.call(tensors.Features);
            torchEmbedding = Rows2D(nn.functional.normalize(embedding, 2, 1, 1e-12));
            torchProbabilities = logits is null ? [] : Rows2D(logits.sigmoid());
        }
        var scored = model.Transform(data);
        VectorData.AssertClose(torchEmbedding, PromptEmbeddingEvaluator.ReadVectors(scored, "PredictedEmbedding"), 1e-4);
        if (configuration != HeadConfiguration.Vanilla)
            VectorData.AssertClose(torchProbabilities, PromptEmbeddingEvaluator.ReadVectors(scored, "VocabularyProbabilities"), 1e-4);
    }

    [Fact]
    public void TrainingTwiceWithTheSameSeedGivesIdenticalWeightsAndAnotherSeedDoesNot()
    {
        var ml = new MLContext(1);
        var train = Load(ml, Rows(96, 1));
        byte[] Weights(int seed)
        {
            using var model = ml.Regression.Trainers.PromptEmbeddingHeads(Options(MapChannels, seed: seed, epochs: 3)).Fit(train);
            return model.OnnxModel;
        }
        byte[] first = Weights(5), second = Weights(5), other = Weights(6);
        Assert.Equal(first, second);
        Assert.NotEqual(first, other);
    }

    [Fact]
    public void TheLearnedPoolingFindsWhereThingsAreWhichTheAverageOverPositionsLoses()
    {
        var ml = new MLContext(1);
        var train = Load(ml, Rows(600, 1));
        var test = Load(ml, Rows(200, 2));
        using var spatial = ml.Regression.Trainers.PromptEmbeddingHeads(Options(MapChannels)).Fit(train);
        using var pooled = ml.Regression.Trainers.PromptEmbeddingHeads(Options(0, features: nameof(Row.PooledFeatures))).Fit(train);

        double withWhere = PromptEmbeddingEvaluator.Evaluate(spatial.Transform(test)).MeanCosine;
        double withoutWhere = PromptEmbeddingEvaluator.Evaluate(pooled.Transform(test)).MeanCosine;

        Assert.True(withWhere > withoutWhere + 0.1, $"learned spatial pooling {withWhere:F4} vs average pooling {withoutWhere:F4}");
    }

    [Theory]
    [InlineData(5)] // 36 values are not a map of 5 channels
    [InlineData(FeatureSize)] // one position: nothing to pool
    public void FeaturesThatAreNotAFeatureMapOfThatManyChannelsAreRefusedNamingTheFix(int mapChannels)
    {
        var ml = new MLContext(1);
        var train = Load(ml, Rows(16, 1));

        var error = Assert.Throws<ReverseSdInputException>(() => ml.Regression.Trainers.PromptEmbeddingHeads(Options(mapChannels, epochs: 1)).Fit(train));

        Assert.Contains("resnet18-map", error.Message);
        Assert.Contains("FeatureMapChannels", error.Message);
    }

    [Fact]
    public void ANegativeMapZeroSpatialChannelsOrADropoutOfOneAreRefusedWhenTheTrainerIsBuilt()
    {
        var ml = new MLContext(1);
        Assert.Throws<ArgumentOutOfRangeException>(() => ml.Regression.Trainers.PromptEmbeddingHeads(Options(-1)));
        Assert.Throws<ArgumentOutOfRangeException>(() => ml.Regression.Trainers.PromptEmbeddingHeads(Options(MapChannels, spatialChannels: 0)));
        var dropout = Options(MapChannels);
        dropout.SpatialDropout = 1;
        Assert.Throws<ArgumentOutOfRangeException>(() => ml.Regression.Trainers.PromptEmbeddingHeads(dropout));
    }

    private static float[][] Rows2D(Tensor t)
    {
        var values = t.data<float>().ToArray();
        int columns = (int)t.shape[1];
        return Enumerable.Range(0, (int)t.shape[0]).Select(i => values.AsSpan(i * columns, columns).ToArray()).ToArray();
    }
}
