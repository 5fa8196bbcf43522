using System.Text.Json;
using ReverseSD.MLNet.Data;

namespace ReverseSD.MLNet.Tests.Cli;

public sealed class AnalyzeSeedsCommandTests(TinyTrainedModel tiny) : IClassFixture<TinyTrainedModel>
{
    [Fact]
    public void ReportsTheSeedStatisticForTheModelAndTheImageToImageKnnBaseline()
    {
        string data = tiny.Directory.File("seeds-data");
        var synth = CliRunner.Run("data", "synth", "--out", data, "--train", "12", "--validation", "0", "--test", "4",
            "--image-size", "64", "--seed", "9", "--seeds-per-prompt", "3");
        Assert.True(synth.ExitCode == 0, synth.Output);
        Assert.Equal(12, ImageFolderDataset.Read(data, "test").Count);

        string report = tiny.Directory.File("seeds.json");
        var result = CliRunner.Run("analyze", "seeds", "--model", tiny.Model, "--data", data, "--knn-baseline", "3", "--out", report);
        Assert.True(result.ExitCode == 0, result.Output);
        Assert.Contains("kNN regression baseline", result.Output);
        using var json = JsonDocument.Parse(File.ReadAllText(report));
        var root = json.RootElement;
        foreach (var key in new[] { "model_statistics", "knn_baseline_statistics" })
        {
            var s = root.GetProperty(key);
            Assert.Equal(4, s.GetProperty("prompts").GetInt32());
            Assert.Equal(12, s.GetProperty("images").GetInt32());
            Assert.InRange(s.GetProperty("seed_std").GetDouble(), 0, 1);
            Assert.InRange(s.GetProperty("mean_cosine").GetDouble(), -1, 1);
        }
        Assert.StartsWith("image-to-image: k = 3", root.GetProperty("knn_baseline").GetString());
    }

    [Fact]
    public void DataWithOneImagePerPromptIsBadInput()
    {
        var result = CliRunner.Run("analyze", "seeds", "--model", tiny.Model, "--data", tiny.Data, "--out", tiny.Directory.File("none.json"));
        Assert.Equal(2, result.ExitCode);
        Assert.Contains("--seeds-per-prompt", result.Output);
    }
}
