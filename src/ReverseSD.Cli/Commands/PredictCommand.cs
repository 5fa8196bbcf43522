using System.ComponentModel;
using System.Globalization;
using System.Text.Json;
using Microsoft.ML;
using ReverseSD.MLNet;
using ReverseSD.MLNet.Data;
using ReverseSD.MLNet.Pipeline;
using Spectre.Console;
using Spectre.Console.Cli;

namespace ReverseSD.Cli.Commands;

/// <summary>`reversesd predict`: prompt embedding and most probable vocabulary words of images.</summary>
internal sealed class PredictCommand(IAnsiConsole console, CliStreams streams) : Command<PredictCommand.Settings>
{
    /// <summary>Options of `predict`.</summary>
    public sealed class Settings : CommandSettings
    {
        [CommandArgument(0, "<IMAGES>")]
        [Description("Image files or folders (PNG, JPEG).")]
        public string[] Images { get; init; } = [];

        [CommandOption("--model <PATH>")]
        [Description("Model zip written by 'reversesd train'.")]
        public string Model { get; init; } = "";

        [CommandOption("--format <FORMAT>")]
        [Description("json (one array), jsonl (one object per line) or csv (one record per image); any case. Default: from --out's extension, else json.")]
        public ResultFormat? Format { get; init; }

        [CommandOption("--out <FILE>")]
        [Description("File to write the results to (written atomically); default: stdout.")]
        public string? Out { get; init; }

        [CommandOption("--top-words <N>")]
        [Description("Vocabulary words to list per image.")]
        [DefaultValue(10)]
        public int TopWords { get; init; } = 10;

        public override ValidationResult Validate()
        {
            if (string.IsNullOrWhiteSpace(Model)) return ValidationResult.Error("--model is required: a model zip from 'reversesd train'.");
            if (TopWords < 0) return ValidationResult.Error("--top-words must be >= 0.");
            return ValidationResult.Success();
        }
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        var images = ExpandImages(settings.Images);
        using var results = ResultWriter.Open(streams, settings.Out, settings.Format);
        var ml = new MLContext(1);
        var model = ReverseSdModel.Load(ml, settings.Model);
        try
        {
            var predictions = ReverseSdModel.Predict(ml, model, images, settings.TopWords, out var skipped);
            foreach (var s in skipped)
                streams.Error.WriteLine($"warning: skipped unreadable image '{s.Path}': {s.Reason}");
            if (predictions.Count == 0)
                throw new ReverseSdInputException($"None of the {images.Count} image(s) could be read (e.g. '{skipped[0].Path}': {skipped[0].Reason}).");
            foreach (var p in predictions)
                results.Write(Record(p));
            results.Complete();
            if (settings.Out != null)
                console.MarkupLineInterpolated($"wrote {results.Count} prediction(s) to {Path.GetFullPath(settings.Out)}");
        }
        finally
        {
            (model as IDisposable)?.Dispose();
        }
        return 0;
    }

    /// <summary>One image's result with the field names every command and the README use.</summary>
    internal static ResultRecord Record(PromptPrediction p) => new ResultRecord()
        .Text("image", p.ImagePath)
        .List("top_words", p.TopWords.Select(w => new ResultRecord().Text("word", w.Word).Number("probability", w.Probability)))
        .Vector("embedding", p.Embedding, csvPrefix: "e");

    /// <summary>Files as given; folders expanded to their PNG/JPEG files in name order.</summary>
    internal static List<string> ExpandImages(IEnumerable<string> arguments)
    {
        var images = new List<string>();
        foreach (string a in arguments)
        {
            if (Directory.Exists(a))
                images.AddRange(Directory.EnumerateFiles(a).Where(f => Path.GetExtension(f).ToLowerInvariant() is ".png" or ".jpg" or ".jpeg").Order(StringComparer.Ordinal));
            else if (File.Exists(a))
                images.Add(a);
            else
                throw new ReverseSdInputException($"Image '{a}' does not exist: give image files or folders.");
        }
        if (images.Count == 0) throw new ReverseSdInputException("No image found in the given paths (PNG or JPEG files).");
        return images;
    }
}
