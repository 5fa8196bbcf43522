using System.ComponentModel;
using Microsoft.ML;
using ReverseSD.MLNet.Pipeline;
using Spectre.Console;
using Spectre.Console.Cli;

namespace ReverseSD.Cli.Commands;

/// <summary>`reversesd evaluate`: mean cosine of a saved model on a split, with the baseline and the ceiling.</summary>
internal sealed class EvaluateCommand(IAnsiConsole console) : Command<EvaluateCommand.Settings>
{
    /// <summary>Options of `evaluate`.</summary>
    public sealed class Settings : CommandSettings
    {
        [CommandOption("--model <PATH>")]
        [Description("Model zip written by 'reversesd train'.")]
        public string Model { get; init; } = "";

        [CommandOption("--data <DIR>")]
        [Description("Data set folder (the baseline uses its train split).")]
        public string Data { get; init; } = "";

        [CommandOption("--split <NAME>")]
        [Description("Split to evaluate: test (default), validation or train.")]
        public string Split { get; init => field = value.Trim().ToLowerInvariant(); } = "test";

        [CommandOption("--cache-dir <DIR>")]
        [Description("Read the images' features (and prompt embeddings of 'featurize --text') from this feature cache, as N 'featurize --shard K/N' tasks wrote it; only the stages after the backbone run (default: score the images).")]
        public string? CacheDir { get; init; }

        [CommandOption("--report <FILE>")]
        [Description("Report JSON to write, per-sample cosines beside it as NAME-samples.csv (default report.json).")]
        public string Out { get; init; } = "report.json";

        [CommandOption("--html <FILE>")]
        [Description("Also write one self-contained HTML page: summary, t-test, cosine histogram, best/median/worst images (default: none).")]
        public string? Html { get; init; }

        /// <summary>Old name of --report, still accepted.</summary>
        [CommandOption("--out <FILE>", IsHidden = true)]
        public string? OutOldName { get => null; init { if (value != null) Out = value; } }

        public override ValidationResult Validate()
        {
            if (string.IsNullOrWhiteSpace(Model)) return ValidationResult.Error("--model is required: a model zip from 'reversesd train'.");
            if (string.IsNullOrWhiteSpace(Data)) return ValidationResult.Error("--data is required: the data set folder.");
            if (Split is not ("test" or "validation" or "train")) return ValidationResult.Error($"--split must be test, validation or train; got '{Split}'.");
            return ValidationResult.Success();
        }
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        var ml = new MLContext(1);
        var model = ReverseSdModel.Load(ml, settings.Model);
        try
        {
            var (report, metrics, baseline, images) = ConsoleProgress.Run(console, "evaluating",
                progress => ReverseSdModel.Evaluate(ml, model, settings.Data, settings.Split, settings.CacheDir, progress, cancellationToken));
            string csv = ReverseSdModel.WriteReport(report, settings.Out, images, metrics, baseline);
            EvaluationSummary.Print(console, report);
            console.MarkupLineInterpolated($"wrote {Path.GetFullPath(settings.Out)} and {csv}");
            if (settings.Html != null)
            {
                EvaluationPage.Write(settings.Html, report, metrics, baseline,
                    EvaluationPage.Examples(ml, model, settings.Data, settings.Split, images, metrics));
                console.MarkupLineInterpolated($"wrote {Path.GetFullPath(settings.Html)}");
            }
        }
        finally
        {
            (model as IDisposable)?.Dispose();
        }
        return 0;
    }
}
