using System.ComponentModel;
using System.Globalization;
using ReverseSD.MLNet.Data;
using Spectre.Console;
using Spectre.Console.Cli;

namespace ReverseSD.Cli.Commands;

/// <summary>`reversesd data synth`: writes the generated benchmark (train/validation/test image folders).</summary>
internal sealed class DataSynthCommand(IAnsiConsole console) : Command<DataSynthCommand.Settings>
{
    /// <summary>Options of `data synth`.</summary>
    public sealed class Settings : CommandSettings
    {
        [CommandOption("--out <DIR>")]
        [Description("Data set folder to write (train/, validation/, test/ with metadata.csv).")]
        public string Out { get; init; } = "";

        [CommandOption("--train <N>")]
        [Description("Training pairs (default 2000).")]
        public int Train { get; init; } = 2000;

        [CommandOption("--validation <N>")]
        [Description("Validation pairs (default 300).")]
        public int Validation { get; init; } = 300;

        [CommandOption("--test <N>")]
        [Description("Test pairs (default 300).")]
        public int Test { get; init; } = 300;

        [CommandOption("--image-size <PIXELS>")]
        [Description("Image width and height (default 224).")]
        public int Size { get; init; } = 224;

        /// <summary>Old name of --image-size, still accepted.</summary>
        [CommandOption("--size <PIXELS>", IsHidden = true)]
        public int? SizeOldName { get => null; init { if (value is int v) Size = v; } }

        [CommandOption("--label-noise <FRACTION>")]
        [Description("Fraction of training pairs whose image was drawn from another prompt (default 0).")]
        public double LabelNoise { get; init; }

        [CommandOption("--domain-shift")]
        [Description("Draw validation and test with another mix of rendering styles than train.")]
        public bool DomainShift { get; init; }

        [CommandOption("--seed <S>")]
        [Description("Random seed; the same arguments give byte-identical files (default 1, as in every command: the demo's benchmark).")]
        public int Seed { get; init; } = 1;

        public override ValidationResult Validate()
        {
            if (string.IsNullOrWhiteSpace(Out)) return ValidationResult.Error("--out is required: the folder to write the data set to.");
            if (Train < 1 || Validation < 0 || Test < 0) return ValidationResult.Error("--train must be at least 1, --validation and --test at least 0.");
            if (Size is < 32 or > 2048) return ValidationResult.Error("--image-size must be between 32 and 2048.");
            if (!(LabelNoise >= 0 && LabelNoise <= 1)) return ValidationResult.Error("--label-noise must be a fraction between 0 and 1.");
            return ValidationResult.Success();
        }
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        var options = new SyntheticBenchmarkOptions
        {
            Train = settings.Train, Validation = settings.Validation, Test = settings.Test, ImageSize = settings.Size,
            LabelNoise = settings.LabelNoise, DomainShift = settings.DomainShift, Seed = settings.Seed,
        };
        var summary = ConsoleProgress.Run(console, "generating images",
            progress => SyntheticBenchmark.Generate(options, settings.Out, progress, cancellationToken));
        var table = new Table().AddColumn("split").AddColumn(new TableColumn("pairs").RightAligned());
        table.AddRow("train", summary.Train.ToString(CultureInfo.InvariantCulture));
        table.AddRow("validation", summary.Validation.ToString(CultureInfo.InvariantCulture));
        table.AddRow("test", summary.Test.ToString(CultureInfo.InvariantCulture));
        console.Write(table);
        console.MarkupLineInterpolated(
            $"noisy training pairs: {summary.NoisyPairs}, distinct visual prompts: {summary.UniqueVisualPrompts}, domain shift: {(settings.DomainShift ? "on" : "off")}");
        console.MarkupLineInterpolated($"wrote {summary.OutputDirectory} in {summary.Elapsed.TotalSeconds:F1} s");
        return 0;
    }
}
