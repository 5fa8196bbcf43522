using System.Diagnostics;
using System.Text.Json;
using Microsoft.ML;
using Microsoft.ML.Data;
using ReverseSD.MLNet.Backbones;
using ReverseSD.MLNet.Dakl;
using ReverseSD.MLNet.Data;
using ReverseSD.MLNet.Ensemble;
using ReverseSD.MLNet.Heads;
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
    private static readonly string[] Backbones = ["resnet18-64", "resnet18-96"];

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
        var options = new ReverseSdEnsembleOptions
        {
            Members = Backbones.Select(b => new ReverseSdTrainingOptions
            {
                Backbone = b,
                VocabularySize = 30,
                CacheDirectory = directory.File("cache"),
                Heads = new PromptEmbeddingHeadsTrainer.Options { NumberOfEpochs = 3, BatchSize = 16, Device = HeadsDevice.Cpu },
            }).ToList(),
            UseDakl = true,
            DaklSelection = DaklSelectionMode.Fixed,
            DaklGamma = 0.1f,
            DaklAlpha = 1f,
            KnnNeighbors = 0,
        };
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

        var loaded = ml.Model.Load(zip, out _);
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
        string json = directory.File("scored.json");
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[] { ScoreInYourAppTests.ExampleDll(), zip }.Concat(test.Take(3).Select(r => r.ImagePath)).Concat(["--out", json]))
            start.ArgumentList.Add(arg);
        using var process = Process.Start(start)!;
        string stderr = process.StandardError.ReadToEnd();
        process.StandardOutput.ReadToEnd();
        Assert.True(process.WaitForExit(120_000), "the example app did not finish within 2 minutes");
        Assert.True(process.ExitCode == 0, $"exit {process.ExitCode}: {stderr}");
        using var doc = JsonDocument.Parse(File.ReadAllText(json));
        var fresh = doc.RootElement.EnumerateArray().Select(p => p.GetProperty("embedding").EnumerateArray().Select(e => e.GetSingle()).ToArray()).ToArray();
        VectorData.AssertClose(embeddings.Take(3).ToArray(), fresh, 1e-5);
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
