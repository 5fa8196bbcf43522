using System.Globalization;
using Microsoft.ML;
using ReverseSD.MLNet.Backbones;
using ReverseSD.MLNet.Curriculum;
using ReverseSD.MLNet.Data;
using ReverseSD.MLNet.Evaluation;
using ReverseSD.MLNet.Heads;
using ReverseSD.MLNet.Text;

namespace ReverseSD.MLNet.Pipeline;

/// <summary>The curriculum side of the pipeline: difficulty analysis and the data preparation the ablations share.</summary>
public static partial class ReverseSdModel
{
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
        var data = Prepare(mlContext, dataDirectory, options, withTest: false, progress, cancellationToken);
        var heads = HeadsOptionsFor(options.Heads, data, progress, cancellationToken);
        var trainer = mlContext.Regression.Trainers.PromptEmbeddingHeads(heads);
        var scored = trainer.ScoreDifficulty(data.TrainView(mlContext), data.ValidationView(mlContext));
        return DifficultyReportOf(dataDirectory, data.Train.ImagePaths, data.Train.Prompts, scored);
    }

    /// <summary>Featurised splits (cached backbone features, prompt embeddings, vocabulary labels) shared by several trainings.</summary>
    internal sealed class PreparedData
    {
        internal PreparedData(SplitData train, SplitData? validation, SplitData? test, IReadOnlyList<string> words)
        {
            Train = train;
            Validation = validation;
            Test = test;
            Words = words;
        }

        internal SplitData Train { get; }

        internal SplitData? Validation { get; }

        internal SplitData? Test { get; }

        /// <summary>The vocabulary of the training prompts (paper §3), in label-slot order.</summary>
        public IReadOnlyList<string> Words { get; }

        /// <summary>Test targets s(y), one per test row.</summary>
        public float[][] TestTargets => Test!.Targets!;

        /// <summary>Mean training target: the constant baseline.</summary>
        public float[] MeanTrainTarget => PromptEmbeddingEvaluator.MeanEmbedding(Train.Targets!);

        public IDataView TrainView(MLContext ml) => HeadsData(ml, Train, Words.Count);

        public IDataView? ValidationView(MLContext ml) => Validation == null ? null : HeadsData(ml, Validation, Words.Count);

        public IDataView TestView(MLContext ml) => HeadsData(ml, Test!, Words.Count);
    }

    /// <summary>Featurises DATA's splits once (through the feature cache), embeds their prompts and labels them with the vocabulary.</summary>
    internal static PreparedData Prepare(MLContext mlContext, string dataDirectory, ReverseSdTrainingOptions options, bool withTest,
        IProgress<ProgressReport>? progress, CancellationToken cancellationToken)
    {
        CheckDataDirectory(dataDirectory, "train");
        if (withTest) CheckDataDirectory(dataDirectory, "test");
        if (options.VocabularySize < 1) throw new ReverseSdInputException($"The vocabulary size must be at least 1; got {options.VocabularySize}.");
        var backbone = ImageBackbone.Resolve(options.Backbone, options.Preprocessing);
        string cache = options.CacheDirectory ?? Path.Combine(dataDirectory, ".cache");
        Directory.CreateDirectory(cache);
        bool hasValidation = File.Exists(Path.Combine(dataDirectory, "validation", ImageFolderDataset.MetadataFileName));
        var train = Featurise(mlContext, backbone, dataDirectory, "train", cache, progress, cancellationToken);
        var validation = hasValidation ? Featurise(mlContext, backbone, dataDirectory, "validation", cache, progress, cancellationToken) : null;
        var test = withTest ? Featurise(mlContext, backbone, dataDirectory, "test", cache, progress, cancellationToken) : null;
        // Prompt embeddings cached by 'featurize --text' are reused; the rest are computed now.
        bool visual = test != null && test.VisualPrompts.All(v => v.Length > 0);
        if (visual || new[] { train, validation, test }.Any(s => s is { Targets: null }))
        {
            using var encoder = SentenceEncoder.Load();
            foreach (var split in new[] { train, validation, test })
                if (split is { Targets: null }) split.Targets = Encode(encoder, split.Prompts, split.Name, progress, cancellationToken);
            if (visual) test!.VisualTargets = Encode(encoder, test.VisualPrompts, "test (visual prompts)", progress, cancellationToken);
        }
        // Labels are built whenever a vocabulary head may be trained; vanilla heads ignore the column.
        var vocabulary = Vocabulary.Build(train.Prompts, options.VocabularySize);
        foreach (var split in new[] { train, validation, test })
            if (split != null) split.Labels = split.Prompts.Select(p => MultiHot(vocabulary, p)).ToArray();
        return new PreparedData(train, validation, test, vocabulary.Words);
    }

    /// <summary>A copy of <paramref name="heads"/> wired to the prepared vocabulary, progress and cancellation.</summary>
    internal static PromptEmbeddingHeadsTrainer.Options HeadsOptionsFor(PromptEmbeddingHeadsTrainer.Options heads, PreparedData data,
        IProgress<ProgressReport>? progress, CancellationToken cancellationToken) => new()
    {
        FeatureColumnName = heads.FeatureColumnName, LabelColumnName = heads.LabelColumnName,
        VocabularyLabelsColumnName = heads.VocabularyLabelsColumnName, OutputColumnName = heads.OutputColumnName,
        ProbabilitiesColumnName = heads.ProbabilitiesColumnName, Configuration = heads.Configuration,
        HiddenLayerSizes = heads.HiddenLayerSizes, Dropout = heads.Dropout, VocabularyWeight = heads.VocabularyWeight,
        HuberWeight = heads.HuberWeight, Optimizer = heads.Optimizer, LearningRate = heads.LearningRate, BatchSize = heads.BatchSize,
        NumberOfEpochs = heads.NumberOfEpochs, WeightDecay = heads.WeightDecay, Seed = heads.Seed, Device = heads.Device,
        VocabularyWords = data.Words, Progress = heads.Progress ?? progress, CancellationToken = cancellationToken,
        Curriculum = heads.Curriculum.Clone(),
    };

    /// <summary>The difficulty report of a training split: file names relative to DATA/train, prompts and the benchmark's is_noisy flags.</summary>
    internal static DifficultyReport DifficultyReportOf(string dataDirectory, IReadOnlyList<string> imagePaths, IReadOnlyList<string> prompts,
        CurriculumResult curriculum)
    {
        string trainFolder = Path.GetFullPath(Path.Combine(dataDirectory, "train"));
        var noisy = ImageFolderDataset.Read(dataDirectory, "train")
            .ToDictionary(p => Path.GetFullPath(Path.Combine(trainFolder, p.FileName)), p => p.IsNoisy, StringComparer.Ordinal);
        var pairs = imagePaths.Select((path, i) => new ScoredPair(
            Path.GetRelativePath(trainFolder, path), prompts[i], curriculum.Difficulty[i],
            noisy.TryGetValue(Path.GetFullPath(path), out bool isNoisy) && isNoisy)).ToList();
        return new DifficultyReport { Pairs = pairs, Chunks = curriculum.Chunks };
    }

    private static string CurriculumDescription(PromptEmbeddingHeadsTrainer.Options h)
    {
        var c = h.Curriculum;
        if (!c.Enabled) return "none";
        string F(double v) => v.ToString("R", CultureInfo.InvariantCulture);
        string split = c.Splitting == CurriculumSplitting.Thirds ? "thirds"
            : c.EasyMax is double e && c.MediumMax is double m ? $"thresholds {F(e)},{F(m)}" : $"thresholds from shares {F(c.EasyShare)},{F(c.MediumShare)}";
        return $"{split}; preliminary epochs {c.PreliminaryEpochs ?? h.NumberOfEpochs}; weighting {c.Weighting}; stages {string.Join(",", c.StageFractions.Select(f => F(Math.Round(f, 4))))}";
    }
}
