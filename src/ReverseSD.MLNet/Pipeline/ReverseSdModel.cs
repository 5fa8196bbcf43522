using System.Globalization;
using Microsoft.ML;
using Microsoft.ML.Data;
using ReverseSD.MLNet.Backbones;
using ReverseSD.MLNet.Data;
using ReverseSD.MLNet.Evaluation;
using ReverseSD.MLNet.Heads;
using ReverseSD.MLNet.Text;

namespace ReverseSD.MLNet.Pipeline;

/// <summary>Options of <see cref="ReverseSdModel.Train"/>: backbone, heads and the feature cache.</summary>
public sealed class ReverseSdTrainingOptions
{
    /// <summary>"resnet18", "resnet18-SIZE", or the path of an ONNX image encoder (then <see cref="Preprocessing"/> is needed).</summary>
    public string Backbone { get; set; } = "resnet18";

    /// <summary>Preprocessing spec of an ONNX backbone (compact string or JSON file).</summary>
    public string? Preprocessing { get; set; }

    /// <summary>The heads trainer's options (configuration, λ, epochs, learning rate, batch size, seed, hidden layers, device).</summary>
    public PromptEmbeddingHeadsTrainer.Options Heads { get; set; } = new();

    /// <summary>Vocabulary size m (paper: 1000).</summary>
    public int VocabularySize { get; set; } = 1000;

    /// <summary>Folder of the backbone feature cache; default DATA/.cache.</summary>
    public string? CacheDirectory { get; set; }
}

/// <summary>A trained model: the fitted chain image path → backbone → heads, and its evaluation on the test split.</summary>
public sealed class ReverseSdTrainedModel : IDisposable
{
    private readonly MLContext _mlContext;

    internal ReverseSdTrainedModel(MLContext mlContext, ITransformer model, PromptEmbeddingHeadsTransformer heads, EvaluationReport report,
        CosineMetrics test, CosineMetrics baseline, IReadOnlyList<string> testImages)
    {
        _mlContext = mlContext;
        Model = model;
        Heads = heads;
        Report = report;
        Test = test;
        Baseline = baseline;
        TestImages = testImages;
    }

    /// <summary>The whole fitted chain: "ImagePath" → "PredictedEmbedding", "VocabularyProbabilities", "VocabularyWords", "ModelInfo".</summary>
    public ITransformer Model { get; }

    /// <summary>The fitted heads (training history, vocabulary).</summary>
    public PromptEmbeddingHeadsTransformer Heads { get; }

    /// <summary>Test-split evaluation and the options used.</summary>
    public EvaluationReport Report { get; }

    /// <summary>Per-sample test cosines of the model.</summary>
    public CosineMetrics Test { get; }

    /// <summary>Per-sample test cosines of the mean-embedding baseline.</summary>
    public CosineMetrics Baseline { get; }

    /// <summary>The test images, in the order of <see cref="Test"/>.</summary>
    public IReadOnlyList<string> TestImages { get; }

    /// <summary>The curriculum's difficulty of every training pair (paper §3), or null when trained without a curriculum.</summary>
    public Curriculum.DifficultyReport? Difficulty { get; internal init; }

    /// <summary>Saves the whole chain into one zip with <c>mlContext.Model.Save</c>, atomically.</summary>
    public void Save(string path) => AtomicFile.Write(path, stream => _mlContext.Model.Save(Model, ReverseSdModel.ImageInputSchema(_mlContext), stream));

    /// <summary>Disposes the native sessions.</summary>
    public void Dispose()
    {
        (Model as IDisposable)?.Dispose();
        Heads.Dispose();
    }
}

/// <summary>One image's prediction: its prompt embedding and the most probable vocabulary words.</summary>
public sealed record PromptPrediction(string ImagePath, float[] Embedding, IReadOnlyList<(string Word, float Probability)> TopWords);

/// <summary>One image's outcome in <see cref="ReverseSdModel.PredictStream"/>: its prediction, or why it was skipped.</summary>
/// <param name="ImagePath">The image's full path.</param>
/// <param name="Prediction">The prediction; null when the image is unreadable.</param>
/// <param name="Problem">Why the image was skipped (missing, not an image, truncated); null when it was scored.</param>
public sealed record ImagePredictionResult(string ImagePath, PromptPrediction? Prediction, string? Problem);

/// <summary>
/// The end-to-end pipeline of the paper (§3): backbone features (cached), sentence-embedding targets, vocabulary labels,
/// heads training with validation-based epoch selection, test evaluation against the mean-embedding baseline and the
/// visual-only ceiling, and the saved model zip that plain ML.NET loads.
/// </summary>
public static partial class ReverseSdModel
{
    /// <summary>The column the saved model reads: the image file path.</summary>
    public const string ImagePathColumnName = ColumnNames.ImagePath;

    private sealed class ImageInput
    {
        public string ImagePath { get; set; } = "";
    }

    /// <summary>Trains on DATA/train (validation on DATA/validation when present) and evaluates on DATA/test.</summary>
    public static ReverseSdTrainedModel Train(MLContext mlContext, string dataDirectory, ReverseSdTrainingOptions options,
        IProgress<ProgressReport>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(mlContext);
        ArgumentNullException.ThrowIfNull(options);
        var data = Prepare(mlContext, dataDirectory, options, withTest: true, progress, cancellationToken);
        var (train, validation, test) = (data.Train, data.Validation, data.Test!);
        bool vanilla = options.Heads.Configuration == HeadConfiguration.Vanilla;
        IReadOnlyList<string> words = vanilla ? [] : data.Words;
        if (vanilla)
            foreach (var split in new[] { train, validation, test })
                if (split != null) split.Labels = null;
        var headsOptions = HeadsOptionsFor(options.Heads, data, progress, cancellationToken);
        headsOptions.VocabularyWords = vanilla ? null : words;
        var backbone = ImageBackbone.Resolve(options.Backbone, options.Preprocessing);

        var trainer = mlContext.Regression.Trainers.PromptEmbeddingHeads(headsOptions);
        var heads = trainer.Fit(HeadsData(mlContext, train, words.Count), validation == null ? null : HeadsData(mlContext, validation, words.Count));

        // Test evaluation on the cached features (the same numbers the saved chain gives from the images).
        var predicted = PromptEmbeddingEvaluator.ReadVectors(heads.Transform(HeadsData(mlContext, test, words.Count)), headsOptions.OutputColumnName);
        var meanEmbedding = PromptEmbeddingEvaluator.MeanEmbedding(train.Targets!);
        var (report, model, baseline) = Report("test", predicted, test.Targets!, meanEmbedding, test.VisualTargets, test.Skipped,
            TrainingOptions(dataDirectory, options, backbone, train, validation, words.Count), heads.TrainingHistory, heads.BestEpoch);

        var backboneModel = mlContext.Transforms.ApplyImageBackbone(backbone).Fit(mlContext.Data.LoadFromEnumerable(Array.Empty<ImageInput>()));
        var chain = new TransformerChain<ITransformer>(backboneModel, heads);
        return new ReverseSdTrainedModel(mlContext, chain, heads, report, model, baseline, test.ImagePaths)
        {
            Difficulty = heads.Curriculum == null ? null : DifficultyReportOf(dataDirectory, train.ImagePaths, train.Prompts, heads.Curriculum),
        };
    }

    /// <summary>
    /// Loads a model zip written by <see cref="ReverseSdTrainedModel.Save"/>; throws <see cref="ReverseSdInputException"/>
    /// when the file is missing, is not a model zip, or has another format version (both versions named).
    /// </summary>
    public static ITransformer Load(MLContext mlContext, string path)
    {
        ArgumentNullException.ThrowIfNull(mlContext);
        if (!File.Exists(path))
            throw new ReverseSdInputException($"Model '{path}' does not exist: train one with 'reversesd train --data DIR --out model.zip'.");
        ITransformer model;
        try
        {
            model = mlContext.Model.Load(path, out _);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            throw new ReverseSdInputException($"Model '{path}' is not a readable ML.NET model zip ({ex.GetType().Name}: {FirstLine(ex.Message)}).", ex);
        }
        ModelImageScorer.RememberSource(model, path);
        string version = FormatVersion(mlContext, model);
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
        int topWords, out IReadOnlyList<UnreadableImage> skipped)
    {
        ArgumentNullException.ThrowIfNull(imagePaths);
        var bad = new List<UnreadableImage>();
        var good = new List<PromptPrediction>();
        foreach (var result in PredictStream(mlContext, model, imagePaths, topWords))
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
        int topWords, int chunkSize = DefaultPredictChunkSize, IProgress<ProgressReport>? progress = null, CancellationToken cancellationToken = default)
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
            foreach (var (path, prediction, problem) in scorer.Score(paths, chunkSize, view => ReadPredictions(view, topWords), cancellationToken))
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

    /// <summary>Images per chunk of <see cref="PredictStream"/>: results are produced (and can be written) one chunk at a time.</summary>
    public const int DefaultPredictChunkSize = 64;

    /// <summary>The predictions of a scored view, in row order (image paths are filled in by the caller).</summary>
    private static IReadOnlyList<PromptPrediction> ReadPredictions(IDataView scored, int topWords)
    {
        var embeddings = PromptEmbeddingEvaluator.ReadVectors(scored, ColumnNames.PredictedEmbedding);
        bool hasWords = scored.Schema.GetColumnOrNull(ColumnNames.VocabularyProbabilities) != null;
        var probabilities = hasWords ? PromptEmbeddingEvaluator.ReadVectors(scored, ColumnNames.VocabularyProbabilities) : null;
        var words = hasWords ? Strings(scored, ReverseSdModelFormat.VocabularyWordsColumnName).FirstOrDefault() ?? [] : [];
        return embeddings.Select((e, i) => new PromptPrediction("", e,
            probabilities == null ? [] : Enumerable.Range(0, words.Length).OrderByDescending(j => probabilities[i][j]).Take(topWords)
                .Select(j => (words[j], probabilities[i][j])).ToList())).ToList();
    }

    /// <summary>Evaluates a loaded model on a split of a data set folder, scoring its images through the whole chain.</summary>
    public static (EvaluationReport Report, CosineMetrics Model, CosineMetrics Baseline, IReadOnlyList<string> Images) Evaluate(
        MLContext mlContext, ITransformer model, string dataDirectory, string split = "test",
        IProgress<ProgressReport>? progress = null, CancellationToken cancellationToken = default)
    {
        CheckDataDirectory(dataDirectory, split);
        CheckDataDirectory(dataDirectory, "train");
        var pairs = ImageFolderDataset.Load(mlContext, dataDirectory, split);
        var rows = mlContext.Data.CreateEnumerable<ImagePromptRow>(pairs, reuseRowObject: false).ToList();
        // Scored first (fast path when the model allows): unreadable images come out of the same decoding, skipped and counted.
        var predicted = new List<float[]>();
        var unreadable = new HashSet<string>(StringComparer.Ordinal);
        {
            var scorer = ModelImageScorer.For(mlContext, model);
            foreach (var (path, embedding, problem) in scorer.Score(rows.Select(r => r.ImagePath).ToList(), DefaultPredictChunkSize,
                view => PromptEmbeddingEvaluator.ReadVectors(view, ColumnNames.PredictedEmbedding), cancellationToken))
            {
                if (embedding != null) predicted.Add(embedding);
                else unreadable.Add(path);
                if ((predicted.Count + unreadable.Count) % 32 == 0 || predicted.Count + unreadable.Count == rows.Count)
                    progress?.Report(new ProgressReport("scoring " + split, predicted.Count + unreadable.Count, rows.Count));
            }
        }
        rows = rows.Where(r => !unreadable.Contains(r.ImagePath)).ToList();
        if (rows.Count == 0) throw new ReverseSdInputException($"The '{split}' split of '{dataDirectory}' has no readable image.");
        var trainPrompts = ImageFolderDataset.Read(dataDirectory, "train").Select(p => p.Prompt).ToList();

        float[][] targets, trainTargets;
        float[][]? visual = null;
        using (var encoder = SentenceEncoder.Load())
        {
            targets = Encode(encoder, rows.Select(r => r.Prompt).ToList(), split, progress, cancellationToken);
            trainTargets = Encode(encoder, trainPrompts, "train", progress, cancellationToken);
            if (rows.All(r => r.VisualPrompt.Length > 0))
                visual = Encode(encoder, rows.Select(r => r.VisualPrompt).ToList(), split + " (visual prompts)", progress, cancellationToken);
        }
        var options = new Dictionary<string, string>
        {
            ["data"] = Path.GetFullPath(dataDirectory),
            ["split"] = split,
        };
        var (report, metrics, baseline) = Report(split, predicted, targets, PromptEmbeddingEvaluator.MeanEmbedding(trainTargets), visual,
            unreadable.Count, options, null);
        return (report, metrics, baseline, rows.Select(r => r.ImagePath).ToList());
    }

    /// <summary>Writes report.json and the per-sample cosines CSV beside it (REPORT-samples.csv); returns the CSV path.</summary>
    public static string WriteReport(EvaluationReport report, string reportPath, IReadOnlyList<string> images, CosineMetrics model, CosineMetrics baseline)
    {
        string csv = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(reportPath))!, Path.GetFileNameWithoutExtension(reportPath) + "-samples.csv");
        PromptEmbeddingEvaluator.WriteSampleCosines(csv, images, model, baseline);
        var withCsv = new EvaluationReport
        {
            ModelFormat = report.ModelFormat, Split = report.Split, NTest = report.NTest, SkippedImages = report.SkippedImages,
            TestMeanCosine = report.TestMeanCosine, TestStandardError = report.TestStandardError,
            BaselineMeanCosine = report.BaselineMeanCosine, BaselineStandardError = report.BaselineStandardError,
            CeilingMeanCosine = report.CeilingMeanCosine, ModelVsBaseline = report.ModelVsBaseline, PerSampleCsv = Path.GetFileName(csv),
            Options = report.Options, TrainingHistory = report.TrainingHistory, BestEpoch = report.BestEpoch,
        };
        withCsv.Save(reportPath);
        return csv;
    }

    internal static DataViewSchema ImageInputSchema(MLContext mlContext) =>
        mlContext.Data.LoadFromEnumerable(Array.Empty<ImageInput>()).Schema;

    private static (EvaluationReport, CosineMetrics, CosineMetrics) Report(string split, IReadOnlyList<float[]> predicted, float[][] targets,
        float[] meanEmbedding, float[][]? visualTargets, int skipped, IReadOnlyDictionary<string, string> options,
        IReadOnlyList<HeadsEpochSummary>? history, int? bestEpoch = null)
    {
        var model = PromptEmbeddingEvaluator.Evaluate(predicted, targets);
        var baseline = PromptEmbeddingEvaluator.EvaluateConstant(meanEmbedding, targets);
        double? ceiling = visualTargets == null ? null : PromptEmbeddingEvaluator.VisualCeiling(targets, visualTargets).MeanCosine;
        var report = new EvaluationReport
        {
            Split = split,
            NTest = model.Count,
            SkippedImages = skipped,
            TestMeanCosine = model.MeanCosine,
            TestStandardError = model.StandardError,
            BaselineMeanCosine = baseline.MeanCosine,
            BaselineStandardError = baseline.StandardError,
            CeilingMeanCosine = ceiling,
            ModelVsBaseline = model.Count > 1 ? PairedTTest.Run(model.SampleCosines, baseline.SampleCosines) : null,
            Options = options,
            TrainingHistory = history,
            BestEpoch = bestEpoch,
        };
        return (report, model, baseline);
    }

    internal sealed class SplitData
    {
        public required string Name { get; init; }
        public required float[][] Features { get; init; }
        public required List<string> Prompts { get; init; }
        public required List<string> VisualPrompts { get; init; }
        public required List<string> ImagePaths { get; init; }
        public int Skipped { get; init; }
        public float[][]? Targets { get; set; }
        public float[][]? VisualTargets { get; set; }
        public float[][]? Labels { get; set; }
    }

    private static SplitData Featurise(MLContext ml, ImageBackbone backbone, string dataDirectory, string split, string cache,
        IProgress<ProgressReport>? progress, CancellationToken cancellationToken)
    {
        var result = FeatureCache.GetOrCompute(ml, backbone, dataDirectory, split, cache, progress, cancellationToken);
        if (result.Rows == 0) throw new ReverseSdInputException($"The '{split}' split of '{dataDirectory}' has no readable image.");
        return new SplitData
        {
            Name = split,
            Features = PromptEmbeddingEvaluator.ReadVectors(result.Data, ColumnNames.ImageFeatures),
            Prompts = result.Data.GetColumn<string>(ColumnNames.Prompt).ToList(),
            VisualPrompts = result.Data.GetColumn<string>("VisualPrompt").ToList(),
            ImagePaths = result.Data.GetColumn<string>(ColumnNames.ImagePath).ToList(),
            Skipped = result.Skipped.Count,
        };
    }

    private static float[][] Encode(SentenceEncoder encoder, IReadOnlyList<string> prompts, string what,
        IProgress<ProgressReport>? progress, CancellationToken cancellationToken)
    {
        var stage = progress == null ? null : new Progress(r => progress.Report(r with { Stage = "embedding prompts: " + what }));
        return encoder.Encode(prompts, stage, cancellationToken);
    }

    private sealed class Progress(Action<ProgressReport> report) : IProgress<ProgressReport>
    {
        public void Report(ProgressReport value) => report(value);
    }

    /// <summary>Label l_j = 1 when vocabulary word j occurs in the (lower-cased, tokenised) prompt (paper Eq. 2).</summary>
    private static float[] MultiHot(Vocabulary vocabulary, string prompt)
    {
        var labels = new float[vocabulary.Count];
        foreach (string word in Vocabulary.Tokenize(prompt))
        {
            int j = vocabulary.IndexOf(word);
            if (j >= 0) labels[j] = 1;
        }
        return labels;
    }

    private static IDataView HeadsData(MLContext ml, SplitData split, int vocabularySize)
    {
        int n = split.Features.Length;
        var rows = Enumerable.Range(0, n).Select(i => new HeadsRow
        {
            ImageFeatures = split.Features[i],
            PromptEmbedding = split.Targets![i],
            VocabularyLabels = split.Labels?[i] ?? [0f],
        });
        var definition = SchemaDefinition.Create(typeof(HeadsRow));
        definition[nameof(HeadsRow.ImageFeatures)].ColumnType = new VectorDataViewType(NumberDataViewType.Single, split.Features[0].Length);
        definition[nameof(HeadsRow.PromptEmbedding)].ColumnType = new VectorDataViewType(NumberDataViewType.Single, SentenceEncoder.Dimension);
        definition[nameof(HeadsRow.VocabularyLabels)].ColumnType = new VectorDataViewType(NumberDataViewType.Single, Math.Max(1, vocabularySize));
        return ml.Data.LoadFromEnumerable(rows, definition);
    }

    private sealed class HeadsRow
    {
        public float[] ImageFeatures { get; set; } = [];
        public float[] PromptEmbedding { get; set; } = [];
        public float[] VocabularyLabels { get; set; } = [];
    }

    private static Dictionary<string, string> TrainingOptions(string data, ReverseSdTrainingOptions o, ImageBackbone backbone,
        SplitData train, SplitData? validation, int vocabularySize)
    {
        var h = o.Heads;
        string F(double v) => v.ToString("R", CultureInfo.InvariantCulture);
        return new Dictionary<string, string>
        {
            ["data"] = Path.GetFullPath(data),
            ["backbone"] = backbone.ToString(),
            ["head"] = h.Configuration.ToString(),
            ["lambda"] = F(h.VocabularyWeight),
            ["vocabulary_size"] = vocabularySize.ToString(CultureInfo.InvariantCulture),
            ["epochs"] = h.NumberOfEpochs.ToString(CultureInfo.InvariantCulture),
            ["learning_rate"] = F(h.LearningRate),
            ["batch_size"] = h.BatchSize.ToString(CultureInfo.InvariantCulture),
            ["optimizer"] = h.Optimizer.ToString(),
            ["weight_decay"] = F(h.WeightDecay),
            ["hidden"] = string.Join(",", h.HiddenLayerSizes),
            ["huber_weight"] = F(h.HuberWeight),
            ["seed"] = h.Seed.ToString(CultureInfo.InvariantCulture),
            ["n_train"] = train.Features.Length.ToString(CultureInfo.InvariantCulture),
            ["n_validation"] = (validation?.Features.Length ?? 0).ToString(CultureInfo.InvariantCulture),
            ["curriculum"] = CurriculumDescription(h),
        };
    }

    private static string FormatVersion(MLContext ml, ITransformer model)
    {
        // The heads graph is the chain's last stage (in an ensemble model, the first member's heads sit before the ensemble
        // stages): run the last stage that reads the backbone's "ImageFeatures" on one all-zero row to read its constant ModelInfo.
        var stages = model is TransformerChain<ITransformer> chain ? chain.ToList() : [model];
        if (stages.Count == 0) return "(empty model)";
        string? lastStageProblem = null;
        for (int i = stages.Count - 1; i >= 0; i--)
        {
            string? version = FormatVersionOfStage(ml, stages, i, out string? problem);
            if (version != null) return version;
            lastStageProblem ??= problem;
        }
        return lastStageProblem!;
    }

    private static string? FormatVersionOfStage(MLContext ml, List<ITransformer> stages, int index, out string? problem)
    {
        problem = null;
        var stage = stages[index];
        var prefix = new TransformerChain<ITransformer>(stages.Take(index).ToArray());
        DataViewSchema features;
        try
        {
            features = prefix.GetOutputSchema(ImageInputSchema(ml));
        }
        catch (Exception ex) when (ex is ArgumentOutOfRangeException or InvalidOperationException)
        {
            problem = "(not a ReverseSD model: it does not read an 'ImagePath' column)";
            return null;
        }
        var column = features.GetColumnOrNull(ColumnNames.ImageFeatures);
        if (column is not { Type: VectorDataViewType { Size: > 0 } vector })
        {
            problem = "(not a ReverseSD model: no 'ImageFeatures' stage)";
            return null;
        }
        var definition = SchemaDefinition.Create(typeof(FeatureRow));
        definition[nameof(FeatureRow.ImageFeatures)].ColumnType = new VectorDataViewType(NumberDataViewType.Single, vector.Size);
        var dummy = ml.Data.LoadFromEnumerable([new FeatureRow { ImageFeatures = new float[vector.Size] }], definition);
        IDataView scored;
        try
        {
            scored = stage.Transform(dummy);
            if (scored.Schema.GetColumnOrNull(ReverseSdModelFormat.InfoColumnName) == null)
            {
                problem = "(unversioned: no 'ModelInfo' output)";
                return null;
            }
            return Strings(scored, ReverseSdModelFormat.InfoColumnName).FirstOrDefault()?.FirstOrDefault() ?? "(empty ModelInfo)";
        }
        catch (Exception ex) when (ex is ArgumentOutOfRangeException or InvalidOperationException or ArgumentException or ReverseSdInputException)
        {
            problem = "(not a ReverseSD model: its last stage does not read 'ImageFeatures')";
            return null;
        }
    }

    private sealed class FeatureRow
    {
        public float[] ImageFeatures { get; set; } = [];
    }

    private static IEnumerable<string[]> Strings(IDataView data, string column)
    {
        using var cursor = data.GetRowCursor([data.Schema[column]]);
        var getter = cursor.GetGetter<VBuffer<ReadOnlyMemory<char>>>(data.Schema[column]);
        VBuffer<ReadOnlyMemory<char>> buffer = default;
        var result = new List<string[]>();
        while (cursor.MoveNext())
        {
            getter(ref buffer);
            result.Add(buffer.DenseValues().Select(v => v.ToString()).ToArray());
        }
        return result;
    }

    private static void CheckDataDirectory(string dataDirectory, string split)
    {
        if (string.IsNullOrWhiteSpace(dataDirectory) || !Directory.Exists(dataDirectory))
            throw new ReverseSdInputException($"Data folder '{dataDirectory}' does not exist: make one with 'reversesd data synth --out DIR'.");
        if (!File.Exists(Path.Combine(dataDirectory, split, ImageFolderDataset.MetadataFileName)))
            throw new ReverseSdInputException(
                $"Data folder '{dataDirectory}' has no {split}/{ImageFolderDataset.MetadataFileName}: a data set folder needs train/ and test/ splits.");
    }

    private static string FirstLine(string message) => message.Split('\n')[0].Trim();
}
