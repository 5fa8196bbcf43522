using System.Globalization;
using System.Text.Json;
using ReverseSD.MLNet.Data;
using ReverseSD.MLNet.Tests.Cli;

namespace ReverseSD.MLNet.Tests.FullSystem;

public sealed class SystemAblationTests
{
    [Fact]
    [Trait("Category", "Slow")]
    public void AblateSystemPrintsFrozenFineTunedEnsembleAndDaklRowsThatAgreeWithTheirSamples()
    {
        Environment.SetEnvironmentVariable("CI", "true");
        using var dir = new TempDirectory();
        string data = dir.File("data"), output = dir.File("ablation");
        SyntheticBenchmark.Generate(new SyntheticBenchmarkOptions { Train = 32, Validation = 8, Test = 8, ImageSize = 64, Seed = 3 }, data);

        var result = CliRunner.Run("ablate", "system", "--data", data, "--out", output, "--backbone", "resnet18-64,resnet18-96",
            "--finetune-epochs", "1", "--epochs", "2", "--vocab", "20", "--batch-size", "8", "--dakl-centroids", "16", "--cache-dir", dir.File("cache"));

        Assert.True(result.ExitCode == 0, result.Output);
        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(output, "report.json")));
        var root = json.RootElement;
        var rows = root.GetProperty("rows").EnumerateArray().ToList();
        Assert.Equal(4, rows.Count);
        Assert.StartsWith("frozen single (resnet18-64", rows[0].GetProperty("name").GetString());
        Assert.Equal("fine-tuned single (resnet18-64-layer4)", rows[1].GetProperty("name").GetString());
        Assert.Contains("resnet18-96-layer4", rows[2].GetProperty("name").GetString());
        Assert.Equal("+ DAKL", rows[3].GetProperty("name").GetString());
        foreach (var row in rows) Assert.Contains(row.GetProperty("name").GetString()!, result.Output);

        // Each row's mean is the mean of its per-sample column; each t-test's Δ is this row's mean minus the previous row's;
        // each % of the way is (mean − baseline) ÷ (ceiling − baseline).
        var lines = File.ReadAllLines(Path.Combine(output, "report-samples.csv"));
        Assert.Equal(1 + 8, lines.Length);
        double[][] columns = Enumerable.Range(1, rows.Count + 1)
            .Select(c => lines.Skip(1).Select(l => double.Parse(l.Split(',')[c], CultureInfo.InvariantCulture)).ToArray()).ToArray();
        double baseline = root.GetProperty("baseline_mean_cosine").GetDouble(), ceiling = root.GetProperty("ceiling_mean_cosine").GetDouble();
        Assert.Equal(baseline, columns[^1].Average(), 9);
        for (int i = 0; i < rows.Count; i++)
        {
            double mean = rows[i].GetProperty("mean_cosine").GetDouble();
            Assert.Equal(mean, columns[i].Average(), 9);
            Assert.Equal(100 * (mean - baseline) / (ceiling - baseline), rows[i].GetProperty("percent_of_way").GetDouble(), 6);
            if (i == 0) Assert.Equal(JsonValueKind.Null, rows[i].GetProperty("versus_previous").ValueKind);
            else Assert.Equal(mean - rows[i - 1].GetProperty("mean_cosine").GetDouble(), rows[i].GetProperty("versus_previous").GetProperty("mean_difference").GetDouble(), 9);
        }
        // The fine-tuned single row is the ensemble's first member.
        var members = root.GetProperty("members").EnumerateArray().ToList();
        Assert.Equal(2, members.Count);
        Assert.Equal(rows[1].GetProperty("mean_cosine").GetDouble(), members[0].GetProperty("mean_cosine").GetDouble(), 9);
        Assert.True(File.Exists(Path.Combine(output, "report.md")));
    }

    [Theory]
    [InlineData("--finetune", "all")]
    [InlineData("--finetune-epochs", "0")]
    [InlineData("--epochs", "often")]
    public void AblateSystemRefusesBadOptionsNamingThem(string option, string value)
    {
        var result = CliRunner.Run("ablate", "system", "--data", "somewhere", option, value);

        Assert.Equal(2, result.ExitCode);
        Assert.Contains(option, result.Output);
    }
}
