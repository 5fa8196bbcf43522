using System.Text.Json;
using ReverseSD.MLNet.Data;
using ReverseSD.MLNet.Tests.Cli;

namespace ReverseSD.MLNet.Tests.Curriculum;

/// <summary>A tiny generated benchmark with 30 % label noise (40/10/10 images at 64 px) and a shared feature cache.</summary>
public sealed class TinyNoisyBenchmark : IDisposable
{
    public TinyNoisyBenchmark()
    {
        Environment.SetEnvironmentVariable("CI", "true");
        SyntheticBenchmark.Generate(new SyntheticBenchmarkOptions { Train = 40, Validation = 10, Test = 10, ImageSize = 64, Seed = 7, LabelNoise = 0.3 }, Data);
    }

    internal TempDirectory Directory { get; } = new();

    public string Data => Directory.File("data");

    public string Cache => Directory.File("cache");

    public void Dispose() => Directory.Dispose();
}

[Trait("Category", "Slow")]
public sealed class CurriculumCommandTests(TinyNoisyBenchmark bench) : IClassFixture<TinyNoisyBenchmark>
{
    private string[] Common => ["--data", bench.Data, "--vocab", "30", "--batch", "16", "--cache-dir", bench.Cache];

    [Fact]
    public void AnalyzeDifficultyWritesTheHistogramScoresAndSummaryAndPrintsTheAuroc()
    {
        string output = bench.Directory.File("difficulty");
        var result = CliRunner.Run(["analyze", "difficulty", .. Common, "--epochs", "3", "--out", output]);
        Assert.True(result.ExitCode == 0, result.Output);
        Assert.Contains("AUROC of difficulty vs is_noisy", result.Output);
        Assert.Contains("AUROC", File.ReadAllText(Path.Combine(output, "difficulty.svg")));
        var csv = CsvTable.Read(Path.Combine(output, "difficulty.csv"));
        Assert.Equal(40, csv.Rows.Count);
        Assert.Equal(12, csv.Rows.Count(r => r[CsvTable.IndexOf(csv.Header, "is_noisy")] == "1"));
        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(output, "difficulty.json")));
        Assert.Equal(40, json.RootElement.GetProperty("n").GetInt32());
        Assert.InRange(json.RootElement.GetProperty("noise_auroc").GetDouble(), 0, 1);
    }

    [Fact]
    public void AnalyzeDifficultyOutOfFoldScoresEveryPairAndTrainReportsTheScoring()
    {
        string output = bench.Directory.File("difficulty-oof");
        var result = CliRunner.Run(["analyze", "difficulty", .. Common, "--epochs", "3", "--difficulty", "out-of-fold", "--folds", "4", "--out", output]);
        Assert.True(result.ExitCode == 0, result.Output);
        Assert.Contains("fold", result.Output);
        var csv = CsvTable.Read(Path.Combine(output, "difficulty.csv"));
        Assert.Equal(40, csv.Rows.Count);
        string report = bench.Directory.File("oof-report.json");
        var train = CliRunner.Run(["train", .. Common, "--epochs", "2", "--out", bench.Directory.File("oof.zip"), "--report", report,
            "--curriculum", "thirds", "--difficulty", "out-of-fold", "--folds", "4"]);
        Assert.True(train.ExitCode == 0, train.Output);
        using var json = JsonDocument.Parse(File.ReadAllText(report));
        Assert.Contains("scoring out-of-fold (4 folds)", json.RootElement.GetProperty("options").GetProperty("curriculum").GetString());
    }

    [Fact]
    public void AblateHeadsPrintsTheThreeRowsOverSeedsAndWritesJsonAndMarkdown()
    {
        string output = bench.Directory.File("ablation");
        var result = CliRunner.Run(["ablate", "heads", .. Common, "--seeds", "2", "--epochs", "2", "--out", output]);
        Assert.True(result.ExitCode == 0, result.Output);
        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(output, "ablation.json")));
        var rows = json.RootElement.GetProperty("rows").EnumerateArray().ToList();
        Assert.Equal(["vanilla", "+ MLC", "+ MLC + CL"], rows.Select(r => r.GetProperty("name").GetString()));
        Assert.All(rows, r => Assert.Equal(2, r.GetProperty("seed_mean_cosines").GetArrayLength()));
        Assert.Equal(JsonValueKind.Null, rows[0].GetProperty("versus_previous").ValueKind);
        Assert.InRange(rows[2].GetProperty("versus_previous").GetProperty("p").GetDouble(), 0, 1);
        Assert.Contains("+ MLC + CL", File.ReadAllText(Path.Combine(output, "ablation.md")));
        Assert.Contains("paired t-test", result.Output);
    }

    [Fact]
    public void TrainWithACurriculumSavesTheDifficultyScoresBesideTheModel()
    {
        string model = bench.Directory.File("cl-model.zip"), report = bench.Directory.File("cl-report.json");
        var result = CliRunner.Run(["train", .. Common, "--epochs", "2", "--out", model, "--report", report,
            "--curriculum", "thresholds", "--curriculum-shares", "0.5,0.3", "--curriculum-epochs", "2"]);
        Assert.True(result.ExitCode == 0, result.Output);
        var csv = CsvTable.Read(bench.Directory.File("cl-model-difficulty.csv"));
        Assert.Equal(40, csv.Rows.Count);
        Assert.Equal(20, csv.Rows.Count(r => r[CsvTable.IndexOf(csv.Header, "chunk")] == "easy"));
        using var json = JsonDocument.Parse(File.ReadAllText(report));
        Assert.StartsWith("thresholds from shares 0.5,0.3", json.RootElement.GetProperty("options").GetProperty("curriculum").GetString());
    }

    [Theory]
    [InlineData("train", "--curriculum", "bogus")]
    [InlineData("train", "--curriculum", "thirds", "--curriculum-shares", "0.5,0.3")]
    [InlineData("train", "--curriculum", "thresholds", "--curriculum-shares", "0.8,0.3")]
    [InlineData("train", "--curriculum", "thresholds", "--curriculum-thresholds", "0.6,0.2")]
    [InlineData("train", "--difficulty-weighting", "median")]
    [InlineData("ablate", "heads", "--seeds", "0")]
    [InlineData("analyze", "difficulty", "--curriculum", "none")]
    [InlineData("analyze", "difficulty", "--difficulty", "leave-one-out")]
    [InlineData("train", "--curriculum", "thirds", "--difficulty", "out-of-fold", "--folds", "1")]
    public void BadCurriculumArgumentsExitWithTheBadInputCode(params string[] args)
    {
        var result = CliRunner.Run([.. args, "--data", bench.Data]);
        Assert.Equal(2, result.ExitCode);
    }

    [Fact]
    public void AnalyzeWithoutATrainSplitIsBadInput()
    {
        var result = CliRunner.Run("analyze", "difficulty", "--data", bench.Directory.File("missing"));
        Assert.Equal(2, result.ExitCode);
        Assert.Contains("does not exist", result.Output);
    }
}
