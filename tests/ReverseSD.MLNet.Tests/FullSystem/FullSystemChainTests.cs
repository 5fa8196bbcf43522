using System.Diagnostics;
using System.Text.Json;
using Microsoft.ML;
using Microsoft.ML.Data;
using ReverseSD.MLNet.Backbones;
using ReverseSD.MLNet.Dakl;
using ReverseSD.MLNet.Data;
using ReverseSD.MLNet.Ensemble;
using ReverseSD.MLNet.Heads;
using ReverseSD.MLNet.Onnx;
using ReverseSD.MLNet.Pipeline;
using ReverseSD.MLNet.Retrieval;
using ReverseSD.MLNet.Tests.Cli;

namespace ReverseSD.MLNet.Tests.FullSystem;

/// <summary>
/// The full system (two backbones + heads, ensemble, DAKL, nearest prompts) as one estimator chain with one Fit on one data
/// view: labelled training rows and unlabelled target-domain rows (empty Prompt).
/// </summary>
[Trait("Category", "Slow")]
public sealed class FullSystemChainTests
{
    [Fact]
    public void OneFitOnTrainAndTargetDomainRowsSavesAZipThatScoresLikeTheFacadeAndInAPlainApp()
    {
        using var directory = new TempDirectory();
        string data = directory.File("data");
        // No validation split: the facade then trains each member's heads for all epochs, as the chain does.
        SyntheticBenchmark.Generate(new SyntheticBenchmarkOptions { Train = 24, Validation = 0, Test = 8, ImageSize = 64, Seed = 5, DomainShift = true }, data);
        if (Directory.Exists(Path.Combine(data, "validation"))) Directory.Delete(Path.Combine(data, "validation"), recursive: true);
        var ml = new MLContext(1);
        var train = ImageFolderDataset.Read(data, "train").Select(p => new Row { ImagePath = Path.GetFullPath(Path.Combine(data, "train", p.FileName)), Prompt = p.Prompt });
        var test = ImageFolderDataset.Read(data, "test").Select(p => new Row { ImagePath = Path.GetFullPath(Path.Combine(data, "test", p.FileName)) }).ToList();
        IDataView rows = ml.Data.LoadFromEnumerable(train.Concat(test).ToList());

        // The builder the facade and the CLI train with: members (backbone + heads), ensemble, DAKL (fixed γ, α: no validation
        // split), the training prompts as bank. The same options go to the facade below.
        var options = TinyEnsemble.SmallOptions(directory.File("cache"));
        var system = ReverseSdPipeline.Create(ml, options);
        // Every stage (each member's heads, DAKL, the bank) reads the Prompt texts; the shared memo embeds each distinct text once.
        var encoded = new Dictionary<string, int>(StringComparer.Ordinal);
        system.PromptEmbeddings = new MLNet.Text.PromptEmbeddingMemo((texts, _, _) =>
        {
            foreach (string t in texts) encoded[t] = encoded.GetValueOrDefault(t) + 1;
            using var encoder = MLNet.Text.SentenceEncoder.Load();
            return encoder.Encode(texts);
        });
        using var model = (IDisposable)system.Fit(rows);
        var fitted = (ITransformer)model;
        var trainPrompts = train.Select(r => r.Prompt).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(trainPrompts, encoded.Keys.Order(StringComparer.Ordinal));
        Assert.All(encoded.Values, count => Assert.Equal(1, count));
        var dakl = ((IEnumerable<ITransformer>)fitted).OfType<DomainAdaptiveKernelTransformer>().Single();
        Assert.Equal(24, dakl.Statistics.TrainingSamples);
        Assert.Equal(8, dakl.Statistics.TargetDomainSamples);

        string zip = directory.File("system.zip");
        ml.Model.Save(fitted, rows.Schema, zip);
        var images = ml.Data.LoadFromEnumerable(test.Select(r => new ImageOnly { ImagePath = r.ImagePath }).ToList());
        var inProcess = fitted.Transform(images);
        var embeddings = VectorData.ReadColumn(inProcess, ColumnNames.PredictedEmbedding);
        var prompts = VectorData.ReadTextColumn(inProcess, NearestPromptsOptions.Defaults.PromptsColumnName);
        Assert.All(prompts, p => Assert.Equal(Math.Min(ReverseSdPipeline.NearestPromptCount, trainPrompts.Count), p.Length));
        Assert.All(prompts.SelectMany(p => p), p => Assert.NotEqual("", p));

        // As every app should (examples/ScoreInYourApp): again when ML.NET named a temporary graph copy *.ort (OrtFormatMisread).
        var loaded = OrtFormatMisread.Retry(() => ml.Model.Load(zip, out _));
        VectorData.AssertClose(embeddings, VectorData.ReadColumn(loaded.Transform(images), ColumnNames.PredictedEmbedding), 1e-5);
        // The format check finds the first member's ModelInfo although the fitted chain nests the members' stages.
        Assert.Equal(ReverseSdModelFormat.Version, ReverseSdModelFormat.ReadVersion(ml, loaded));
        (loaded as IDisposable)?.Dispose();

        // The facade on the same data and options (no validation: every epoch, DAKL with fixed γ, α and the test images as target domain).
        using var facade = ReverseSdEnsemble.Train(ml, data, options);
        var facadeScored = facade.Model.Transform(images);
        Assert.Equal(prompts.Select(p => p[0]), VectorData.ReadTextColumn(facadeScored, NearestPromptsOptions.Defaults.PromptsColumnName).Select(p => p[0]));
        VectorData.AssertClose(VectorData.ReadColumn(facadeScored, ColumnNames.PredictedEmbedding), embeddings, 1e-4);

        // A fresh process with only Microsoft.ML + OnnxTransformer (examples/ScoreInYourApp) scores the zip the same.
        var (_, doc) = ScoreInYourAppTests.RunExample(zip, test.Take(3).Select(r => r.ImagePath), directory.File("scored.json"));
        var fresh = ScoreInYourAppTests.Embeddings(doc);
        VectorData.AssertClose(embeddings.Take(3).ToArray(), fresh, 1e-5);
    }

    [Fact]
    public void ValidationRowsFlowThroughTheChainAndChooseWhatTheFacadeChooses()
    {
        using var directory = new TempDirectory();
        string data = directory.File("data");
        SyntheticBenchmark.Generate(new SyntheticBenchmarkOptions { Train = 24, Validation = 8, Test = 8, ImageSize = 64, Seed = 6, DomainShift = true }, data);
        var ml = new MLContext(1);
        List<Row> Rows(string split, bool labelled) => ImageFolderDataset.Read(data, split)
            .Select(p => new Row { ImagePath = Path.GetFullPath(Path.Combine(data, split, p.FileName)), Prompt = labelled ? p.Prompt : "" }).ToList();
        // The target domain of both paths: the validation and test images, their prompts never read.
        IDataView rows = ml.Data.LoadFromEnumerable(Rows("train", true).Concat(Rows("validation", false)).Concat(Rows("test", false)).ToList());
        IDataView validation = ml.Data.LoadFromEnumerable(Rows("validation", true));

        // A weighted mean (weights searched on validation) and DAKL's γ, α chosen on validation over a small grid.
        var options = TinyEnsemble.SmallOptions(directory.File("cache"));
        options.Combination = EnsembleCombination.WeightedMean;
        options.DaklSelection = DaklSelectionMode.Validation;
        options.DaklGammaGrid = [0.1f, 1f];
        options.DaklAlphaGrid = [0.1f, 1f];
        options.PromptBank = ReverseSdTrainingOptions.NoBank;
        using var chain = ReverseSdPipeline.Create(ml, options).Fit(rows, validation);
        using var facade = ReverseSdEnsemble.Train(ml, data, options);

        // The heads kept the same best epochs, the combiner found the same weights, DAKL made the same choice.
        var chainHeads = chain.OfType<PromptEmbeddingHeadsTransformer>().ToList();
        Assert.Equal(facade.Members.Select(m => m.Heads.BestEpoch), chainHeads.Select(h => h.BestEpoch).Reverse());
        var combiner = chain.OfType<EmbeddingEnsembleTransformer>().Single();
        Assert.Equal(2, combiner.Weights.Count);
        Assert.All(combiner.Weights.Zip(facade.Combiner.Weights), w => Assert.Equal(w.Second, w.First, 2));
        var dakl = chain.OfType<DomainAdaptiveKernelTransformer>().SingleOrDefault();
        Assert.Equal(facade.DaklSelection!.Used, dakl != null);
        var images = ml.Data.LoadFromEnumerable(Rows("test", false));
        var scored = chain.Transform(images);
        if (dakl != null)
        {
            Assert.Equal(facade.DaklSelection.Grid.Select(p => (p.Gamma, p.Alpha)), dakl.Selection.Grid.Select(p => (p.Gamma, p.Alpha)));
            Assert.All(facade.DaklSelection.Grid.Zip(dakl.Selection.Grid), p => Assert.Equal(p.First.ValidationMeanCosine, p.Second.ValidationMeanCosine, 3));
            Assert.Equal((facade.DaklSelection.Gamma, facade.DaklSelection.Alpha), (dakl.Selection.Gamma, dakl.Selection.Alpha));
        }
        else
        {
            // DAKL lost on validation: the chain answers with the plain ensemble, as the facade's zip does.
            VectorData.AssertClose(VectorData.ReadColumn(scored, ColumnNames.EnsembleEmbedding), VectorData.ReadColumn(scored, ColumnNames.PredictedEmbedding), 0);
        }
        VectorData.AssertClose(VectorData.ReadColumn(facade.Model.Transform(images), ColumnNames.PredictedEmbedding),
            VectorData.ReadColumn(scored, ColumnNames.PredictedEmbedding), 1e-3);
    }

    private sealed class Row
    {
        public string ImagePath { get; set; } = "";

        public string Prompt { get; set; } = "";
    }

    private sealed class ImageOnly
    {
        public string ImagePath { get; set; } = "";
    }
}
