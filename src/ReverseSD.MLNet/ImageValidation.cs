using System.Buffers.Binary;
using System.Globalization;
using System.IO.Compression;
using System.Text;
using Microsoft.ML;
using Microsoft.ML.Data;
using SkiaSharp;

namespace ReverseSD.MLNet;

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
/// The one image checker: that image files decode completely before they reach ML.NET's <c>LoadImages</c>, which throws on
/// an undecodable or missing file and silently accepts a truncated one (measured with ML.NET 5.0.1 / SkiaSharp 2.88.9); and
/// that an image's bytes are whole and within <see cref="MaxPixels"/> without decoding them (uploads, DiffusionDB archives).
/// </summary>
public static partial class ImageValidation
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
        var check = CheckStructure(bytes);
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
        string imageColumnName = ColumnNames.ImagePath,
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

/// <summary>What a structural check of an image file found: whether it is whole, its size, and PNG text chunks.</summary>
/// <param name="IsValid">False when the file is truncated or corrupt (bad signature, chunk past the end, CRC mismatch, no end marker).</param>
/// <param name="Problem">Why the file is not valid, or null.</param>
/// <param name="Width">Width in pixels when the header says so (PNG IHDR, JPEG SOF, WebP), else 0; also set on a truncated file whose header was read.</param>
/// <param name="Height">Height in pixels when the header says so, else 0.</param>
/// <param name="Text">PNG tEXt/iTXt/zTXt key/value pairs (DiffusionDB 2M PNGs carry "prompt" and "seed").</param>
internal sealed record ImageCheck(bool IsValid, string? Problem, int Width, int Height, IReadOnlyDictionary<string, string> Text);

// The structural check without decoding the pixels: PNG chunk lengths, CRCs and IEND; WebP RIFF size; JPEG start and end
// markers; BMP file size; GIF trailer. Reads the PNG text chunks on the way (parsed here, no image library needed).
public static partial class ImageValidation
{
    private static readonly byte[] PngSignature = [0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A];
    private static readonly Dictionary<string, string> NoText = [];
    private static readonly uint[] CrcTable = BuildCrcTable();

    /// <summary>Checks the structure of an image's bytes (format from its signature, not its name) and reads its PNG text chunks.</summary>
    internal static ImageCheck CheckStructure(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length >= 8 && bytes[..8].SequenceEqual(PngSignature)) return CheckPng(bytes);
        if (bytes.Length >= 12 && bytes[..4].SequenceEqual("RIFF"u8) && bytes.Slice(8, 4).SequenceEqual("WEBP"u8)) return CheckWebP(bytes);
        if (bytes.Length >= 4 && bytes[0] == 0xFF && bytes[1] == 0xD8) return CheckJpeg(bytes);
        if (bytes.Length >= 26 && bytes[..2].SequenceEqual("BM"u8)) return CheckBmp(bytes);
        if (bytes.Length >= 13 && (bytes[..6].SequenceEqual("GIF87a"u8) || bytes[..6].SequenceEqual("GIF89a"u8))) return CheckGif(bytes);
        return Bad(bytes.Length == 0 ? "empty file" : "not a PNG, WebP, JPEG, BMP or GIF file");
    }

    /// <summary>Reads a whole stream and checks its structure.</summary>
    internal static ImageCheck CheckStructure(Stream stream)
    {
        using var buffer = new MemoryStream();
        stream.CopyTo(buffer);
        return CheckStructure(buffer.GetBuffer().AsSpan(0, (int)buffer.Length));
    }

    private static ImageCheck CheckPng(ReadOnlySpan<byte> b)
    {
        int pos = 8, width = 0, height = 0;
        var text = new Dictionary<string, string>(StringComparer.Ordinal);
        while (true)
        {
            if (pos + 12 > b.Length) return Bad("truncated PNG (no IEND chunk)", width, height);
            uint length = BinaryPrimitives.ReadUInt32BigEndian(b[pos..]);
            if (length > int.MaxValue || pos + 12 + (long)length > b.Length) return Bad("truncated PNG (chunk runs past the end of the file)", width, height);
            var typeAndData = b.Slice(pos + 4, 4 + (int)length);
            uint crc = BinaryPrimitives.ReadUInt32BigEndian(b[(pos + 8 + (int)length)..]);
            if (Crc32(typeAndData) != crc) return Bad("corrupt PNG (chunk CRC mismatch)", width, height);
            string type = Encoding.ASCII.GetString(typeAndData[..4]);
            var data = typeAndData[4..];
            switch (type)
            {
                case "IHDR" when data.Length >= 8:
                    width = (int)Math.Min(BinaryPrimitives.ReadUInt32BigEndian(data), int.MaxValue);
                    height = (int)Math.Min(BinaryPrimitives.ReadUInt32BigEndian(data[4..]), int.MaxValue);
                    break;
                case "tEXt":
                    ReadText(data, text, compressed: false, international: false);
                    break;
                case "zTXt":
                    ReadText(data, text, compressed: true, international: false);
                    break;
                case "iTXt":
                    ReadText(data, text, compressed: false, international: true);
                    break;
                case "IEND":
                    return new ImageCheck(true, null, width, height, text);
            }
            pos += 12 + (int)length;
        }
    }

    private static void ReadText(ReadOnlySpan<byte> data, Dictionary<string, string> text, bool compressed, bool international)
    {
        int zero = data.IndexOf((byte)0);
        if (zero <= 0) return;
        string key = Encoding.Latin1.GetString(data[..zero]);
        var rest = data[(zero + 1)..];
        try
        {
            if (international)
            {
                // iTXt: compression flag, method, language tag\0, translated keyword\0, UTF-8 text.
                if (rest.Length < 2) return;
                bool isCompressed = rest[0] == 1;
                rest = rest[2..];
                for (int skip = 0; skip < 2; skip++)
                {
                    int z = rest.IndexOf((byte)0);
                    if (z < 0) return;
                    rest = rest[(z + 1)..];
                }
                text.TryAdd(key, Encoding.UTF8.GetString(isCompressed ? Inflate(rest) : rest));
            }
            else if (compressed)
            {
                if (rest.Length < 1) return;
                text.TryAdd(key, DecodeLatin1OrUtf8(Inflate(rest[1..])));
            }
            else text.TryAdd(key, DecodeLatin1OrUtf8(rest));
        }
        catch (InvalidDataException)
        {
            // A broken compressed text chunk loses that text only; the CRC already vouched for the bytes.
        }
    }

    /// <summary>tEXt is Latin-1 by the PNG standard, but some writers store UTF-8; valid UTF-8 wins.</summary>
    private static string DecodeLatin1OrUtf8(ReadOnlySpan<byte> bytes)
    {
        try
        {
            return new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes);
        }
        catch (DecoderFallbackException)
        {
            return Encoding.Latin1.GetString(bytes);
        }
    }

    private static byte[] Inflate(ReadOnlySpan<byte> zlib)
    {
        using var input = new MemoryStream(zlib.ToArray());
        using var z = new ZLibStream(input, CompressionMode.Decompress);
        using var output = new MemoryStream();
        z.CopyTo(output);
        return output.ToArray();
    }

    private static ImageCheck CheckWebP(ReadOnlySpan<byte> b)
    {
        long riffSize = BinaryPrimitives.ReadUInt32LittleEndian(b[4..]);
        if (riffSize + 8 > b.Length) return Bad("truncated WebP (RIFF size larger than the file)");
        if (b.Length < 16 || !(b.Slice(12, 3).SequenceEqual("VP8"u8))) return Bad("corrupt WebP (no VP8 chunk)");
        int width = 0, height = 0;
        var chunk = b.Slice(12, 4);
        if (chunk.SequenceEqual("VP8L"u8) && b.Length >= 25 && b[20] == 0x2F)
        {
            uint bits = BinaryPrimitives.ReadUInt32LittleEndian(b[21..]);
            width = (int)(bits & 0x3FFF) + 1;
            height = (int)((bits >> 14) & 0x3FFF) + 1;
        }
        else if (chunk.SequenceEqual("VP8X"u8) && b.Length >= 30)
        {
            width = 1 + (b[24] | b[25] << 8 | b[26] << 16);
            height = 1 + (b[27] | b[28] << 8 | b[29] << 16);
        }
        else if (chunk.SequenceEqual("VP8 "u8) && b.Length >= 30)
        {
            width = BinaryPrimitives.ReadUInt16LittleEndian(b[26..]) & 0x3FFF;
            height = BinaryPrimitives.ReadUInt16LittleEndian(b[28..]) & 0x3FFF;
        }
        return new ImageCheck(true, null, width, height, NoText);
    }

    private static ImageCheck CheckJpeg(ReadOnlySpan<byte> b)
    {
        var (width, height) = JpegFrameSize(b);
        // The end-of-image marker may be followed by padding; look for it near the end.
        var tail = b[Math.Max(2, b.Length - 64)..];
        for (int i = tail.Length - 2; i >= 0; i--)
            if (tail[i] == 0xFF && tail[i + 1] == 0xD9) return new ImageCheck(true, null, width, height, NoText);
        return new ImageCheck(false, "truncated JPEG (no end-of-image marker)", width, height, NoText);
    }

    /// <summary>Width and height from the JPEG start-of-frame (SOFn) segment, walking the marker segments before the scan; (0, 0) when absent.</summary>
    private static (int Width, int Height) JpegFrameSize(ReadOnlySpan<byte> b)
    {
        int pos = 2;
        while (pos + 4 <= b.Length)
        {
            if (b[pos] != 0xFF) return (0, 0);
            byte marker = b[pos + 1];
            if (marker == 0xFF) { pos++; continue; } // fill byte
            if (marker is 0x01 or (>= 0xD0 and <= 0xD7)) { pos += 2; continue; } // markers without a length
            if (marker is 0xD9 or 0xDA) return (0, 0); // end of image or start of scan before any frame header
            int length = BinaryPrimitives.ReadUInt16BigEndian(b[(pos + 2)..]);
            bool startOfFrame = marker is >= 0xC0 and <= 0xCF and not (0xC4 or 0xC8 or 0xCC);
            if (startOfFrame)
            {
                if (pos + 9 > b.Length) return (0, 0);
                return (BinaryPrimitives.ReadUInt16BigEndian(b[(pos + 7)..]), BinaryPrimitives.ReadUInt16BigEndian(b[(pos + 5)..]));
            }
            pos += 2 + length;
        }
        return (0, 0);
    }


    private static ImageCheck CheckBmp(ReadOnlySpan<byte> b)
    {
        // The file header states the file size; the info header the width and (signed, bottom-up when positive) height.
        long size = BinaryPrimitives.ReadUInt32LittleEndian(b[2..]);
        if (size > b.Length) return Bad("truncated BMP (file size in the header larger than the file)");
        int width = BinaryPrimitives.ReadInt32LittleEndian(b[18..]);
        int height = Math.Abs(BinaryPrimitives.ReadInt32LittleEndian(b[22..]));
        return new ImageCheck(true, null, width, height, NoText);
    }

    private static ImageCheck CheckGif(ReadOnlySpan<byte> b)
    {
        // The logical screen size follows the signature; a whole GIF ends with the trailer byte 0x3B.
        if (b[^1] != 0x3B) return Bad("truncated GIF (no trailer)");
        return new ImageCheck(true, null, BinaryPrimitives.ReadUInt16LittleEndian(b[6..]), BinaryPrimitives.ReadUInt16LittleEndian(b[8..]), NoText);
    }

    private static ImageCheck Bad(string problem, int width = 0, int height = 0) => new(false, problem, width, height, NoText);

    /// <summary>The PNG chunk CRC-32 (ISO 3309) of <paramref name="data"/>.</summary>
    internal static uint Crc32(ReadOnlySpan<byte> data)
    {
        uint c = 0xFFFFFFFF;
        foreach (byte x in data) c = CrcTable[(c ^ x) & 0xFF] ^ (c >> 8);
        return c ^ 0xFFFFFFFF;
    }

    private static uint[] BuildCrcTable()
    {
        var table = new uint[256];
        for (uint n = 0; n < 256; n++)
        {
            uint c = n;
            for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB88320 ^ (c >> 1) : c >> 1;
            table[n] = c;
        }
        return table;
    }
}
