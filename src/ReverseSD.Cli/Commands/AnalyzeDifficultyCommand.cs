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
    public sealed class Settings : CommandSettings
    {
        [CommandOption("--data <DIR>")]
        [Description("Data set folder with train/ (validation/ is used when present) metadata.csv.")]
        public string Data { get; init; } = "";

        [CommandOption("--out <DIR>")]
        [Description("Folder for difficulty.svg, difficulty.csv and difficulty.json (default ./difficulty).")]
        public string Out { get; init; } = "difficulty";

        [CommandOption("--epochs <E>")]
        [Description("Preliminary epochs whose per-sample cosines are averaged (default 20).")]
        public int Epochs { get; init; } = PromptEmbeddingHeadsTrainer.Defaults.NumberOfEpochs;

        [CommandOption("--seed <S>")]
        [Description("Seed of weights, dropout and batch order (default 1).")]
        public int Seed { get; init; } = PromptEmbeddingHeadsTrainer.Defaults.Seed;

        [CommandOption("--head <CONFIG>")]
        [Description("Head configuration of the scoring model: vanilla, 1, 2 or 3 (default 3).")]
        public string Head { get; init; } = "3";

        [CommandOption("--difficulty-weighting <NAME>")]
        [Description("mean (paper, default) or official (only epochs that improved validation, later ones weighted more).")]
        public string DifficultyWeighting { get; init; } = "mean";

        [CommandOption("--curriculum <SPLIT>")]
        [Description("How the chunk borders are drawn: thirds (default) or thresholds.")]
        public string Curriculum { get; init; } = "thirds";

        [CommandOption("--curriculum-shares <EASY,MEDIUM>")]
        [Description("With --curriculum thresholds: shares of the easy and medium chunks (default 0.6,0.3).")]
        public string? CurriculumShares { get; init; }

        [CommandOption("--curriculum-thresholds <EASY_MAX,MEDIUM_MAX>")]
        [Description("With --curriculum thresholds: explicit difficulty thresholds instead of shares.")]
        public string? CurriculumThresholds { get; init; }

        [CommandOption("--lr <RATE>")]
        [Description("Learning rate (default 0.001).")]
        public double LearningRate { get; init; } = PromptEmbeddingHeadsTrainer.Defaults.LearningRate;

        [CommandOption("--batch <N>")]
        [Description("Batch size (default 64).")]
        public int Batch { get; init; } = PromptEmbeddingHeadsTrainer.Defaults.BatchSize;

        [CommandOption("--vocab <SIZE>")]
        [Description("Vocabulary size m (default 1000).")]
        public int Vocab { get; init; } = 1000;

        [CommandOption("--backbone <NAME>")]
        [Description("resnet18 (default), resnet18-SIZE, or the path of an ONNX image encoder (with --preprocess).")]
        public string Backbone { get; init; } = "resnet18";

        [CommandOption("--preprocess <SPEC>")]
        [Description("Preprocessing of an ONNX backbone: compact spec or JSON file.")]
        public string? Preprocess { get; init; }

        [CommandOption("--cache-dir <DIR>")]
        [Description("Folder of the backbone feature cache (default DATA/.cache).")]
        public string? CacheDir { get; init; }

        [CommandOption("--examples <N>")]
        [Description("Examples printed per chunk (default 3).")]
        public int Examples { get; init; } = 3;

        public override ValidationResult Validate()
        {
            if (string.IsNullOrWhiteSpace(Data)) return ValidationResult.Error("--data is required: the data set folder (make one with 'reversesd data synth').");
            if (Epochs < 1) return ValidationResult.Error("--epochs must be at least 1.");
            if (TrainOptions.ParseHead(Head) == null) return ValidationResult.Error($"--head must be vanilla, 1, 2 or 3; got '{Head}'.");
            if (Batch < 2) return ValidationResult.Error("--batch must be at least 2.");
            if (!(LearningRate > 0)) return ValidationResult.Error("--lr must be positive.");
            if (Vocab < 1) return ValidationResult.Error("--vocab must be at least 1.");
            if (Examples < 0) return ValidationResult.Error("--examples must be >= 0.");
            return CurriculumArguments.Validate(Curriculum, null, CurriculumShares, CurriculumThresholds, DifficultyWeighting, curriculumRequired: true);
        }

        public ReverseSdTrainingOptions ToOptions() => new()
        {
            Backbone = Backbone,
            Preprocessing = Preprocess,
            VocabularySize = Vocab,
            CacheDirectory = CacheDir,
            Heads = new PromptEmbeddingHeadsTrainer.Options
            {
                Configuration = TrainOptions.ParseHead(Head)!.Value,
                NumberOfEpochs = Epochs,
                LearningRate = LearningRate,
                BatchSize = Batch,
                Seed = Seed,
                Device = HeadsDevice.Cpu,
                Curriculum = CurriculumArguments.Build(Curriculum, Epochs, CurriculumShares, CurriculumThresholds, DifficultyWeighting),
            },
        };
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
