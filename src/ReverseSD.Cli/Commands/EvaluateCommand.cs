using System.ComponentModel;
using Microsoft.ML;
using ReverseSD.MLNet.Pipeline;
using ReverseSD.MLNet.Retrieval;
using Spectre.Console;
using Spectre.Console.Cli;

namespace ReverseSD.Cli.Commands;

/// <summary>
/// `reversesd evaluate`: mean cosine of a saved model on a split, with the baseline and the ceiling, and the answers in words
/// (nearest bank prompt, composed prompt, bank oracle) scored against the true prompts.
/// </summary>
internal sealed class EvaluateCommand(IAnsiConsole console) : Command<EvaluateCommand.Settings>
{
    /// <summary>Options of `evaluate`.</summary>
    public sealed class Settings : ComposerSettings
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

        [CommandOption("--bank <BANK>")]
        [Description("Prompt rows (scored against the true prompts): train (default: the distinct prompts of the train split), a bank file from 'reversesd bank build', or none (no prompt rows).")]
        public string Bank { get; init; } = "train";

        [CommandOption("--compose <METHOD>")]
        [Description("How the composed row's prompts are made: beam (default), greedy (baseline) or none (no composed row).")]
        public string Compose { get; init; } = "beam";

        /// <summary>Old name of --report, still accepted.</summary>
        [CommandOption("--out <FILE>", IsHidden = true)]
        public string? OutOldName { get => null; init { if (value != null) Out = value; } }

        public override ValidationResult Validate()
        {
            if (string.IsNullOrWhiteSpace(Model)) return ValidationResult.Error("--model is required: a model zip from 'reversesd train'.");
            if (string.IsNullOrWhiteSpace(Data)) return ValidationResult.Error("--data is required: the data set folder.");
            if (Split is not ("test" or "validation" or "train")) return ValidationResult.Error($"--split must be test, validation or train; got '{Split}'.");
            if (string.IsNullOrWhiteSpace(Bank)) return ValidationResult.Error("--bank must be train, none or a bank file.");
            if (ComposeCommand.ParseMethod(Compose) == null) return ValidationResult.Error($"--compose must be beam, greedy or none; got '{Compose}'.");
            return base.Validate();
        }
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        var ml = new MLContext(1);
        using var bank = settings.Bank is "train" or "none" ? null : PromptBank.Open(settings.Bank);
        var prompts = settings.Bank == "none" ? null : new PromptEvaluationOptions
        {
            Bank = bank, Composition = ComposeCommand.ParseMethod(settings.Compose)!.Value, Composer = settings.ComposerOptions(),
        };
        var model = ReverseSdModel.Load(ml, settings.Model);
        try
        {
            var (report, metrics, baseline, images) = ConsoleProgress.Run(console, "evaluating",
                progress => ReverseSdModel.Evaluate(ml, model, settings.Data, settings.Split, settings.CacheDir, prompts, progress, cancellationToken));
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
