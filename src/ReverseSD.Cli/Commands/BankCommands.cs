using System.ComponentModel;
using System.Globalization;
using ReverseSD.MLNet.Retrieval;
using ReverseSD.MLNet.Text;
using Spectre.Console;
using Spectre.Console.Cli;

namespace ReverseSD.Cli.Commands;

/// <summary>`reversesd bank build`: prompts from files → a memory-mappable prompt bank (MiniLM vectors), resumable.</summary>
internal sealed class BankBuildCommand(IAnsiConsole console) : Command<BankBuildCommand.Settings>
{
    /// <summary>Options of `bank build`.</summary>
    internal sealed class Settings : CommandSettings
    {
        [CommandOption("--input <PATH>")]
        [Description("Prompt sources (repeat the option): .txt (one prompt per line), .csv (see --column), data set folders (metadata.csv), DiffusionDB part json files or folders, metadata.parquet.")]
        public string[] Input { get; init; } = [];

        [CommandOption("--column <NAME>")]
        [Description("Prompt column of .csv inputs (case-insensitive) (default prompt).")]
        public string Column { get; init; } = "prompt";

        [CommandOption("--filters <MODE>")]
        [Description("paper: apply the paper's four prompt filters; none: only trim, drop empty prompts and exact duplicates (case-insensitive) (default none).")]
        public string Filters { get; init; } = "none";

        [CommandOption("--out <PATH>")]
        [Description("The bank file; it appears only when complete. Work in progress lives in PATH.partial/ (run again to resume).")]
        public string? Out { get; init; }

        [CommandOption("--chunk-size <N>")]
        [Description("Prompts embedded per saved chunk (the unit of resuming) (default 4096).")]
        public int ChunkSize { get; init; } = 4096;

        [CommandOption("--batch-size <N>")]
        [Description("Prompts per ONNX Runtime call (default 64).")]
        public int BatchSize { get; init; } = SentenceEncoder.DefaultBatchSize;

        public override ValidationResult Validate()
        {
            if (Input.Length == 0) return ValidationResult.Error("--input is required: files or folders with prompts.");
            if (string.IsNullOrWhiteSpace(Out)) return ValidationResult.Error("--out is required: the bank file to write.");
            if (Filters is not ("paper" or "none")) return ValidationResult.Error($"--filters must be paper or none; got '{Filters}'.");
            if (ChunkSize < 1) return ValidationResult.Error($"--chunk-size must be at least 1 (got {ChunkSize}).");
            if (BatchSize < 1) return ValidationResult.Error($"--batch-size must be at least 1 (got {BatchSize}).");
            return ValidationResult.Success();
        }
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        var options = new PromptBankBuildOptions
        {
            Inputs = settings.Input, Column = settings.Column, PaperFilters = settings.Filters == "paper",
            ChunkSize = settings.ChunkSize, BatchSize = settings.BatchSize,
        };
        var summary = ConsoleProgress.Run(console, "Building prompt bank", progress => PromptBankBuilder.Build(settings.Out!, options, progress, cancellationToken));
        console.MarkupLineInterpolated(
            $"Wrote {summary.Count} prompts to {settings.Out} ({summary.PromptsRead} read, {summary.Duplicates} duplicates, {summary.Filtered} empty or filtered; {summary.ChunksResumed} chunks resumed; embedding {summary.EmbeddingTime.TotalSeconds:F1} s)");
        return 0;
    }
}

/// <summary>`reversesd bank info`: what a bank holds.</summary>
internal sealed class BankInfoCommand(IAnsiConsole console, CliStreams streams) : Command<BankInfoCommand.Settings>
{
    /// <summary>Options of `bank info`.</summary>
    internal sealed class Settings : CommandSettings
    {
        [CommandArgument(0, "<BANK>")]
        [Description("A bank file written by 'reversesd bank build'.")]
        public string Bank { get; init; } = "";
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        // A bank from another encoder is described too (it cannot be searched here): the warning says so.
        using var bank = PromptBank.OpenForInspection(settings.Bank, out string? encoderProblem);
        if (encoderProblem != null) streams.Error.WriteLine($"warning: this bank cannot be searched by this reversesd. {encoderProblem}");
        var lines = new List<string>
        {
            $"bank: {bank.Path}",
            $"format version: {PromptBank.FormatVersion}",
            $"prompts: {bank.Count.ToString(CultureInfo.InvariantCulture)}",
            $"dimensions: {bank.Dimension}",
            $"encoder: {bank.Info.Encoder}",
            $"encoder model SHA-256: {bank.Info.EncoderSha256}",
            $"filters: {bank.Info.Filters}",
            $"prompts read: {bank.Info.PromptsRead}",
            $"size: {bank.FileSize.ToString(CultureInfo.InvariantCulture)} bytes ({bank.FileSize / 1048576.0:F1} MiB)",
            $"sources: {bank.Info.Sources.Count}",
        };
        lines.AddRange(bank.Info.Sources.Select(s => "  " + s));
        lines.Add($"frequent phrases: {string.Join(" | ", bank.Info.FrequentPhrases.Take(10))}");
        foreach (var line in lines) console.WriteLine(line);
        return 0;
    }
}
