using Microsoft.ML;
using Microsoft.ML.Data;
using ReverseSD.MLNet.Evaluation;
using ReverseSD.MLNet.Heads;
using ReverseSD.MLNet.Text;

namespace ReverseSD.MLNet.Tests.Heads;

/// <summary>The heads trainer with the raw prompt text as its label, composed as one ML.NET estimator chain.</summary>
public sealed class HeadsPromptLabelTests
{
    private static readonly string[] Colours = ["red", "green", "blue", "yellow"];
    private static readonly string[] Shapes = ["cube", "sphere", "cone"];

    private sealed class Row
    {
        [VectorType(8)]
        public float[] Raw { get; set; } = [];

        public string Prompt { get; set; } = "";
    }

    /// <summary>Rows whose 8 features encode a colour and a shape, with a prompt naming them.</summary>
    private static List<Row> Rows(int count, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, count).Select(_ =>
        {
            int c = random.Next(Colours.Length), s = random.Next(Shapes.Length);
            var raw = new float[8];
            raw[c] = 1;
            raw[4 + s] = 1;
            raw[7] = (float)random.NextDouble();
            return new Row { Raw = raw, Prompt = $"a {Colours[c]} {Shapes[s]} on a table" };
        }).ToList();
    }

    private static PromptEmbeddingHeadsTrainer.Options Options() => new()
    {
        NumberOfEpochs = 3, BatchSize = 16, LearningRate = 1e-2, VocabularySize = 10, Seed = 5, Device = HeadsDevice.Cpu,
    };

    [Fact]
    public void PromptTextLabelTrainsTheSameHeadsAsPrecomputedEmbeddingsAndVocabularyLabels()
    {
        var ml = new MLContext(1);
        var data = ml.Data.LoadFromEnumerable(Rows(64, 1));
        var features = ml.Transforms.CopyColumns("ImageFeatures", "Raw").Fit(data).Transform(data);

        using var fromText = ml.Regression.Trainers.PromptEmbeddingHeads(Options()).Fit(features);

        var targets = ml.Transforms.Text.EmbedSentences("PromptEmbedding", "Prompt")
            .Append(ml.Transforms.Text.ProduceVocabularyLabels("VocabularyLabels", "Prompt", vocabularySize: 10)).Fit(features).Transform(features);
        var vectorOptions = Options();
        vectorOptions.LabelColumnName = "PromptEmbedding";
        using var fromVectors = ml.Regression.Trainers.PromptEmbeddingHeads(vectorOptions).Fit(targets);

        Assert.Equal(fromVectors.VocabularyWords, fromText.VocabularyWords);
        Assert.Contains("red", fromText.VocabularyWords);
        var a = PromptEmbeddingEvaluator.ReadVectors(fromText.Transform(features), "PredictedEmbedding");
        var b = PromptEmbeddingEvaluator.ReadVectors(fromVectors.Transform(features), "PredictedEmbedding");
        Assert.Equal(384, a[0].Length);
        Assert.Equal(b.Length, a.Length);
        for (int i = 0; i < a.Length; i++)
            for (int j = 0; j < a[i].Length; j++)
                Assert.Equal(b[i][j], a[i][j], 1e-5f);
    }

    [Fact]
    public void FeaturesAppendHeadsIsOneEstimatorWhoseFittedChainSavesAndLoadsWithEqualOutputs()
    {
        var ml = new MLContext(1);
        var train = ml.Data.LoadFromEnumerable(Rows(48, 2));
        var validation = ml.Data.LoadFromEnumerable(Rows(16, 3));
        IEstimator<ITransformer> pipeline = ml.Transforms.CopyColumns("ImageFeatures", "Raw")
            .Append(ml.Regression.Trainers.PromptEmbeddingHeads(Options()));
        var model = pipeline.Fit(train);
        using var dir = new TempDirectory();
        ml.Model.Save(model, train.Schema, dir.File("model.zip"));
        var loaded = ml.Model.Load(dir.File("model.zip"), out _);
        try
        {
            var before = PromptEmbeddingEvaluator.ReadVectors(model.Transform(validation), "PredictedEmbedding");
            var after = PromptEmbeddingEvaluator.ReadVectors(loaded.Transform(validation), "PredictedEmbedding");
            for (int i = 0; i < before.Length; i++)
                for (int j = 0; j < before[i].Length; j++)
                    Assert.Equal(before[i][j], after[i][j], 1e-6f);
        }
        finally
        {
            (loaded as IDisposable)?.Dispose();
            (model as IDisposable)?.Dispose();
        }
    }

    [Fact]
    public void OptionsChangedAfterTheTrainerIsBuiltDoNotReachIt()
    {
        var ml = new MLContext(1);
        var data = ml.Transforms.CopyColumns("ImageFeatures", "Raw").Fit(ml.Data.LoadFromEnumerable(Rows(32, 4)))
            .Transform(ml.Data.LoadFromEnumerable(Rows(32, 4)));
        var options = Options();
        var trainer = ml.Regression.Trainers.PromptEmbeddingHeads(options);
        options.NumberOfEpochs = 1;
        options.LabelColumnName = "NoSuchColumn";
        using var model = trainer.Fit(data);
        Assert.Equal(3, model.TrainingHistory.Count);
    }
}
