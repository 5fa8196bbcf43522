using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using Parquet;
using Parquet.Schema;
using ReverseSD.MLNet.Data;
using SkiaSharp;

namespace ReverseSD.MLNet.Tests.Data;

public sealed class DiffusionDbReaderTests
{
    private static readonly HashSet<string> CanonicalSamplers = [.. DiffusionDbReader.SamplerCodes.Skip(1)];

    [SkippableFact]
    public void RealPartFilesGiveTenThousandEntriesAndTheirDistinctPrompts()
    {
        Skip.IfNot(SharedData.Available, SharedData.SkipReason);
        var result = DiffusionDbReader.Read([SharedData.PathOf("diffusiondb-format", "2m"), SharedData.PathOf("diffusiondb-format", "large")]);
        Assert.Equal(10_000, result.Pairs.Count);
        Assert.Equal(3_168, result.Pairs.Select(p => p.Prompt).Distinct().Count());
        var s = result.Summary;
        Assert.Equal((10, 10_000, 10_000, 0, 0), (s.PartFiles, s.JsonEntries, s.EntriesWithoutImage, s.Images, s.CorruptFiles));
        Assert.All(result.Pairs, p => Assert.Null(p.Image));
        Assert.Equal(1000, result.Pairs.Count(p => p.ImageName.EndsWith(".png", StringComparison.Ordinal)));
        Assert.Equal(9000, result.Pairs.Count(p => p.ImageName.EndsWith(".webp", StringComparison.Ordinal)));
        Assert.All(result.Pairs, p => Assert.Contains(p.Sampler!, CanonicalSamplers));
        Assert.Equal(9765, result.Pairs.Count(p => p.Sampler == "k_lms"));
        Assert.Equal(32, result.Pairs.Count(p => p.Sampler == "k_dpm_2"));   // k_dpm_2 4 + K_dpm_2 28
        Assert.Equal(79, result.Pairs.Count(p => p.Sampler == "k_euler"));   // k_euler 71 + K_euler 8
        var first = result.Pairs[0];
        Assert.Equal(("ec9b5e2c-028e-48ac-8857-a52814fd2a06.png", 3312523387L, 50, 7f), (first.ImageName, first.Seed!.Value, first.Steps!.Value, first.Cfg!.Value));
    }

    [SkippableFact]
    public void DemoPngsCarryTheirPromptsInTextChunks()
    {
        Skip.IfNot(SharedData.Available, SharedData.SkipReason);
        var (header, rows) = CsvTable.Read(SharedData.PathOf("diffusiondb-demo6", "prompts.csv"));
        var expected = rows.ToDictionary(r => r[CsvTable.IndexOf(header, "image")], r => r[CsvTable.IndexOf(header, "prompt")]);
        var result = DiffusionDbReader.Read([SharedData.PathOf("diffusiondb-demo6", "images")]);
        Assert.Equal(6, result.Pairs.Count);
        Assert.Equal((6, 6, 0), (result.Summary.Images, result.Summary.PromptsFromPngText, result.Summary.CorruptImages));
        foreach (var pair in result.Pairs)
        {
            // The csv lost one trailing space that the PNG keeps; filter (i) makes them equal.
            Assert.Equal(PromptFilters.Trim(expected[pair.ImageName]), PromptFilters.Trim(pair.Prompt));
            Assert.NotNull(pair.Seed);
            Assert.NotNull(pair.Image);
            Assert.True(pair.Width is 512 or 704 && pair.Height is 512 or 768);
        }
        Assert.Equal(737547869L, result.Pairs.Single(p => p.ImageName.StartsWith("008a493e", StringComparison.Ordinal)).Seed);
    }

    [Theory]
    [InlineData("k_euler_a", "k_euler_ancestral")]
    [InlineData("K_EULER_ANCESTRAL", "k_euler_ancestral")]
    [InlineData("K_dpm_2", "k_dpm_2")]
    [InlineData("k-dpm-2-a", "k_dpm_2_ancestral")]
    [InlineData("DPM2", "k_dpm_2")]
    [InlineData("lms", "k_lms")]
    [InlineData("DDIM", "ddim")]
    [InlineData("plms", "plms")]
    [InlineData("k_heun", "k_heun")]
    [InlineData("4", "k_euler_ancestral")]
    [InlineData("weird sampler", "others")]
    [InlineData(" ", null)]
    public void SamplerNamesAreNormalised(string raw, string? expected) =>
        Assert.Equal(expected, DiffusionDbReader.NormalizeSampler(raw));

    [Fact]
    public void ZipArchiveIsReadInMemoryAndProblemsAreCounted()
    {
        using var tmp = new TempDirectory();
        string zip = tmp.File("part-000001.zip");
        using (var archive = ZipFile.Open(zip, ZipArchiveMode.Create))
        {
            Add(archive, "good.png", Png(8, 6, null));
            Add(archive, "corrupt.png", Png(8, 6, null)[..40]);              // truncated
            Add(archive, "textonly.png", Png(4, 4, ("prompt", "a red fox")));  // no json entry: prompt from tEXt
            Add(archive, "noprompt.png", Png(4, 4, null));                     // no json entry, no text
            Add(archive, "part-000001.json", Encoding.UTF8.GetBytes("""
                {
                  "good.png": {"p": "a blue cat ", "se": 42, "c": 7.5, "st": 50, "sa": "K_EULER_A"},
                  "corrupt.png": {"p": "a green dog", "se": 1, "c": 7.0, "st": 50, "sa": "k_lms"},
                  "missing.png": {"p": "an absent image", "se": 2, "c": 7.0, "st": 50, "sa": "ddim"},
                  "broken.png": {"se": 3}
                }
                """));
        }
        var result = DiffusionDbReader.Read([tmp.Path]);
        var s = result.Summary;
        Assert.Equal((1, 1, 4, 4, 1), (s.Archives, s.PartFiles, s.JsonEntries, s.Images, s.CorruptImages));
        Assert.Equal((2, 1, 1, 1), (s.EntriesWithoutImage, s.ImagesWithoutPrompt, s.PromptsFromPngText, s.InvalidEntries));
        Assert.Equal(["good.png", "corrupt.png", "missing.png", "textonly.png"], result.Pairs.Select(p => p.ImageName));
        var good = result.Pairs[0];
        Assert.Equal(("a blue cat ", 42L, 7.5f, "k_euler_ancestral", 8, 6), (good.Prompt, good.Seed!.Value, good.Cfg!.Value, good.Sampler, good.Width!.Value, good.Height!.Value));
        Assert.Equal(new ImageLocation(zip, "good.png"), good.Image);
        using (var stream = good.Image!.Open())
            Assert.True(ImageValidation.CheckStructure(stream).IsValid);
        Assert.Null(result.Pairs[1].Image); // corrupt image: record kept, image not used
        Assert.Null(result.Pairs[2].Image);
        Assert.Equal("a red fox", result.Pairs[3].Prompt);
        Assert.Contains(result.Problems, p => p.Contains("corrupt.png", StringComparison.Ordinal) && p.Contains("truncated", StringComparison.Ordinal));
        Assert.Single(Directory.GetFiles(tmp.Path)); // nothing unpacked to disk
    }

    [Fact]
    public void CorruptArchiveAndJsonAreCountedNotFatal()
    {
        using var tmp = new TempDirectory();
        File.WriteAllText(tmp.File("part-000002.zip"), "not a zip");
        Directory.CreateDirectory(tmp.File("part-000003"));
        File.WriteAllText(Path.Combine(tmp.File("part-000003"), "part-000003.json"), "{ broken");
        var result = DiffusionDbReader.Read([tmp.Path]);
        Assert.Equal(2, result.Summary.CorruptFiles);
        Assert.Empty(result.Pairs);
    }

    [Fact]
    public void MissingSourceIsBadInput() =>
        Assert.Throws<ReverseSdInputException>(() => DiffusionDbReader.Read(["/no/such/diffusiondb/folder"]));

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void PngCrcMismatchAndWebPTruncationAreDetected(bool png)
    {
        if (png)
        {
            var bytes = Png(4, 4, ("prompt", "x"));
            Assert.True(ImageValidation.CheckStructure(bytes).IsValid);
            bytes[20] ^= 0xFF; // inside IHDR data
            Assert.Contains("CRC", ImageValidation.CheckStructure(bytes).Problem);
        }
        else
        {
            var webp = WebP(30, 20);
            var ok = ImageValidation.CheckStructure(webp);
            Assert.Equal((true, 30, 20), (ok.IsValid, ok.Width, ok.Height));
            Assert.False(ImageValidation.CheckStructure(webp[..^4]).IsValid);
        }
    }

    [Fact]
    public void ParquetMetadataGivesPromptsAndSamplerCodes()
    {
        using var tmp = new TempDirectory();
        string parquet = tmp.File("metadata.parquet");
        WriteParquet(parquet,
            ["a.webp", "b.webp", "c.webp"], ["first prompt", "second prompt", "first prompt"], [1, 1, 2], [11, 22, 33], [50, 30, 50],
            [7f, 9f, 7f], [4, 9, 1], [512, 640, 512], [512, 512, 768]);
        var text = DiffusionDbReader.Read([parquet]);
        Assert.Equal(3, text.Pairs.Count);
        Assert.Equal(3, text.Summary.ParquetRows);
        Assert.Equal(["k_euler_ancestral", "others", "ddim"], text.Pairs.Select(p => p.Sampler));
        Assert.Equal((22L, 30, 9f, 640, 512), (text.Pairs[1].Seed!.Value, text.Pairs[1].Steps!.Value, text.Pairs[1].Cfg!.Value, text.Pairs[1].Width!.Value, text.Pairs[1].Height!.Value));

        // With images present, only the rows of those images are used; the others are counted.
        File.WriteAllBytes(tmp.File("b.webp"), WebP(640, 512));
        var withImages = DiffusionDbReader.Read([tmp.Path]);
        var only = Assert.Single(withImages.Pairs);
        Assert.Equal(("b.webp", "second prompt", 2), (only.ImageName, only.Prompt, withImages.Summary.ParquetRowsWithoutImage));
        Assert.Equal(tmp.File("b.webp"), only.Image!.Path);
    }

    [Fact]
    public void MaxPairsStopsReading()
    {
        using var tmp = new TempDirectory();
        string parquet = tmp.File("metadata.parquet");
        WriteParquet(parquet, ["a.png", "b.png", "c.png"], ["p1", "p2", "p3"], [1, 1, 1], [1, 2, 3], [50, 50, 50], [7f, 7f, 7f], [8, 8, 8], [512, 512, 512], [512, 512, 512]);
        var result = DiffusionDbReader.Read([parquet], new DiffusionDbReaderOptions { MaxPairs = 2 });
        Assert.Equal(["p1", "p2"], result.Pairs.Select(p => p.Prompt));
    }

    internal static void Add(ZipArchive archive, string name, byte[] bytes)
    {
        using var s = archive.CreateEntry(name).Open();
        s.Write(bytes);
    }

    /// <summary>A real PNG from SkiaSharp, with an optional tEXt chunk inserted after IHDR.</summary>
    internal static byte[] Png(int width, int height, (string Key, string Value)? text)
    {
        using var bitmap = new SKBitmap(width, height);
        bitmap.Erase(SKColors.Red);
        using var image = SKImage.FromBitmap(bitmap);
        var png = image.Encode(SKEncodedImageFormat.Png, 100).ToArray();
        if (text is not { } t) return png;
        var data = Encoding.Latin1.GetBytes(t.Key + "\0" + t.Value);
        var chunk = new byte[12 + data.Length];
        BinaryPrimitives.WriteUInt32BigEndian(chunk, (uint)data.Length);
        Encoding.ASCII.GetBytes("tEXt").CopyTo(chunk, 4);
        data.CopyTo(chunk, 8);
        BinaryPrimitives.WriteUInt32BigEndian(chunk.AsSpan(8 + data.Length), ImageValidation.Crc32(chunk.AsSpan(4, 4 + data.Length)));
        int afterIhdr = 8 + 12 + 13;
        return [.. png[..afterIhdr], .. chunk, .. png[afterIhdr..]];
    }

    /// <summary>A lossless WebP header (RIFF/WEBP/VP8L with the size bits) and filler data: enough for the structural check.</summary>
    internal static byte[] WebP(int width, int height)
    {
        var payload = new byte[5 + 16];
        payload[0] = 0x2F;
        BinaryPrimitives.WriteUInt32LittleEndian(payload.AsSpan(1), (uint)((width - 1) | (height - 1) << 14));
        var bytes = new byte[20 + payload.Length];
        Encoding.ASCII.GetBytes("RIFF").CopyTo(bytes, 0);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(4), (uint)(bytes.Length - 8));
        Encoding.ASCII.GetBytes("WEBPVP8L").CopyTo(bytes, 8);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(16), (uint)payload.Length);
        payload.CopyTo(bytes, 20);
        return bytes;
    }

    /// <summary>Writes a metadata.parquet with DiffusionDB's column types (uint16 part_id, uint32 seed, uint8 sampler, ...).</summary>
    internal static void WriteParquet(string path, string[] names, string[] prompts, ushort[] part, uint[] seed, ushort[] step,
        float[] cfg, byte[] sampler, ushort[] width, ushort[] height)
    {
        var fields = new DataField[]
        {
            new DataField<string>("image_name"), new DataField<string>("prompt"), new DataField<ushort>("part_id"), new DataField<uint>("seed"),
            new DataField<ushort>("step"), new DataField<float>("cfg"), new DataField<byte>("sampler"), new DataField<ushort>("width"),
            new DataField<ushort>("height"),
        };
        Task.Run(async () =>
        {
            await using var stream = File.Create(path);
            await using var writer = await ParquetWriter.CreateAsync(new ParquetSchema(fields), stream);
            using var group = writer.CreateRowGroup();
            await group.WriteAsync(fields[0], names, null);
            await group.WriteAsync(fields[1], prompts, null);
            await group.WriteAsync<ushort>(fields[2], part.AsMemory());
            await group.WriteAsync<uint>(fields[3], seed.AsMemory());
            await group.WriteAsync<ushort>(fields[4], step.AsMemory());
            await group.WriteAsync<float>(fields[5], cfg.AsMemory());
            await group.WriteAsync<byte>(fields[6], sampler.AsMemory());
            await group.WriteAsync<ushort>(fields[7], width.AsMemory());
            await group.WriteAsync<ushort>(fields[8], height.AsMemory());
        }).GetAwaiter().GetResult();
    }
}
