using System.ComponentModel;
using System.Text;
using Microsoft.ML;
using ReverseSD.MLNet;
using ReverseSD.MLNet.Curriculum;
using ReverseSD.MLNet.Heads;
using ReverseSD.MLNet.Pipeline;
using Spectre.Console;
using Spectre.Console.Cli;

namespace ReverseSD.Cli.Commands;

/// <summary>`reversesd analyze difficulty`: the curriculum's preliminary phase only (paper §3, Fig. 9) on the train split.</summary>
internal sealed class AnalyzeDifficultyCommand(IAnsiConsole console) : Command<AnalyzeDifficultyCommand.Settings>
{
    /// <summary>Options of `analyze difficulty`.</summary>
    public sealed class Settings : HeadsCommandSettings
    {
        [CommandOption("--out <DIR>")]
        [Description("Folder for difficulty.svg, difficulty.csv and difficulty.json (default ./difficulty).")]
        public string Out { get; init; } = "difficulty";

        [CommandOption("--epochs <E>")]
        [Description("Preliminary epochs whose per-sample cosines are averaged (default 20).")]
        public int Epochs { get; init; } = PromptEmbeddingHeadsTrainer.Defaults.NumberOfEpochs;

        [CommandOption("--head <CONFIG>")]
        [Description("Head configuration of the scoring model: vanilla, 1, 2 or 3 (default 3).")]
        public string Head { get; init; } = "3";

        [CommandOption("--curriculum <SPLIT>")]
        [Description("How the chunk borders are drawn: thirds (default) or thresholds.")]
        public string Curriculum { get; init => field = value.Trim().ToLowerInvariant(); } = "thirds";

        [CommandOption("--examples <N>")]
        [Description("Examples printed per chunk (default 3).")]
        public int Examples { get; init; } = 3;

        public override ValidationResult Validate()
        {
            if (ValidateShared() is { } shared) return shared;
            if (Epochs < 1) return ValidationResult.Error("--epochs must be at least 1.");
            if (HeadsArguments.ParseHead(Head) == null) return ValidationResult.Error($"--head must be vanilla, 1, 2 or 3; got '{Head}'.");
            if (Examples < 0) return ValidationResult.Error("--examples must be >= 0.");
            return CurriculumArguments.Validate(Curriculum, null, CurriculumShares, CurriculumThresholds, DifficultyWeighting, curriculumRequired: true);
        }

        public ReverseSdTrainingOptions ToOptions() => TrainingOptions(new PromptEmbeddingHeadsTrainer.Options
        {
            Configuration = HeadsArguments.ParseHead(Head)!.Value,
            NumberOfEpochs = Epochs,
            LearningRate = LearningRate,
            BatchSize = Batch,
            Seed = Seed,
            Device = HeadsDevice.Cpu,
            Curriculum = CurriculumArguments.Build(Curriculum, Epochs, CurriculumShares, CurriculumThresholds, DifficultyWeighting),
        });
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        var ml = new MLContext(settings.Seed);
        var report = ConsoleProgress.Run(console, "scoring difficulty",
            progress => ReverseSdModel.AnalyzeDifficulty(ml, settings.Data, settings.ToOptions(), progress, cancellationToken));
        Directory.CreateDirectory(settings.Out);
        string svg = Path.Combine(settings.Out, "difficulty.svg"), csv = Path.Combine(settings.Out, "difficulty.csv"), json = Path.Combine(settings.Out, "difficulty.json");
        report.WriteHistogramSvg(svg);
        report.WriteScoresCsv(csv);
        AtomicFile.WriteAllBytes(json, Encoding.UTF8.GetBytes(report.ToJson()));
        CurriculumArguments.PrintDifficulty(console, report, settings.Examples);
        console.MarkupLineInterpolated($"wrote {Path.GetFullPath(svg)}, {Path.GetFileName(csv)} and {Path.GetFileName(json)}");
        return 0;
    }
}
