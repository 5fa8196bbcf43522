using Microsoft.ML;
using Microsoft.ML.Data;
using ReverseSD.MLNet.Evaluation;
using ReverseSD.MLNet.Heads;
using TorchSharp;
using static TorchSharp.torch;

namespace ReverseSD.MLNet.Tests.Heads;

public sealed class PromptEmbeddingHeadsTrainerTests
{
    private static PromptEmbeddingHeadsTrainer.Options Options(HeadConfiguration configuration, int epochs = 8, int seed = 3, int[]? hidden = null) => new()
    {
        LabelColumnName = "PromptEmbedding",
        Configuration = configuration,
        NumberOfEpochs = epochs,
        Seed = seed,
        BatchSize = 32,
        LearningRate = 1e-2,
        HiddenLayerSizes = hidden ?? [],
        Device = HeadsDevice.Cpu,
    };

    [Theory]
    [InlineData(HeadConfiguration.Vanilla)]
    [InlineData(HeadConfiguration.Independent)]
    [InlineData(HeadConfiguration.VocabularyFeedsEmbedding)]
    [InlineData(HeadConfiguration.EmbeddingFeedsVocabulary)]
    public void EveryConfigurationLowersTheLossAndBeatsTheMeanEmbeddingBaseline(HeadConfiguration configuration)
    {
        var ml = new MLContext(1);
        var train = GeneratedHeadsData.Load(ml, 256, 1);
        var test = GeneratedHeadsData.Load(ml, 64, 2);
        using var model = ml.Regression.Trainers.PromptEmbeddingHeads(Options(configuration)).Fit(train);

        var history = model.TrainingHistory;
        Assert.Equal(8, history.Count);
        Assert.True(history[^1].Loss < history[0].Loss * 0.8, $"loss {history[0].Loss} -> {history[^1].Loss}");
        Assert.Equal(configuration == HeadConfiguration.Vanilla, history.All(e => e.VocabularyLoss == 0));

        var metrics = PromptEmbeddingEvaluator.Evaluate(model.Transform(test));
        var baseline = PromptEmbeddingEvaluator.EvaluateConstant(
            PromptEmbeddingEvaluator.MeanEmbedding(GeneratedHeadsData.Rows(256, 1).Select(r => r.PromptEmbedding).ToArray()),
            GeneratedHeadsData.Rows(64, 2).Select(r => r.PromptEmbedding).ToArray());
        Assert.True(metrics.MeanCosine > baseline.MeanCosine + 0.01, $"model {metrics.MeanCosine} vs baseline {baseline.MeanCosine}");
    }

    [Fact]
    public void TrainingTwiceWithTheSameSeedGivesIdenticalWeightsAndAnotherSeedDoesNot()
    {
        var ml = new MLContext(1);
        var train = GeneratedHeadsData.Load(ml, 128, 1);
        byte[] Weights(int seed)
        {
            using var model = ml.Regression.Trainers.PromptEmbeddingHeads(Options(HeadConfiguration.EmbeddingFeedsVocabulary, 3, seed, [16])).Fit(train);
            return model.OnnxModel;
        }
        byte[] first = Weights(5), second = Weights(5), other = Weights(6);
        Assert.Equal(first, second);
        Assert.NotEqual(first, other);
    }

    [Theory]
    [InlineData(HeadConfiguration.Vanilla)]
    [InlineData(HeadConfiguration.Independent)]
    [InlineData(HeadConfiguration.VocabularyFeedsEmbedding)]
    [InlineData(HeadConfiguration.EmbeddingFeedsVocabulary)]
    public void CompiledOnnxGraphMatchesTheTorchForwardPass(HeadConfiguration configuration)
    {
        using var gate = TorchRandom.Gate.EnterScope();
        var ml = new MLContext(1);
        var rows = GeneratedHeadsData.Rows(96, 1);
        var data = ml.Data.LoadFromEnumerable(rows);
        var options = Options(configuration, 2, 4, [20, 16]);
        var device = torch.CPU;
        using var tensors = new HeadsTensors(rows.Select(r => r.ImageFeatures).ToArray(), rows.Select(r => r.PromptEmbedding).ToArray(),
            configuration == HeadConfiguration.Vanilla ? null : rows.Select(r => r.VocabularyLabels).ToArray(), device);
        using var network = PromptEmbeddingHeadsTrainer.CreateNetwork(options, GeneratedHeadsData.FeatureSize,
            GeneratedHeadsData.EmbeddingSize, GeneratedHeadsData.VocabularySize, device);
        var result = HeadsTrainingLoop.Run(network, PromptEmbeddingHeadsTrainer.LoopSettings(options), tensors, null,
            [new TrainingStage(Enumerable.Range(0, rows.Length).ToArray(), Epochs: 2)]);
        var words = Enumerable.Range(0, GeneratedHeadsData.VocabularySize).Select(i => $"w{i}").ToArray();
        using var model = PromptEmbeddingHeadsTrainer.Compile(ml, network, words, null, options, data, result);

        float[][] torchEmbedding, torchProbabilities;
        using (var noGrad = torch.no_grad())
        {
            var (embedding, logits) = network.call(tensors.Features);
            torchEmbedding = Rows(nn.functional.normalize(embedding, 2, 1, 1e-12));
            torchProbabilities = logits is null ? [] : Rows(logits.sigmoid());
        }
        var scored = model.Transform(data);
        var onnxEmbedding = PromptEmbeddingEvaluator.ReadVectors(scored, "PredictedEmbedding");
        Assert.True(MaxAbsDiff(torchEmbedding, onnxEmbedding) <= 1e-5, $"embedding diff {MaxAbsDiff(torchEmbedding, onnxEmbedding)}");
        if (configuration != HeadConfiguration.Vanilla)
        {
            var onnxProbabilities = PromptEmbeddingEvaluator.ReadVectors(scored, "VocabularyProbabilities");
            Assert.True(MaxAbsDiff(torchProbabilities, onnxProbabilities) <= 1e-5, $"probability diff {MaxAbsDiff(torchProbabilities, onnxProbabilities)}");
        }
        else
        {
            Assert.Null(scored.Schema.GetColumnOrNull("VocabularyProbabilities"));
        }
    }

    [Fact]
    public void SavedModelLoadsBackWithIdenticalOutputsVocabularyWordsAndFormatVersion()
    {
        var ml = new MLContext(1);
        var train = GeneratedHeadsData.Load(ml, 128, 1);
        var test = GeneratedHeadsData.Load(ml, 16, 2);
        var options = Options(HeadConfiguration.VocabularyFeedsEmbedding, 2);
        options.VocabularyWords = Enumerable.Range(0, GeneratedHeadsData.VocabularySize).Select(i => $"word{i}").ToArray();
        using var model = ml.Regression.Trainers.PromptEmbeddingHeads(options).Fit(train);
        using var dir = new TempDirectory();
        ml.Model.Save(model, train.Schema, dir.File("heads.zip"));
        var loaded = ml.Model.Load(dir.File("heads.zip"), out _);
        try
        {
            var before = model.Transform(test);
            var after = loaded.Transform(test);
            Assert.Equal(0, MaxAbsDiff(PromptEmbeddingEvaluator.ReadVectors(before, "PredictedEmbedding"), PromptEmbeddingEvaluator.ReadVectors(after, "PredictedEmbedding")));
            Assert.Equal(0, MaxAbsDiff(PromptEmbeddingEvaluator.ReadVectors(before, "VocabularyProbabilities"), PromptEmbeddingEvaluator.ReadVectors(after, "VocabularyProbabilities")));
            var words = after.GetColumn<VBuffer<ReadOnlyMemory<char>>>("VocabularyWords").First().DenseValues().Select(w => w.ToString()).ToArray();
            Assert.Equal(options.VocabularyWords, words);
            var info = after.GetColumn<VBuffer<ReadOnlyMemory<char>>>("ModelInfo").First().DenseValues().Single().ToString();
            Assert.Equal(ReverseSdModelFormat.Version, info);
        }
        finally
        {
            (loaded as IDisposable)?.Dispose();
        }
    }

    [Fact]
    public void ValidationDataSelectsTheEpochWithTheBestValidationCosine()
    {
        var ml = new MLContext(1);
        var train = GeneratedHeadsData.Load(ml, 64, 1);
        var validation = GeneratedHeadsData.Load(ml, 32, 2);
        var options = Options(HeadConfiguration.Independent, 6);
        options.LearningRate = 0.2; // large steps make the validation curve non-monotonic
        using var model = ml.Regression.Trainers.PromptEmbeddingHeads(options).Fit(train, validation);
        var best = model.TrainingHistory.MaxBy(e => e.ValidationMeanCosine)!;
        Assert.Equal(best.Epoch, model.BestEpoch);
        var scored = PromptEmbeddingEvaluator.Evaluate(model.Transform(validation));
        Assert.Equal(best.ValidationMeanCosine, scored.MeanCosine, 4);
    }

    [Fact]
    public void TrainingLoopRunsAStagedScheduleAndReportsEveryTrainingSampleCosinePerEpoch()
    {
        using var gate = TorchRandom.Gate.EnterScope();
        var rows = GeneratedHeadsData.Rows(100, 1);
        var options = Options(HeadConfiguration.EmbeddingFeedsVocabulary);
        using var tensors = new HeadsTensors(rows.Select(r => r.ImageFeatures).ToArray(), rows.Select(r => r.PromptEmbedding).ToArray(),
            rows.Select(r => r.VocabularyLabels).ToArray(), torch.CPU);
        using var network = PromptEmbeddingHeadsTrainer.CreateNetwork(options, GeneratedHeadsData.FeatureSize,
            GeneratedHeadsData.EmbeddingSize, GeneratedHeadsData.VocabularySize, torch.CPU);
        var callbacks = new List<(HeadsEpochSummary Summary, float[]? Cosines)>();
        // Easy third for 2 epochs, then everything for 5 optimizer steps (4 batches a pass -> 2 passes, the second partial).
        TrainingStage[] schedule = [new(Enumerable.Range(0, 33).ToArray(), Epochs: 2), new(Enumerable.Range(0, 100).ToArray(), Steps: 5)];
        var result = HeadsTrainingLoop.Run(network, PromptEmbeddingHeadsTrainer.LoopSettings(options), tensors, null, schedule,
            recordSampleCosines: true, onEpoch: (s, c) => callbacks.Add((s, c)));

        Assert.Equal([0, 0, 1, 1], result.Epochs.Select(e => e.Stage));
        Assert.Equal(4, result.BestEpoch);
        Assert.Equal(4, result.TrainingSampleCosines!.Length);
        Assert.All(result.TrainingSampleCosines, c => Assert.Equal(100, c.Length));
        Assert.Equal(result.TrainingSampleCosines, callbacks.Select(c => c.Cosines!).ToArray());
        // The recorded cosines are those of the final weights after the last epoch.
        Assert.Equal(result.TrainingSampleCosines[^1], HeadsTrainingLoop.SampleCosines(network, tensors.Features, tensors.Targets));
        Assert.True(result.TrainingSampleCosines[^1].Average() > result.TrainingSampleCosines[0].Average());
    }

    [Fact]
    public void MissingOrWronglyTypedColumnsAreRejectedBeforeTraining()
    {
        var ml = new MLContext(1);
        var trainer = ml.Regression.Trainers.PromptEmbeddingHeads(Options(HeadConfiguration.Independent));
        var shape = ShapeOf<FeaturesAndTarget>();
        var missing = Assert.Throws<ReverseSdInputException>(() => trainer.GetOutputSchema(shape));
        Assert.Contains("VocabularyLabels", missing.Message);
        var notVector = ml.Data.LoadFromEnumerable(new[] { new ScalarRow() });
        var wrong = Assert.Throws<ReverseSdInputException>(() => trainer.Fit(notVector));
        Assert.Contains("ImageFeatures", wrong.Message);

        var output = trainer.GetOutputSchema(ShapeOf<GeneratedHeadsData.Row>()).Select(c => c.Name).ToArray();
        Assert.Contains("PredictedEmbedding", output);
        Assert.Contains("VocabularyProbabilities", output);
        Assert.Contains("ModelInfo", output);
    }

    [Theory]
    [InlineData("epochs")]
    [InlineData("batch")]
    [InlineData("lambda")]
    [InlineData("hidden")]
    public void InvalidOptionsAreRejectedWhenTheTrainerIsBuilt(string which)
    {
        var options = Options(HeadConfiguration.Independent);
        switch (which)
        {
            case "epochs": options.NumberOfEpochs = 0; break;
            case "batch": options.BatchSize = 1; break;
            case "lambda": options.VocabularyWeight = -1; break;
            case "hidden": options.HiddenLayerSizes = [0]; break;
        }
        Assert.Throws<ArgumentOutOfRangeException>(() => new MLContext().Regression.Trainers.PromptEmbeddingHeads(options));
    }

    [Fact]
    public void PlainArgumentsOverloadPassesEveryArgumentToTheTrainer()
    {
        var ml = new MLContext(1);
        var rows = GeneratedHeadsData.Rows(64, 1).Select(r => new RenamedRow { X = r.ImageFeatures, Y = r.PromptEmbedding, L = r.VocabularyLabels }).ToArray();
        var data = ml.Data.LoadFromEnumerable(rows);
        using var model = ml.Regression.Trainers.PromptEmbeddingHeads(HeadConfiguration.Independent, vocabularyWeight: 0.5f, numberOfEpochs: 2,
            learningRate: 1e-2, batchSize: 16, seed: 9, featureColumnName: "X", labelColumnName: "Y", vocabularyLabelsColumnName: "L", outputColumnName: "P").Fit(data);
        Assert.Equal(HeadConfiguration.Independent, model.Configuration);
        Assert.Equal(2, model.TrainingHistory.Count);
        Assert.NotNull(model.Transform(data).Schema.GetColumnOrNull("P"));
        // λ reaches the loss: total = cosine + 0.5 · vocabulary.
        var e = model.TrainingHistory[0];
        Assert.Equal(e.CosineLoss + 0.5 * e.VocabularyLoss, e.Loss, 4);
    }

    private sealed class ScalarRow
    {
        public float ImageFeatures { get; set; }
        [VectorType(3)] public float[] PromptEmbedding { get; set; } = new float[3];
        [VectorType(2)] public float[] VocabularyLabels { get; set; } = new float[2];
    }

    private sealed class RenamedRow
    {
        [VectorType(GeneratedHeadsData.FeatureSize)] public float[] X { get; set; } = [];
        [VectorType(GeneratedHeadsData.EmbeddingSize)] public float[] Y { get; set; } = [];
        [VectorType(GeneratedHeadsData.VocabularySize)] public float[] L { get; set; } = [];
    }

    private sealed class NoColumns;

    private sealed class FeaturesAndTarget
    {
        [VectorType(3)] public float[] ImageFeatures { get; set; } = [];
        [VectorType(3)] public float[] PromptEmbedding { get; set; } = [];
    }

    /// <summary>A SchemaShape holding <typeparamref name="TRow"/>'s columns (SchemaShape.Create is internal to ML.NET).</summary>
    private static SchemaShape ShapeOf<TRow>() where TRow : class, new() =>
        new MLContext().Transforms.CustomMapping<NoColumns, TRow>((_, _) => { }, contractName: null).GetOutputSchema(new SchemaShape([]));

    private static float[][] Rows(Tensor t)
    {
        var cpu = t.cpu();
        int cols = (int)cpu.shape[1];
        var flat = cpu.data<float>().ToArray();
        return Enumerable.Range(0, (int)cpu.shape[0]).Select(i => flat.AsSpan(i * cols, cols).ToArray()).ToArray();
    }

    private static double MaxAbsDiff(float[][] a, float[][] b)
    {
        Assert.Equal(a.Length, b.Length);
        double max = 0;
        for (int i = 0; i < a.Length; i++)
        {
            Assert.Equal(a[i].Length, b[i].Length);
            for (int j = 0; j < a[i].Length; j++) max = Math.Max(max, Math.Abs(a[i][j] - b[i][j]));
        }
        return max;
    }
}
