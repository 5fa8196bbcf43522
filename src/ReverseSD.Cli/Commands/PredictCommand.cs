using System.ComponentModel;
using System.Globalization;
using System.Text.Json;
using Microsoft.ML;
using ReverseSD.MLNet;
using ReverseSD.MLNet.Data;
using ReverseSD.MLNet.Pipeline;
using ReverseSD.MLNet.Retrieval;
using Spectre.Console;
using Spectre.Console.Cli;

namespace ReverseSD.Cli.Commands;

/// <summary>`reversesd predict`: the prompt of images in words (composed, nearest bank prompts), their prompt embedding and most probable vocabulary words.</summary>
internal sealed class PredictCommand(IAnsiConsole console) : Command<PredictCommand.Settings>
{
    /// <summary>Options of `predict`.</summary>
    public sealed class Settings : ComposerSettings
    {
        [CommandArgument(0, "<IMAGES>")]
        [Description("Image files or folders (PNG, JPEG).")]
        public string[] Images { get; init; } = [];

        [CommandOption("--model <PATH>")]
        [Description("Model zip written by 'reversesd train'.")]
        public string Model { get; init; } = "";

        [CommandOption("--format <FORMAT>")]
        [Description("json (default), jsonl or csv.")]
        public string Format { get; init; } = "json";

        [CommandOption("--bank <PATH>")]
        [Description("Prompt bank ('reversesd bank build') to search; default: the bank inside the model zip, if any.")]
        public string? Bank { get; init; }

        [CommandOption("--compose <METHOD>")]
        [Description("How the prompt is made: beam (default), greedy (baseline) or none (the nearest bank prompt).")]
        [DefaultValue("beam")]
        public string Compose { get; init; } = "beam";

        [CommandOption("--top-words <N>")]
        [Description("Vocabulary words to list per image (default 10).")]
        public int TopWords { get; init; } = 10;

        public override ValidationResult Validate()
        {
            if (string.IsNullOrWhiteSpace(Model)) return ValidationResult.Error("--model is required: a model zip from 'reversesd train'.");
            if (Format is not ("json" or "jsonl" or "csv")) return ValidationResult.Error($"--format must be json, jsonl or csv; got '{Format}'.");
            if (TopWords < 0) return ValidationResult.Error("--top-words must be >= 0.");
            if (ComposeCommand.ParseMethod(Compose) == null) return ValidationResult.Error($"--compose must be beam, greedy or none; got '{Compose}'.");
            return base.Validate();
        }
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        var images = ExpandImages(settings.Images);
        var ml = new MLContext(1);
        using var bank = settings.Bank == null ? null : PromptBank.Open(settings.Bank);
        var model = ReverseSdModel.Load(ml, settings.Model);
        try
        {
            var options = new PromptPredictionOptions
            {
                TopWords = settings.TopWords, Bank = bank, Composition = ComposeCommand.ParseMethod(settings.Compose)!.Value,
                Composer = settings.ComposerOptions(),
            };
            var predictions = ReverseSdModel.Predict(ml, model, images, options, out var skipped, cancellationToken);
            if (predictions.Count == 0)
                throw new ReverseSdInputException($"None of the {images.Count} image(s) could be read (e.g. '{skipped[0].Path}': {skipped[0].Reason}).");
            console.Profile.Width = Math.Max(console.Profile.Width, 4096);
            if (settings.Format is "json" or "jsonl")
            {
                var records = predictions.Select(p => new
                {
                    image = p.ImagePath,
                    prompt = p.Prompt,
                    prompt_score = p.PromptScore,
                    nearest_prompts = p.NearestPrompts.Select(m => new { prompt = m.Prompt, score = m.Score }),
                    words = p.TopWords.Select(w => new { word = w.Word, probability = w.Probability }),
                    embedding = p.Embedding,
                });
                var relaxed = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping;
                if (settings.Format == "json")
                    console.WriteLine(JsonSerializer.Serialize(records, new JsonSerializerOptions { WriteIndented = true, Encoder = relaxed }));
                else
                    foreach (var r in records) console.WriteLine(JsonSerializer.Serialize(r, new JsonSerializerOptions { Encoder = relaxed }));
            }
            else
            {
                string F(float v) => v.ToString("R", CultureInfo.InvariantCulture);
                console.WriteLine(string.Join(",", ["image", "prompt", "prompt_score", "nearest_prompts", "words", .. Enumerable.Range(0, predictions[0].Embedding.Length).Select(i => $"e{i}")]));
                foreach (var p in predictions)
                {
                    string words = string.Join(" ", p.TopWords.Select(w => $"{w.Word}:{w.Probability.ToString("F3", CultureInfo.InvariantCulture)}"));
                    string nearest = string.Join(" | ", p.NearestPrompts.Select(m => $"{m.Prompt} ({m.Score.ToString("F3", CultureInfo.InvariantCulture)})"));
                    console.WriteLine(string.Join(",", [CsvTable.Quote(p.ImagePath), CsvTable.Quote(p.Prompt ?? ""), p.PromptScore is float s ? F(s) : "",
                        CsvTable.Quote(nearest), CsvTable.Quote(words), .. p.Embedding.Select(F)]));
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
