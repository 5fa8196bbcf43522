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
internal sealed class PredictCommand(IAnsiConsole console) : Command<PredictCommand.Settings>
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
        [Description("json (default) or csv.")]
        public string Format { get; init; } = "json";

        [CommandOption("--top-words <N>")]
        [Description("Vocabulary words to list per image (default 10).")]
        public int TopWords { get; init; } = 10;

        public override ValidationResult Validate()
        {
            if (string.IsNullOrWhiteSpace(Model)) return ValidationResult.Error("--model is required: a model zip from 'reversesd train'.");
            if (Format is not ("json" or "csv")) return ValidationResult.Error($"--format must be json or csv; got '{Format}'.");
            if (TopWords < 0) return ValidationResult.Error("--top-words must be >= 0.");
            return ValidationResult.Success();
        }
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        var images = ExpandImages(settings.Images);
        var ml = new MLContext(1);
        var model = ReverseSdModel.Load(ml, settings.Model);
        try
        {
            var predictions = ReverseSdModel.Predict(ml, model, images, settings.TopWords, out var skipped);
            if (predictions.Count == 0)
                throw new ReverseSdInputException($"None of the {images.Count} image(s) could be read (e.g. '{skipped[0].Path}': {skipped[0].Reason}).");
            console.Profile.Width = Math.Max(console.Profile.Width, 4096);
            if (settings.Format == "json")
            {
                var json = predictions.Select(p => new
                {
                    image = p.ImagePath,
                    embedding = p.Embedding,
                    top_words = p.TopWords.Select(w => new { word = w.Word, probability = w.Probability }),
                });
                console.WriteLine(JsonSerializer.Serialize(json, new JsonSerializerOptions { WriteIndented = true }));
            }
            else
            {
                console.WriteLine(string.Join(",", ["image", "top_words", .. Enumerable.Range(0, predictions[0].Embedding.Length).Select(i => $"e{i}")]));
                foreach (var p in predictions)
                {
                    string words = string.Join(" ", p.TopWords.Select(w => $"{w.Word}:{w.Probability.ToString("F3", CultureInfo.InvariantCulture)}"));
                    console.WriteLine(string.Join(",", [CsvTable.Quote(p.ImagePath), CsvTable.Quote(words), .. p.Embedding.Select(v => v.ToString("R", CultureInfo.InvariantCulture))]));
                }
            }
            foreach (var s in skipped)
                Console.Error.WriteLine($"skipped unreadable image '{s.Path}': {s.Reason}");
        }
        finally
        {
            (model as IDisposable)?.Dispose();
        }
        return 0;
    }

    /// <summary>Files as given; folders expanded to their image files (<see cref="ImageFiles.Extensions"/>) in name order.</summary>
    internal static List<string> ExpandImages(IEnumerable<string> arguments)
    {
        var images = new List<string>();
        foreach (string a in arguments)
        {
            if (Directory.Exists(a))
                images.AddRange(Directory.EnumerateFiles(a).Where(ImageFiles.HasImageExtension).Order(StringComparer.Ordinal));
            else if (File.Exists(a))
                images.Add(a);
            else
                throw new ReverseSdInputException($"Image '{a}' does not exist: give image files or folders.");
        }
        if (images.Count == 0) throw new ReverseSdInputException($"No image found in the given paths ({string.Join(", ", ImageFiles.Extensions)} files).");
        return images;
    }
}
