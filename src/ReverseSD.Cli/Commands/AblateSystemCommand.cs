using System.ComponentModel;
using System.Globalization;
using Microsoft.ML;
using ReverseSD.MLNet.Dakl;
using ReverseSD.MLNet.FineTuning;
using ReverseSD.MLNet.Heads;
using ReverseSD.MLNet.Pipeline;
using Spectre.Console;
using Spectre.Console.Cli;

namespace ReverseSD.Cli.Commands;

/// <summary>`reversesd ablate system`: frozen single → fine-tuned single → ensemble of fine-tuned members → + DAKL, with paired t-tests.</summary>
internal sealed class AblateSystemCommand(IAnsiConsole console) : Command<AblateSystemCommand.Settings>
{
    /// <summary>Options of `ablate system`.</summary>
    public sealed class Settings : HeadsCommandSettings
    {
        [CommandOption("--out <DIR>")]
        [Description("Folder for report.json, report.md and report-samples.csv (default ./ablation-system).")]
        public string Out { get; init; } = "ablation-system";

        [CommandOption("--head <CONFIG>")]
        [Description("Head configuration of every model: vanilla, 1, 2 or 3 (default).")]
        public string Head { get; init; } = "3";

        [CommandOption("--epochs <N|auto>")]
        [Description("Heads' training epochs of every model, or auto (default; as train).")]
        public string Epochs { get; init; } = "auto";

        [CommandOption("--finetune <PART>")]
        [Description("Fine-tuning of the ResNet18 members: layer4 (default) or none (then the fine-tuned row is left out).")]
        public string FineTune { get; init => field = value.Trim().ToLowerInvariant(); } = "layer4";

        [CommandOption("--finetune-epochs <N>")]
        [Description("Epochs of joint backbone + heads training (default 5).")]
        public int FineTuneEpochs { get; init; } = BackboneFineTuningOptions.Defaults.NumberOfEpochs;

        [CommandOption("--finetune-warmup <N>")]
        [Description("Epochs the heads train alone on the frozen backbone before the joint epochs of --finetune (default 0; epoch 0 is then kept when no joint epoch beats it on validation).")]
        public int FineTuneWarmup { get; init; } = BackboneFineTuningOptions.Defaults.HeadsWarmupEpochs;

        [CommandOption("--finetune-lr <RATE>")]
        [Description("The backbone's own learning rate (default 0.0001).")]
        public double FineTuneLearningRate { get; init; } = BackboneFineTuningOptions.Defaults.LearningRate;

        [CommandOption("--ensemble <RULE>")]
        [Description("Ensemble rule: mean (default), weighted (weights fitted on validation) or median.")]
        public string Ensemble { get; init => field = value.Trim().ToLowerInvariant(); } = "mean";

        [CommandOption("--dakl-centroids <R>")]
        [Description("DAKL's r, capped at the training set size (default 10000).")]
        public int DaklCentroids { get; init; } = DomainAdaptiveKernelOptions.Defaults.NumberOfCentroids;

        [CommandOption("--dakl-grid-gamma <LIST>")]
        [Description("γ values DAKL's validation selection tries (default 0.001,0.01,0.1,1).")]
        public string? DaklGridGamma { get; init; }

        [CommandOption("--dakl-grid-alpha <LIST>")]
        [Description("α values DAKL's validation selection tries (default 0.01,0.1,1,10).")]
        public string? DaklGridAlpha { get; init; }

        public override ValidationResult Validate()
        {
            if (ValidateShared() is { } shared) return shared;
            if (Backbones.Any(string.IsNullOrEmpty)) return ValidationResult.Error($"--backbone has an empty name in '{Backbone}': separate backbones with single commas.");
            var repeated = Backbones.GroupBy(b => b.ToLowerInvariant()).FirstOrDefault(g => g.Count() > 1);
            if (repeated != null) return ValidationResult.Error($"--backbone lists '{repeated.Key}' twice: each ensemble member needs another backbone.");
            if (Backbones.Count > 16) return ValidationResult.Error($"--backbone lists {Backbones.Count} backbones; an ensemble takes at most 16.");
            if (Backbones.Count > 1 && Preprocess != null) return ValidationResult.Error("--preprocessing applies to a single ONNX backbone, not to an ensemble of several.");
            if (HeadsArguments.ParseHead(Head) == null) return ValidationResult.Error($"--head must be vanilla, 1, 2 or 3; got '{Head}'.");
            if (HeadsArguments.ParseEpochs(Epochs) == null) return ValidationResult.Error($"--epochs must be auto or a whole number of at least 1; got '{Epochs}'.");
            if (FineTune is not ("none" or "layer4")) return ValidationResult.Error($"--finetune must be layer4 or none; got '{FineTune}'.");
            if (FineTuneEpochs < 1) return ValidationResult.Error("--finetune-epochs must be at least 1.");
            if (FineTuneWarmup < 0) return ValidationResult.Error("--finetune-warmup must be >= 0.");
            if (!(FineTuneLearningRate > 0)) return ValidationResult.Error("--finetune-lr must be positive.");
            if (EnsembleTraining.ParseCombination(Ensemble) == null) return ValidationResult.Error($"--ensemble must be mean, weighted or median; got '{Ensemble}'.");
            if (DaklCentroids < 1) return ValidationResult.Error("--dakl-centroids must be at least 1.");
            if (DaklGridGamma != null && EnsembleTraining.ParseGrid(DaklGridGamma) == null) return ValidationResult.Error($"--dakl-grid-gamma must be positive numbers separated by commas; got '{DaklGridGamma}'.");
            if (DaklGridAlpha != null && EnsembleTraining.ParseGrid(DaklGridAlpha) == null) return ValidationResult.Error($"--dakl-grid-alpha must be positive numbers separated by commas; got '{DaklGridAlpha}'.");
            return ValidationResult.Success();
        }

        /// <summary>The system these settings describe: every member with the same heads options, ResNet18 members fine-tuned as --finetune says.</summary>
        public ReverseSdEnsembleOptions ToOptions()
        {
            var epochs = HeadsArguments.ParseEpochs(Epochs)!.Value;
            return new ReverseSdEnsembleOptions
            {
                Members = Backbones.Select(b =>
                {
                    var member = TrainingOptions(new PromptEmbeddingHeadsTrainer.Options
                    {
                        Configuration = HeadsArguments.ParseHead(Head)!.Value,
                        NumberOfEpochs = epochs.Epochs,
                        AutomaticEpochs = epochs.Automatic,
                        LearningRate = LearningRate,
                        BatchSize = Batch,
                        Seed = Seed,
                        Device = HeadsDevice.Cpu,
                    });
                    member.Backbone = b;
                    member.FineTuning = new BackboneFineTuningOptions
                    {
                        Mode = FineTune == "layer4" && EnsembleTraining.IsResNet18(b) ? BackboneFineTuning.Layer4 : BackboneFineTuning.None,
                        NumberOfEpochs = FineTuneEpochs,
                        LearningRate = FineTuneLearningRate,
                        HeadsWarmupEpochs = FineTuneWarmup,
                    };
                    return member;
                }).ToList(),
                Combination = EnsembleTraining.ParseCombination(Ensemble)!.Value,
                UseDakl = true,
                DaklCentroids = DaklCentroids,
                DaklSelection = DaklSelectionMode.Validation,
                DaklGammaGrid = DaklGridGamma == null ? new ReverseSdEnsembleOptions().DaklGammaGrid : EnsembleTraining.ParseGrid(DaklGridGamma)!,
                DaklAlphaGrid = DaklGridAlpha == null ? new ReverseSdEnsembleOptions().DaklAlphaGrid : EnsembleTraining.ParseGrid(DaklGridAlpha)!,
            };
        }
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        var ml = new MLContext(settings.Seed);
        var result = ConsoleProgress.Run(console, "system ablation",
            progress => SystemAblation.Run(ml, settings.Data, settings.ToOptions(), progress, cancellationToken));
        result.Save(settings.Out);
        string F(double v) => double.IsNaN(v) ? "-" : v.ToString("F4", CultureInfo.InvariantCulture);
        var table = new Table()
            .AddColumn($"test split (n = {result.Baseline.Count})")
            .AddColumn(new TableColumn("mean cosine").RightAligned())
            .AddColumn(new TableColumn("± SE").RightAligned())
            .AddColumn(new TableColumn("% of the way").RightAligned())
            .AddColumn(new TableColumn("vs row above: Δ").RightAligned())
            .AddColumn(new TableColumn("t").RightAligned())
            .AddColumn(new TableColumn("p").RightAligned());
        foreach (var r in result.Rows)
        {
            var t = r.VersusPrevious;
            table.AddRow(Markup.Escape(r.Name + (r.Note == null ? "" : $" ({r.Note})")), F(r.Metrics.MeanCosine), F(r.Metrics.StandardError),
                double.IsNaN(r.ShareOfWay) ? "-" : r.ShareOfWay.ToString("F1", CultureInfo.InvariantCulture) + " %",
                t == null ? "" : EvaluationSummary.Difference(t.MeanDifference),
                t == null ? "" : t.T.ToString("F2", CultureInfo.InvariantCulture),
                t == null ? "" : t.PValue.ToString("G3", CultureInfo.InvariantCulture));
        }
        console.Write(table);
        console.MarkupLineInterpolated($"mean-embedding baseline {F(result.Baseline.MeanCosine)} ± {F(result.Baseline.StandardError)}; visual-only ceiling {(result.CeilingMeanCosine is double c ? F(c) : "-")}; % of the way = (row − baseline) ÷ (ceiling − baseline)");
        console.MarkupLineInterpolated($"the full system as chosen: {result.SystemRow}");
        console.MarkupLineInterpolated($"members: {string.Join(", ", result.Members.Select(m => $"{m.Name} {F(m.MeanCosine)}"))}");
        foreach (var (stage, wall, cpu) in result.Timings)
            console.MarkupLineInterpolated($"{stage}: {wall.ToString("F0", CultureInfo.InvariantCulture)} s wall, {cpu.ToString("F0", CultureInfo.InvariantCulture)} s CPU");
        console.MarkupLineInterpolated($"wrote {Path.GetFullPath(Path.Combine(settings.Out, "report.json"))}, report.md and report-samples.csv");
        return 0;
    }
}
