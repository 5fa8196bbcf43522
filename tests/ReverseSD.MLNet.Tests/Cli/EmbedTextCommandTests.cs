using System.Globalization;
using System.Text.Json;
using ReverseSD.Cli;
using ReverseSD.MLNet.Data;
using ReverseSD.MLNet.Tests.Text;
using Spectre.Console.Cli.Testing;
using Spectre.Console.Testing;

namespace ReverseSD.MLNet.Tests.Cli;

public sealed class EmbedTextCommandTests(SentenceEncoderFixture fixture) : IClassFixture<SentenceEncoderFixture>
{
    private static readonly string[] Prompts = ["a cat sitting on a red sofa, oil painting", "Café at night, 4k", "x_y|z+1 robot"];

    [Fact]
    [Trait("Category", "Slow")]
    public void TextInputGivesACsvRowPerPromptEqualToTheEncoder()
    {
        using var dir = new TempDirectory();
        File.WriteAllLines(dir.File("prompts.txt"), Prompts);
        var result = CliRunner.Run("embed-text", "--input", dir.File("prompts.txt"), "--out", dir.File("vectors.csv"), "--batch-size", "2");
        Assert.Equal(0, result.ExitCode);

        var (header, rows) = CsvTable.Read(dir.File("vectors.csv"));
        Assert.Equal(["prompt", .. Enumerable.Range(0, 384).Select(i => $"e{i}")], header);
        Assert.Equal(Prompts, rows.Select(r => r[0]));
        var expected = fixture.Encoder.Encode(Prompts);
        for (int i = 0; i < Prompts.Length; i++)
        {
            var values = rows[i][1..].Select(v => float.Parse(v, CultureInfo.InvariantCulture)).ToArray();
            Assert.True(GoldenEmbeddings.Cosine(expected[i], values) > 0.99999, $"row {i}");
        }
    }

    [Fact]
    [Trait("Category", "Slow")]
    public void CsvInputWithAColumnGivesJsonLines()
    {
        using var dir = new TempDirectory();
        CsvTable.Write(dir.File("data.csv"), ["id", "Caption"], Prompts.Select((p, i) => (IReadOnlyList<string>)[i.ToString(CultureInfo.InvariantCulture), p]));
        var result = CliRunner.Run("embed-text", "--input", dir.File("data.csv"), "--column", "caption", "--out", dir.File("out.txt"), "--format", "jsonl");
        Assert.Equal(0, result.ExitCode);

        var lines = File.ReadAllLines(dir.File("out.txt"));
        Assert.Equal(Prompts.Length, lines.Length);
        var expected = fixture.Encoder.Encode(Prompts);
        for (int i = 0; i < lines.Length; i++)
        {
            using var json = JsonDocument.Parse(lines[i]);
            Assert.Equal(Prompts[i], json.RootElement.GetProperty("prompt").GetString());
            var values = json.RootElement.GetProperty("embedding").EnumerateArray().Select(e => e.GetSingle()).ToArray();
            Assert.Equal(384, values.Length);
            Assert.True(GoldenEmbeddings.Cosine(expected[i], values) > 0.99999, $"line {i}");
        }
    }

    [Fact]
    [Trait("Category", "Slow")]
    public void FormatFollowsTheOutputExtensionWhenNotGiven()
    {
        using var dir = new TempDirectory();
        File.WriteAllLines(dir.File("p.txt"), ["a dog"]);
        Assert.Equal(0, CliRunner.Run("embed-text", "--input", dir.File("p.txt"), "--out", dir.File("v.jsonl")).ExitCode);
        using var json = JsonDocument.Parse(File.ReadAllLines(dir.File("v.jsonl")).Single());
        Assert.Equal("a dog", json.RootElement.GetProperty("prompt").GetString());
    }

    [Theory]
    [InlineData("missing-file", "does not exist")]
    [InlineData("empty-txt", "has no prompts")]
    [InlineData("blank-line", "Line 2")]
    [InlineData("missing-column", "columns: id, text")]
    [InlineData("empty-csv", "is empty")]
    [InlineData("header-only-csv", "no rows")]
    [InlineData("empty-csv-prompt", "Row 2")]
    [InlineData("column-on-txt", "--column")]
    [InlineData("zero-batch", "--batch-size")]
    [InlineData("unterminated-quote", "never closed")]
    [InlineData("parquet-out", "unknown extension")]
    public void BadInputExitsWith2AndOneErrorLineAndWritesNothing(string scenario, string expectedMessage)
    {
        using var dir = new TempDirectory();
        string txt = dir.File("p.txt"), csv = dir.File("p.csv"), output = dir.File(scenario == "parquet-out" ? "out.parquet" : "out.csv");
        string[] args = scenario switch
        {
            "missing-file" => ["--input", dir.File("nope.txt")],
            "empty-txt" => Write(txt, "\n\n", txt),
            "blank-line" => Write(txt, "a cat\n \na dog\n", txt),
            "missing-column" => Write(csv, "id,text\n1,a cat\n", csv),
            "empty-csv" => Write(csv, "", csv),
            "header-only-csv" => Write(csv, "id,prompt\n", csv),
            "empty-csv-prompt" => Write(csv, "id,prompt\n1,a cat\n2,\"  \"\n", csv),
            "column-on-txt" => [.. Write(txt, "a cat\n", txt), "--column", "prompt"],
            "zero-batch" => [.. Write(txt, "a cat\n", txt), "--batch-size", "0"],
            "unterminated-quote" => Write(csv, "id,prompt\n1,\"a cat\n2,a dog\n", csv),
            "parquet-out" => Write(txt, "a cat\n", txt),
            _ => throw new ArgumentOutOfRangeException(nameof(scenario)),
        };
        var tester = new CommandAppTester(new CommandAppTesterSettings { TrimConsoleOutput = true });
        tester.Console.Width(1000);
        tester.Configure(CliApp.Configure);
        var result = tester.Run(["embed-text", .. args, "--out", output]);
        Assert.Equal(CliApp.BadInput, result.ExitCode);
        Assert.StartsWith("error: ", result.Output);
        Assert.Contains(expectedMessage, result.Output);
        Assert.Single(result.Output.Split('\n'), l => l.Trim().Length > 0);
        Assert.False(File.Exists(output));
        Assert.Empty(Directory.GetFiles(dir.Path, "out.*"));
    }

    [Fact]
    [Trait("Category", "Slow")]
    public void WithoutOutTheEmbeddingsGoToStdoutAsCsv()
    {
        using var dir = new TempDirectory();
        File.WriteAllLines(dir.File("p.txt"), ["a dog, running"]);
        var run = CliProcess.Run("embed-text", "--input", dir.File("p.txt"));
        Assert.True(run.ExitCode == 0, run.Error);
        var rows = ResultWriterTests.ParseCsv(run.Out);
        Assert.Equal(2, rows.Count);
        Assert.Equal("a dog, running", rows[1][0]);
        Assert.Equal(385, rows[1].Length);
    }

    [Fact]
    public void HelpDescribesEveryOption()
    {
        var result = CliRunner.Run("embed-text", "--help");
        foreach (var option in new[] { "--input", "--column", "--out", "--format", "--batch-size" })
        {
            var line = result.Output.Split('\n').Single(l => l.TrimStart().StartsWith(option + " ", StringComparison.Ordinal));
            Assert.True(line.Trim().Length > option.Length + 20, $"{option} has no description: '{line}'");
        }
    }

    [Fact]
    [Trait("Category", "Slow")]
    public void BenchTextReportsThroughput()
    {
        var result = CliRunner.Run("bench", "text", "--count", "8", "--batch-size", "4");
        Assert.Equal(0, result.ExitCode);
        Assert.Contains("prompts/s", result.Output);
        Assert.Contains("at most 4 prompts", result.Output);
        Assert.Contains("encoder / raw ONNX Runtime", result.Output);
        // The ceiling, measured in the same run: the encoder's GFLOP/s beside a plain TorchSharp product's.
        Assert.Matches(@"achieved: encoder \d+\.\d GFLOP/s, raw ONNX Runtime \d+\.\d GFLOP/s", result.Output);
        Assert.Matches(@"plain TorchSharp float32 product \[4096 x 384\] x \[384 x 1536\] \(\d+ threads\): \d+\.\d GFLOP/s", result.Output);
        Assert.Contains("encoder / plain product: ", result.Output);
        // And the cores' register peak, with what the 400 prompts/s goal needs against it.
        Assert.Matches(@"the cores' float32 peak \(multiply-adds on registers alone, \d+ threads\): \d+\.\d GFLOP/s", result.Output);
        Assert.Matches(@"400 prompts/s needs \d+\.\d GFLOP/s \(\d+\.\d\d × the peak\)", result.Output);
    }

    [Fact]
    [Trait("Category", "Slow")]
    public void Int8WeightsGiveVectorsCloseToButNotEqualToTheFloatModelsAndBenchTextMeasuresHowClose()
    {
        using var dir = new TempDirectory();
        File.WriteAllLines(dir.File("p.txt"), Prompts);
        Assert.Equal(0, CliRunner.Run("embed-text", "--input", dir.File("p.txt"), "--out", dir.File("v.csv"), "--int8").ExitCode);

        var (_, rows) = CsvTable.Read(dir.File("v.csv"));
        var expected = fixture.Encoder.Encode(Prompts);
        for (int i = 0; i < Prompts.Length; i++)
        {
            var values = rows[i][1..].Select(v => float.Parse(v, CultureInfo.InvariantCulture)).ToArray();
            double cosine = GoldenEmbeddings.Cosine(expected[i], values);
            Assert.True(cosine is > 0.98 and < 0.99999, $"row {i}: cosine {cosine} to the float model's vector");
        }
        var bench = CliRunner.Run("bench", "text", "--count", "8", "--batch-size", "4", "--int8");
        Assert.Equal(0, bench.ExitCode);
        Assert.Contains("int8 weights", bench.Output);
        Assert.Matches(@"int8 vs float vectors of the same 8 prompts: cosine mean 0\.9\d+, lowest 0\.9\d+", bench.Output);
    }

    [Fact]
    public void GeneratedBenchmarkPromptsAreDeterministicAndVaried()
    {
        var a = ReverseSD.Cli.Commands.BenchTextCommand.GeneratePrompts(200, seed: 1);
        Assert.Equal(a, ReverseSD.Cli.Commands.BenchTextCommand.GeneratePrompts(200, seed: 1));
        Assert.True(a.Distinct().Count() > 190);
        Assert.True(a.Min(p => p.Length) < 60 && a.Max(p => p.Length) > 150);
    }

    private static string[] Write(string path, string content, string input)
    {
        File.WriteAllText(path, content);
        return ["--input", input];
    }
}
