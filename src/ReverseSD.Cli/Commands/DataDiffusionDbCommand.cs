using System.ComponentModel;
using System.Globalization;
using ReverseSD.MLNet;
using ReverseSD.MLNet.Data;
using Spectre.Console;
using Spectre.Console.Cli;

namespace ReverseSD.Cli.Commands;

/// <summary>`reversesd data diffusiondb`: raw DiffusionDB download → filtered, split image folder (or prompts.csv).</summary>
internal sealed class DataDiffusionDbCommand(IAnsiConsole console) : Command<DataDiffusionDbCommand.Settings>
{
    /// <summary>Options of `data diffusiondb`.</summary>
    public sealed class Settings : CommandSettings
    {
        [CommandOption("--source <PATH>")]
        [Description("DiffusionDB part-XXXXXX folders or zips, part json files, metadata.parquet, or PNGs with a prompt text chunk; folders are searched recursively. Repeat the option or list several paths after it.")]
        public string[] Source { get; init; } = [];

        [CommandArgument(0, "[PATHS]")]
        [Description("More source paths (so that '--source A B' reads both).")]
        public string[] MoreSources { get; init; } = [];

        [CommandOption("--out <DIR>")]
        [Description("Data set folder to write: train/, validation/, test/ with metadata.csv and the images (or prompts.csv with --prompts-only).")]
        public string Out { get; init; } = "";

        [CommandOption("--max <N>")]
        [Description("Use at most N pairs, the first ones in source order.")]
        public int? Max { get; init; }

        [CommandOption("--split <FRACTIONS>")]
        [Description("Train, validation and test fractions of distinct prompts (default 0.92,0.04,0.04).")]
        public string Split { get; init; } = "0.92,0.04,0.04";

        [CommandOption("--seed <S>")]
        [Description("Seed of the split (default 1, as in every command).")]
        public int Seed { get; init; } = 1;

        [CommandOption("--prompts-only")]
        [Description("Write only prompts.csv (every kept pair with its split, images or not), no image folders.")]
        public bool PromptsOnly { get; init; }

        public IReadOnlyList<string> Sources => [.. Source, .. MoreSources];

        public override ValidationResult Validate()
        {
            if (Sources.Count == 0) return ValidationResult.Error("--source is required: DiffusionDB folders, zips, part json files or metadata.parquet.");
            if (string.IsNullOrWhiteSpace(Out)) return ValidationResult.Error("--out is required: the folder to write the data set to.");
            if (Max is < 1) return ValidationResult.Error("--max must be at least 1.");
            return ValidationResult.Success();
        }
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        var options = new DiffusionDbPrepareOptions
        {
            MaxPairs = settings.Max, Split = SplitFractions.Parse(settings.Split), Seed = settings.Seed, PromptsOnly = settings.PromptsOnly,
        };
        var summary = ConsoleProgress.Run(console, "reading DiffusionDB",
            progress => DiffusionDbDataset.Prepare(settings.Sources, settings.Out, options, progress, cancellationToken));
        var r = summary.Read;
        var read = new Table().Title("read").AddColumn("item").AddColumn(new TableColumn("count").RightAligned());
        Row(read, "part json files", r.PartFiles);
        Row(read, "zip archives", r.Archives);
        Row(read, "parquet files", r.ParquetFiles);
        Row(read, "json entries", r.JsonEntries);
        Row(read, "parquet rows used", r.ParquetRows);
        Row(read, "parquet rows without image (skipped)", r.ParquetRowsWithoutImage);
        Row(read, "image files", r.Images);
        Row(read, "corrupt or truncated images", r.CorruptImages);
        Row(read, "unreadable archive/json/parquet files", r.CorruptFiles);
        Row(read, "records without usable image", r.EntriesWithoutImage);
        Row(read, "images without prompt (skipped)", r.ImagesWithoutPrompt);
        Row(read, "prompts from PNG text chunks", r.PromptsFromPngText);
        Row(read, "duplicate file names (skipped)", r.DuplicateRecords);
        Row(read, "entries without prompt (skipped)", r.InvalidEntries);
        Row(read, "pairs", r.Pairs);
        console.Write(read);

        var f = summary.Filters;
        var filters = new Table().Title("filters (paper §4.1, in order)").AddColumn("filter").AddColumn(new TableColumn("pairs").RightAligned());
        Row(filters, "input", f.Input);
        Row(filters, "(i) trimmed white space (kept)", f.Trimmed);
        Row(filters, "(ii) removed: no word or Null/NaN", f.RemovedNoWordOrNull);
        Row(filters, "(iii) removed: non-English characters", f.RemovedNonEnglish);
        Row(filters, "(iv) removed: near duplicates (50 chars)", f.RemovedNearDuplicate);
        Row(filters, "kept", f.Kept);
        Row(filters, "kept distinct prompts", f.KeptUniquePrompts);
        console.Write(filters);

        var split = new Table().Title("split by prompt").AddColumn("split").AddColumn(new TableColumn("pairs").RightAligned());
        Row(split, "train", summary.Train);
        Row(split, "validation", summary.Validation);
        Row(split, "test", summary.Test);
        console.Write(split);

        if (summary.PromptsFile != null)
            console.MarkupLineInterpolated($"wrote {summary.PromptsFile} ({f.Kept} pairs; {summary.MissingImages} without image in the sources)");
        else if (summary.ImagesWritten == 0)
            console.MarkupLineInterpolated(
                $"[yellow]no image found for the {summary.MissingImages} kept pairs: no image folder written.[/] Add the part folders/zips, or use --prompts-only to write prompts.csv.");
        else
            console.MarkupLineInterpolated(
                $"wrote {summary.ImagesWritten} images and metadata.csv to {Path.GetFullPath(settings.Out)}; {summary.MissingImages} kept pairs had no image and were left out");
        return 0;
    }

    private static void Row(Table table, string name, int value) => table.AddRow(Markup.Escape(name), value.ToString("N0", CultureInfo.InvariantCulture));
}
