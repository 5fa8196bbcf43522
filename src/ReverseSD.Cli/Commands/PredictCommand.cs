using System.ComponentModel;
using System.Globalization;
using System.Text.Json;
using Microsoft.ML;
using ReverseSD.MLNet;
using ReverseSD.MLNet.Backbones;
using ReverseSD.MLNet.Data;
using ReverseSD.MLNet.Pipeline;
using Spectre.Console;
using Spectre.Console.Cli;

namespace ReverseSD.Cli.Commands;

/// <summary>
/// `reversesd predict`: prompt embedding and most probable vocabulary words of images, streamed chunk by chunk (flat
/// memory for any number of images); with --out, a killed run started again continues after its last finished chunk.
/// </summary>
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
        [Description("json (one array), jsonl (one object per line) or csv (one record per image), any case (default: from --out's extension, else json).")]
        public ResultFormat? Format { get; init; }

        [CommandOption("--out <FILE>")]
        [Description("File to write the results to, written atomically (default: stdout).")]
        public string? Out { get; init; }

        [CommandOption("--top-words <N>")]
        [Description("Vocabulary words to list per image (default 10).")]
        public int TopWords { get; init; } = 10;

        [CommandOption("--word-ranking <RANKING>")]
        [Description("lift (probability ÷ training frequency: words that set this image apart) or probability (raw), any case (default lift).")]
        public WordRanking WordRanking { get; init; } = WordRanking.Lift;

        [CommandOption("--chunk-size <N>")]
        [Description("Images scored per chunk: results are written, and with --out kept for a resumed run, chunk by chunk (default 64).")]
        public int ChunkSize { get; init; } = ReverseSdModel.DefaultPredictChunkSize;

        [CommandOption("--progress")]
        [Description("Print progress (images/s, ETA) on stderr even when it is not a terminal.")]
        public bool Progress { get; init; }

        public override ValidationResult Validate()
        {
            if (ChunkSize < 1) return ValidationResult.Error("--chunk-size must be >= 1.");
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
            var journal = settings.Out == null ? null
                : PredictionJournal.Open(settings.Out, settings.Model, images, settings.TopWords, results.Format + " " + settings.WordRanking, settings.ChunkSize);
            int predicted = 0, skipped = 0;
            UnreadableImage? firstSkipped = null;
            void Emit(ImagePredictionResult r)
            {
                if (r.Prediction != null)
                {
                    results.Write(Record(r.Prediction));
                    predicted++;
                    return;
                }
                skipped++;
                firstSkipped ??= new UnreadableImage(r.ImagePath, r.Problem!);
                streams.Error.WriteLine($"warning: skipped unreadable image '{r.ImagePath}': {r.Problem}");
            }

            // Chunks a killed run finished are replayed; scoring continues after the last of them.
            int chunks = 0;
            foreach (var chunk in journal?.FinishedChunks() ?? [])
            {
                foreach (var r in chunk) Emit(r);
                chunks++;
            }
            int start = Math.Min(images.Count, chunks * settings.ChunkSize);
            var remaining = images.Skip(start).ToList();
            bool showProgress = settings.Progress || (!ReferenceEquals(streams.Out, streams.Error) && streams.Diagnostics.Profile.Capabilities.Interactive);
            void Score(IProgress<ProgressReport>? progress)
            {
                var pending = new List<ImagePredictionResult>(settings.ChunkSize);
                foreach (var r in ReverseSdModel.PredictStream(ml, model, remaining, settings.TopWords, settings.ChunkSize, progress, cancellationToken, settings.WordRanking))
                {
                    Emit(r);
                    pending.Add(r);
                    if (pending.Count == settings.ChunkSize)
                    {
                        journal?.Save(chunks++, pending);
                        pending.Clear();
                    }
                }
                if (pending.Count > 0) journal?.Save(chunks++, pending);
            }
            if (showProgress && remaining.Count > 0)
                ConsoleProgress.Run(streams.Diagnostics, "predict", progress => { Score(progress); return 0; });
            else
                Score(null);

            if (predicted == 0)
                throw new ReverseSdInputException($"None of the {images.Count} image(s) could be read (e.g. '{firstSkipped!.Path}': {firstSkipped.Reason}).");
            results.Complete();
            journal?.Delete();
            if (settings.Out != null)
                console.MarkupLineInterpolated($"wrote {results.Count} prediction(s) to {Path.GetFullPath(settings.Out)}{(skipped > 0 ? $"; {skipped} unreadable image(s) skipped" : "")}");
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
        .List("top_words", p.TopWords.Select(Word))
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
