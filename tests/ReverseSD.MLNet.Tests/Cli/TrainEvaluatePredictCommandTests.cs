using System.Text.Json;
using ReverseSD.Cli;
using ReverseSD.MLNet.Data;
using ReverseSD.MLNet.Evaluation;
using Spectre.Console.Cli.Testing;

namespace ReverseSD.MLNet.Tests.Cli;

[Trait("Category", "Slow")]
public sealed class TrainEvaluatePredictCommandTests(TinyTrainedModel tiny) : IClassFixture<TinyTrainedModel>
{
    [Fact]
    public void TrainWritesAModelZipAndAReportWithTheModelBaselineAndCeiling()
    {
        Assert.True(tiny.TrainResult.ExitCode == 0, tiny.TrainResult.Output);
        Assert.True(File.Exists(tiny.Model));
        using var report = JsonDocument.Parse(File.ReadAllText(tiny.Directory.File("train-report.json")));
        var root = report.RootElement;
        Assert.Equal(EvaluationReport.FormatVersion, root.GetProperty("report_format").GetString());
        Assert.Equal(10, root.GetProperty("n").GetInt32());
        foreach (var key in new[] { "mean_cosine", "baseline_mean_cosine", "ceiling_mean_cosine" })
            Assert.InRange(root.GetProperty(key).GetDouble(), -1, 1);
        Assert.Equal("EmbeddingFeedsVocabulary", root.GetProperty("options").GetProperty("head").GetString());
        // Numbers are JSON numbers, at the precision they were given: --epochs 3, λ = 0.1 (not "0.10000000149011612").
        Assert.Equal(JsonValueKind.Number, root.GetProperty("options").GetProperty("epochs").ValueKind);
        Assert.Equal("0.1", root.GetProperty("options").GetProperty("lambda").GetRawText());
        Assert.Equal(["index", "image", "cosine", "baseline_cosine"], CsvTable.Read(tiny.Directory.File("train-report-samples.csv")).Header);
        Assert.Equal(3, root.GetProperty("training_history").GetArrayLength());
        Assert.InRange(root.GetProperty("best_epoch").GetInt32(), 1, 3);
        Assert.True(File.Exists(tiny.Directory.File("train-report-samples.csv")));
        Assert.Contains("visual-only ceiling", tiny.TrainResult.Output);
    }

    [Fact]
    public void EvaluateOfTheSavedZipReproducesTheTrainingReportFromTheImages()
    {
        string reportPath = tiny.Directory.File("eval.json");
        string pagePath = tiny.Directory.File("eval.html");
        var result = CliRunner.Run("evaluate", "--model", tiny.Model, "--data", tiny.Data, "--report", reportPath, "--html", pagePath);
        Assert.True(result.ExitCode == 0, result.Output);
        using var train = JsonDocument.Parse(File.ReadAllText(tiny.Directory.File("train-report.json")));
        using var eval = JsonDocument.Parse(File.ReadAllText(reportPath));
        // train scores cached features with the heads; evaluate scores the image files through the saved chain.
        Assert.Equal(train.RootElement.GetProperty("mean_cosine").GetDouble(), eval.RootElement.GetProperty("mean_cosine").GetDouble(), 5);
        Assert.Equal(train.RootElement.GetProperty("baseline_mean_cosine").GetDouble(), eval.RootElement.GetProperty("baseline_mean_cosine").GetDouble(), 6);
        var cosines = MLNet.Evaluation.PromptEmbeddingEvaluator.ReadSampleCosines(tiny.Directory.File("eval-samples.csv"));
        Assert.Equal(10, cosines.Count);
        string page = File.ReadAllText(pagePath);
        Assert.Equal(3, System.Text.RegularExpressions.Regex.Matches(page, "src=\"data:image/png;base64,").Count);
        Assert.Contains(ImageFolderDataset.Read(tiny.Data, "test")[0].Prompt.Split(' ')[0], page);
    }

    [Fact]
    public void PredictListsEmbeddingAndTopWordsForAFolderOfImages()
    {
        string folder = Path.Combine(tiny.Data, "test");
        var result = CliRunner.Run("predict", "--model", tiny.Model, folder, "--top-words", "4");
        Assert.True(result.ExitCode == 0, result.Output);
        using var json = JsonDocument.Parse(result.Output);
        var items = json.RootElement.EnumerateArray().ToList();
        Assert.Equal(10, items.Count);
        Assert.All(items, i =>
        {
            Assert.Equal(384, i.GetProperty("embedding").GetArrayLength());
            Assert.Equal(4, i.GetProperty("top_words").GetArrayLength());
        });
        var csv = CliRunner.Run("predict", "--model", tiny.Model, Path.Combine(folder, "000000.png"), "--format", "csv");
        Assert.True(csv.ExitCode == 0, csv.Output);
        var lines = csv.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, lines.Length);
        Assert.StartsWith("image,top_words,e0,", lines[0]);
    }

    [Fact]
    public void PredictCsvOfSeveralImagesParsesToOneRecordPerImageEqualToTheJson()
    {
        string folder = Path.Combine(tiny.Data, "test");
        var json = CliProcess.Run("predict", "--model", tiny.Model, folder, "--top-words", "3");
        var csv = CliProcess.Run("predict", "--model", tiny.Model, folder, "--top-words", "3", "--format", "CSV");
        Assert.True(json.ExitCode == 0, json.Error);
        Assert.True(csv.ExitCode == 0, csv.Error);
        Assert.Equal("", csv.Error);
        using var doc = JsonDocument.Parse(json.Out);
        var items = doc.RootElement.EnumerateArray().ToList();
        var rows = ResultWriterTests.ParseCsv(csv.Out);
        Assert.Equal(["image", "top_words", .. Enumerable.Range(0, 384).Select(i => $"e{i}")], rows[0]);
        Assert.Equal(items.Count, rows.Count - 1);
        Assert.Equal(10, items.Count);
        Assert.All(rows, r => Assert.Equal(2 + 384, r.Length));
        for (int i = 0; i < items.Count; i++)
        {
            Assert.Equal(items[i].GetProperty("image").GetString(), rows[i + 1][0]);
            Assert.Equal(items[i].GetProperty("top_words").GetRawText(), rows[i + 1][1]);
            Assert.Equal(items[i].GetProperty("embedding").EnumerateArray().Select(e => e.GetSingle()),
                rows[i + 1][2..].Select(v => float.Parse(v, System.Globalization.CultureInfo.InvariantCulture)));
        }
    }

    [Fact]
    public void PredictWritesTheSameResultsToOutAndToStdout()
    {
        string image = Path.Combine(tiny.Data, "test", "000002.png");
        string path = tiny.Directory.File("predictions.jsonl");
        var toFile = CliProcess.Run("predict", "--model", tiny.Model, image, "--out", path);
        var toStdout = CliProcess.Run("predict", "--model", tiny.Model, image, "--format", "Jsonl");
        Assert.True(toFile.ExitCode == 0, toFile.Error);
        Assert.Equal(toStdout.Out, File.ReadAllText(path));
        Assert.DoesNotContain("{", toFile.Out);
    }

    [Fact]
    public void PredictErrorsGoToStderrAndLeaveStdoutEmpty()
    {
        var run = CliProcess.Run("predict", "--model", tiny.Directory.File("missing.zip"), Path.Combine(tiny.Data, "test"));
        Assert.Equal(CliApp.BadInput, run.ExitCode);
        Assert.Equal("", run.Out);
        Assert.Contains("missing.zip", Assert.Single(run.ErrorLines));
    }

    [Fact]
    public void PredictSkipsAnUnreadableImageAndScoresTheOthers()
    {
        string folder = tiny.Directory.File("mixed");
        System.IO.Directory.CreateDirectory(folder);
        File.Copy(Path.Combine(tiny.Data, "test", "000001.png"), Path.Combine(folder, "a.png"), overwrite: true);
        File.WriteAllText(Path.Combine(folder, "b.png"), "not a png");
        var result = CliProcess.Run("predict", "--model", tiny.Model, folder);
        Assert.True(result.ExitCode == 0, result.Error);
        Assert.StartsWith($"warning: skipped unreadable image '{Path.Combine(folder, "b.png")}'", Assert.Single(result.ErrorLines));
        using var json = JsonDocument.Parse(result.Out);
        Assert.Equal([Path.Combine(folder, "a.png")], json.RootElement.EnumerateArray().Select(e => e.GetProperty("image").GetString()));
    }

    [Theory]
    [InlineData("train", "--data", "{missing}", "--out", "{dir}/m.zip")]
    [InlineData("evaluate", "--model", "{missing}.zip", "--data", "{data}")]
    [InlineData("predict", "--model", "{corrupt}", "{data}/test")]
    [InlineData("predict", "--model", "{model}", "{missing}.png")]
    [InlineData("train", "--data", "{data}", "--head", "7")]
    public void BadInputExitsWithCodeTwo(params string[] args)
    {
        File.WriteAllText(tiny.Directory.File("corrupt.zip"), "not a zip");
        var resolved = args.Select(a => a.Replace("{missing}", tiny.Directory.File("missing")).Replace("{dir}", tiny.Directory.Path)
            .Replace("{data}", tiny.Data).Replace("{corrupt}", tiny.Directory.File("corrupt.zip")).Replace("{model}", tiny.Model)).ToArray();
        var result = CliRunner.Run(resolved);
        Assert.Equal(CliApp.BadInput, result.ExitCode);
        Assert.Single(result.Output.Trim().Split('\n'), l => l.StartsWith("error:", StringComparison.Ordinal));
    }
}
