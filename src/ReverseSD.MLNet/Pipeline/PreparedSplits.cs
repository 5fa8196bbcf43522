using Microsoft.ML;
using Microsoft.ML.Data;
using ReverseSD.MLNet.Backbones;
using ReverseSD.MLNet.Data;
using ReverseSD.MLNet.Evaluation;
using ReverseSD.MLNet.Text;

namespace ReverseSD.MLNet.Pipeline;

/// <summary>One split of a data set folder, prepared once: each backbone's cached features, the prompts and their embeddings.</summary>
internal sealed class PreparedSplit
{
    /// <summary>The column names the facades train and score the heads on.</summary>
    public const string FeaturesColumn = ColumnNames.ImageFeatures;
    public const string TargetColumn = ColumnNames.PromptEmbedding;
    public const string LabelsColumn = ColumnNames.VocabularyLabels;

    /// <summary>"train", "validation" or "test".</summary>
    public required string Name { get; init; }

    /// <summary>Features[backbone][row]: the backbones' image features, rows aligned with <see cref="ImagePaths"/>.</summary>
    public required float[][][] Features { get; init; }

    public required IReadOnlyList<string> Prompts { get; init; }

    public required IReadOnlyList<string> VisualPrompts { get; init; }

    public required IReadOnlyList<string> ImagePaths { get; init; }

    /// <summary>Images that did not decode (left out of every row list).</summary>
    public int Skipped { get; init; }

    /// <summary>The prompts' all-MiniLM-L6-v2 embeddings s(y): the regression targets.</summary>
    public required float[][] Targets { get; init; }

    /// <summary>The embeddings of the prompts without flavour words (generated benchmark, test split only), else null.</summary>
    public float[][]? VisualTargets { get; init; }

    public int Count => ImagePaths.Count;

    /// <summary>Backbone <paramref name="backbone"/>'s features, the targets and (unless null) the vocabulary labels: what the heads train on.</summary>
    public IDataView HeadsView(int backbone, Vocabulary? vocabulary)
    {
        var columns = new List<(string, int, float[][])>
        {
            (FeaturesColumn, Features[backbone][0].Length, Features[backbone]),
            (TargetColumn, Targets[0].Length, Targets),
        };
        if (vocabulary != null)
            columns.Add((LabelsColumn, vocabulary.Count, Prompts.Select(p => VocabularyLabelsDataView.DenseLabels(p, vocabulary)).ToArray()));
        return new VectorTableDataView(columns.ToArray());
    }

    /// <summary>Backbone <paramref name="backbone"/>'s features alone: what a fitted heads model scores.</summary>
    public IDataView FeaturesView(int backbone) => new VectorTableDataView((FeaturesColumn, Features[backbone][0].Length, Features[backbone]));
}

/// <summary>
/// The data every training path takes (single model, ensemble, ablations, curriculum analysis): the splits of a data set folder
/// featurised once per backbone through the feature cache, their prompts embedded once, and the vocabulary of the training prompts.
/// </summary>
internal sealed class PreparedSplits
{
    private readonly Dictionary<int, Vocabulary> _vocabularies = [];

    private PreparedSplits(string dataDirectory, IReadOnlyList<ImageBackbone> backbones, PreparedSplit train, PreparedSplit? validation, PreparedSplit? test)
    {
        DataDirectory = dataDirectory;
        Backbones = backbones;
        Train = train;
        Validation = validation;
        Test = test;
    }

    public string DataDirectory { get; }

    public IReadOnlyList<ImageBackbone> Backbones { get; }

    public PreparedSplit Train { get; }

    public PreparedSplit? Validation { get; }

    public PreparedSplit? Test { get; }

    /// <summary>Mean training target: the constant baseline.</summary>
    public float[] MeanTrainTarget => PromptEmbeddingEvaluator.MeanEmbedding(Train.Targets);

    /// <summary>The <paramref name="size"/> most frequent content words of the training prompts (paper §3), built once per size.</summary>
    public Vocabulary Vocabulary(int size)
    {
        if (!_vocabularies.TryGetValue(size, out var vocabulary))
            _vocabularies[size] = vocabulary = Text.Vocabulary.Build(Train.Prompts, size);
        return vocabulary;
    }

    /// <summary>
    /// Featurises DATA/train, DATA/validation (when present) and, with <paramref name="withTest"/>, DATA/test with every backbone
    /// (through its feature cache, default DATA/.cache, in chunks of <paramref name="cacheChunkSize"/> rows when it starts a
    /// cache folder) and embeds their prompts once.
    /// </summary>
    public static PreparedSplits Prepare(MLContext mlContext, string dataDirectory, IReadOnlyList<(ImageBackbone Backbone, string? CacheDirectory)> backbones,
        bool withTest, IProgress<ProgressReport>? progress, CancellationToken cancellationToken, int cacheChunkSize = FeatureCache.DefaultChunkSize)
    {
        if (cacheChunkSize < 1) throw new ReverseSdInputException($"The feature-cache chunk size must be at least 1 (got {cacheChunkSize}).");
        DataFolder.Check(dataDirectory, "train");
        if (withTest) DataFolder.Check(dataDirectory, "test");
        bool hasValidation = File.Exists(Path.Combine(dataDirectory, "validation", ImageFolderDataset.MetadataFileName));
        string[] names = hasValidation ? ["train", "validation", "test"] : ["train", "test"];
        if (!withTest) names = names[..^1];
        var splits = new Dictionary<string, PreparedSplit>();
        SentenceEncoder? encoder = null;   // loaded only when some prompts were not embedded by 'featurize --text'
        try
        {
            foreach (string name in names)
                splits[name] = PrepareSplit(mlContext, () => encoder ??= SentenceEncoder.Load(), backbones, dataDirectory, name, cacheChunkSize, progress, cancellationToken);
        }
        finally
        {
            encoder?.Dispose();
        }
        return new PreparedSplits(dataDirectory, backbones.Select(b => b.Backbone).ToList(), splits["train"],
            splits.GetValueOrDefault("validation"), splits.GetValueOrDefault("test"));
    }

    /// <summary>
    /// These splits with each fine-tuned member's features (<paramref name="tuned"/>, by member index) in place of its frozen ones:
    /// training and validation rows from the features the fine-tuner computed with the tuned network (equal to the tuned graph's
    /// ONNX features within 1e-4, so they are not computed twice), the test split through the tuned backbone's ONNX graph and its
    /// own feature-cache entry. The prompts and their embeddings are kept. A split the fine-tuner could not give every row of
    /// (an image it failed to decode that ONNX read) goes through ONNX too.
    /// </summary>
    public PreparedSplits WithFineTuned(MLContext mlContext, IReadOnlyDictionary<int, FineTuning.FineTunedBackbone> tuned,
        IReadOnlyList<string?> cacheDirectories, IProgress<ProgressReport>? progress, CancellationToken cancellationToken,
        int cacheChunkSize = FeatureCache.DefaultChunkSize)
    {
        ArgumentNullException.ThrowIfNull(tuned);
        if (tuned.Count == 0) return this;
        var backbones = Backbones.Select((b, k) => tuned.TryGetValue(k, out var t) ? t.Backbone : b).ToList();
        PreparedSplit? Replace(PreparedSplit? split, Func<FineTuning.FineTunedBackbone, float[]?[]?> computed)
        {
            if (split == null) return null;
            var features = (float[][][])split.Features.Clone();
            foreach (var (k, t) in tuned)
            {
                var rows = computed(t);
                features[k] = rows != null && rows.Length == split.Count && rows.All(r => r != null)
                    ? Array.ConvertAll(rows, r => r!)
                    : OnnxFeatures(mlContext, t.Backbone, split, cacheDirectories[k], cacheChunkSize, progress, cancellationToken);
            }
            return new PreparedSplit
            {
                Name = split.Name, Features = features, Prompts = split.Prompts, VisualPrompts = split.VisualPrompts, ImagePaths = split.ImagePaths,
                Skipped = split.Skipped, Targets = split.Targets, VisualTargets = split.VisualTargets,
            };
        }
        var result = new PreparedSplits(DataDirectory, backbones, Replace(Train, t => t.TrainFeatures)!, Replace(Validation, t => t.ValidationFeatures),
            Replace(Test, _ => null));
        foreach (var (size, vocabulary) in _vocabularies) result._vocabularies[size] = vocabulary;
        return result;
    }

    /// <summary><paramref name="backbone"/>'s features of <paramref name="split"/>'s rows through its ONNX graph and feature cache.</summary>
    private float[][] OnnxFeatures(MLContext ml, ImageBackbone backbone, PreparedSplit split, string? cacheDirectory, int cacheChunkSize,
        IProgress<ProgressReport>? progress, CancellationToken cancellationToken)
    {
        string cache = cacheDirectory ?? Path.Combine(DataDirectory, ".cache");
        Directory.CreateDirectory(cache);
        var result = FeatureCache.GetOrCompute(ml, backbone, DataDirectory, split.Name, cache, new FeatureCacheOptions { ChunkSize = cacheChunkSize }, progress, cancellationToken);
        if (!result.Data.GetColumn<string>(ColumnNames.ImagePath).SequenceEqual(split.ImagePaths, StringComparer.Ordinal))
            throw new InvalidOperationException($"Backbone '{backbone.Name}' read other '{split.Name}' images than the frozen backbone; the feature caches disagree.");
        return PromptEmbeddingEvaluator.ReadVectors(result.Data, PreparedSplit.FeaturesColumn).ToArray();
    }

    private static PreparedSplit PrepareSplit(MLContext ml, Func<SentenceEncoder> encoder, IReadOnlyList<(ImageBackbone Backbone, string? CacheDirectory)> backbones,
        string dataDirectory, string split, int cacheChunkSize, IProgress<ProgressReport>? progress, CancellationToken cancellationToken)
    {
        var features = new float[backbones.Count][][];
        List<string>? paths = null, prompts = null, visualPrompts = null;
        float[][]? cachedTargets = null;
        int skipped = 0;
        for (int k = 0; k < backbones.Count; k++)
        {
            string cache = backbones[k].CacheDirectory ?? Path.Combine(dataDirectory, ".cache");
            Directory.CreateDirectory(cache);
            var result = FeatureCache.GetOrCompute(ml, backbones[k].Backbone, dataDirectory, split, cache,
                new FeatureCacheOptions { ChunkSize = cacheChunkSize }, progress, cancellationToken);
            if (result.Rows == 0) throw new ReverseSdInputException($"The '{split}' split of '{dataDirectory}' has no readable image.");
            var imagePaths = result.Data.GetColumn<string>(ColumnNames.ImagePath).ToList();
            if (paths == null)
            {
                paths = imagePaths;
                prompts = result.Data.GetColumn<string>(ColumnNames.Prompt).ToList();
                visualPrompts = result.Data.GetColumn<string>("VisualPrompt").ToList();
                skipped = result.Skipped.Count;
                if (result.Data.Schema.GetColumnOrNull(ColumnNames.PromptEmbedding) != null)
                    cachedTargets = PromptEmbeddingEvaluator.ReadVectors(result.Data, ColumnNames.PromptEmbedding).ToArray();
            }
            else if (!imagePaths.SequenceEqual(paths, StringComparer.Ordinal))
            {
                throw new InvalidOperationException($"Backbone {k + 1} read other '{split}' images than backbone 1; the feature caches disagree.");
            }
            features[k] = PromptEmbeddingEvaluator.ReadVectors(result.Data, PreparedSplit.FeaturesColumn).ToArray();
        }
        var targets = cachedTargets ?? Encode(encoder(), prompts!, split, progress, cancellationToken);
        var visual = split == "test" && visualPrompts!.All(v => v.Length > 0)
            ? Encode(encoder(), visualPrompts!, "test (visual prompts)", progress, cancellationToken) : null;
        return new PreparedSplit
        {
            Name = split, Features = features, Prompts = prompts!, VisualPrompts = visualPrompts!, ImagePaths = paths!, Skipped = skipped,
            Targets = targets, VisualTargets = visual,
        };
    }

    /// <summary>Embeds <paramref name="prompts"/>, reporting progress as "embedding prompts: WHAT".</summary>
    internal static float[][] Encode(SentenceEncoder encoder, IReadOnlyList<string> prompts, string what,
        IProgress<ProgressReport>? progress, CancellationToken cancellationToken)
        => encoder.Encode(prompts, ProgressStages.Renamed(progress, "embedding prompts: " + what), cancellationToken);
}

/// <summary>The checks of a data set folder (DIR/SPLIT/metadata.csv) made before any work.</summary>
internal static class DataFolder
{
    public static void Check(string dataDirectory, string split)
    {
        if (string.IsNullOrWhiteSpace(dataDirectory) || !Directory.Exists(dataDirectory))
            throw new ReverseSdInputException($"Data folder '{dataDirectory}' does not exist: make one with 'reversesd data synth --out DIR'.");
        if (!File.Exists(Path.Combine(dataDirectory, split, ImageFolderDataset.MetadataFileName)))
            throw new ReverseSdInputException(
                $"Data folder '{dataDirectory}' has no {split}/{ImageFolderDataset.MetadataFileName}: a data set folder needs train/ and test/ splits.");
    }
}
