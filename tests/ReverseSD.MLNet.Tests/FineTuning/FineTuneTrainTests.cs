using System.Diagnostics;
using System.Text.Json;
using Microsoft.ML;
using ReverseSD.MLNet.Data;
using ReverseSD.MLNet.Pipeline;
using ReverseSD.MLNet.Tests.Cli;

namespace ReverseSD.MLNet.Tests.FineTuning;

public sealed class FineTuneTrainTests
{
    [Fact]
    public void TheEstimatorChainRefusesFineTuningAndNamesWhereItRuns()
    {
        var ml = new MLContext(seed: 1);
        var options = new ReverseSdTrainingOptions { PromptBank = ReverseSdTrainingOptions.NoBank };
        options.FineTuning.Mode = MLNet.FineTuning.BackboneFineTuning.Layer4;
        var rows = ml.Data.LoadFromEnumerable(new[] { new ImageRow { ImagePath = "a.png", Prompt = "a cat" } });
        var error = Assert.Throws<ReverseSdInputException>(() => ReverseSdPipeline.Create(ml, options).Fit(rows));
        Assert.Contains("ReverseSdModel.Train", error.Message);
    }

    public sealed class ImageRow
    {
        public string ImagePath { get; set; } = "";

        public string Prompt { get; set; } = "";
    }

    [Theory]
    [Trait("Category", "Slow")]
    [InlineData("resnet18-64")]
    [InlineData("resnet18-map")]
    public void TrainFinetuneLayer4SavesAZipThatTheFastPathAndAPlainMlNetAppScoreAlike(string backbone)
    {
        using var dir = new TempDirectory();
        string data = dir.File("data"), zip = dir.File("model.zip"), report = dir.File("report.json");
        SyntheticBenchmark.Generate(new SyntheticBenchmarkOptions { Train = 32, Validation = 8, Test = 6, ImageSize = 64, Seed = 7 }, data);

        var result = CliRunner.Run("train", "--data", data, "--out", zip, "--backbone", backbone, "--finetune", "layer4",
            "--finetune-epochs", "2", "--epochs", "2", "--vocab", "20", "--batch-size", "8", "--report", report, "--cache-dir", dir.File("cache"));

        Assert.True(result.ExitCode == 0, result.Output);
        using (var doc = JsonDocument.Parse(File.ReadAllText(report)))
            Assert.Contains($"{backbone}-layer4", doc.RootElement.GetRawText());
        // The heads trained on the fine-tuner's own training and validation features: only the test split went through the tuned graph.
        var tunedEntries = Directory.GetDirectories(dir.File("cache"), $"*-{backbone}-layer4-*").Select(Path.GetFileName).ToList();
        Assert.Equal([$"test-{backbone}-layer4"], tunedEntries.Select(e => e![..e!.LastIndexOf('-')]));
        var ml = new MLContext(seed: 1);
        var model = ReverseSdModel.Load(ml, zip);
        var images = Directory.GetFiles(Path.Combine(data, "test"), "*.png").Order(StringComparer.Ordinal).Take(3).ToList();
        var fast = ReverseSdModel.Predict(ml, model, images, 3, out var skipped).Select(p => p.Embedding).ToArray();
        (model as IDisposable)?.Dispose();
        Assert.Empty(skipped);

        // A fresh process with only Microsoft.ML, ImageAnalytics and OnnxTransformer (examples/ScoreInYourApp) gives the same embeddings.
        var (_, scored) = ScoreInYourAppTests.RunExample(zip, images, dir.File("scored.json"));
        var plain = ScoreInYourAppTests.Embeddings(scored);
        VectorData.AssertClose(fast, plain, 1e-4);
    }

    [Fact]
    [Trait("Category", "Slow")]
    public void TrainingAResNet18MapModelWithFinetuneLayer4IsSeededDeterministic()
    {
        using var dir = new TempDirectory();
        string data = dir.File("data");
        SyntheticBenchmark.Generate(new SyntheticBenchmarkOptions { Train = 24, Validation = 6, Test = 6, ImageSize = 64, Seed = 9 }, data);
        var ml = new MLContext(seed: 1);
        // One cache folder: the second run reads the test split's tuned features from it only when its fine-tuned graph has the
        // same bytes (the cache key hashes them); ONNX Runtime's features of one graph may differ in the last bit between two runs.
        ReverseSdTrainingOptions Options() => new()
        {
            Backbone = "resnet18-map", CacheDirectory = dir.File("cache"), VocabularySize = 20, PromptBank = ReverseSdTrainingOptions.NoBank,
            Heads = new MLNet.Heads.PromptEmbeddingHeadsTrainer.Options
            {
                NumberOfEpochs = 2, BatchSize = 8, Seed = 4, Device = MLNet.Heads.HeadsDevice.Cpu, SpatialChannels = 4, SpatialDropout = 0.5,
            },
            FineTuning = new MLNet.FineTuning.BackboneFineTuningOptions { Mode = MLNet.FineTuning.BackboneFineTuning.Layer4, NumberOfEpochs = 1 },
        };

        using var first = ReverseSdModel.Train(ml, data, Options());
        using var second = ReverseSdModel.Train(ml, data, Options());

        // The same zip, entry by entry: the fine-tuned graph and the heads trained on the fine-tuner's features.
        first.Save(dir.File("first.zip"));
        second.Save(dir.File("second.zip"));
        Assert.Equal(ZipEntryHashes(dir.File("first.zip")), ZipEntryHashes(dir.File("second.zip")));
        Assert.Equal(first.Test.SampleCosines, second.Test.SampleCosines);
        Assert.Equal(first.Report.Options["finetune_validation_cosines"], second.Report.Options["finetune_validation_cosines"]);
    }

    private static List<(string Name, string Sha256)> ZipEntryHashes(string zip)
    {
        using var archive = System.IO.Compression.ZipFile.OpenRead(zip);
        return archive.Entries.Select(e =>
        {
            using var stream = e.Open();
            return (e.FullName, Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(stream)));
        }).OrderBy(e => e.FullName, StringComparer.Ordinal).ToList();
    }

    [Fact]
    public void FinetuneAllIsRefusedOnThisCpuBuildWithTheFix()
    {
        using var dir = new TempDirectory();
        string data = dir.File("data");
        SyntheticBenchmark.Generate(new SyntheticBenchmarkOptions { Train = 8, Validation = 2, Test = 2, ImageSize = 32, Seed = 7 }, data);

        var result = CliRunner.Run("train", "--data", data, "--out", dir.File("m.zip"), "--finetune", "all", "--cache-dir", dir.File("cache"));

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("--finetune layer4", result.Output);
    }

    [Theory]
    [InlineData("--finetune", "layer5")]
    [InlineData("--finetune-epochs", "0")]
    [InlineData("--finetune-lr", "0")]
    public void BadFinetuneOptionsAreRefusedNamingTheOption(string option, string value)
    {
        var result = CliRunner.Run("train", "--data", "somewhere", option, value);

        Assert.Equal(2, result.ExitCode);
        Assert.Contains(option, result.Output);
    }

    [Fact]
    [Trait("Category", "Slow")]
    public void TrainFinetuneLayer4OnAnEnsembleFineTunesEachMemberAndAPlainMlNetAppScoresTheZipAlike()
    {
        using var dir = new TempDirectory();
        string data = dir.File("data"), zip = dir.File("model.zip"), report = dir.File("report.json");
        SyntheticBenchmark.Generate(new SyntheticBenchmarkOptions { Train = 32, Validation = 8, Test = 6, ImageSize = 64, Seed = 7 }, data);

        var result = CliRunner.Run("train", "--data", data, "--out", zip, "--backbone", "resnet18-64,resnet18-96", "--finetune", "layer4",
            "--finetune-epochs", "1", "--epochs", "2", "--vocab", "20", "--batch-size", "8", "--dakl", "--dakl-centroids", "16",
            "--report", report, "--cache-dir", dir.File("cache"));

        Assert.True(result.ExitCode == 0, result.Output);
        using (var doc = JsonDocument.Parse(File.ReadAllText(report)))
        {
            var options = doc.RootElement.GetProperty("options");
            Assert.Contains("resnet18-64-layer4", options.GetProperty("backbone").GetString());
            Assert.Contains("resnet18-96-layer4", options.GetProperty("backbone").GetString());
            Assert.StartsWith("layer4", options.GetProperty("member_2_finetune").GetString());
        }
        var ml = new MLContext(seed: 1);
        var model = ReverseSdModel.Load(ml, zip);
        var images = Directory.GetFiles(Path.Combine(data, "test"), "*.png").Order(StringComparer.Ordinal).Take(3).ToList();
        var fast = ReverseSdModel.Predict(ml, model, images, 3, out var skipped).Select(p => p.Embedding).ToArray();
        (model as IDisposable)?.Dispose();
        Assert.Empty(skipped);

        var (_, scored) = ScoreInYourAppTests.RunExample(zip, images, dir.File("scored.json"));
        VectorData.AssertClose(fast, ScoreInYourAppTests.Embeddings(scored), 1e-4);
    }
}
