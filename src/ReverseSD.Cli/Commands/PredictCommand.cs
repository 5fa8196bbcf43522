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
internal sealed class PredictCommand(IAnsiConsole console, CliStreams streams) : Command<PredictCommand.Settings>
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
        [Description("json (one array), jsonl (one object per line) or csv (one record per image), any case (default: from --out's extension, else json).")]
        public ResultFormat? Format { get; init; }

        [CommandOption("--out <FILE>")]
        [Description("File to write the results to, written atomically (default: stdout).")]
        public string? Out { get; init; }

        [CommandOption("--bank <PATH>")]
        [Description("Prompt bank ('reversesd bank build') to search; default: the bank inside the model zip, if any.")]
        public string? Bank { get; init; }

        [CommandOption("--compose <METHOD>")]
        [Description("How the prompt is made: beam (default), greedy (baseline) or none (the nearest bank prompt).")]
        public string Compose { get; init; } = "beam";

        [CommandOption("--top-words <N>")]
        [Description("Vocabulary words to list per image (default 10).")]
        public int TopWords { get; init; } = 10;

        [CommandOption("--word-ranking <RANKING>")]
        [Description("lift (probability ÷ training frequency: words that set this image apart) or probability (raw), any case (default lift).")]
        public WordRanking WordRanking { get; init; } = WordRanking.Lift;

        public override ValidationResult Validate()
        {
            if (string.IsNullOrWhiteSpace(Model)) return ValidationResult.Error("--model is required: a model zip from 'reversesd train'.");
            if (TopWords < 0) return ValidationResult.Error("--top-words must be >= 0.");
            if (ComposeCommand.ParseMethod(Compose) == null) return ValidationResult.Error($"--compose must be beam, greedy or none; got '{Compose}'.");
            return base.Validate();
        }
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        var images = ExpandImages(settings.Images);
        using var results = ResultWriter.Open(streams, settings.Out, settings.Format);
        var ml = new MLContext(1);
        using var bank = settings.Bank == null ? null : PromptBank.Open(settings.Bank);
        var model = ReverseSdModel.Load(ml, settings.Model);
        try
        {
            var options = new PromptPredictionOptions
            {
                TopWords = settings.TopWords, WordRanking = settings.WordRanking, Bank = bank,
                Composition = ComposeCommand.ParseMethod(settings.Compose)!.Value, Composer = settings.ComposerOptions(),
            };
            var predictions = ReverseSdModel.Predict(ml, model, images, options, out var skipped, cancellationToken);
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

    /// <summary>
    /// One image's result with the field names every command and the README use: the prompt (null without a bank), its
    /// cosine to the embedding, the nearest bank prompts, the vocabulary words and the embedding.
    /// </summary>
    internal static ResultRecord Record(PromptPrediction p) => new ResultRecord()
        .Text("image", p.ImagePath)
        .Text("prompt", p.Prompt)
        .Nullable("prompt_score", p.PromptScore)
        .List("nearest_prompts", p.NearestPrompts.Select(m => new ResultRecord().Text("prompt", m.Prompt).Number("score", m.Score)))
        .List("words", p.TopWords.Select(Word))
        .Vector("embedding", p.Embedding, csvPrefix: "e");

    /// <summary>A predicted word: word, probability, training_frequency and lift (the last two null for older models).</summary>
    internal static ResultRecord Word(PredictedWord w) => new ResultRecord().Text("word", w.Word).Number("probability", w.Probability)
        .Nullable("training_frequency", w.TrainingFrequency).Nullable("lift", w.Lift);

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
