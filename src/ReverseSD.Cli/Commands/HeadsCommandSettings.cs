using System.ComponentModel;
using ReverseSD.MLNet.Curriculum;
using ReverseSD.MLNet.Heads;
using ReverseSD.MLNet.Pipeline;
using ReverseSD.MLNet.Text;
using Spectre.Console;
using Spectre.Console.Cli;

namespace ReverseSD.Cli.Commands;

/// <summary>Options shared by the commands that train heads on a data set folder: train, ablate heads, ablate ensemble, analyze difficulty.</summary>
internal abstract class HeadsCommandSettings : CommandSettings
{
    [CommandOption("--data <DIR>")]
    [Description("Data set folder with train/, test/ (and optionally validation/) metadata.csv.")]
    public string Data { get; init; } = "";

    [CommandOption("--backbone <NAME>")]
    [Description("resnet18 (default), resnet18-SIZE, resnet18-grid (pooled + 3×3 grid features), resnet18-map (the last 512×7×7 feature map; its heads learn the pooling, see --spatial-channels), or the path of an ONNX image encoder (with --preprocess); train (an ensemble) and ablate ensemble (two or more) take several, comma separated.")]
    public string Backbone { get; init; } = "resnet18";

    /// <summary>The backbones of --backbone, split at commas.</summary>
    public IReadOnlyList<string> Backbones => Backbone.Split(',', StringSplitOptions.TrimEntries);

    [CommandOption("--spatial-channels <C>")]
    [Description("With a resnet18-map backbone: channels per position of the heads' learned spatial pooling (default 8; the heads read the 512 pooled features + 49·C).")]
    public int? SpatialChannels { get; init; }

    [CommandOption("--spatial-dropout <P>")]
    [Description("With a resnet18-map backbone: dropout on the learned spatial pooling's projections while training (default 0).")]
    public double? SpatialDropout { get; init; }

    [CommandOption("--preprocessing <SPEC>")]
    [Description("Preprocessing of an ONNX backbone: compact spec or JSON file (size, mean, std, layout, output).")]
    public string? Preprocess { get; init; }

    /// <summary>Old name of --preprocessing, still accepted.</summary>
    [CommandOption("--preprocess <SPEC>", IsHidden = true)]
    public string? PreprocessOldName { get => null; init { if (value != null) Preprocess = value; } }

    [CommandOption("--cache-dir <DIR>")]
    [Description("Folder of the backbone feature cache (default DATA/.cache).")]
    public string? CacheDir { get; init; }

    [CommandOption("--chunk-size <ROWS>")]
    [Description("Rows per feature-cache chunk, the unit committed atomically: a killed run started again continues after its last finished chunk (default 512; a cache folder that exists keeps its own).")]
    public int ChunkSize { get; init; } = MLNet.Backbones.FeatureCache.DefaultChunkSize;

    [CommandOption("--vocab <SIZE>")]
    [Description("Vocabulary size m (default 1000).")]
    public int Vocab { get; init; } = Vocabulary.DefaultSize;

    [CommandOption("--lr <RATE>")]
    [Description("Learning rate (default 0.001).")]
    public double LearningRate { get; init; } = PromptEmbeddingHeadsTrainer.Defaults.LearningRate;

    [CommandOption("--batch-size <N>")]
    [Description("Batch size (default 64).")]
    public int Batch { get; init; } = PromptEmbeddingHeadsTrainer.Defaults.BatchSize;

    /// <summary>Old name of --batch-size, still accepted.</summary>
    [CommandOption("--batch <N>", IsHidden = true)]
    public int? BatchOldName { get => null; init { if (value is int v) Batch = v; } }

    [CommandOption("--seed <S>")]
    [Description("Seed of weights, dropout and batch order (default 1, as in every command).")]
    public int Seed { get; init; } = PromptEmbeddingHeadsTrainer.Defaults.Seed;

    [CommandOption("--difficulty-weighting <NAME>")]
    [Description("Curriculum difficulty: mean (paper, default) or official (only epochs that improved validation, later ones weighted more).")]
    public string DifficultyWeighting { get; init => field = value.Trim().ToLowerInvariant(); } = "mean";

    [CommandOption("--difficulty <SCORE>")]
    [Description("Curriculum difficulty scoring: in-sample (default; the paper: the preliminary model scores the pairs it trained on) or out-of-fold (each pair scored by a model trained on the other --folds).")]
    public string Difficulty { get; init => field = value.Trim().ToLowerInvariant(); } = "in-sample";

    [CommandOption("--folds <K>")]
    [Description("Folds of --difficulty out-of-fold (default 5; K preliminary runs).")]
    public int Folds { get; init; } = CurriculumOptions.DefaultFolds;

    [CommandOption("--curriculum-shares <EASY,MEDIUM>")]
    [Description("With --curriculum thresholds: shares of the easy and medium chunks (default 0.6,0.3; the rest is hard).")]
    public string? CurriculumShares { get; init; }

    [CommandOption("--curriculum-thresholds <EASY_MAX,MEDIUM_MAX>")]
    [Description("With --curriculum thresholds: explicit difficulty thresholds (difficulty = 1 − mean cosine) instead of shares.")]
    public string? CurriculumThresholds { get; init; }

    /// <summary>The checks every such command makes; null when they pass.</summary>
    protected ValidationResult? ValidateShared()
    {
        if (string.IsNullOrWhiteSpace(Data)) return ValidationResult.Error("--data is required: the data set folder (make one with 'reversesd data synth').");
        if (Batch < 2) return ValidationResult.Error("--batch-size must be at least 2.");
        if (!(LearningRate > 0)) return ValidationResult.Error("--lr must be positive.");
        if (Vocab < 1) return ValidationResult.Error("--vocab must be at least 1.");
        if (ChunkSize < 1) return ValidationResult.Error("--chunk-size must be at least 1.");
        if (Difficulty is not ("in-sample" or "out-of-fold")) return ValidationResult.Error($"--difficulty must be in-sample or out-of-fold; got '{Difficulty}'.");
        if (Folds < 2) return ValidationResult.Error($"--folds must be at least 2; got {Folds}.");
        if (SpatialChannels is int c && c < 1) return ValidationResult.Error($"--spatial-channels must be at least 1; got {c}.");
        if (SpatialDropout is double p && !(p >= 0 && p < 1)) return ValidationResult.Error($"--spatial-dropout must be in [0, 1); got {p}.");
        if ((SpatialChannels != null || SpatialDropout != null) && !Backbones.Any(b => b.Equals("resnet18-map", StringComparison.OrdinalIgnoreCase)))
            return ValidationResult.Error("--spatial-channels and --spatial-dropout apply to a feature-map backbone: add resnet18-map to --backbone (e.g. --backbone resnet18-map or resnet18,resnet18-map).");
        return null;
    }

    /// <summary>The library options: these settings' data side with <paramref name="heads"/>.</summary>
    protected ReverseSdTrainingOptions TrainingOptions(PromptEmbeddingHeadsTrainer.Options heads) => TrainingOptions(ReverseSdTrainingOptions.NoBank, heads);

    /// <summary>The library options: these settings' data side, the prompt bank for the zip and <paramref name="heads"/>.</summary>
    protected ReverseSdTrainingOptions TrainingOptions(string promptBank, PromptEmbeddingHeadsTrainer.Options heads) => new()
    {
        PromptBank = promptBank,
        // --difficulty and --folds go with whatever curriculum the command builds; --spatial-channels with a resnet18-map member.
        Heads = WithShared(heads),
        Backbone = Backbone,
        Preprocessing = Preprocess,
        VocabularySize = Vocab,
        CacheDirectory = CacheDir,
        CacheChunkSize = ChunkSize,
    };

    private PromptEmbeddingHeadsTrainer.Options WithShared(PromptEmbeddingHeadsTrainer.Options heads)
    {
        heads.SpatialChannels = SpatialChannels ?? PromptEmbeddingHeadsTrainer.Defaults.SpatialChannels;
        heads.SpatialDropout = SpatialDropout ?? PromptEmbeddingHeadsTrainer.Defaults.SpatialDropout;
        heads.Curriculum.Scoring = Difficulty == "out-of-fold" ? DifficultyScoring.OutOfFold : DifficultyScoring.InSample;
        heads.Curriculum.Folds = Folds;
        return heads;
    }
}
