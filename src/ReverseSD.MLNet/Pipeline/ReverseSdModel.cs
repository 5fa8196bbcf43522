using System.Globalization;
using Microsoft.ML;
using Microsoft.ML.Data;
using ReverseSD.MLNet.Backbones;
using ReverseSD.MLNet.Curriculum;
using ReverseSD.MLNet.Data;
using ReverseSD.MLNet.Evaluation;
using ReverseSD.MLNet.FineTuning;
using ReverseSD.MLNet.Heads;
using ReverseSD.MLNet.Text;

namespace ReverseSD.MLNet.Pipeline;

/// <summary>
/// One image's prediction: its prompt embedding, its vocabulary words (ranked by <see cref="WordRanking"/>) and, with a prompt
/// bank (in the zip or given), the nearest bank prompts and the answer in words (the composed prompt and its cosine to the embedding).
/// </summary>
public sealed record PromptPrediction(string ImagePath, float[] Embedding, IReadOnlyList<PredictedWord> TopWords)
{
    /// <summary>The prompt: composed (or the nearest bank prompt with composition off); null without a prompt bank.</summary>
    public string? Prompt { get; init; }

    /// <summary>Cosine between the MiniLM embedding of <see cref="Prompt"/> and <see cref="Embedding"/>; null without a prompt.</summary>
    public float? PromptScore { get; init; }

    /// <summary>The nearest bank prompts with their cosines to <see cref="Embedding"/>, best first; empty without a bank.</summary>
    public IReadOnlyList<Retrieval.PromptMatch> NearestPrompts { get; init; } = [];
}

/// <summary>
/// A vocabulary word predicted for an image: the head's probability, the word's training frequency (share of training prompts
/// containing it; null for models saved before it was stored) and the lift, probability ÷ training frequency.
/// </summary>
public sealed record PredictedWord(string Word, float Probability, float? TrainingFrequency, float? Lift);

/// <summary>How predicted words are ranked.</summary>
public enum WordRanking
{
    /// <summary>By lift: how many times more likely for this image than in the training prompts (a word in every prompt has lift ≈ 1).</summary>
    Lift = 0,

    /// <summary>By the vocabulary head's raw probability.</summary>
    Probability = 1,
}

/// <summary>One image's outcome in <c>ReverseSdModel.PredictStream</c>: its prediction, or why it was skipped.</summary>
/// <param name="ImagePath">The image's full path.</param>
/// <param name="Prediction">The prediction; null when the image is unreadable.</param>
/// <param name="Problem">Why the image was skipped (missing, not an image, truncated); null when it was scored.</param>
public sealed record ImagePredictionResult(string ImagePath, PromptPrediction? Prediction, string? Problem);

/// <summary>
/// The end-to-end pipeline of the paper (§3) on a data set folder: backbone features (cached), heads training with
/// validation-based epoch selection, test evaluation against the mean-embedding baseline and the visual-only ceiling,
/// and the saved model zip that plain ML.NET loads.
/// </summary>
public static partial class ReverseSdModel
{
    /// <summary>The column the saved model reads: the image file path.</summary>
    public const string ImagePathColumnName = ReverseSdModelFormat.ImagePathColumnName;

    private sealed class ImageInput
    {
        public string ImagePath { get; set; } = "";
    }

    /// <summary>
    /// Trains on DATA/train (validation on DATA/validation when present) and evaluates on DATA/test: the stages of
    /// <see cref="ReverseSdPipeline.Create(MLContext, ReverseSdTrainingOptions, IProgress{ProgressReport}, CancellationToken)"/>,
    /// fitted on the cached backbone features, with the fitted backbone in front and the prompt bank of
    /// <see cref="ReverseSdTrainingOptions.PromptBank"/> behind.
    /// </summary>
    public static ReverseSdTrainedModel Train(MLContext mlContext, string dataDirectory, ReverseSdTrainingOptions options,
        IProgress<ProgressReport>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(mlContext);
        ArgumentNullException.ThrowIfNull(options);
        var pipeline = ReverseSdPipeline.Create(mlContext, options, progress, cancellationToken);
        PreparedFineTuning.Check(options, pipeline.Backbones[0]);
        var data = PreparedSplits.Prepare(mlContext, dataDirectory, [(pipeline.Backbones[0], options.CacheDirectory)], withTest: true, progress, cancellationToken,
            options.CacheChunkSize);
        FineTunedBackbone? tuned = null;
        if (options.FineTuning.Mode != BackboneFineTuning.None)
        {
            // Fine-tune, then train the heads on the fine-tuned features (train and validation as the fine-tuner computed them, the
            // test split through the fine-tuned graph, its own cache entry); TrainOnPrepared saves the prepared (fine-tuned) backbone.
            tuned = PreparedFineTuning.Run(data, options, progress, cancellationToken);
            data = data.WithFineTuned(mlContext, new Dictionary<int, FineTunedBackbone> { [0] = tuned }, [options.CacheDirectory], progress, cancellationToken,
                options.CacheChunkSize);
        }
        var bank = pipeline.BankStage(PreparedBank(pipeline, data));
        var member = TrainOnPrepared(pipeline, data, 0, progress, tuned);
        if (bank == null) return member;
        try
        {
            var bankStage = bank.Fit(new VectorTableDataView((ColumnNames.PredictedEmbedding, data.Train.Targets[0].Length, [])));
            return member.WithModel(pipeline.Assemble([member.Model], null, null, bankStage));
        }
        catch
        {
            member.Dispose();
            throw;
        }
    }

    /// <summary>The distinct training prompts with their prepared embeddings: the "train" bank without embedding the prompts again.</summary>
    internal static IDataView PreparedBank(ReverseSdPipeline pipeline, PreparedSplits data)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var rows = data.Train.Prompts.Select((p, i) => (p, i)).Where(x => x.p.Length > 0 && seen.Add(x.p))
            .Select(x => new ReverseSdPipeline.BankRow { Prompt = x.p, PromptEmbedding = data.Train.Targets[x.i] }).ToList();
        return pipeline.BankView(rows, data.Train.Targets[0].Length);
    }

    /// <summary>
    /// Trains member <paramref name="backbone"/>'s heads of <paramref name="pipeline"/> on its prepared features and evaluates them on
    /// the prepared test split; the model is the fitted backbone followed by the heads.
    /// </summary>
    internal static ReverseSdTrainedModel TrainOnPrepared(ReverseSdPipeline pipeline, PreparedSplits data, int backbone, IProgress<ProgressReport>? progress,
        FineTunedBackbone? tuned = null)
    {
        var options = pipeline.Options.Members[backbone];
        var (train, validation, test) = (data.Train, data.Validation, data.Test!);
        var vocabulary = options.Heads.Configuration == HeadConfiguration.Vanilla ? null : data.Vocabulary(options.VocabularySize);
        var trainer = pipeline.Heads(backbone, prepared: true, vocabulary, progress);
        var heads = trainer.Fit(train.HeadsView(backbone, vocabulary), validation?.HeadsView(backbone, vocabulary));

        // Test evaluation on the cached features (the same numbers the saved chain gives from the images).
        var predicted = PromptEmbeddingEvaluator.ReadVectors(heads.Transform(test.FeaturesView(backbone)), options.Heads.OutputColumnName);
        var (report, model, baseline) = ModelReports.Evaluate("test", predicted, test.Targets, data.MeanTrainTarget, test.VisualTargets, test.Skipped,
            WithFineTuning(WithEpochsRun(ModelReports.TrainingOptions(data.DataDirectory, options, data.Backbones[backbone], train.Count, validation?.Count ?? 0, vocabulary?.Count ?? 0),
                options.Heads, heads, validation?.Count ?? 0), tuned),
            heads.TrainingHistory, heads.BestEpoch);

        // The prepared backbone: the pipeline's, or the one fine-tuned from it (--finetune).
        var backboneModel = pipeline.MLContext.Transforms.ApplyImageBackbone(data.Backbones[backbone])
            .Fit(pipeline.MLContext.Data.LoadFromEnumerable(Array.Empty<ImageInput>()));
        var chain = new TransformerChain<ITransformer>(backboneModel, heads);
        return new ReverseSdTrainedModel(pipeline.MLContext, chain, heads, report, model, baseline, test.ImagePaths)
        {
            Difficulty = heads.Curriculum == null ? null : DifficultyReportOf(data, heads.Curriculum),
        };
    }

    /// <summary>
    /// Runs the curriculum's preliminary phase only (paper §3, §4.6 Fig. 9) on DATA/train's cached features: trains the heads
    /// of <paramref name="options"/> for the preliminary epochs and scores every training pair's difficulty. The chunks
    /// follow <c>options.Heads.Curriculum</c> (equal thirds when it is None).
    /// </summary>
    public static DifficultyReport AnalyzeDifficulty(MLContext mlContext, string dataDirectory, ReverseSdTrainingOptions options,
        IProgress<ProgressReport>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(mlContext);
        ArgumentNullException.ThrowIfNull(options);
        var backbone = Check(options);
        var data = PreparedSplits.Prepare(mlContext, dataDirectory, [(backbone, options.CacheDirectory)], withTest: false, progress, cancellationToken,
            options.CacheChunkSize);
        var vocabulary = options.Heads.Configuration == HeadConfiguration.Vanilla ? null : data.Vocabulary(options.VocabularySize);
        var trainer = ReverseSdPipeline.Create(mlContext, options, progress, cancellationToken).Heads(0, prepared: true, vocabulary);
        var scored = trainer.ScoreDifficulty(data.Train.HeadsView(0, vocabulary), data.Validation?.HeadsView(0, vocabulary));
        return DifficultyReportOf(data, scored);
    }

    /// <summary>
    /// Loads a model zip written by <see cref="ReverseSdTrainedModel.Save"/>; throws <see cref="ReverseSdInputException"/>
    /// when the file is missing, is not a model zip, or has another format version (both versions named).
    /// </summary>
    public static ITransformer Load(MLContext mlContext, string path) => Load(mlContext, path, forScoringOnly: false);

    /// <summary>
    /// As <see cref="Load(MLContext, string)"/> with <paramref name="forScoringOnly"/> false. With it true, for
    /// <see cref="PredictStream(MLContext, ITransformer, IReadOnlyList{string}, PromptPredictionOptions, int, IProgress{ProgressReport}?, CancellationToken)"/>
    /// and the other methods that score image files through the fast path only (predict): each backbone graph is read
    /// once, into the fast path, and the chain holds a placeholder for it, so the model must never be applied to image
    /// paths with Transform (see <see cref="ModelImageScorer.LoadForScoring"/>).
    /// </summary>
    internal static ITransformer Load(MLContext mlContext, string path, bool forScoringOnly)
    {
        ArgumentNullException.ThrowIfNull(mlContext);
        if (!File.Exists(path))
            throw new ReverseSdInputException($"Model '{path}' does not exist: train one with 'reversesd train --data DIR --out model.zip'.");
        ITransformer? model = forScoringOnly ? ModelImageScorer.LoadForScoring(mlContext, path) : null;
        try
        {
            model ??= mlContext.Model.Load(path, out _);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            throw new ReverseSdInputException($"Model '{path}' is not a readable ML.NET model zip ({ex.GetType().Name}: {ex.Message.Split('\n')[0].Trim()}).", ex);
        }
        ModelImageScorer.RememberSource(model, path);
        string version;
        using (PhaseTimes.Measure("check the model's format version"))
            version = ReverseSdModelFormat.ReadVersion(mlContext, model);
        if (version != ReverseSdModelFormat.Version)
        {
            (model as IDisposable)?.Dispose();
            throw new ReverseSdInputException(
                $"Model '{path}' has format '{version}' but this version of reversesd reads '{ReverseSdModelFormat.Version}': retrain it with this version.");
        }
        return model;
    }

    /// <summary>
    /// Scores image files; <paramref name="topWords"/> most probable vocabulary words per image. Images that do not decode
    /// are left out (ML.NET's image loader would throw) and listed in <paramref name="skipped"/>.
    /// </summary>
    public static IReadOnlyList<PromptPrediction> Predict(MLContext mlContext, ITransformer model, IReadOnlyList<string> imagePaths,
        int topWords, out IReadOnlyList<UnreadableImage> skipped, WordRanking ranking = WordRanking.Lift)
    {
        ArgumentNullException.ThrowIfNull(imagePaths);
        var bad = new List<UnreadableImage>();
        var good = new List<PromptPrediction>();
        foreach (var result in PredictStream(mlContext, model, imagePaths, topWords, ranking: ranking))
        {
            if (result.Prediction != null) good.Add(result.Prediction);
            else bad.Add(new UnreadableImage(result.ImagePath, result.Problem!));
        }
        skipped = bad;
        return good;
    }

    /// <summary>
    /// Scores image files chunk by chunk and yields each image's result in input order as its chunk finishes (memory stays
    /// flat for any number of images): its prediction, or why it was skipped (an unreadable image is never fatal). The
    /// backbone runs on the fast path (parallel decoding, batched ONNX Runtime) when the model's backbone can be read
    /// back, else through the model's ML.NET chain; both give the same numbers.
    /// </summary>
    public static IEnumerable<ImagePredictionResult> PredictStream(MLContext mlContext, ITransformer model, IReadOnlyList<string> imagePaths,
        int topWords, int chunkSize = DefaultPredictChunkSize, IProgress<ProgressReport>? progress = null, CancellationToken cancellationToken = default,
        WordRanking ranking = WordRanking.Lift)
    {
        ArgumentNullException.ThrowIfNull(mlContext);
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(imagePaths);
        ArgumentOutOfRangeException.ThrowIfNegative(topWords);
        ArgumentOutOfRangeException.ThrowIfLessThan(chunkSize, 1);
        return Stream();

        IEnumerable<ImagePredictionResult> Stream()
        {
            var paths = imagePaths.Select(Path.GetFullPath).ToList();
            var scorer = ModelImageScorer.For(mlContext, model);
            var clock = System.Diagnostics.Stopwatch.StartNew();
            int done = 0, skippedCount = 0;
            foreach (var (path, prediction, problem) in scorer.Score(paths, chunkSize, view => ReadPredictions(view, topWords, ranking), cancellationToken))
            {
                done++;
                if (problem != null) skippedCount++;
                yield return new ImagePredictionResult(path, prediction == null ? null : prediction with { ImagePath = path }, problem);
                if (progress != null && (done % chunkSize == 0 || done == paths.Count))
                {
                    double rate = done / Math.Max(clock.Elapsed.TotalSeconds, 1e-9);
                    var eta = TimeSpan.FromSeconds((paths.Count - done) / Math.Max(rate, 1e-9));
                    progress.Report(new ProgressReport("Predicting", done, paths.Count, string.Create(CultureInfo.InvariantCulture,
                        $"{rate:F1} images/s, ETA {eta:hh\\:mm\\:ss}{(skippedCount > 0 ? $", {skippedCount} unreadable" : "")}")));
                }
            }
        }
    }

    /// <summary>Images per chunk of <c>PredictStream</c>: results are produced (and can be written) one chunk at a time.</summary>
    public const int DefaultPredictChunkSize = 64;

    /// <summary>
    /// The predictions of a scored view, in row order (image paths are filled in by the caller), read in one pass: every
    /// cursor over the view runs the stages after the backbone again, so one cursor reads all the columns. The vocabulary
    /// words and frequencies, the same in every row, are read from the first.
    /// </summary>
    private static IReadOnlyList<PromptPrediction> ReadPredictions(IDataView scored, int topWords, WordRanking ranking)
    {
        var schema = scored.Schema;
        var embeddingColumn = schema.GetColumnOrNull(ColumnNames.PredictedEmbedding)
            ?? throw new ArgumentOutOfRangeException(nameof(scored), $"The data has no column '{ColumnNames.PredictedEmbedding}'.");
        var probabilitiesColumn = schema.GetColumnOrNull(ColumnNames.VocabularyProbabilities);
        var wordsColumn = probabilitiesColumn == null ? null : schema.GetColumnOrNull(ReverseSdModelFormat.VocabularyWordsColumnName);
        var frequenciesColumn = wordsColumn == null ? null : schema.GetColumnOrNull(ReverseSdModelFormat.VocabularyFrequenciesColumnName);
        var nearestColumn = schema.GetColumnOrNull(ColumnNames.NearestPrompts);
        var nearestScoresColumn = nearestColumn == null ? null : schema.GetColumnOrNull(ColumnNames.NearestPromptScores);
        if (nearestScoresColumn == null) nearestColumn = null;   // both or neither: present when the zip holds a prompt bank
        var active = new[] { embeddingColumn, probabilitiesColumn, wordsColumn, frequenciesColumn, nearestColumn, nearestScoresColumn }
            .OfType<DataViewSchema.Column>().ToList();

        using var cursor = scored.GetRowCursor(active);
        var embeddingGetter = cursor.GetGetter<VBuffer<float>>(embeddingColumn);
        var probabilitiesGetter = probabilitiesColumn is { } p ? cursor.GetGetter<VBuffer<float>>(p) : null;
        var wordsGetter = wordsColumn is { } w ? cursor.GetGetter<VBuffer<ReadOnlyMemory<char>>>(w) : null;
        var frequenciesGetter = frequenciesColumn is { } f ? cursor.GetGetter<VBuffer<float>>(f) : null;
        var nearestGetter = nearestColumn is { } n ? cursor.GetGetter<VBuffer<ReadOnlyMemory<char>>>(n) : null;
        var nearestScoresGetter = nearestScoresColumn is { } ns ? cursor.GetGetter<VBuffer<float>>(ns) : null;
        VBuffer<float> floats = default;
        VBuffer<ReadOnlyMemory<char>> texts = default;
        string[]? words = null;
        float[]? frequencies = null;
        var result = new List<PromptPrediction>();
        while (cursor.MoveNext())
        {
            embeddingGetter(ref floats);
            var embedding = floats.DenseValues().ToArray();
            IReadOnlyList<PredictedWord> topWordsOfRow = [];
            if (probabilitiesGetter != null)
            {
                if (words == null)
                {
                    if (wordsGetter != null)
                    {
                        wordsGetter(ref texts);
                        words = texts.DenseValues().Select(v => v.ToString()).ToArray();
                    }
                    else words = [];
                    if (frequenciesGetter != null)
                    {
                        frequenciesGetter(ref floats);
                        frequencies = floats.DenseValues().ToArray();
                    }
                }
                probabilitiesGetter(ref floats);
                topWordsOfRow = RankWords(words, floats.DenseValues().ToArray(), frequencies, topWords, ranking);
            }
            IReadOnlyList<Retrieval.PromptMatch> nearest = [];
            if (nearestGetter != null)
            {
                nearestGetter(ref texts);
                nearestScoresGetter!(ref floats);
                var prompts = texts.DenseValues().Select(v => v.ToString()).ToArray();
                var scores = floats.DenseValues().ToArray();
                nearest = prompts.Select((prompt, j) => new Retrieval.PromptMatch(-1, prompt, scores[j])).ToList();
            }
            result.Add(new PromptPrediction("", embedding, topWordsOfRow)
            {
                NearestPrompts = nearest,
                Prompt = nearest.FirstOrDefault()?.Prompt,
                PromptScore = nearest.FirstOrDefault()?.Score,
            });
        }
        return result;
    }

    /// <summary>
    /// The <paramref name="count"/> best words by <paramref name="ranking"/>. Lift = probability ÷ training frequency, the
    /// frequency floored at 1/1000 so a word seen once in a tiny training set cannot dominate; ties go to the higher probability.
    /// Without frequencies (older models) the ranking is by probability.
    /// </summary>
    internal static List<PredictedWord> RankWords(string[] words, float[] probabilities, float[]? frequencies, int count, WordRanking ranking)
    {
        const float FrequencyFloor = 1e-3f;
        bool hasFrequencies = frequencies != null && frequencies.Length == words.Length;
        var all = Enumerable.Range(0, Math.Min(words.Length, probabilities.Length)).Select(j => new PredictedWord(words[j], probabilities[j],
            hasFrequencies ? frequencies![j] : null,
            hasFrequencies ? probabilities[j] / Math.Max(frequencies![j], FrequencyFloor) : null));
        var ranked = ranking == WordRanking.Lift && hasFrequencies
            ? all.OrderByDescending(w => w.Lift!.Value).ThenByDescending(w => w.Probability)
            : all.OrderByDescending(w => w.Probability);
        return ranked.ThenBy(w => w.Word, StringComparer.Ordinal).Take(count).ToList();
    }

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

    /// <summary>Writes report.json and the per-sample cosines CSV beside it (REPORT-samples.csv); returns the CSV path.</summary>
    public static string WriteReport(EvaluationReport report, string reportPath, IReadOnlyList<string> images, CosineMetrics model, CosineMetrics baseline)
        => ModelReports.Write(report, reportPath, images, model, baseline);

    /// <summary>Checks the options a data-folder training needs and resolves the backbone.</summary>
    internal static ImageBackbone Check(ReverseSdTrainingOptions options)
    {
        if (options.VocabularySize < 1) throw new ReverseSdInputException($"The vocabulary size must be at least 1; got {options.VocabularySize}.");
        return ImageBackbone.Resolve(options.Backbone, options.Preprocessing);
    }

    /// <summary>The difficulty report of the training split: file names relative to DATA/train, prompts and the benchmark's is_noisy flags.</summary>
    private static DifficultyReport DifficultyReportOf(PreparedSplits data, CurriculumResult curriculum)
    {
        string trainFolder = Path.GetFullPath(Path.Combine(data.DataDirectory, "train"));
        var noisy = ImageFolderDataset.Read(data.DataDirectory, "train")
            .ToDictionary(p => Path.GetFullPath(Path.Combine(trainFolder, p.FileName)), p => p.IsNoisy, StringComparer.Ordinal);
        var pairs = data.Train.ImagePaths.Select((path, i) => new ScoredPair(
            Path.GetRelativePath(trainFolder, path), data.Train.Prompts[i], curriculum.Difficulty[i],
            noisy.TryGetValue(Path.GetFullPath(path), out bool isNoisy) && isNoisy)).ToList();
        return new DifficultyReport { Pairs = pairs, Chunks = curriculum.Chunks };
    }
}
