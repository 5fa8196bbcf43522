using System.Globalization;
using System.IO.Compression;

namespace ReverseSD.MLNet.Data;

/// <summary>Options of <see cref="DiffusionDbDataset.Prepare"/>.</summary>
public sealed class DiffusionDbPrepareOptions
{
    /// <summary>Use at most this many pairs (the first ones in source order); null uses all.</summary>
    public int? MaxPairs { get; set; }

    /// <summary>Fractions of distinct prompts per split (default 0.92/0.04/0.04).</summary>
    public SplitFractions Split { get; set; } = SplitFractions.Default;

    /// <summary>Seed of the split.</summary>
    public int Seed { get; set; }

    /// <summary>When true, write only <c>prompts.csv</c> (every kept pair with its split), no image folders.</summary>
    public bool PromptsOnly { get; set; }
}

/// <summary>What <see cref="DiffusionDbDataset.Prepare"/> read, filtered and wrote.</summary>
/// <param name="Read">The reader's counts.</param>
/// <param name="Filters">The four filters' counts.</param>
/// <param name="Train">Kept pairs assigned to train (with or without image).</param>
/// <param name="Validation">Kept pairs assigned to validation.</param>
/// <param name="Test">Kept pairs assigned to test.</param>
/// <param name="ImagesWritten">Images copied or extracted into the split folders.</param>
/// <param name="MissingImages">Kept pairs left out of the split folders because the sources hold no usable image for them.</param>
/// <param name="PromptsFile">The prompts.csv written in prompts-only mode, else null.</param>
public sealed record DiffusionDbPrepareSummary(
    DiffusionDbReadSummary Read, PromptFilterSummary Filters, int Train, int Validation, int Test, int ImagesWritten, int MissingImages, string? PromptsFile);

/// <summary>
/// Turns DiffusionDB sources into the canonical data set folder: read → the paper's four prompt filters (§4.1) over
/// every pair with a prompt → split by prompt → copy or extract each kept pair's image into DIR/&lt;split&gt;/ with
/// metadata.csv. Pairs whose image is not in the sources are counted and left out (or all listed in prompts.csv in
/// prompts-only mode).
/// </summary>
public static class DiffusionDbDataset
{
    /// <summary>The file written in prompts-only mode.</summary>
    public const string PromptsFileName = "prompts.csv";

    /// <summary>Runs the whole preparation; see the class summary.</summary>
    /// <param name="sources">DiffusionDB folders or files (see <see cref="DiffusionDbReader.Read"/>).</param>
    /// <param name="outputDirectory">The data set folder to write.</param>
    /// <param name="options">Options, or null for defaults.</param>
    /// <param name="progress">Receives reading and writing reports.</param>
    /// <param name="cancellationToken">Cancels the work.</param>
    public static DiffusionDbPrepareSummary Prepare(
        IReadOnlyList<string> sources, string outputDirectory, DiffusionDbPrepareOptions? options = null,
        IProgress<ProgressReport>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(sources);
        ArgumentException.ThrowIfNullOrWhiteSpace(outputDirectory);
        options ??= new DiffusionDbPrepareOptions();
        options.Split.Validate();
        if (options.MaxPairs is < 1)
            throw new ReverseSdInputException($"MaxPairs {options.MaxPairs} must be at least 1.");
        if (sources.Count == 0)
            throw new ReverseSdInputException("no DiffusionDB source given: pass part-XXXXXX folders or zips, part json files or metadata.parquet.");

        // metadata.parquet files given as files, prompts only: streamed by row groups (memory grows with distinct prompts, not
        // rows). A folder goes through the reader, which holds every record (the same output: a test compares them).
        bool onlyParquet = sources.All(s => File.Exists(s) && s.EndsWith(".parquet", StringComparison.OrdinalIgnoreCase));
        if (options.PromptsOnly && onlyParquet)
            return DiffusionDbPromptsStream.Prepare(sources, outputDirectory, options, progress, cancellationToken);
        // Refused before reading: holding millions of image-less rows only to write no image would take gigabytes.
        if (onlyParquet)
            throw new ReverseSdInputException(
                $"{string.Join(", ", sources.Select(p => $"'{p}'"))} holds metadata only (parquet rows have no images), so no image folder can be written: " +
                "add the part-XXXXXX folders or zips that hold the images, or use --prompts-only (PromptsOnly) to write prompts.csv, streamed by row groups.");

        var read = DiffusionDbReader.Read(sources, new DiffusionDbReaderOptions { MaxPairs = options.MaxPairs }, progress, cancellationToken);
        if (read.Pairs.Count == 0)
            throw new ReverseSdInputException(
                $"No image/prompt pair found in {string.Join(", ", sources.Select(p => $"'{p}'"))}: give DiffusionDB part-XXXXXX folders or zips, part json files, metadata.parquet, or PNGs with a prompt text chunk.");
        progress?.Report(new ProgressReport("filter", 0, 0, $"{read.Pairs.Count} pairs"));
        var filtered = PromptFilters.Apply(read.Pairs, p => p.Prompt, (p, t) => p with { Prompt = t }, cancellationToken);
        var kept = filtered.Kept;
        var splits = PromptSplit.Assign(kept.Select(p => p.Prompt).ToList(), options.Split, options.Seed);
        int[] perSplit = new int[3];
        foreach (var s in splits) perSplit[SplitIndex(s)]++;

        if (options.PromptsOnly)
        {
            string file = Path.Combine(outputDirectory, PromptsFileName);
            CsvTable.Write(file, ["image_name", "prompt", "seed", "steps", "cfg", "sampler", "width", "height", "split"],
                kept.Select((p, i) => (IReadOnlyList<string>)
                [
                    p.ImageName, p.Prompt, Text(p.Seed), Text(p.Steps), p.Cfg?.ToString("R", CultureInfo.InvariantCulture) ?? "",
                    p.Sampler ?? "", Text(p.Width), Text(p.Height), splits[i],
                ]));
            return new DiffusionDbPrepareSummary(read.Summary, filtered.Summary, perSplit[0], perSplit[1], perSplit[2], 0,
                kept.Count(p => p.Image == null), Path.GetFullPath(file));
        }

        int missing = kept.Count(p => p.Image == null), written = 0, withImage = kept.Count - missing;
        if (withImage > 0)
        {
            var rows = new List<ImagePromptPair>[3] { [], [], [] };
            // Write archive by archive, so each zip is opened once.
            var order = Enumerable.Range(0, kept.Count).Where(i => kept[i].Image != null)
                .OrderBy(i => kept[i].Image!.Path, StringComparer.Ordinal).ThenBy(i => i).ToList();
            ZipArchive? archive = null;
            string? archivePath = null;
            try
            {
                foreach (int i in order)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    var pair = kept[i];
                    var image = pair.Image!;
                    string target = Path.Combine(outputDirectory, splits[i], image.FileName);
                    if (image.ArchiveEntry == null)
                        AtomicFile.Write(target, s => { using var src = File.OpenRead(image.Path); src.CopyTo(s); });
                    else
                    {
                        if (archivePath != image.Path)
                        {
                            archive?.Dispose();
                            archive = ZipFile.OpenRead(image.Path);
                            archivePath = image.Path;
                        }
                        var entry = archive!.GetEntry(image.ArchiveEntry)
                            ?? throw new InvalidDataException($"'{image.ArchiveEntry}' vanished from '{image.Path}'.");
                        AtomicFile.Write(target, s => { using var src = entry.Open(); src.CopyTo(s); });
                    }
                    written++;
                    progress?.Report(new ProgressReport("write", written, withImage));
                }
            }
            finally
            {
                archive?.Dispose();
            }
            for (int i = 0; i < kept.Count; i++)
                if (kept[i].Image is { } image)
                    rows[SplitIndex(splits[i])].Add(new ImagePromptPair(image.FileName, kept[i].Prompt, Seed: kept[i].Seed));
            for (int s = 0; s < 3; s++)
                ImageFolderDataset.Write(outputDirectory, ImageFolderDataset.Splits[s], rows[s]);
        }
        return new DiffusionDbPrepareSummary(read.Summary, filtered.Summary, perSplit[0], perSplit[1], perSplit[2], written, missing, null);
    }

    private static int SplitIndex(string split) => split switch { "train" => 0, "validation" => 1, _ => 2 };

    private static string Text(long? value) => value?.ToString(CultureInfo.InvariantCulture) ?? "";
}
