using System.ComponentModel;
using System.Globalization;
using Microsoft.ML;
using ReverseSD.MLNet.Dakl;
using ReverseSD.MLNet.Evaluation;
using ReverseSD.MLNet.FineTuning;
using ReverseSD.MLNet.Heads;
using ReverseSD.MLNet.Pipeline;
using ReverseSD.MLNet.Retrieval;
using Spectre.Console;
using Spectre.Console.Cli;

namespace ReverseSD.Cli.Commands;

/// <summary>`reversesd train`: backbone features → heads → evaluation on the test split → one model zip.</summary>
internal sealed class TrainCommand(IAnsiConsole console) : Command<TrainCommand.Settings>
{
    /// <summary>Options of `train`.</summary>
    public sealed class Settings : HeadsCommandSettings
    {
        [CommandOption("--out <PATH>")]
        [Description("Model zip to write (default model.zip).")]
        public string Out { get; init; } = "model.zip";

        [CommandOption("--head <CONFIG>")]
        [Description("Head configuration: vanilla, 1 (independent), 2 (vocabulary feeds embedding) or 3 (embedding feeds vocabulary; default).")]
        public string Head { get; init; } = "3";

        [CommandOption("--lambda <WEIGHT>")]
        [Description("λ, weight of the vocabulary loss (default 0.1).")]
        public float Lambda { get; init; } = PromptEmbeddingHeadsTrainer.Defaults.VocabularyWeight;

        [CommandOption("--epochs <N|auto>")]
        [Description("Training epochs, or auto (default): until the validation cosine has not improved for 5 epochs (at least 300 steps, at most 10,000), best epoch kept; without a validation split, 20 epochs or 300 steps, whichever is longer.")]
        public string Epochs { get; init; } = "auto";

        [CommandOption("--hidden <SIZES>")]
        [Description("Hidden layer sizes of the embedding head, comma separated (default none: one linear layer as in the paper).")]
        public string? Hidden { get; init; }

        [CommandOption("--optimizer <NAME>")]
        [Description("adam (default) or adamw.")]
        public string Optimizer { get; init => field = value.Trim().ToLowerInvariant(); } = "adam";

        [CommandOption("--weight-decay <W>")]
        [Description("Weight decay (default 0).")]
        public double WeightDecay { get; init; }

        [CommandOption("--device <DEVICE>")]
        [Description("auto (default), cpu or cuda (CUDA is untested).")]
        public string Device { get; init => field = value.Trim().ToLowerInvariant(); } = "auto";

        [CommandOption("--report <PATH>")]
        [Description("Report JSON to write (per-sample cosines beside it); default: none.")]
        public string? Report { get; init; }

        [CommandOption("--curriculum <SPLIT>")]
        [Description("Curriculum (paper §3): none (default), thirds (three equal chunks) or thresholds (large easy, small hard chunk).")]
        public string Curriculum { get; init => field = value.Trim().ToLowerInvariant(); } = "none";

        [CommandOption("--curriculum-epochs <E>")]
        [Description("Epochs of the curriculum's preliminary (difficulty scoring) run (default: --epochs).")]
        public int? CurriculumEpochs { get; init; }

        [CommandOption("--ensemble <RULE>")]
        [Description("Ensemble rule for several backbones: mean (default), weighted (weights fitted on the validation split) or median.")]
        public string? Ensemble { get; init => field = value?.Trim().ToLowerInvariant(); }

        [CommandOption("--dakl")]
        [Description("Fit DAKL (domain-adaptive kernel ridge) on the ensemble embedding; target domain: validation + test images, or --adapt-to.")]
        public bool Dakl { get; init; }

        [CommandOption("--dakl-centroids <R>")]
        [Description("DAKL's number of k-means centroids r, capped at the training set size (default 10000).")]
        public int DaklCentroids { get; init; } = DomainAdaptiveKernelOptions.Defaults.NumberOfCentroids;

        [CommandOption("--dakl-gamma <G>")]
        [Description("DAKL's γ of the RBF transformation; given (or --dakl-alpha given), γ and α are fixed instead of chosen on validation (fixed default 0.001).")]
        public float? DaklGamma { get; init; }

        [CommandOption("--dakl-alpha <A>")]
        [Description("DAKL's ridge penalty α; given (or --dakl-gamma given), γ and α are fixed instead of chosen on validation (fixed default 10).")]
        public float? DaklAlpha { get; init; }

        [CommandOption("--dakl-grid-gamma <LIST>")]
        [Description("γ values DAKL's validation selection tries, comma separated (default 0.001,0.01,0.1,1).")]
        public string? DaklGridGamma { get; init; }

        [CommandOption("--dakl-grid-alpha <LIST>")]
        [Description("α values DAKL's validation selection tries, comma separated (default 0.01,0.1,1,10).")]
        public string? DaklGridAlpha { get; init; }

        [CommandOption("--adapt-to <DIR>")]
        [Description("Folder of unlabelled target-domain images for DAKL (default: the validation and test images, never their prompts).")]
        public string? AdaptTo { get; init; }

        [CommandOption("--finetune <PART>")]
        [Description("Backbone fine-tuning with the heads (ResNet18 presets; in an ensemble, each ResNet18 member): none (default), layer4 (the last layer, on layer-3 activations computed once per image; the CPU setting) or all (the GPU setting; refused by this CPU-only build).")]
        public string FineTune { get; init => field = value.Trim().ToLowerInvariant(); } = "none";

        [CommandOption("--finetune-epochs <N>")]
        [Description("Epochs of joint backbone + heads training with --finetune; the best on validation is kept (default 5).")]
        public int FineTuneEpochs { get; init; } = BackboneFineTuningOptions.Defaults.NumberOfEpochs;

        [CommandOption("--finetune-warmup <N>")]
        [Description("Epochs the heads train alone on the frozen backbone before the joint epochs of --finetune (default 0; epoch 0 is then kept when no joint epoch beats it on validation).")]
        public int FineTuneWarmup { get; init; } = BackboneFineTuningOptions.Defaults.HeadsWarmupEpochs;

        [CommandOption("--finetune-lr <RATE>")]
        [Description("The backbone's own learning rate with --finetune, lower than the heads' --lr (default 0.0001).")]
        public double FineTuneLearningRate { get; init; } = BackboneFineTuningOptions.Defaults.LearningRate;

        [CommandOption("--knn-baseline <K>")]
        [Description("k of the kNN regression baseline in the first backbone's feature space, reported for ensembles (default 10; 0: none).")]
        public int KnnBaseline { get; init; } = NearestNeighborRegressionOptions.Defaults.NumberOfNeighbors;

        [CommandOption("--bank <BANK>")]
        [Description("Prompt bank put into the model zip (its NearestPrompts stage): train (the distinct training prompts; default), none, or a bank file from 'reversesd bank build'.")]
        public string Bank { get; init => field = value.Trim(); } = ReverseSdTrainingOptions.TrainingPromptsBank;

        /// <summary>True when these settings train an ensemble (several backbones or DAKL) rather than one model.</summary>
        public bool IsEnsemble => Backbones.Count > 1 || Dakl;

        public override ValidationResult Validate()
        {
            if (ValidateShared() is { } shared) return shared;
            if (EnsembleTraining.Validate(this) is { } ensembleError) return ValidationResult.Error(ensembleError);
            if (HeadsArguments.ParseHead(Head) == null) return ValidationResult.Error($"--head must be vanilla, 1, 2 or 3; got '{Head}'.");
            if (HeadsArguments.ParseHidden(Hidden) == null) return ValidationResult.Error($"--hidden must be positive sizes separated by commas; got '{Hidden}'.");
            if (Optimizer is not ("adam" or "adamw")) return ValidationResult.Error($"--optimizer must be adam or adamw; got '{Optimizer}'.");
            if (Device is not ("auto" or "cpu" or "cuda")) return ValidationResult.Error($"--device must be auto, cpu or cuda; got '{Device}'.");
            if (HeadsArguments.ParseEpochs(Epochs) == null) return ValidationResult.Error($"--epochs must be auto or a whole number of at least 1; got '{Epochs}'.");
            if (Bank.Length == 0) return ValidationResult.Error("--bank must be train, none or the path of a bank file from 'reversesd bank build'.");
            if (!(Lambda >= 0)) return ValidationResult.Error("--lambda must be >= 0.");
            if (FineTune is not ("none" or "layer4" or "all")) return ValidationResult.Error($"--finetune must be none, layer4 or all; got '{FineTune}'.");
            if (FineTuneEpochs < 1) return ValidationResult.Error("--finetune-epochs must be at least 1.");
            if (FineTuneWarmup < 0) return ValidationResult.Error("--finetune-warmup must be >= 0.");
            if (!(FineTuneLearningRate > 0)) return ValidationResult.Error("--finetune-lr must be positive.");
            return CurriculumArguments.Validate(Curriculum, CurriculumEpochs, CurriculumShares, CurriculumThresholds, DifficultyWeighting);
        }

        /// <summary>The library options these settings describe.</summary>
        public ReverseSdTrainingOptions ToOptions() => WithFineTuning(TrainingOptions(Bank, new PromptEmbeddingHeadsTrainer.Options
        {
            Configuration = HeadsArguments.ParseHead(Head)!.Value,
            VocabularyWeight = Lambda,
            NumberOfEpochs = HeadsArguments.ParseEpochs(Epochs)!.Value.Epochs,
            AutomaticEpochs = HeadsArguments.ParseEpochs(Epochs)!.Value.Automatic,
            LearningRate = LearningRate,
            BatchSize = Batch,
            Seed = Seed,
            HiddenLayerSizes = HeadsArguments.ParseHidden(Hidden)!,
            Optimizer = Optimizer == "adamw" ? HeadsOptimizer.AdamW : HeadsOptimizer.Adam,
            WeightDecay = WeightDecay,
            Device = Device switch { "cpu" => HeadsDevice.Cpu, "cuda" => HeadsDevice.Cuda, _ => HeadsDevice.Auto },
            Curriculum = CurriculumArguments.Build(Curriculum, CurriculumEpochs, CurriculumShares, CurriculumThresholds, DifficultyWeighting),
        }));

        private ReverseSdTrainingOptions WithFineTuning(ReverseSdTrainingOptions options)
        {
            options.FineTuning = new BackboneFineTuningOptions
            {
                Mode = FineTune switch { "layer4" => BackboneFineTuning.Layer4, "all" => BackboneFineTuning.All, _ => BackboneFineTuning.None },
                NumberOfEpochs = FineTuneEpochs,
                LearningRate = FineTuneLearningRate,
                HeadsWarmupEpochs = FineTuneWarmup,
            };
            return options;
        }
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        var ml = new MLContext(settings.Seed);
        if (settings.IsEnsemble) return EnsembleTraining.Run(console, ml, settings, cancellationToken);
        using var trained = ConsoleProgress.Run(console, "training",
            progress => ReverseSdModel.Train(ml, settings.Data, settings.ToOptions(), progress, cancellationToken));
        trained.Save(settings.Out);
        if (settings.Report != null)
            ReverseSdModel.WriteReport(trained.Report, settings.Report, trained.TestImages, trained.Test, trained.Baseline);
        EvaluationSummary.Print(console, trained.Report);
        if (trained.Difficulty is { } difficulty) CurriculumArguments.WriteScores(console, difficulty, Path.ChangeExtension(Path.GetFullPath(settings.Out), null) + "-difficulty.csv");
        console.MarkupLineInterpolated($"saved {Path.GetFullPath(settings.Out)}{(settings.Report != null ? " and " + Path.GetFullPath(settings.Report) : "")}");
        return 0;
    }
}
