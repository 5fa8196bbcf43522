using System.ComponentModel;
using System.Globalization;
using Microsoft.ML;
using ReverseSD.MLNet.Dakl;
using ReverseSD.MLNet.Heads;
using ReverseSD.MLNet.Pipeline;
using ReverseSD.MLNet.Text;
using Spectre.Console;
using Spectre.Console.Cli;

namespace ReverseSD.Cli.Commands;

/// <summary>`reversesd ablate ensemble`: every non-empty combination of member backbones with its test mean cosine (paper Table 9).</summary>
internal sealed class AblateEnsembleCommand(IAnsiConsole console) : Command<AblateEnsembleCommand.Settings>
{
    /// <summary>Options of `ablate ensemble`.</summary>
    public sealed class Settings : HeadsCommandSettings
    {
        [CommandOption("--ensemble <RULE>")]
        [Description("Ensemble rule: mean (default), weighted (weights fitted on validation, restricted to each combination) or median.")]
        public string Ensemble { get; init => field = value.Trim().ToLowerInvariant(); } = "mean";

        [CommandOption("--no-dakl")]
        [Description("Leave out the column that refits DAKL on each combination.")]
        public bool NoDakl { get; init; }

        [CommandOption("--dakl-centroids <R>")]
        [Description("DAKL's r, capped at the training set size (default 10000).")]
        public int DaklCentroids { get; init; } = DomainAdaptiveKernelOptions.Defaults.NumberOfCentroids;

        [CommandOption("--dakl-gamma <G>")]
        [Description("DAKL's γ (default 0.001).")]
        public float DaklGamma { get; init; } = DomainAdaptiveKernelOptions.Defaults.Gamma;

        [CommandOption("--dakl-alpha <A>")]
        [Description("DAKL's α (default 10).")]
        public float DaklAlpha { get; init; } = DomainAdaptiveKernelOptions.Defaults.Alpha;

        [CommandOption("--head <CONFIG>")]
        [Description("Head configuration of every member: vanilla, 1, 2 or 3 (default).")]
        public string Head { get; init; } = "3";

        [CommandOption("--epochs <N|auto>")]
        [Description("Training epochs of every member, or auto (default; as train).")]
        public string Epochs { get; init; } = "auto";

        public override ValidationResult Validate()
        {
            if (ValidateShared() is { } shared) return shared;
            if (Backbones.Count < 2 || Backbones.Any(string.IsNullOrEmpty))
                return ValidationResult.Error($"--backbone needs two or more backbones separated by commas (e.g. resnet18,resnet18-288); got '{Backbone}'.");
            var repeated = Backbones.GroupBy(b => b.ToLowerInvariant()).FirstOrDefault(g => g.Count() > 1);
            if (repeated != null) return ValidationResult.Error($"--backbone lists '{repeated.Key}' twice.");
            if (Backbones.Count > 8) return ValidationResult.Error($"--backbone lists {Backbones.Count} backbones; the ablation takes at most 8 (2^8 - 1 combinations).");
            if (EnsembleTraining.ParseCombination(Ensemble) == null) return ValidationResult.Error($"--ensemble must be mean, weighted or median; got '{Ensemble}'.");
            if (HeadsArguments.ParseHead(Head) == null) return ValidationResult.Error($"--head must be vanilla, 1, 2 or 3; got '{Head}'.");
            if (HeadsArguments.ParseEpochs(Epochs) == null) return ValidationResult.Error($"--epochs must be auto or a whole number of at least 1; got '{Epochs}'.");
            if (DaklCentroids < 1) return ValidationResult.Error("--dakl-centroids must be at least 1.");
            if (!(DaklGamma > 0) || float.IsInfinity(DaklGamma)) return ValidationResult.Error("--dakl-gamma must be a positive number.");
            if (!(DaklAlpha > 0) || float.IsInfinity(DaklAlpha)) return ValidationResult.Error("--dakl-alpha must be a positive number.");
            return ValidationResult.Success();
        }

        public ReverseSdEnsembleOptions ToOptions() => new()
        {
            Members = Backbones.Select(b =>
            {
                var member = TrainingOptions(new PromptEmbeddingHeadsTrainer.Options
                {
                    Configuration = HeadsArguments.ParseHead(Head)!.Value,
                    NumberOfEpochs = HeadsArguments.ParseEpochs(Epochs)!.Value.Epochs,
                    AutomaticEpochs = HeadsArguments.ParseEpochs(Epochs)!.Value.Automatic,
                    LearningRate = LearningRate,
                    BatchSize = Batch,
                    Seed = Seed,
                    Device = HeadsDevice.Cpu,
                });
                member.Backbone = b;
                return member;
            }).ToList(),
            Combination = EnsembleTraining.ParseCombination(Ensemble)!.Value,
            UseDakl = !NoDakl,
            DaklSelection = DaklSelectionMode.Fixed,
            DaklCentroids = DaklCentroids,
            DaklGamma = DaklGamma,
            DaklAlpha = DaklAlpha,
            KnnNeighbors = 0,
            PromptBank = ReverseSdTrainingOptions.NoBank, // no zip is written
        };
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        var ml = new MLContext(settings.Seed);
        using var trained = ConsoleProgress.Run(console, "training members",
            progress => ReverseSdEnsemble.Train(ml, settings.Data, settings.ToOptions(), progress, cancellationToken));
        var rows = ConsoleProgress.Run(console, "ablating", progress => ReverseSdEnsemble.Ablate(ml, trained, !settings.NoDakl, progress));
        var table = new Table().AddColumn("#models");
        foreach (string name in trained.MemberNames) table.AddColumn(new TableColumn(Markup.Escape(name)).Centered());
        table.AddColumn(new TableColumn("mean cosine").RightAligned());
        if (!settings.NoDakl) table.AddColumn(new TableColumn("+ DAKL").RightAligned());
        int previousSize = 0;
        foreach (var row in rows)
        {
            var cells = new List<string> { row.Members.Count != previousSize ? row.Members.Count.ToString(CultureInfo.InvariantCulture) : "" };
            previousSize = row.Members.Count;
            cells.AddRange(trained.MemberNames.Select(n => row.Members.Contains(n) ? "✓" : "-"));
            cells.Add(F(row.MeanCosine));
            if (row.MeanCosineWithDakl is double adapted) cells.Add(F(adapted));
            table.AddRow(cells.ToArray());
        }
        console.Write(table);
        console.WriteLine($"test split, n = {trained.Test.Count}; ensemble rule {trained.Combiner.Combination}"
            + (settings.NoDakl ? "" : $"; DAKL r = {trained.Dakl!.Statistics.Centroids}, p = {trained.Dakl.Statistics.TargetDomainSamples}, γ = {settings.DaklGamma.ToString("G4", CultureInfo.InvariantCulture)}, α = {settings.DaklAlpha.ToString("G4", CultureInfo.InvariantCulture)} fixed, not chosen on validation (target domain: validation + test images)"));
        return 0;
    }

    private static string F(double v) => v.ToString("F4", CultureInfo.InvariantCulture);
}
