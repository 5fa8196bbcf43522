namespace ReverseSD.MLNet.Data;

/// <summary>One DiffusionDB image/prompt record (from a part json, metadata.parquet, or a PNG's text chunks).</summary>
/// <param name="ImageName">The image file name, e.g. <c>&lt;uuid&gt;.png</c> (2M) or <c>.webp</c> (Large).</param>
/// <param name="Prompt">The prompt as stored (not yet filtered or trimmed).</param>
/// <param name="Seed">Generation seed, when known.</param>
/// <param name="Steps">Sampling steps, when known.</param>
/// <param name="Cfg">Classifier-free guidance scale, when known.</param>
/// <param name="Sampler">Normalised sampler name (see <see cref="DiffusionDbReader.NormalizeSampler"/>), when known.</param>
/// <param name="Width">Image width, when known (parquet or image header).</param>
/// <param name="Height">Image height, when known.</param>
/// <param name="Image">Where the image is, or null when the sources hold no usable image for this record.</param>
public sealed record DiffusionDbPair(
    string ImageName, string Prompt, long? Seed, int? Steps, float? Cfg, string? Sampler, int? Width, int? Height, ImageLocation? Image);

/// <summary>What the reader found; problems are counted here, never thrown.</summary>
/// <param name="PartFiles">Part json files read (loose or inside archives).</param>
/// <param name="Archives">Zip archives opened.</param>
/// <param name="ParquetFiles">Parquet metadata files read.</param>
/// <param name="JsonEntries">Entries in the part json files.</param>
/// <param name="ParquetRows">Parquet rows used (with images present, only rows of those images are used).</param>
/// <param name="ParquetRowsWithoutImage">Parquet rows skipped because the sources hold images but not theirs.</param>
/// <param name="Images">Image files found (loose or in archives), corrupt ones included.</param>
/// <param name="CorruptImages">Images that are truncated or corrupt; their records have no image.</param>
/// <param name="CorruptFiles">Archives, json or parquet files that could not be read at all.</param>
/// <param name="EntriesWithoutImage">Records (json or parquet) whose image is absent or corrupt.</param>
/// <param name="ImagesWithoutPrompt">Valid images with no record and no "prompt" text chunk (not pairs).</param>
/// <param name="PromptsFromPngText">Pairs whose prompt came from a PNG "prompt" text chunk.</param>
/// <param name="DuplicateRecords">Records or images whose file name was already seen (the first one is used).</param>
/// <param name="InvalidEntries">Json entries without a string prompt.</param>
/// <param name="Pairs">Pairs returned.</param>
public sealed record DiffusionDbReadSummary(
    int PartFiles, int Archives, int ParquetFiles, int JsonEntries, int ParquetRows, int ParquetRowsWithoutImage, int Images,
    int CorruptImages, int CorruptFiles, int EntriesWithoutImage, int ImagesWithoutPrompt, int PromptsFromPngText,
    int DuplicateRecords, int InvalidEntries, int Pairs);

/// <summary>The pairs read from DiffusionDB sources and the reader's counts.</summary>
/// <param name="Pairs">Records in source order: per folder/archive its json entries, then its other images; then parquet-only rows.</param>
/// <param name="Summary">Counts of what was read and of every problem.</param>
/// <param name="Problems">Up to 20 example problems (file and reason), for the user.</param>
public sealed record DiffusionDbReadResult(IReadOnlyList<DiffusionDbPair> Pairs, DiffusionDbReadSummary Summary, IReadOnlyList<string> Problems);

/// <summary>Options of <see cref="DiffusionDbReader.Read"/>.</summary>
public sealed class DiffusionDbReaderOptions
{
    /// <summary>Stop after about this many pairs (whole folders/archives are read); null reads everything.</summary>
    public int? MaxPairs { get; set; }
}
