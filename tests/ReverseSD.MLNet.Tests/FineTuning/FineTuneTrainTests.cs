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

    [Fact]
    [Trait("Category", "Slow")]
    public void TrainFinetuneLayer4SavesAZipThatTheFastPathAndAPlainMlNetAppScoreAlike()
    {
        using var dir = new TempDirectory();
        string data = dir.File("data"), zip = dir.File("model.zip"), report = dir.File("report.json");
        SyntheticBenchmark.Generate(new SyntheticBenchmarkOptions { Train = 32, Validation = 8, Test = 6, ImageSize = 64, Seed = 7 }, data);

        var result = CliRunner.Run("train", "--data", data, "--out", zip, "--backbone", "resnet18-64", "--finetune", "layer4",
            "--finetune-epochs", "2", "--epochs", "2", "--vocab", "20", "--batch-size", "8", "--report", report, "--cache-dir", dir.File("cache"));

        Assert.True(result.ExitCode == 0, result.Output);
        using (var doc = JsonDocument.Parse(File.ReadAllText(report)))
            Assert.Contains("resnet18-64-layer4", doc.RootElement.GetRawText());
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
