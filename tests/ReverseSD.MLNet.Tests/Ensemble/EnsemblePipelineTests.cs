using System.Diagnostics;
using System.Text.Json;
using Microsoft.ML;
using Microsoft.ML.Data;
using ReverseSD.MLNet.Data;
using ReverseSD.MLNet.Evaluation;
using ReverseSD.MLNet.Heads;
using ReverseSD.MLNet.Pipeline;
using ReverseSD.MLNet.Tests.Cli;
using ReverseSD.MLNet.Tests.Retrieval;

namespace ReverseSD.MLNet.Tests.Ensemble;

[Trait("Category", "Slow")]
public sealed partial class EnsemblePipelineTests(TinyEnsemble tiny) : IClassFixture<TinyEnsemble>
{
    [Fact]
    public void EvaluationHasARowPerMemberThenEnsembleDaklKnnAndMeanBaselineWithTTests()
    {
        var names = tiny.Model.Rows.Select(r => r.Name).ToList();
        Assert.Equal(6, names.Count);
        Assert.StartsWith("member 1: resnet18-64", names[0]);
        Assert.StartsWith("member 2: resnet18-96", names[1]);
        Assert.StartsWith("ensemble (mean)", names[2]);
        Assert.StartsWith("ensemble + DAKL (r = 40, p = 20", names[3]);
        Assert.StartsWith("kNN regression, image-to-image variant (k = 3", names[4]);
        Assert.Equal("mean-embedding baseline", names[5]);
        Assert.Null(tiny.Model.Rows[0].VersusPrevious);
        Assert.All(tiny.Model.Rows.Skip(1), r => Assert.Equal(9, r.VersusPrevious!.DegreesOfFreedom));
        Assert.All(tiny.Model.Rows, r => Assert.Equal(10, r.Metrics.Count));
        // Each member's row is the member's own test evaluation from its training.
        for (int k = 0; k < 2; k++)
            Assert.Equal(tiny.Model.Members[k].Test.MeanCosine, tiny.Model.Rows[k].Metrics.MeanCosine, 6);
        Assert.Equal(tiny.Model.Rows[3].Metrics.MeanCosine, tiny.Model.Report.TestMeanCosine, 12);
    }

    [Fact]
    public void SavedZipLoadsInPlainMLNetAndScoresLikeTheInProcessChain()
    {
        string zip = tiny.Directory.File("ensemble.zip");
        tiny.Model.Save(zip);
        var images = tiny.TestImages();
        var inProcess = VectorData.ReadColumn(tiny.Model.Model.Transform(images), "PredictedEmbedding");

        var plain = tiny.ML.Model.Load(zip, out _);
        var reloaded = VectorData.ReadColumn(plain.Transform(images), "PredictedEmbedding");
        var words = VectorData.ReadTextColumn(plain.Transform(images), ReverseSdModelFormat.VocabularyWordsColumnName);
        (plain as IDisposable)?.Dispose();
        VectorData.AssertClose(inProcess, reloaded, 1e-5);
        Assert.Equal(tiny.Model.Members[0].Heads.VocabularyWords, words[0]);

        // The format check of 'evaluate'/'predict' accepts the ensemble zip; its test mean cosine from the images equals training's.
        var loaded = ReverseSdModel.Load(tiny.ML, zip);
        var (report, _, _, _) = ReverseSdModel.Evaluate(tiny.ML, loaded, tiny.Data);
        (loaded as IDisposable)?.Dispose();
        Assert.Equal(tiny.Model.Report.TestMeanCosine, report.TestMeanCosine, 5);

        // A fresh process with only Microsoft.ML + OnnxTransformer (examples/ScoreInYourApp) gives the same embeddings.
        string json = tiny.Directory.File("scored.json");
        var paths = images.GetColumn<string>("ImagePath").ToList();
        var (_, doc) = ScoreInYourAppTests.RunExample(zip, paths.Take(3), json);
        var fresh = ScoreInYourAppTests.Embeddings(doc);
        VectorData.AssertClose(inProcess.Take(3).ToArray(), fresh, 1e-5);
    }

    [Fact]
    public void EnsembleOutputIsTheCombinerAppliedToTheMembersOutputsAndDaklReadsIt()
    {
        var images = tiny.TestImages();
        var scored = tiny.Model.Model.Transform(images);
        var members = Enumerable.Range(1, 2).Select(k => VectorData.ReadColumn(scored, ReverseSdEnsemble.MemberColumnName(k))).ToArray();
        for (int k = 0; k < 2; k++)
        {
            // Each member column is that member's own chain output.
            var own = VectorData.ReadColumn(tiny.Model.Members[k].Model.Transform(images), "PredictedEmbedding");
            VectorData.AssertClose(own, members[k], 1e-6);
        }
        // Mean rule: normalise each member, average, normalise.
        var expected = members[0].Select((row, i) => VectorData.Normalise(
            VectorData.Normalise(row).Zip(VectorData.Normalise(members[1][i]), (a, b) => (a + b) / 2).ToArray())).ToArray();
        var ensemble = VectorData.ReadColumn(scored, "EnsembleEmbedding");
        VectorData.AssertClose(expected, ensemble, 1e-5);
        var viaDakl = VectorData.ReadColumn(tiny.Model.Dakl!.Transform(VectorData.Load(tiny.ML,
            ensemble.Select(e => new EnsembleRow { EnsembleEmbedding = e }), ("EnsembleEmbedding", 384))), "PredictedEmbedding");
        VectorData.AssertClose(viaDakl, VectorData.ReadColumn(scored, "PredictedEmbedding"), 1e-6);
        Assert.True(VectorData.MaxDifference(ensemble, viaDakl) > 1e-3, "DAKL left the ensemble embedding unchanged");
    }

    [Fact]
    public void DaklNeverSeesTheTestPromptsChangingThemLeavesTheFittedModelUnchanged()
    {
        using var copy = new TempDirectory();
        string data = copy.File("data");
        foreach (string split in ImageFolderDataset.Splits)
        {
            Directory.CreateDirectory(Path.Combine(data, split));
            foreach (string file in Directory.EnumerateFiles(Path.Combine(tiny.Data, split)))
                File.Copy(file, Path.Combine(data, split, Path.GetFileName(file)));
        }
        var test = ImageFolderDataset.Read(data, "test");
        ImageFolderDataset.Write(data, "test", test.Select((p, i) => p with { Prompt = $"a completely different caption number {i} about boats" }));

        using var changed = tiny.Train(data);
        var images = tiny.ML.Data.LoadFromEnumerable(test.Select(p => new TinyEnsemble.ImageOnly { ImagePath = Path.GetFullPath(Path.Combine(data, "test", p.FileName)) }).ToList());
        var before = VectorData.ReadColumn(tiny.Model.Model.Transform(images), "PredictedEmbedding");
        var after = VectorData.ReadColumn(changed.Model.Transform(images), "PredictedEmbedding");
        VectorData.AssertClose(before, after, 1e-6);
        Assert.Equal(tiny.Model.Dakl!.Statistics.TargetDomainSamples, changed.Dakl!.Statistics.TargetDomainSamples);
        // The evaluation did read the new prompts: the scores moved.
        Assert.NotEqual(tiny.Model.Report.TestMeanCosine, changed.Report.TestMeanCosine, 3);
    }

    [Fact]
    public void TheEnsembleZipAnswersWithTheNearestTrainingPromptsOfItsPrediction()
    {
        // Default --bank train: the distinct training prompts, after DAKL, in the saved chain.
        string zip = tiny.Directory.File("bank-ensemble.zip");
        tiny.Model.Save(zip);
        var loaded = tiny.ML.Model.Load(zip, out _);
        var scored = loaded.Transform(tiny.TestImages());
        var prompts = VectorData.ReadTextColumn(scored, ColumnNames.NearestPrompts);
        var trainPrompts = ImageFolderDataset.Read(tiny.Data, "train").Select(p => p.Prompt).ToHashSet(StringComparer.Ordinal);
        Assert.All(prompts, p => Assert.Equal(Math.Min(ReverseSdPipeline.NearestPromptCount, trainPrompts.Count), p.Length));
        Assert.All(prompts.SelectMany(p => p), p => Assert.Contains(p, trainPrompts));
        var scores = VectorData.ReadColumn(scored, ColumnNames.NearestPromptScores);
        Assert.All(scores, s => Assert.Equal(s.OrderByDescending(v => v), s));
        (loaded as IDisposable)?.Dispose();
    }

    [Fact]
    public void AdaptToAFolderOfTheValidationAndTestImagesGivesTheSameModelAsTheDefaultTargetDomain()
    {
        using var folder = new TempDirectory();
        foreach (var (split, prefix) in new[] { ("validation", "a"), ("test", "b") })
            foreach (var pair in ImageFolderDataset.Read(tiny.Data, split))
                File.Copy(Path.Combine(tiny.Data, split, pair.FileName), folder.File($"{prefix}-{pair.FileName}"));
        File.WriteAllText(folder.File("notes.txt"), "not an image");

        // Target rows from the images through each member's saved chain instead of the cached features: same kernel, same model.
        using var adapted = tiny.Train(tiny.Data, folder.Path);
        Assert.Equal(20, adapted.Dakl!.Statistics.TargetDomainSamples);
        Assert.Equal(Path.GetFullPath(folder.Path), adapted.Report.Options["dakl_target_domain"]);
        Assert.Equal("validation+test images", tiny.Model.Report.Options["dakl_target_domain"]);
        var images = tiny.TestImages();
        VectorData.AssertClose(VectorData.ReadColumn(tiny.Model.Model.Transform(images), "PredictedEmbedding"),
            VectorData.ReadColumn(adapted.Model.Transform(images), "PredictedEmbedding"), 1e-4);
    }

    [Fact]
    public void AblationListsEveryCombinationAndTheFullEnsembleMatchesTheTrainedOne()
    {
        var rows = ReverseSdEnsemble.Ablate(tiny.ML, tiny.Model, withDakl: true);
        Assert.Equal(["resnet18-64", "resnet18-96", "resnet18-64+resnet18-96"], rows.Select(r => string.Join("+", r.Members)));
        Assert.Equal(tiny.Model.Rows[0].Metrics.MeanCosine, rows[0].MeanCosine, 5);
        Assert.Equal(tiny.Model.Rows[1].Metrics.MeanCosine, rows[1].MeanCosine, 5);
        Assert.Equal(tiny.Model.Rows[2].Metrics.MeanCosine, rows[2].MeanCosine, 5);
        Assert.Equal(tiny.Model.Rows[3].Metrics.MeanCosine, rows[2].MeanCosineWithDakl!.Value, 4);
    }

    [Fact]
    public void TrainCommandWithTwoBackbonesAndDaklPrintsTheTable8RowsAndSavesOneZip()
    {
        Environment.SetEnvironmentVariable("CI", "true");
        string zip = tiny.Directory.File("cli-ensemble.zip"), report = tiny.Directory.File("cli-report.json");
        var result = CliRunner.Run("train", "--data", tiny.Data, "--out", zip, "--backbone", "resnet18-64,resnet18-96", "--dakl",
            "--dakl-gamma", "0.1", "--dakl-alpha", "1", "--knn-baseline", "3", "--epochs", "3", "--vocab", "30", "--batch", "16",
            "--cache-dir", tiny.Directory.File("cache"), "--report", report);
        Assert.True(result.ExitCode == 0, result.Output);
        foreach (string row in new[] { "member 1: resnet18-64", "member 2: resnet18-96", "ensemble (mean)", "ensemble + DAKL", "kNN regression", "mean-embedding baseline" })
            Assert.Contains(row, result.Output);
        using var json = JsonDocument.Parse(File.ReadAllText(report));
        // Same data, options and seed as the fixture: the CLI's model is the library's.
        Assert.Equal(tiny.Model.Report.TestMeanCosine, json.RootElement.GetProperty("mean_cosine").GetDouble(), 6);
        Assert.Equal(40, json.RootElement.GetProperty("options").GetProperty("dakl_centroids").GetInt32());
        Assert.True(File.Exists(zip));
    }

    [Fact]
    public void AblateEnsembleCommandPrintsEveryCombinationWithAndWithoutDakl()
    {
        Environment.SetEnvironmentVariable("CI", "true");
        var result = CliRunner.Run("ablate", "ensemble", "--data", tiny.Data, "--backbone", "resnet18-64,resnet18-96",
            "--epochs", "3", "--vocab", "30", "--dakl-gamma", "0.1", "--dakl-alpha", "1", "--cache-dir", tiny.Directory.File("cache"));
        Assert.True(result.ExitCode == 0, result.Output);
        Assert.Contains("+ DAKL", result.Output);
        Assert.Contains("DAKL r = 40, p = 20", result.Output);
        // One table line per combination of the two members (each has at least one ✓).
        Assert.Equal(3, result.Output.Split('\n').Count(l => l.Contains('✓')));
    }

    private sealed class EnsembleRow
    {
        public float[] EnsembleEmbedding { get; set; } = [];
    }
}

public sealed class EnsembleCommandErrorTests
{
    [Theory]
    [InlineData("train", "--data", "DATA", "--backbone", "resnet18,nosuchnet")]
    [InlineData("train", "--data", "DATA", "--backbone", "resnet18,resnet18")]
    [InlineData("train", "--data", "DATA", "--backbone", "resnet18", "--ensemble", "median")]
    [InlineData("train", "--data", "DATA", "--backbone", "resnet18,resnet18-96", "--ensemble", "max")]
    [InlineData("train", "--data", "DATA", "--backbone", "resnet18,resnet18-96", "--dakl", "--dakl-gamma", "0")]
    [InlineData("train", "--data", "DATA", "--backbone", "resnet18,resnet18-96", "--dakl", "--adapt-to", "EMPTY")]
    [InlineData("train", "--data", "DATA", "--backbone", "resnet18,resnet18-96", "--adapt-to", "EMPTY")]
    [InlineData("ablate", "ensemble", "--data", "DATA", "--backbone", "resnet18")]
    public void BadEnsembleInputExitsWithTwoAndOneErrorLine(params string[] args)
    {
        using var dir = new TempDirectory();
        string data = dir.File("data");
        Directory.CreateDirectory(dir.File("empty"));
        SyntheticBenchmark.Generate(new SyntheticBenchmarkOptions { Train = 4, Validation = 2, Test = 2, ImageSize = 32, Seed = 2 }, data);
        var result = CliRunner.Run(args.Select(a => a == "DATA" ? data : a == "EMPTY" ? dir.File("empty") : a).ToArray());
        Assert.True(result.ExitCode == 2, result.Output);
        var lines = result.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.Single(lines);
        Assert.StartsWith("error:", lines[0]);
    }
}
