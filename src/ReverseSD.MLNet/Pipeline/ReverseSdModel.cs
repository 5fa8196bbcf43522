using Microsoft.ML;
using Microsoft.ML.Data;
using ReverseSD.MLNet.Backbones;
using ReverseSD.MLNet.Curriculum;
using ReverseSD.MLNet.Data;
using ReverseSD.MLNet.Evaluation;
using ReverseSD.MLNet.FineTuning;
using ReverseSD.MLNet.Heads;
using ReverseSD.MLNet.Onnx;

namespace ReverseSD.MLNet.Pipeline;

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
        // ML.NET loads each ONNX graph from a temporary copy named at random; one named *.ort fails to load (OrtFormatMisread): loaded again.
        ITransformer? model = forScoringOnly ? OrtFormatMisread.Retry(() => ModelImageScorer.LoadForScoring(mlContext, path)) : null;
        try
        {
            model ??= OrtFormatMisread.Retry(() => mlContext.Model.Load(path, out _));
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
