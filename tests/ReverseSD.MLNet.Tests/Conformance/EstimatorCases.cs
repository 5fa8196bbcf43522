using Microsoft.ML;
using Microsoft.ML.Data;
using ReverseSD.MLNet.Backbones;
using ReverseSD.MLNet.Dakl;
using ReverseSD.MLNet.Ensemble;
using ReverseSD.MLNet.Heads;
using ReverseSD.MLNet.Pipeline;
using ReverseSD.MLNet.Retrieval;
using ReverseSD.MLNet.Tests.Backbones;
using ReverseSD.MLNet.Tests.Heads;
using ReverseSD.MLNet.Text;

namespace ReverseSD.MLNet.Tests.Conformance;

/// <summary>
/// One estimator of the library under the conformance suite: how to make small valid data for it, how to build it from its
/// catalog, the input columns it must reject when missing or wrongly typed, the output columns it adds, whether its fitted
/// transformer saves into a model zip, and a check that the plain-argument catalog overload passes every argument on.
/// </summary>
internal sealed record EstimatorCase(
    string Name,
    Func<MLContext, TempDirectory, IDataView> Data,
    Func<MLContext, IDataView, TempDirectory, IEstimator<ITransformer>> Build,
    (string Name, bool IsText)[] Inputs,
    string[] Outputs,
    bool Saves,
    Action<MLContext, TempDirectory> CheckCatalogArguments)
{
    public override string ToString() => Name;

    /// <summary>Every estimator the library offers, by name.</summary>
    public static IReadOnlyDictionary<string, EstimatorCase> All { get; } = new[]
    {
        new EstimatorCase("EmbedSentences",
            (ml, _) => Prompts(ml),
            (ml, _, _) => ml.Transforms.Text.EmbedSentences(),
            [("Prompt", true)], ["PromptEmbedding"], Saves: false,
            (ml, _) =>
            {
                var estimator = ml.Transforms.Text.EmbedSentences("Vec", "Text", batchSize: 5, gpuDeviceId: 3);
                Assert.Equal("Vec", estimator.Settings.OutputColumnName);
                Assert.Equal("Text", estimator.Settings.InputColumnName);
                Assert.Equal(5, estimator.Settings.BatchSize);
                Assert.Equal(3, estimator.Settings.GpuDeviceId);

                var defaults = ml.Transforms.Text.EmbedSentences();
                Assert.Equal("PromptEmbedding", defaults.Settings.OutputColumnName);
                Assert.Equal("Prompt", defaults.Settings.InputColumnName);
                Assert.Equal(SentenceEncoder.DefaultBatchSize, defaults.Settings.BatchSize);
                Assert.Null(defaults.Settings.GpuDeviceId);
            }),

        new EstimatorCase("ProduceVocabularyLabels",
            (ml, _) => Prompts(ml),
            (ml, _, _) => ml.Transforms.Text.ProduceVocabularyLabels(vocabularySize: 4),
            [("Prompt", true)], ["VocabularyLabels"], Saves: false,
            (ml, _) =>
            {
                var options = ml.Transforms.Text.ProduceVocabularyLabels("Labels", "Text", vocabularySize: 7).Options;
                Assert.Equal(("Labels", "Text", 7), (options.OutputColumnName, options.InputColumnName, options.VocabularySize));
            }),

        new EstimatorCase("ApplyImageBackbone",
            (ml, dir) => BackboneTestData.Paths(ml, [.. Enumerable.Range(1, 3).Select(i => BackboneTestData.WritePng(dir.File($"{i}.png"), i))]),
            (ml, _, dir) => ml.Transforms.ApplyImageBackbone(ChannelMeanBackbone(dir)),
            [("ImagePath", true)], ["ImageFeatures"], Saves: true,
            (ml, dir) =>
            {
                var backbone = ChannelMeanBackbone(dir);
                var options = ml.Transforms.ApplyImageBackbone(backbone, outputColumnName: "Feat", inputColumnName: "File").Options;
                Assert.Same(backbone, options.Backbone);
                Assert.Equal(("Feat", "File"), (options.OutputColumnName, options.InputColumnName));
            }),

        new EstimatorCase("PromptEmbeddingHeads",
            (ml, _) => GeneratedHeadsData.Load(ml, 24, sampleSeed: 3),
            (ml, _, _) => ml.Regression.Trainers.PromptEmbeddingHeads(new PromptEmbeddingHeadsTrainer.Options
            {
                LabelColumnName = "PromptEmbedding", NumberOfEpochs = 2, BatchSize = 8, Device = HeadsDevice.Cpu,
            }),
            [("ImageFeatures", false), ("PromptEmbedding", false), ("VocabularyLabels", false)],
            ["PredictedEmbedding", "VocabularyProbabilities", "VocabularyWords", "ModelInfo"], Saves: true,
            (ml, _) =>
            {
                var o = ml.Regression.Trainers.PromptEmbeddingHeads(HeadConfiguration.Independent, vocabularyWeight: 0.3f, numberOfEpochs: 4,
                    learningRate: 0.01, batchSize: 8, seed: 9, "F", "L", "V", "O").Settings;
                Assert.Equal((HeadConfiguration.Independent, 0.3f, 4, 0.01, 8, 9), (o.Configuration, o.VocabularyWeight, o.NumberOfEpochs, o.LearningRate, o.BatchSize, o.Seed));
                Assert.Equal(("F", "L", "V", "O"), (o.FeatureColumnName, o.LabelColumnName, o.VocabularyLabelsColumnName, o.OutputColumnName));
            }),

        new EstimatorCase("CombineEmbeddings",
            (ml, _) => Vectors(ml, ("A", 4), ("B", 4)),
            (ml, _, _) => ml.Transforms.CombineEmbeddings(["A", "B"]),
            [("A", false), ("B", false)], ["EnsembleEmbedding"], Saves: true,
            (ml, _) =>
            {
                var ensemble = ml.Transforms.CombineEmbeddings(["A", "B"], "Out", EnsembleCombination.WeightedMean, [1, 2]).Options;
                Assert.Equal(["A", "B"], ensemble.InputColumnNames);
                Assert.Equal([1f, 2f], ensemble.Weights!);
                Assert.Equal(("Out", EnsembleCombination.WeightedMean), (ensemble.OutputColumnName, ensemble.Combination));
            }),

        new EstimatorCase("DomainAdaptiveKernel",
            (ml, _) => Vectors(ml, ("EnsembleEmbedding", 4), ("PromptEmbedding", 3)),
            (ml, data, _) => ml.Regression.Trainers.DomainAdaptiveKernel(data, numberOfCentroids: 6, gamma: 0.5f, alpha: 1f),
            [("EnsembleEmbedding", false), ("PromptEmbedding", false)], ["PredictedEmbedding"], Saves: true,
            (ml, _) =>
            {
                var options = ml.Regression.Trainers.DomainAdaptiveKernel(null, "In", "Label", "Out", 123, 0.25f, 3f).Options;
                Assert.Equal(("In", "Label", "Out", 123, 0.25f, 3f), (options.InputColumnName, options.LabelColumnName, options.OutputColumnName, options.NumberOfCentroids, options.Gamma, options.Alpha));
                Assert.Null(options.TargetDomainData);
            }),

        new EstimatorCase("NearestNeighborRegression",
            (ml, _) => Vectors(ml, ("ImageFeatures", 4), ("PromptEmbedding", 3)),
            (ml, _, _) => ml.Regression.Trainers.NearestNeighborRegression(numberOfNeighbors: 3),
            [("ImageFeatures", false), ("PromptEmbedding", false)], ["PredictedEmbedding"], Saves: true,
            (ml, _) =>
            {
                var options = ml.Regression.Trainers.NearestNeighborRegression("F", "L", "O", 7, NeighborWeighting.Softmax, 0.3f).Options;
                Assert.Equal(("F", "L", "O", 7, NeighborWeighting.Softmax, 0.3f),
                    (options.FeatureColumnName, options.LabelColumnName, options.OutputColumnName, options.NumberOfNeighbors, options.Weighting, options.Temperature));
            }),

        new EstimatorCase("NearestPrompts",
            (ml, _) => Vectors(ml, ("PredictedEmbedding", 3)),
            (ml, _, _) => ml.Transforms.NearestPrompts(PromptBank(ml), numberOfPrompts: 2),
            [("PredictedEmbedding", false)], ["NearestPrompts", "NearestPromptScores"], Saves: true,
            (ml, _) =>
            {
                var prompts = ml.Transforms.NearestPrompts(PromptBank(ml), "In", 7, "Texts", "Scores").Options;
                Assert.Equal(("In", 7, "Texts", "Scores"), (prompts.InputColumnName, prompts.NumberOfPrompts, prompts.PromptsColumnName, prompts.ScoresColumnName));
            }),
    }.ToDictionary(c => c.Name);

    private static readonly string[] Sentences =
        ["a red cat on a sofa", "a blue dog in the snow", "a green tree by a lake", "a cat and a dog", "an old house at night", "a dog under a tree"];

    private sealed class PromptRow
    {
        public string Prompt { get; set; } = "";
    }

    private static IDataView Prompts(MLContext ml) => ml.Data.LoadFromEnumerable(Sentences.Select(s => new PromptRow { Prompt = s }).ToList());

    private static ImageBackbone ChannelMeanBackbone(TempDirectory dir) =>
        ImageBackbone.FromOnnx(BackboneTestData.WriteChannelMeanModel(dir.File("mean.onnx")), ImagePreprocessing.Parse("size=16"));

    /// <summary>Twelve rows of seeded random float vector columns of the given sizes.</summary>
    private static IDataView Vectors(MLContext ml, params (string Name, int Size)[] columns)
    {
        var random = new Random(7);
        return new VectorTableDataView([.. columns.Select(c => (c.Name, c.Size, VectorData.Random(random, 12, c.Size)))]);
    }

    private sealed class BankRow
    {
        public string Prompt { get; set; } = "";
        public float[] PromptEmbedding { get; set; } = [];
    }

    private static IDataView PromptBank(MLContext ml)
    {
        var random = new Random(11);
        return VectorData.Load(ml, Sentences.Select(s => new BankRow { Prompt = s, PromptEmbedding = VectorData.Random(random, 1, 3)[0] }).ToList(), ("PromptEmbedding", 3));
    }
}
