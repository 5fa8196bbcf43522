using Microsoft.ML;
using Microsoft.ML.Data;
using ReverseSD.MLNet.Backbones;
using ReverseSD.MLNet.Data;
using ReverseSD.MLNet.Evaluation;
using ReverseSD.MLNet.Text;

namespace ReverseSD.MLNet.Pipeline;

public static partial class ReverseSdModel
{
    /// <summary>Evaluates a loaded model on a split of a data set folder, scoring its images through the whole chain.</summary>
    public static (EvaluationReport Report, CosineMetrics Model, CosineMetrics Baseline, IReadOnlyList<string> Images) Evaluate(
        MLContext mlContext, ITransformer model, string dataDirectory, string split = "test",
        IProgress<ProgressReport>? progress = null, CancellationToken cancellationToken = default) =>
        Evaluate(mlContext, model, dataDirectory, split, cacheDirectory: null, progress, cancellationToken);

    /// <summary>
    /// Evaluates a loaded model on a split of a data set folder. With <paramref name="cacheDirectory"/>, each backbone's
    /// features (and, when <c>featurize --text</c> stored them, the prompts' embeddings) come from that feature cache,
    /// which N <c>featurize --shard K/N</c> processes may have written; missing chunks of a single-process cache are
    /// computed into it, a missing shard of a sharded one is an error naming it. Only the stages after the backbones run.
    /// </summary>
    public static (EvaluationReport Report, CosineMetrics Model, CosineMetrics Baseline, IReadOnlyList<string> Images) Evaluate(
        MLContext mlContext, ITransformer model, string dataDirectory, string split, string? cacheDirectory,
        IProgress<ProgressReport>? progress = null, CancellationToken cancellationToken = default) =>
        Evaluate(mlContext, model, dataDirectory, split, cacheDirectory, null, progress, cancellationToken);

    /// <summary>
    /// As <see cref="Evaluate(MLContext, ITransformer, string, string, string?, IProgress{ProgressReport}?, CancellationToken)"/>; with
    /// <paramref name="prompts"/>, the report also scores answers in words against the true prompt embeddings (report.Prompts):
    /// the nearest bank prompt, the composed prompt and the bank oracle.
    /// </summary>
    public static (EvaluationReport Report, CosineMetrics Model, CosineMetrics Baseline, IReadOnlyList<string> Images) Evaluate(
        MLContext mlContext, ITransformer model, string dataDirectory, string split, string? cacheDirectory, PromptEvaluationOptions? prompts,
        IProgress<ProgressReport>? progress = null, CancellationToken cancellationToken = default)
    {
        DataFolder.Check(dataDirectory, split);
        DataFolder.Check(dataDirectory, "train");
        var pairs = ImageFolderDataset.Load(mlContext, dataDirectory, split);
        var rows = mlContext.Data.CreateEnumerable<ImagePromptRow>(pairs, reuseRowObject: false).ToList();
        // Scored first (fast path when the model allows): unreadable images come out of the same decoding, skipped and counted.
        var predicted = new List<float[]>();
        var words = new List<IReadOnlyList<(string Word, float Probability)>>();
        var unreadable = new HashSet<string>(StringComparer.Ordinal);
        var scorer = ModelImageScorer.For(mlContext, model);
        var paths = rows.Select(r => r.ImagePath).ToList();
        Dictionary<string, float[]>? cachedTargets = null;
        // The embedding and the top words by lift, as predict passes them to the composer.
        Func<IDataView, IReadOnlyList<PromptPrediction>> read = view => ReadPredictions(view, new PromptPredictionOptions().TopWords, WordRanking.Lift);
        var scored = cacheDirectory == null
            ? scorer.Score(paths, DefaultPredictChunkSize, read, cancellationToken)
            : scorer.ScoreFeatures(paths, CachedFeatures(mlContext, scorer, dataDirectory, split, cacheDirectory, paths, out cachedTargets, progress, cancellationToken),
                DefaultPredictChunkSize, read, cancellationToken);
        foreach (var (path, prediction, problem) in scored)
        {
            if (prediction != null)
            {
                predicted.Add(prediction.Embedding);
                words.Add(prediction.TopWords.Select(w => (w.Word, w.Probability)).ToList());
            }
            else unreadable.Add(path);
            if ((predicted.Count + unreadable.Count) % 32 == 0 || predicted.Count + unreadable.Count == rows.Count)
                progress?.Report(new ProgressReport("scoring " + split, predicted.Count + unreadable.Count, rows.Count));
        }
        rows = rows.Where(r => !unreadable.Contains(r.ImagePath)).ToList();
        if (rows.Count == 0) throw new ReverseSdInputException($"The '{split}' split of '{dataDirectory}' has no readable image.");
        var trainPrompts = ImageFolderDataset.Read(dataDirectory, "train").Select(p => p.Prompt).ToList();

        float[][] targets, trainTargets;
        float[][]? visual = null;
        using (var encoder = SentenceEncoder.Load())
        {
            targets = cachedTargets != null
                ? rows.Select(r => cachedTargets[Path.GetFullPath(r.ImagePath)]).ToArray()
                : PreparedSplits.Encode(encoder, rows.Select(r => r.Prompt).ToList(), split, progress, cancellationToken);
            trainTargets = CachedTrainTargets(mlContext, scorer, dataDirectory, cacheDirectory)
                ?? PreparedSplits.Encode(encoder, trainPrompts, "train", progress, cancellationToken);
            if (rows.All(r => r.VisualPrompt.Length > 0))
                visual = PreparedSplits.Encode(encoder, rows.Select(r => r.VisualPrompt).ToList(), split + " (visual prompts)", progress, cancellationToken);
        }
        var options = new Dictionary<string, string>
        {
            ["data"] = Path.GetFullPath(dataDirectory),
            ["split"] = split,
        };
        if (cacheDirectory != null) options["cache_dir"] = Path.GetFullPath(cacheDirectory);
        var (report, metrics, baseline) = ModelReports.Evaluate(split, predicted, targets, PromptEmbeddingEvaluator.MeanEmbedding(trainTargets), visual,
            unreadable.Count, options, null);
        if (prompts != null)
        {
            using var encoder = SentenceEncoder.Load();
            var promptRows = EvaluationPrompts.Evaluate(predicted, words, targets, metrics.SampleCosines, trainPrompts, trainTargets, prompts, encoder,
                progress, cancellationToken);
            report = report.WithPrompts(promptRows);
        }
        return (report, metrics, baseline, rows.Select(r => r.ImagePath).ToList());
    }

    /// <summary>
    /// Each backbone's features of <paramref name="paths"/> (the split's rows) from the feature cache, and the prompts'
    /// embeddings by full image path when the first backbone's cache holds them.
    /// </summary>
    private static List<IReadOnlyList<FeaturizedImage>> CachedFeatures(MLContext mlContext, ModelImageScorer scorer, string dataDirectory, string split,
        string cacheDirectory, IReadOnlyList<string> paths, out Dictionary<string, float[]>? targets,
        IProgress<ProgressReport>? progress, CancellationToken cancellationToken)
    {
        var keys = scorer.CacheKeys ?? throw new ReverseSdInputException(
            "This model's backbones cannot be matched to a feature cache (it was saved before models recorded their backbone's " +
            "fingerprint, or a backbone is not one of ours): evaluate without --cache-dir, or train the model again.");
        targets = null;
        var features = new List<IReadOnlyList<FeaturizedImage>>();
        foreach (var key in keys)
        {
            var cached = FeatureCache.GetOrCompute(mlContext, key, dataDirectory, split, cacheDirectory, new FeatureCacheOptions(), progress, cancellationToken);
            var byPath = new Dictionary<string, FeaturizedImage>(StringComparer.Ordinal);
            foreach (var skipped in cached.Skipped) byPath[Path.GetFullPath(skipped.Path)] = new FeaturizedImage(null, skipped.Reason);
            var imagePaths = cached.Data.GetColumn<string>(ColumnNames.ImagePath).Select(Path.GetFullPath).ToList();
            var vectors = PromptEmbeddingEvaluator.ReadVectors(cached.Data, ColumnNames.ImageFeatures);
            for (int i = 0; i < imagePaths.Count; i++) byPath[imagePaths[i]] = new FeaturizedImage(vectors[i], null);
            if (features.Count == 0 && cached.Data.Schema.GetColumnOrNull(ColumnNames.PromptEmbedding) != null)
            {
                var embeddings = PromptEmbeddingEvaluator.ReadVectors(cached.Data, ColumnNames.PromptEmbedding);
                targets = imagePaths.Select((p, i) => (p, e: embeddings[i])).ToDictionary(x => x.p, x => x.e, StringComparer.Ordinal);
            }
            features.Add(paths.Select(p => byPath.TryGetValue(Path.GetFullPath(p), out var f) ? f
                : throw new InvalidOperationException($"The feature cache has no row for '{p}'.")).ToList());
        }
        return features;
    }

    /// <summary>The training prompts' embeddings from a finished cache of the train split (<c>featurize --text</c>), else null.</summary>
    private static float[][]? CachedTrainTargets(MLContext mlContext, ModelImageScorer scorer, string dataDirectory, string? cacheDirectory)
    {
        if (cacheDirectory == null || scorer.CacheKeys is not { Count: > 0 } keys) return null;
        var cached = FeatureCache.TryRead(mlContext, keys[0], dataDirectory, "train", cacheDirectory, needPromptEmbeddings: true);
        // Skipped training images are left out of the cached rows; the baseline needs every training prompt.
        return cached == null || cached.Skipped.Count > 0 ? null : PromptEmbeddingEvaluator.ReadVectors(cached.Data, ColumnNames.PromptEmbedding);
    }
}
