using System.Text.Json;
using Microsoft.ML;
using ReverseSD.MLNet.Data;
using ReverseSD.MLNet.Evaluation;
using ReverseSD.MLNet.Pipeline;
using ReverseSD.MLNet.Tests.Cli;
using ReverseSD.MLNet.Tests.Retrieval;

namespace ReverseSD.MLNet.Tests.Ensemble;

/// <summary>DAKL's γ/α chosen on the validation split (on the fixture of <see cref="EnsemblePipelineTests"/>).</summary>
public sealed partial class EnsemblePipelineTests
{
    private IDataView Images(string data, string split) => tiny.ML.Data.LoadFromEnumerable(ImageFolderDataset.Read(data, split)
        .Select(p => new TinyEnsemble.ImageOnly { ImagePath = Path.GetFullPath(Path.Combine(data, split, p.FileName)) }).ToList());

    [Fact]
    public void ValidationSelectionPicksTheGridPointWithTheBestRecordedValidationCosine()
    {
        var selected = tiny.Selected;
        var s = selected.DaklSelection!;
        Assert.True(s.OnValidation);
        Assert.Equal([(0.01f, 0.1f), (0.01f, 1f), (0.1f, 0.1f), (0.1f, 1f), (1f, 0.1f), (1f, 1f)], s.Grid.Select(p => (p.Gamma, p.Alpha)));
        var best = s.Grid.MaxBy(p => p.ValidationMeanCosine)!;
        Assert.Equal((best.Gamma, best.Alpha), (s.Gamma, s.Alpha));
        Assert.Equal(best.ValidationMeanCosine > s.PlainEnsembleValidationMeanCosine, s.Used);

        // The recorded cosines are real: the fixed (γ = 0.1, α = 1) fixture model scores that grid point's cosine on the validation
        // images, and the plain ensemble column scores the recorded plain cosine.
        var validationTargets = tiny.Model.Data.ValidationTargets!;
        var scored = tiny.Model.Model.Transform(Images(tiny.Data, "validation"));
        double fixedPoint = PromptEmbeddingEvaluator.Evaluate(VectorData.ReadColumn(scored, "PredictedEmbedding"), validationTargets).MeanCosine;
        Assert.Equal(s.Grid.Single(p => p.Gamma == 0.1f && p.Alpha == 1f).ValidationMeanCosine, fixedPoint, 4);
        double plain = PromptEmbeddingEvaluator.Evaluate(VectorData.ReadColumn(scored, "EnsembleEmbedding"), validationTargets).MeanCosine;
        Assert.Equal(s.PlainEnsembleValidationMeanCosine!.Value, plain, 4);

        Assert.Equal("validation", selected.Report.Options["dakl_selection"]);
        Assert.Contains("gamma=0.01 alpha=0.1: ", selected.Report.Options["dakl_validation_grid"]);
        Assert.Equal(s.Used ? "true" : "false", selected.Report.Options["dakl_used"]);
    }

    [Fact]
    public void ExplicitGammaAndAlphaFixTheSelection()
    {
        var s = tiny.Model.DaklSelection!;
        Assert.False(s.OnValidation);
        Assert.True(s.Used);
        Assert.Empty(s.Grid);
        Assert.Equal((0.1f, 1f), (s.Gamma, s.Alpha));
        Assert.Equal("fixed", tiny.Model.Report.Options["dakl_selection"]);
        Assert.NotNull(tiny.Model.Dakl);
    }

    [Fact]
    public void WhenNoGridPointBeatsThePlainEnsembleOnValidationTheSavedModelIsThePlainEnsemble()
    {
        // γ = 1000: exp(-γ‖x − c‖²) underflows to 0 for every validation embedding that is not a centroid, so this DAKL
        // predicts nothing useful and must lose to the plain ensemble on validation.
        using var model = tiny.Train(tiny.Data, change: o =>
        {
            o.DaklSelection = DaklSelectionMode.Validation;
            o.DaklGammaGrid = [1000f];
            o.DaklAlphaGrid = [1f];
        });
        var s = model.DaklSelection!;
        Assert.True(s.OnValidation);
        Assert.False(s.Grid.Single().ValidationMeanCosine > s.PlainEnsembleValidationMeanCosine, $"the forced grid point beat the plain ensemble: {s.Grid.Single()}");
        Assert.False(s.Used);
        Assert.Null(model.Dakl);
        Assert.Equal("false", model.Report.Options["dakl_used"]);
        var ensembleRow = model.Rows.Single(r => r.Name.StartsWith("ensemble (mean)", StringComparison.Ordinal));
        Assert.Contains(model.Rows, r => r.Name.Contains("NOT USED", StringComparison.Ordinal));
        Assert.Equal(ensembleRow.Metrics.MeanCosine, model.Report.TestMeanCosine, 12);

        // The saved zip's output is the plain ensemble embedding (the fixture's members and combiner are the same seeded fit).
        string zip = tiny.Directory.File("no-dakl.zip");
        model.Save(zip);
        var images = tiny.TestImages();
        var loaded = tiny.ML.Model.Load(zip, out _);
        var output = VectorData.ReadColumn(loaded.Transform(images), "PredictedEmbedding");
        (loaded as IDisposable)?.Dispose();
        VectorData.AssertClose(VectorData.ReadColumn(tiny.Model.Model.Transform(images), "EnsembleEmbedding"), output, 1e-5);
    }

    [Fact]
    public void ChangingTheTestPromptsLeavesTheValidationSelectionUnchanged()
    {
        using var copy = new TempDirectory();
        string data = copy.File("data");
        foreach (string split in ImageFolderDataset.Splits)
        {
            Directory.CreateDirectory(Path.Combine(data, split));
            foreach (string file in Directory.EnumerateFiles(Path.Combine(tiny.Data, split)))
                File.Copy(file, Path.Combine(data, split, Path.GetFileName(file)));
        }
        ImageFolderDataset.Write(data, "test", ImageFolderDataset.Read(data, "test").Select((p, i) => p with { Prompt = $"an unrelated caption {i} about trains" }));

        var original = tiny.Selected;
        using var changed = tiny.Train(data, change: TinyEnsemble.SmallGrid);
        var a = original.DaklSelection!;
        var b = changed.DaklSelection!;
        Assert.Equal(a.Grid.Select(p => p.ValidationMeanCosine), b.Grid.Select(p => p.ValidationMeanCosine));
        Assert.Equal((a.Gamma, a.Alpha, a.Used), (b.Gamma, b.Alpha, b.Used));
        // The test evaluation did read the new prompts.
        Assert.NotEqual(original.Report.TestMeanCosine, changed.Report.TestMeanCosine, 3);
    }

    [Fact]
    public void TrainCommandWithDaklAndGridsPrintsTheValidationGridAndReportsIt()
    {
        Environment.SetEnvironmentVariable("CI", "true");
        string zip = tiny.Directory.File("cli-grid.zip"), report = tiny.Directory.File("cli-grid.json");
        var result = CliRunner.Run("train", "--data", tiny.Data, "--out", zip, "--backbone", "resnet18-64,resnet18-96", "--dakl",
            "--dakl-grid-gamma", "0.01,0.1,1", "--dakl-grid-alpha", "0.1,1", "--knn-baseline", "3", "--epochs", "3", "--vocab", "30", "--batch", "16",
            "--cache-dir", tiny.Directory.File("cache"), "--report", report);
        Assert.True(result.ExitCode == 0, result.Output);
        Assert.Contains("validation mean cosine", result.Output);
        Assert.True(result.Output.Contains("DAKL: chosen on validation") || result.Output.Contains("DAKL: NOT USED"), result.Output);
        using var json = JsonDocument.Parse(File.ReadAllText(report));
        var options = json.RootElement.GetProperty("options");
        Assert.Equal("validation", options.GetProperty("dakl_selection").GetString());
        Assert.Equal(6, options.GetProperty("dakl_validation_grid").GetString()!.Split("; ").Length);

        var both = CliRunner.Run("train", "--data", tiny.Data, "--out", zip, "--dakl", "--dakl-gamma", "0.1", "--dakl-grid-alpha", "1");
        Assert.Equal(2, both.ExitCode);
        Assert.Contains("give one kind, not both", both.Output);
    }
}
