using Microsoft.ML;
using ReverseSD.MLNet.Data;
using ReverseSD.MLNet.Pipeline;
using ReverseSD.MLNet.Tests.Cli;

namespace ReverseSD.MLNet.Tests.Heads;

public sealed class SpatialPoolingTrainTests
{
    [Fact]
    [Trait("Category", "Slow")]
    public void TrainWithResNet18MapSavesAZipThatTheFastPathAndAPlainMlNetAppScoreAlike()
    {
        using var dir = new TempDirectory();
        string data = dir.File("data"), zip = dir.File("model.zip"), report = dir.File("report.json");
        SyntheticBenchmark.Generate(new SyntheticBenchmarkOptions { Train = 32, Validation = 8, Test = 6, ImageSize = 64, Seed = 7 }, data);

        var result = CliRunner.Run("train", "--data", data, "--out", zip, "--backbone", "resnet18-map", "--spatial-channels", "4",
            "--epochs", "2", "--vocab", "20", "--batch-size", "8", "--report", report, "--cache-dir", dir.File("cache"));

        Assert.True(result.ExitCode == 0, result.Output);
        var ml = new MLContext(seed: 1);
        var model = ReverseSdModel.Load(ml, zip);
        var images = Directory.GetFiles(Path.Combine(data, "test"), "*.png").Order(StringComparer.Ordinal).Take(3).ToList();
        var fast = ReverseSdModel.Predict(ml, model, images, 3, out var skipped).Select(p => p.Embedding).ToArray();
        (model as IDisposable)?.Dispose();
        Assert.Empty(skipped);

        // A fresh process with only Microsoft.ML, ImageAnalytics and OnnxTransformer (examples/ScoreInYourApp) gives the same embeddings.
        var (_, scored) = ScoreInYourAppTests.RunExample(zip, images, dir.File("scored.json"));
        VectorData.AssertClose(fast, ScoreInYourAppTests.Embeddings(scored), 1e-4);
    }

    [Theory]
    [InlineData("--spatial-channels", "8")]
    [InlineData("--spatial-dropout", "0.2")]
    public void SpatialOptionsWithoutAFeatureMapBackboneAreRefusedNamingTheFix(string option, string value)
    {
        var result = CliRunner.Run("train", "--data", "somewhere", "--backbone", "resnet18,resnet18-288", option, value);

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("resnet18-map", result.Output);
    }

    [Fact]
    public void AnEnsembleWithFineTuningFineTunesItsFeatureMapMemberToo()
    {
        var settings = new ReverseSD.Cli.Commands.TrainCommand.Settings { Data = "somewhere", Backbone = "resnet18,resnet18-map", FineTune = "layer4" };

        var members = ReverseSD.Cli.Commands.EnsembleTraining.ToOptions(settings).Members;

        Assert.Equal(MLNet.FineTuning.BackboneFineTuning.Layer4, members[0].FineTuning.Mode);
        Assert.Equal(MLNet.FineTuning.BackboneFineTuning.Layer4, members[1].FineTuning.Mode);
        Assert.Equal(MLNet.Heads.PromptEmbeddingHeadsTrainer.Defaults.SpatialChannels, members[1].Heads.SpatialChannels);
    }

    [Fact]
    public void FinetuneAllOfAFeatureMapBackboneIsRefusedBeforeAnyWork()
    {
        using var dir = new TempDirectory();
        string data = dir.File("data");
        SyntheticBenchmark.Generate(new SyntheticBenchmarkOptions { Train = 8, Validation = 2, Test = 2, ImageSize = 32, Seed = 7 }, data);

        var result = CliRunner.Run("train", "--data", data, "--out", dir.File("m.zip"), "--backbone", "resnet18-map", "--finetune", "all",
            "--cache-dir", dir.File("cache"));

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("--finetune layer4", result.Output);
        Assert.False(Directory.Exists(dir.File("cache")), "nothing was featurised before the refusal");
    }
}
