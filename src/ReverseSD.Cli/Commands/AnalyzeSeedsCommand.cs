using System.ComponentModel;
using System.Globalization;
using System.Text.Json;
using Microsoft.ML;
using ReverseSD.MLNet;
using ReverseSD.MLNet.Evaluation;
using ReverseSD.MLNet.Pipeline;
using Spectre.Console;
using Spectre.Console.Cli;

namespace ReverseSD.Cli.Commands;

/// <summary>`reversesd analyze seeds`: how much a model's predictions move with the generation seed (paper §4.7).</summary>
internal sealed class AnalyzeSeedsCommand(IAnsiConsole console) : Command<AnalyzeSeedsCommand.Settings>
{
    /// <summary>Options of `analyze seeds`.</summary>
    public sealed class Settings : CommandSettings
    {
        [CommandOption("--model <PATH>")]
        [Description("Model zip written by 'reversesd train'.")]
        public string Model { get; init; } = "";

        [CommandOption("--data <DIR>")]
        [Description("Data set folder with several images per prompt ('reversesd data synth --seeds-per-prompt 5'); the kNN baseline uses its train split.")]
        public string Data { get; init; } = "";

        [CommandOption("--split <NAME>")]
        [Description("Split to analyse: test (default), validation or train.")]
        public string Split { get; init; } = "test";

        [CommandOption("--knn-baseline <K>")]
        [Description("k of the kNN regression baseline, image-to-image in the model's ImageFeatures space (default 10; 0: none).")]
        public int KnnBaseline { get; init; } = 10;

        [CommandOption("--out <PATH>")]
        [Description("JSON report to write (default seeds.json).")]
        public string Out { get; init; } = "seeds.json";

        public override ValidationResult Validate()
        {
            if (string.IsNullOrWhiteSpace(Model)) return ValidationResult.Error("--model is required: a model zip from 'reversesd train'.");
            if (string.IsNullOrWhiteSpace(Data)) return ValidationResult.Error("--data is required: the data set folder.");
            if (Split is not ("test" or "validation" or "train")) return ValidationResult.Error($"--split must be test, validation or train; got '{Split}'.");
            if (KnnBaseline < 0) return ValidationResult.Error("--knn-baseline must be >= 0.");
            return ValidationResult.Success();
        }
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        var ml = new MLContext(1);
        var model = ReverseSdModel.Load(ml, settings.Model);
        SeedAnalysisReport report;
        try
        {
            report = ConsoleProgress.Run(console, "seed analysis",
                progress => ReverseSdModel.AnalyzeSeeds(ml, model, settings.Data, settings.Split, settings.KnnBaseline, progress, cancellationToken));
        }
        finally
        {
            (model as IDisposable)?.Dispose();
        }
        static string F(double v) => v.ToString("F4", CultureInfo.InvariantCulture);
        var table = new Table().AddColumn("predictor").AddColumn(new TableColumn("prompts").RightAligned()).AddColumn(new TableColumn("images").RightAligned())
            .AddColumn(new TableColumn("mean cosine").RightAligned()).AddColumn(new TableColumn("seed std (§4.7)").RightAligned());
        void Row(string name, SeedNoiseStatistics s) => table.AddRow(Markup.Escape(name), s.Prompts.ToString(CultureInfo.InvariantCulture),
            s.Images.ToString(CultureInfo.InvariantCulture), F(s.MeanCosine), F(s.MeanStandardDeviation));
        Row("model", report.Model);
        if (report.NearestNeighbors != null) Row("kNN regression baseline", report.NearestNeighbors);
        console.Write(table);
        console.MarkupLineInterpolated($"split {report.Split}; kNN baseline: {report.NearestNeighborsNote}; skipped images: {report.SkippedImages}");
        console.MarkupLine("seed std: per prompt, the standard deviation over its images of the cosine between each prediction and the prompt's mean prediction, averaged over prompts (paper: 0.0175).");
        var json = JsonSerializer.SerializeToUtf8Bytes(new
        {
            data = Path.GetFullPath(settings.Data), model = Path.GetFullPath(settings.Model), split = report.Split,
            model_statistics = Json(report.Model), knn_baseline_statistics = report.NearestNeighbors == null ? null : Json(report.NearestNeighbors),
            knn_baseline = report.NearestNeighborsNote, skipped_images = report.SkippedImages,
        }, new JsonSerializerOptions { WriteIndented = true });
        AtomicFile.WriteAllBytes(settings.Out, json);
        console.MarkupLineInterpolated($"wrote {Path.GetFullPath(settings.Out)}");
        return 0;
    }

    private static object Json(SeedNoiseStatistics s) => new
    {
        prompts = s.Prompts, images = s.Images, mean_cosine = s.MeanCosine, seed_std = s.MeanStandardDeviation,
    };
}
