using System.ComponentModel;
using System.Globalization;
using Microsoft.ML;
using ReverseSD.MLNet.Heads;
using ReverseSD.MLNet.Pipeline;
using Spectre.Console;
using Spectre.Console.Cli;

namespace ReverseSD.Cli.Commands;

/// <summary>`reversesd ablate heads`: the paper's Table 1 (vanilla / + MLC / + MLC + CL) over several seeds on cached features.</summary>
internal sealed class AblateHeadsCommand(IAnsiConsole console) : Command<AblateHeadsCommand.Settings>
{
    /// <summary>Options of `ablate heads`.</summary>
    public sealed class Settings : HeadsCommandSettings
    {
        [CommandOption("--out <DIR>")]
        [Description("Folder for ablation.json and ablation.md (default ./ablation).")]
        public string Out { get; init; } = "ablation";

        [CommandOption("--seeds <N>")]
        [Description("Models per row, seeds --seed, --seed+1, ... (default 3).")]
        public int Seeds { get; init; } = 3;

        [CommandOption("--epochs <N>")]
        [Description("Training epochs of every model; the curriculum row trains the same number of steps (default 20).")]
        public int Epochs { get; init; } = PromptEmbeddingHeadsTrainer.Defaults.NumberOfEpochs;

        [CommandOption("--head <CONFIG>")]
        [Description("Head configuration of the MLC rows: 1, 2 or 3 (default 3, the paper's best).")]
        public string Head { get; init; } = "3";

        [CommandOption("--curriculum <SPLIT>")]
        [Description("Curriculum of the CL row: thirds (default) or thresholds.")]
        public string Curriculum { get; init => field = value.Trim().ToLowerInvariant(); } = "thirds";

        [CommandOption("--curriculum-epochs <E>")]
        [Description("Epochs of the curriculum's preliminary run (default: --epochs).")]
        public int? CurriculumEpochs { get; init; }

        [CommandOption("--lambda <WEIGHT>")]
        [Description("λ, weight of the vocabulary loss in the MLC rows (default 0.1).")]
        public float Lambda { get; init; } = PromptEmbeddingHeadsTrainer.Defaults.VocabularyWeight;

        public override ValidationResult Validate()
        {
            if (ValidateShared() is { } shared) return shared;
            if (Seeds < 1) return ValidationResult.Error("--seeds must be at least 1.");
            if (Epochs < 1) return ValidationResult.Error("--epochs must be at least 1.");
            if (HeadsArguments.ParseHead(Head) is null or HeadConfiguration.Vanilla) return ValidationResult.Error($"--head must be 1, 2 or 3; got '{Head}'.");
            if (!(Lambda >= 0)) return ValidationResult.Error("--lambda must be >= 0.");
            return CurriculumArguments.Validate(Curriculum, CurriculumEpochs, CurriculumShares, CurriculumThresholds, DifficultyWeighting, curriculumRequired: true);
        }

        public ReverseSdTrainingOptions ToOptions() => TrainingOptions(new PromptEmbeddingHeadsTrainer.Options
        {
            Configuration = HeadsArguments.ParseHead(Head)!.Value,
            VocabularyWeight = Lambda,
            NumberOfEpochs = Epochs,
            LearningRate = LearningRate,
            BatchSize = Batch,
            Seed = Seed,
            Device = HeadsDevice.Cpu,
            Curriculum = CurriculumArguments.Build(Curriculum, CurriculumEpochs, CurriculumShares, CurriculumThresholds, DifficultyWeighting),
        });
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        var ml = new MLContext(settings.Seed);
        var result = ConsoleProgress.Run(console, "ablation",
            progress => HeadsAblation.Run(ml, settings.Data, settings.ToOptions(), settings.Seeds, progress, cancellationToken));
        result.Save(settings.Out);
        string F(double v) => double.IsNaN(v) ? "-" : v.ToString("F4", CultureInfo.InvariantCulture);
        var table = new Table()
            .AddColumn("Model").AddColumn("MLC").AddColumn("CL")
            .AddColumn(new TableColumn($"Cosine (mean ± std, {result.Seeds.Count} seeds)").RightAligned())
            .AddColumn("paired t-test vs previous row");
        foreach (var r in result.Rows)
        {
            string t = r.VersusPrevious is { } p
                ? string.Create(CultureInfo.InvariantCulture, $"Δ {EvaluationSummary.Difference(p.MeanDifference)}, t = {p.T:F2}, p = {p.PValue:G3}")
                : "";
            table.AddRow(Markup.Escape(r.Name), r.Name.Contains("MLC") ? "✓" : "-", r.Name.Contains("CL") ? "✓" : "-",
                $"{F(r.Mean)} ± {F(r.StandardDeviation)}", Markup.Escape(t));
        }
        console.Write(table);
        console.MarkupLineInterpolated($"n_test = {result.NTest}; mean-embedding baseline {F(result.BaselineMeanCosine)}; t-test on each test sample's cosine averaged over the seeds");
        console.MarkupLineInterpolated($"wrote {Path.GetFullPath(Path.Combine(settings.Out, "ablation.json"))} and ablation.md");
        return 0;
    }
}
