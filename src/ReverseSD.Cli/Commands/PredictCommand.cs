using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;
using Microsoft.ML;
using ReverseSD.MLNet;
using ReverseSD.MLNet.Backbones;
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
        [Description("File to write the results to (default: stdout): written as FILE.partial a chunk at a time and moved onto FILE at the end; a killed run started again with the same arguments continues after its last finished chunk.")]
        public string? Out { get; init; }

        [CommandOption("--chunk-size <N>")]
        [Description("Images per chunk: results are written, and a killed --out run resumes, a chunk at a time (default 64).")]
        public int ChunkSize { get; init; } = ReverseSdModel.DefaultPredictChunkSize;

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

        [CommandOption("--verbose")]
        [Description("Print on stderr, at the end, where the time went: process start, model load, featurisation, the stages after the backbone, composition, writing.")]
        public bool Verbose { get; init; }

        public override ValidationResult Validate()
        {
            if (string.IsNullOrWhiteSpace(Model)) return ValidationResult.Error("--model is required: a model zip from 'reversesd train'.");
            if (TopWords < 0) return ValidationResult.Error("--top-words must be >= 0.");
            if (ChunkSize < 1) return ValidationResult.Error("--chunk-size must be at least 1.");
            if (ComposeCommand.ParseMethod(Compose) == null) return ValidationResult.Error($"--compose must be beam, greedy or none; got '{Compose}'.");
            return base.Validate();
        }
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        if (!settings.Verbose) return Run(settings, cancellationToken);
        var startup = DateTime.Now - Process.GetCurrentProcess().StartTime;
        var cpu = Process.GetCurrentProcess().TotalProcessorTime;
        PhaseTimes.Clear();
        PhaseTimes.Enabled = true;
        var clock = Stopwatch.StartNew();
        try
        {
            return Run(settings, cancellationToken);
        }
        finally
        {
            PhaseTimes.Enabled = false;
            PrintPhases(startup, clock.Elapsed, cpu);
        }
    }

    /// <summary>The --verbose breakdown: one line per phase (wall seconds, occurrences), then the totals.</summary>
    private void PrintPhases(TimeSpan startup, TimeSpan command, TimeSpan cpuAtStart)
    {
        var process = Process.GetCurrentProcess();
        var e = streams.Error;
        e.WriteLine(string.Create(CultureInfo.InvariantCulture, $"time: {startup.TotalSeconds,7:F3} s  process start to the command (runtime, JIT, argument parsing)"));
        foreach (var (phase, wall, count) in PhaseTimes.Snapshot())
            e.WriteLine(string.Create(CultureInfo.InvariantCulture, $"time: {wall.TotalSeconds,7:F3} s  {phase}{(count > 1 ? $" ({count} times)" : "")}"));
        e.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"time: {command.TotalSeconds,7:F3} s  the command in all; CPU {(process.TotalProcessorTime - cpuAtStart).TotalSeconds:F3} s in it, {process.TotalProcessorTime.TotalSeconds:F3} s since the process started; peak RSS {process.PeakWorkingSet64 / (1024 * 1024)} MiB"));
    }

    private int Run(Settings settings, CancellationToken cancellationToken)
    {
        var images = ExpandImages(settings.Images);
        bool toFile = !string.IsNullOrEmpty(settings.Out) && settings.Out != "-";
        var format = ResultWriter.ChooseFormat(settings.Format, toFile ? settings.Out : null);
        var method = ComposeCommand.ParseMethod(settings.Compose)!.Value;
        var ml = new MLContext(1);
        PromptBank? opened;
        using (PhaseTimes.Measure("open the --bank file"))
            opened = settings.Bank == null ? null : PromptBank.Open(settings.Bank);
        using var bank = opened;
        ITransformer model;
        using (PhaseTimes.Measure("load the model zip (ML.NET)"))
            model = ReverseSdModel.Load(ml, settings.Model, forScoringOnly: true);   // only PredictStream scores it
        try
        {
            var options = new PromptPredictionOptions
            {
                TopWords = settings.TopWords, WordRanking = settings.WordRanking, Bank = bank,
                Composition = method, Composer = settings.ComposerOptions(),
            };
            if (!toFile)
            {
                using var results = ResultWriter.Open(streams, null, format);
                Predict(model, ml, images, 0, options, settings.ChunkSize, results, null, cancellationToken);
                results.Complete();
                return 0;
            }
            var composer = options.Composer;
            string key = ResumableResultFile.Key([
                ResumableResultFile.FileStamp(settings.Model), settings.Bank == null ? "no bank" : ResumableResultFile.FileStamp(settings.Bank),
                string.Create(CultureInfo.InvariantCulture, $"{format} {settings.TopWords} {settings.WordRanking} {method} {settings.ChunkSize}"),
                string.Create(CultureInfo.InvariantCulture, $"{composer.BeamWidth} {composer.Steps} {composer.CandidatesPerStep} {composer.Neighbors}"),
                .. images.Select(Path.GetFullPath)]);
            using var file = ResumableResultFile.Open(settings.Out!, format, key);
            if (file.Resumed)
                console.MarkupLineInterpolated($"continuing {Path.GetFullPath(settings.Out!)}.partial after {file.InputsDone} of {images.Count} image(s)");
            try
            {
                Predict(model, ml, images, file.InputsDone, options, settings.ChunkSize, file.Results, file, cancellationToken);
            }
            catch (ReverseSdInputException)
            {
                file.Discard(); // bad input: a restart would fail the same way
                throw;
            }
            file.Complete();
            console.MarkupLineInterpolated($"wrote {file.Results.Count} prediction(s) to {Path.GetFullPath(settings.Out!)}");
        }
        finally
        {
            (model as IDisposable)?.Dispose();
        }
        return 0;
    }

    /// <summary>
    /// Predicts <paramref name="images"/> from index <paramref name="start"/> (a chunk boundary) and writes each result as
    /// its chunk finishes; every finished chunk is kept in <paramref name="file"/> when writing to one. Unreadable images
    /// (those of kept chunks too) are listed on stderr; none readable at all is bad input.
    /// </summary>
    private void Predict(ITransformer model, MLContext ml, List<string> images, int start, PromptPredictionOptions options, int chunkSize,
        ResultWriter results, ResumableResultFile? file, CancellationToken cancellationToken)
    {
        bool live = ConsoleProgress.Live(streams.Diagnostics);
        var skipped = new List<UnreadableImage>(file?.Skipped ?? []);
        foreach (var s in skipped) Warn(s);
        var remaining = images.GetRange(start, images.Count - start);
        if (live)
            ConsoleProgress.Run(streams.Diagnostics, "predict", progress => Write(new OffsetProgress(progress, start, images.Count)));
        else
            Write(null);
        if (results.Count == 0)
            throw new ReverseSdInputException($"None of the {images.Count} image(s) could be read (e.g. '{skipped[0].Path}': {skipped[0].Reason}).");

        int Write(IProgress<ProgressReport>? progress)
        {
            var chunkSkipped = new List<UnreadableImage>();
            int done = start, inChunk = 0;
            foreach (var result in ReverseSdModel.PredictStream(ml, model, remaining, options, chunkSize, progress, cancellationToken))
            {
                if (result.Prediction != null)
                {
                    using var _ = PhaseTimes.Measure("write the results");
                    results.Write(Record(result.Prediction));
                }
                else
                {
                    var s = new UnreadableImage(result.ImagePath, result.Problem!);
                    Warn(s);
                    skipped.Add(s);
                    chunkSkipped.Add(s);
                }
                done++;
                if (++inChunk < chunkSize && done < images.Count) continue;
                file?.Keep(done, chunkSkipped);
                chunkSkipped.Clear();
                inChunk = 0;
            }
            return done;
        }

        // On a live progress display, through its console (a raw line would break the display).
        void Warn(UnreadableImage s)
        {
            string line = $"warning: skipped unreadable image '{s.Path}': {s.Reason}";
            if (live) streams.Diagnostics.WriteLine(line);
            else streams.Error.WriteLine(line);
        }
    }

    /// <summary>Progress of a resumed run counted over all its images: the reports of the remaining ones, shifted.</summary>
    private sealed class OffsetProgress(IProgress<ProgressReport> inner, int offset, int total) : IProgress<ProgressReport>
    {
        public void Report(ProgressReport value) => inner.Report(value with { Done = value.Done + offset, Total = total });
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
