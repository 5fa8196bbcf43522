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

        // Two `reversesd train` processes (torch's thread pool shared with other tests in this process would reorder its sums).
        // One cache folder: the second run reads the test split's tuned features from it only when its fine-tuned graph has the
        // same bytes (the cache key hashes them).
        string Train(string name)
        {
            string zip = dir.File(name + ".zip");
            using var process = CliChildProcess.Start(dir.Path, "train", "--data", data, "--out", zip, "--backbone", "resnet18-map",
                "--spatial-channels", "4", "--spatial-dropout", "0.5", "--finetune", "layer4", "--finetune-epochs", "1", "--epochs", "2",
                "--vocab", "20", "--batch-size", "8", "--seed", "4", "--bank", "none", "--cache-dir", dir.File("cache"), "--report", dir.File(name + ".json"));
            var output = process.StandardOutput.ReadToEndAsync();
            var errors = process.StandardError.ReadToEndAsync();
            Assert.True(process.WaitForExit(TimeSpan.FromMinutes(8)), "reversesd train did not finish in 8 minutes");
            Assert.True(process.ExitCode == 0, output.Result + errors.Result);
            return zip;
        }
        string first = Train("first"), second = Train("second");

        // The same zip, entry by entry: the fine-tuned graph and the heads trained on the fine-tuner's features.
        Assert.Equal(ZipEntryHashes(first), ZipEntryHashes(second));
        // The same test cosines; ONNX Runtime's scoring of the same heads can differ in the last float bit between two processes
        // (seen: 6e-10), so within 1e-6.
        static double[] Cosines(string csv) => File.ReadLines(csv).Skip(1).Select(l => double.Parse(l.Split(',')[2], System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        var (a, b) = (Cosines(dir.File("first-samples.csv")), Cosines(dir.File("second-samples.csv")));
        Assert.Equal(6, a.Length);
        Assert.Equal(a, b, (x, y) => Math.Abs(x - y) <= 1e-6);
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
