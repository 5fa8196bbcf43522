using System.Globalization;
using Microsoft.ML;
using Microsoft.ML.Data;
using ReverseSD.MLNet.Data;
using SkiaSharp;

namespace ReverseSD.MLNet.Backbones;

/// <summary>An image file that cannot be decoded, and why; such rows are skipped and counted, never fatal.</summary>
/// <param name="Path">The image path as given.</param>
/// <param name="Reason">Why it cannot be used (missing, not an image, truncated, ...).</param>
public sealed record UnreadableImage(string Path, string Reason);

/// <summary>Why the bytes of an uploaded image cannot be used.</summary>
public enum ImageProblemKind
{
    /// <summary>No bytes at all.</summary>
    Empty = 0,

    /// <summary>Not an image format the checker knows (PNG, JPEG, WebP, BMP, GIF).</summary>
    NotAnImage = 1,

    /// <summary>Truncated or corrupt: a chunk runs past the end, a CRC does not match, no end marker.</summary>
    Corrupt = 2,

    /// <summary>The header declares more pixels than <see cref="ImageValidation.MaxPixels"/> (a decompression bomb).</summary>
    TooManyPixels = 3,
}

/// <summary>What is wrong with an image's bytes, and a message that says it.</summary>
/// <param name="Kind">The kind of problem.</param>
/// <param name="Message">A sentence naming the problem.</param>
public sealed record ImageProblem(ImageProblemKind Kind, string Message);

/// <summary>
/// Checks that image files decode completely before they reach ML.NET's <c>LoadImages</c>, which throws on an
/// undecodable or missing file and silently accepts a truncated one (measured with ML.NET 5.0.1 / SkiaSharp 2.88.9).
/// </summary>
public static class ImageValidation
{
    /// <summary>
    /// The most pixels an image may declare (50 megapixels, e.g. 8660 × 5773): decoding one takes 4 bytes per pixel,
    /// so a larger header (a 20000 × 20000 PNG is 1.6 GB decoded, under 1 MB on disk) is refused before decoding.
    /// </summary>
    public const long MaxPixels = 50_000_000;

    /// <summary>Returns null when <paramref name="path"/> decodes completely with SkiaSharp, else the reason it cannot be used.</summary>
    /// <remarks>The dimensions are read from the header first; an image over <see cref="MaxPixels"/> is refused without decoding.</remarks>
    public static string? FindProblem(string path)
    {
        if (string.IsNullOrEmpty(path)) return "empty path";
        if (!File.Exists(path)) return "file not found";
        try
        {
            using var codec = SKCodec.Create(path);
            if (codec == null) return "not a decodable image";
            if (TooManyPixels(codec.Info.Width, codec.Info.Height) is string tooLarge) return tooLarge;
            var info = new SKImageInfo(codec.Info.Width, codec.Info.Height, SKColorType.Rgba8888, SKAlphaType.Premul);
            if (info.Width <= 0 || info.Height <= 0) return "image has no pixels";
            using var bitmap = new SKBitmap(info);
            var result = codec.GetPixels(info, bitmap.GetPixels());
            return result == SKCodecResult.Success ? null : $"decoding failed ({result})";
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return e.Message;
        }
    }

    /// <summary>
    /// Checks the bytes of an image without decoding its pixels: a known signature (PNG, JPEG, WebP, BMP, GIF), whole (PNG
    /// chunk lengths and CRCs, JPEG end marker, ...), and header dimensions (PNG IHDR, JPEG SOF, ...) within <see cref="MaxPixels"/>.
    /// Returns null when nothing is wrong.
    /// </summary>
    public static ImageProblem? FindProblem(ReadOnlySpan<byte> bytes)
    {
        if (bytes.IsEmpty) return new ImageProblem(ImageProblemKind.Empty, "the image is empty (0 bytes)");
        var check = ImageFileCheck.Check(bytes);
        if (TooManyPixels(check.Width, check.Height) is string tooLarge) return new ImageProblem(ImageProblemKind.TooManyPixels, tooLarge);
        if (check.IsValid) return null;
        bool recognised = check.Problem is { } p && (p.StartsWith("truncated", StringComparison.Ordinal) || p.StartsWith("corrupt", StringComparison.Ordinal));
        return new ImageProblem(recognised ? ImageProblemKind.Corrupt : ImageProblemKind.NotAnImage, check.Problem ?? "not a usable image");
    }

    internal static string? TooManyPixels(int width, int height) => (long)width * height > MaxPixels
        ? string.Create(CultureInfo.InvariantCulture,
            $"the image header declares {width} × {height} pixels, over the limit of {MaxPixels:N0} pixels (refused before decoding)")
        : null;

    /// <summary>Checks every path (each distinct path once) and returns the unreadable ones in input order.</summary>
    public static IReadOnlyList<UnreadableImage> FindUnreadable(
        IReadOnlyList<string> paths, IProgress<ProgressReport>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(paths);
        var problems = new Dictionary<string, string?>(StringComparer.Ordinal);
        var bad = new List<UnreadableImage>();
        for (int i = 0; i < paths.Count; i++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            string path = paths[i];
            if (!problems.TryGetValue(path, out string? problem))
                problems[path] = problem = FindProblem(path);
            if (problem != null) bad.Add(new UnreadableImage(path, problem));
            if ((i + 1) % 64 == 0 || i + 1 == paths.Count)
                progress?.Report(new ProgressReport("Checking images", i + 1, paths.Count, bad.Count > 0 ? $"{bad.Count} unreadable" : null));
        }
        return bad;
    }

    /// <summary>
    /// Removes the rows of <paramref name="data"/> whose image in <paramref name="imageColumnName"/> does not decode,
    /// reading every image once now; <paramref name="skipped"/> lists them.
    /// </summary>
    public static IDataView FilterReadable(
        MLContext mlContext, IDataView data, out IReadOnlyList<UnreadableImage> skipped,
        string imageColumnName = ImageBackboneOptions.Defaults.InputColumnName,
        IProgress<ProgressReport>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(mlContext);
        ArgumentNullException.ThrowIfNull(data);
        var column = data.Schema.GetColumnOrNull(imageColumnName);
        if (column == null || column.Value.Type is not TextDataViewType)
            throw new ReverseSdInputException(
                $"Image validation needs a text column '{imageColumnName}' of image paths; the input has: {string.Join(", ", data.Schema.Where(c => !c.IsHidden).Select(c => c.Name))}.");
        var paths = data.GetColumn<ReadOnlyMemory<char>>(column.Value).Select(p => p.ToString()).ToList();
        skipped = FindUnreadable(paths, progress, cancellationToken);
        if (skipped.Count == 0) return data;
        var bad = skipped.Select(s => s.Path).ToHashSet(StringComparer.Ordinal);
        var withKey = mlContext.Transforms.CopyColumns(PathRow.ColumnName, imageColumnName).Fit(data).Transform(data);
        var filtered = mlContext.Data.FilterByCustomPredicate<PathRow>(withKey, row => bad.Contains(row.Path));
        return mlContext.Transforms.DropColumns(PathRow.ColumnName).Fit(filtered).Transform(filtered);
    }

    private sealed class PathRow
    {
        public const string ColumnName = "ReverseSD.ImageValidation.Path";

        [ColumnName(ColumnName)]
        public string Path { get; set; } = "";
    }
}
