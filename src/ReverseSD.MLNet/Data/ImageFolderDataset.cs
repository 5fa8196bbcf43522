using System.Globalization;
using Microsoft.ML;

namespace ReverseSD.MLNet.Data;

/// <summary>One image/prompt pair of a data set split, as stored in a Hugging Face style <c>metadata.csv</c>.</summary>
/// <param name="FileName">Image file name relative to the split folder.</param>
/// <param name="Prompt">The prompt that generated the image.</param>
/// <param name="VisualPrompt">The prompt without words that do not change the picture (generated benchmark only).</param>
/// <param name="Seed">Generation seed, when known.</param>
/// <param name="IsNoisy">True when the image was drawn from another prompt (generated benchmark's label noise).</param>
/// <param name="Domain">Domain name (generated benchmark's domain shift), when known.</param>
public sealed record ImagePromptPair(
    string FileName, string Prompt, string? VisualPrompt = null, long? Seed = null, bool IsNoisy = false, string? Domain = null);

/// <summary>The row type of <see cref="ImageFolderDataset.Load"/>: columns ImagePath, Prompt, VisualPrompt, IsNoisy, Domain.</summary>
public sealed class ImagePromptRow
{
    /// <summary>Absolute path of the image file.</summary>
    public string ImagePath { get; set; } = "";

    /// <summary>The prompt that generated the image.</summary>
    public string Prompt { get; set; } = "";

    /// <summary>The visual-only prompt, or empty when unknown.</summary>
    public string VisualPrompt { get; set; } = "";

    /// <summary>True when the pair is known to be mismatched (label noise).</summary>
    public bool IsNoisy { get; set; }

    /// <summary>Domain name, or empty when unknown.</summary>
    public string Domain { get; set; } = "";
}

/// <summary>
/// The canonical data set folder: <c>DIR/train</c>, <c>DIR/validation</c>, <c>DIR/test</c>, each with a
/// <c>metadata.csv</c> (<c>file_name,prompt</c> plus optional <c>visual_prompt,seed,is_noisy,domain</c>) beside its images.
/// </summary>
public static class ImageFolderDataset
{
    /// <summary>The split names, in order.</summary>
    public static IReadOnlyList<string> Splits { get; } = ["train", "validation", "test"];

    /// <summary>The metadata file name inside each split folder.</summary>
    public const string MetadataFileName = "metadata.csv";

    private static readonly string[] Columns = ["file_name", "prompt", "visual_prompt", "seed", "is_noisy", "domain"];

    /// <summary>Reads one split's pairs; throws <see cref="ReverseSdInputException"/> naming the file when it is missing or lacks a column.</summary>
    public static IReadOnlyList<ImagePromptPair> Read(string directory, string split)
    {
        string metadata = Path.Combine(directory, split, MetadataFileName);
        if (!File.Exists(metadata))
            throw new ReverseSdInputException(
                $"'{metadata}' does not exist: a data set folder needs {split}/{MetadataFileName} (make one with 'reversesd data synth' or 'reversesd data diffusiondb').");
        var (header, rows) = CsvTable.Read(metadata);
        int file = CsvTable.IndexOf(header, "file_name"), prompt = CsvTable.IndexOf(header, "prompt");
        if (file < 0 || prompt < 0)
            throw new ReverseSdInputException(
                $"'{metadata}' has no '{(file < 0 ? "file_name" : "prompt")}' column; its columns are: {string.Join(", ", header)}.");
        int visual = CsvTable.IndexOf(header, "visual_prompt"), seed = CsvTable.IndexOf(header, "seed");
        int noisy = CsvTable.IndexOf(header, "is_noisy"), domain = CsvTable.IndexOf(header, "domain");
        return rows.Select(r => new ImagePromptPair(
            r[file],
            r[prompt],
            visual >= 0 && r[visual].Length > 0 ? r[visual] : null,
            seed >= 0 && long.TryParse(r[seed], NumberStyles.Integer, CultureInfo.InvariantCulture, out long s) ? s : null,
            noisy >= 0 && (r[noisy] == "1" || r[noisy].Equals("true", StringComparison.OrdinalIgnoreCase)),
            domain >= 0 && r[domain].Length > 0 ? r[domain] : null)).ToList();
    }

    /// <summary>Writes one split's <c>metadata.csv</c> atomically (the images are written by the caller).</summary>
    public static void Write(string directory, string split, IEnumerable<ImagePromptPair> pairs)
    {
        var list = pairs.ToList();
        bool hasVisual = list.Any(p => p.VisualPrompt != null), hasSeed = list.Any(p => p.Seed != null);
        bool hasNoisy = list.Any(p => p.IsNoisy), hasDomain = list.Any(p => p.Domain != null);
        var header = Columns.Where(c => c switch
        {
            "visual_prompt" => hasVisual,
            "seed" => hasSeed,
            "is_noisy" => hasNoisy,
            "domain" => hasDomain,
            _ => true,
        }).ToList();
        var rows = list.Select(p => header.Select(c => c switch
        {
            "file_name" => p.FileName,
            "prompt" => p.Prompt,
            "visual_prompt" => p.VisualPrompt ?? "",
            "seed" => p.Seed?.ToString(CultureInfo.InvariantCulture) ?? "",
            "is_noisy" => p.IsNoisy ? "1" : "0",
            "domain" => p.Domain ?? "",
            _ => throw new InvalidOperationException(c),
        }).ToList());
        CsvTable.Write(Path.Combine(directory, split, MetadataFileName), header, rows);
    }

    /// <summary>Loads one split as an <see cref="IDataView"/> of <see cref="ImagePromptRow"/> (absolute image paths).</summary>
    public static IDataView Load(MLContext mlContext, string directory, string split)
    {
        ArgumentNullException.ThrowIfNull(mlContext);
        string root = Path.GetFullPath(Path.Combine(directory, split));
        var rows = Read(directory, split).Select(p => new ImagePromptRow
        {
            ImagePath = Path.Combine(root, p.FileName),
            Prompt = p.Prompt,
            VisualPrompt = p.VisualPrompt ?? "",
            IsNoisy = p.IsNoisy,
            Domain = p.Domain ?? "",
        }).ToList();
        return mlContext.Data.LoadFromEnumerable(rows);
    }
}
