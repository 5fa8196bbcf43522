using Microsoft.ML;
using ReverseSD.MLNet.Data;
using ReverseSD.MLNet.Heads;
using ReverseSD.MLNet.Pipeline;

namespace ReverseSD.MLNet.Tests;

/// <summary>A tiny domain-shift benchmark (40/10/10 images at 64 px) and a two-member ensemble + DAKL trained on it.</summary>
public sealed class TinyEnsemble : IDisposable
{
    public TinyEnsemble()
    {
        SyntheticBenchmark.Generate(new SyntheticBenchmarkOptions { Train = 40, Validation = 10, Test = 10, ImageSize = 64, Seed = 5, DomainShift = true }, Data);
        Model = Train(Data);
    }

    internal TempDirectory Directory { get; } = new();

    public MLContext ML { get; } = new(1);

    public string Data => Directory.File("data");

    public ReverseSdEnsembleTrainedModel Model { get; }

    /// <summary>The same ensemble with DAKL's γ ∈ {0.01, 0.1, 1} and α ∈ {0.1, 1} chosen on validation, trained on first use.</summary>
    public ReverseSdEnsembleTrainedModel Selected => _selected ??= Train(Data, change: SmallGrid);

    private ReverseSdEnsembleTrainedModel? _selected;

    public static void SmallGrid(ReverseSdEnsembleOptions o)
    {
        o.DaklSelection = DaklSelectionMode.Validation;
        o.DaklGammaGrid = [0.01f, 0.1f, 1f];
        o.DaklAlphaGrid = [0.1f, 1f];
    }

    public ReverseSdEnsembleTrainedModel Train(string data, string? adaptTo = null, Action<ReverseSdEnsembleOptions>? change = null)
    {
        var options = Options(adaptTo);
        change?.Invoke(options);
        return ReverseSdEnsemble.Train(ML, data, options);
    }

    private ReverseSdEnsembleOptions Options(string? adaptTo)
    {
        var options = SmallOptions(Directory.File("cache"));
        options.KnnNeighbors = 3;
        options.AdaptToDirectory = adaptTo;
        return options;
    }

    /// <summary>
    /// The tiny ensemble's options: members resnet18-64 and resnet18-96 (vocabulary 30, 3 epochs, batch 16, CPU), DAKL with
    /// fixed γ = 0.1, α = 1, no kNN baseline.
    /// </summary>
    public static ReverseSdEnsembleOptions SmallOptions(string cacheDirectory) => new()
    {
        Members = new[] { "resnet18-64", "resnet18-96" }.Select(b => new ReverseSdTrainingOptions
        {
            Backbone = b,
            VocabularySize = 30,
            CacheDirectory = cacheDirectory,
            Heads = new PromptEmbeddingHeadsTrainer.Options { NumberOfEpochs = 3, BatchSize = 16, Device = HeadsDevice.Cpu },
        }).ToList(),
        UseDakl = true,
        DaklSelection = DaklSelectionMode.Fixed,
        DaklGamma = 0.1f,
        DaklAlpha = 1f,
        KnnNeighbors = 0,
    };

    public IDataView TestImages() => ML.Data.LoadFromEnumerable(
        ImageFolderDataset.Read(Data, "test").Select(p => new ImageOnly { ImagePath = Path.GetFullPath(Path.Combine(Data, "test", p.FileName)) }).ToList());

    public sealed class ImageOnly
    {
        public string ImagePath { get; set; } = "";
    }

    public void Dispose()
    {
        Model.Dispose();
        _selected?.Dispose();
        Directory.Dispose();
    }
}
