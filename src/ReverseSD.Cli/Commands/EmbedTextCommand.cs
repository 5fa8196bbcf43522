using System.ComponentModel;
using ReverseSD.MLNet;
using ReverseSD.MLNet.Text;
using Spectre.Console;
using Spectre.Console.Cli;

namespace ReverseSD.Cli.Commands;

/// <summary>`reversesd embed-text`: all-MiniLM-L6-v2 embeddings (the paper's prompt embeddings) of a list of prompts.</summary>
internal sealed class EmbedTextCommand(IAnsiConsole console, CliStreams streams) : Command<EmbedTextCommand.Settings>
{
    /// <summary>Options of `embed-text`.</summary>
    internal sealed class Settings : CommandSettings
    {
        [CommandOption("--input <PATH>")]
        [Description("Prompts to embed: a .csv file (one column is used, see --column) or any other text file with one prompt per line.")]
        public string? Input { get; init; }

        [CommandOption("--column <NAME>")]
        [Description("Column of a .csv input that holds the prompts, case-insensitive (default prompt).")]
        public string? Column { get; init; }

        [CommandOption("--out <FILE>")]
        [Description("File to write: one record per prompt with its 384 values, in input order, written atomically (default: stdout).")]
        public string? Out { get; init; }

        [CommandOption("--format <FORMAT>")]
        [Description("csv (header prompt,e0..e383), jsonl ({\"prompt\":...,\"embedding\":[[...]]} per line) or json (one array); any case (default: from --out's extension .csv, .jsonl or .json, else csv).")]
        public ResultFormat? Format { get; init; }

        [CommandOption("--batch-size <N>")]
        [Description("Prompts per ONNX Runtime call (prompts are grouped by length) (default 32).")]
        public int BatchSize { get; init; } = SentenceEncoder.DefaultBatchSize;

        [CommandOption("--int8")]
        [Description("Run the encoder with int8 weights: about twice as fast on CPUs with int8 dot products (AVX-512 VNNI), vectors a little off the float model's (cosine 0.98 to 0.995; bench text --int8 measures it). Not for vectors that must match a model's training targets or a prompt bank's.")]
        public bool Int8 { get; init; }

        public override ValidationResult Validate()
        {
            if (string.IsNullOrWhiteSpace(Input)) return ValidationResult.Error("--input is required: a .txt (one prompt per line) or .csv file.");
            if (BatchSize < 1) return ValidationResult.Error($"--batch-size must be at least 1 (got {BatchSize}).");
            if (Column != null && !PromptListFile.IsCsv(Input))
                return ValidationResult.Error("--column applies to a .csv input only; a text input has one prompt per line.");
            return ValidationResult.Success();
        }
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        var prompts = PromptListFile.Read(settings.Input!, settings.Column);
        using var results = ResultWriter.Open(streams, settings.Out, settings.Format ?? (settings.Out == null ? ResultFormat.Csv : null));
        using var encoder = SentenceEncoder.Load(null, settings.BatchSize, settings.Int8);
        var embeddings = ConsoleProgress.Run(streams.Diagnostics, "Encoding prompts", progress => encoder.Encode(prompts, progress, cancellationToken));
        for (int i = 0; i < prompts.Count; i++)
            results.Write(new ResultRecord().Text("prompt", prompts[i]).Vector("embedding", embeddings[i], csvPrefix: "e"));
        results.Complete();
        if (settings.Out != null)
            console.MarkupLineInterpolated($"Wrote {prompts.Count} embeddings ({SentenceEncoder.Dimension}-d, {results.Format.ToString().ToLowerInvariant()}) to {settings.Out}");
        return 0;
    }
}
