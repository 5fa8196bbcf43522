using System.Globalization;
using System.IO.Compression;
using System.Numerics;
using System.Text.Json;
using Parquet;
using Parquet.Schema;

namespace ReverseSD.MLNet.Data;

/// <summary>Where an image lives: a file on disk, or an entry of a zip archive (read without unpacking).</summary>
/// <param name="Path">The image file, or the zip archive that holds it.</param>
/// <param name="ArchiveEntry">Full name of the entry inside the archive, or null for a plain file.</param>
public sealed record ImageLocation(string Path, string? ArchiveEntry = null)
{
    /// <summary>The image's file name (e.g. <c>&lt;uuid&gt;.png</c>).</summary>
    public string FileName => System.IO.Path.GetFileName(ArchiveEntry ?? Path);

    /// <summary>Opens the image bytes for reading; the caller disposes the stream.</summary>
    public Stream Open()
    {
        if (ArchiveEntry == null) return File.OpenRead(Path);
        var archive = ZipFile.OpenRead(Path);
        var entry = archive.GetEntry(ArchiveEntry);
        if (entry == null)
        {
            archive.Dispose();
            throw new FileNotFoundException($"'{ArchiveEntry}' is not in '{Path}'.");
        }
        var buffer = new MemoryStream();
        using (var s = entry.Open()) s.CopyTo(buffer);
        archive.Dispose();
        buffer.Position = 0;
        return buffer;
    }
}

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

/// <summary>
/// Reads DiffusionDB as downloaded (paper §4.1): <c>part-XXXXXX/</c> folders or <c>part-XXXXXX.zip</c> archives with
/// their images and <c>part-XXXXXX.json</c>, <c>metadata.parquet</c> / <c>metadata-large.parquet</c>, and PNGs that
/// carry their prompt in a "prompt" tEXt chunk. Both the 2M set (PNG) and the Large set (lossless WebP) are read.
/// Images inside archives are read in memory, never unpacked to disk. Every image is checked structurally; corrupt
/// files, records without an image and images without a prompt are counted, never fatal.
/// </summary>
public static class DiffusionDbReader
{
    /// <summary>The sampler names of metadata.parquet's uint8 codes 1..9 (index 0 unused).</summary>
    public static IReadOnlyList<string> SamplerCodes { get; } =
        ["", "ddim", "plms", "k_euler", "k_euler_ancestral", "k_heun", "k_dpm_2", "k_dpm_2_ancestral", "k_lms", "others"];

    /// <summary>
    /// Normalises a sampler name to metadata.parquet's spelling: lower case, '-'/' ' as '_', the "k_" prefix added to
    /// k-diffusion samplers, "_a" expanded to "_ancestral", "dpm2" to "dpm_2" ("K_EULER_A" → "k_euler_ancestral").
    /// Unknown names become "others"; null or blank stays null.
    /// </summary>
    public static string? NormalizeSampler(string? sampler)
    {
        if (string.IsNullOrWhiteSpace(sampler)) return null;
        string s = sampler.Trim().ToLowerInvariant().Replace('-', '_').Replace(' ', '_');
        if (int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out int code)) return SamplerName(code);
        if (s is "ddim" or "plms") return s;
        if (s.StartsWith("k_", StringComparison.Ordinal)) s = s[2..];
        s = s.Replace("dpm2", "dpm_2", StringComparison.Ordinal);
        if (s.EndsWith("_a", StringComparison.Ordinal)) s = s[..^2] + "_ancestral";
        return s is "euler" or "euler_ancestral" or "heun" or "dpm_2" or "dpm_2_ancestral" or "lms" ? "k_" + s : "others";
    }

    /// <summary>The sampler name of a metadata.parquet code (1 ddim … 8 k_lms, 9 others); other codes give "others".</summary>
    public static string SamplerName(int code) => code is >= 1 and <= 9 ? SamplerCodes[code] : "others";

    /// <summary>Reads every source: folders (searched recursively), zip archives, part json files, parquet files, images.</summary>
    /// <param name="sources">Paths of folders or files; a missing path is a <see cref="ReverseSdInputException"/>.</param>
    /// <param name="options">Reader options, or null for defaults.</param>
    /// <param name="progress">Receives one report per folder or archive read.</param>
    /// <param name="cancellationToken">Cancels between files.</param>
    public static DiffusionDbReadResult Read(
        IEnumerable<string> sources, DiffusionDbReaderOptions? options = null, IProgress<ProgressReport>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(sources);
        var state = new ReadState(options ?? new DiffusionDbReaderOptions(), cancellationToken);
        var (units, parquetFiles) = Discover(sources);
        for (int u = 0; u < units.Count; u++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (state.Options.MaxPairs is int max && state.RecordCount >= max) break;
            state.ReadUnit(units[u]);
            progress?.Report(new ProgressReport("read", u + 1, units.Count, Path.GetFileName(units[u].Path)));
        }
        foreach (var parquet in parquetFiles)
        {
            cancellationToken.ThrowIfCancellationRequested();
            state.ReadParquet(parquet);
        }
        return state.Finish();
    }

    internal static async Task<string?[]> Strings(ParquetRowGroupReader group, DataField field, int n)
    {
        var values = new string?[n];
        await group.ReadAsync(field, values.AsMemory()!, null);
        return values;
    }

    /// <summary>Reads any numeric column (uint8, uint16, uint32, float, ...) as doubles; null when the column is absent.</summary>
    internal static async Task<double?[]?> Numbers(ParquetRowGroupReader group, DataField? field, int n) =>
        field?.ClrType switch
        {
            null => null,
            var t when t == typeof(byte) => await Numbers<byte>(group, field, n),
            var t when t == typeof(sbyte) => await Numbers<sbyte>(group, field, n),
            var t when t == typeof(short) => await Numbers<short>(group, field, n),
            var t when t == typeof(ushort) => await Numbers<ushort>(group, field, n),
            var t when t == typeof(int) => await Numbers<int>(group, field, n),
            var t when t == typeof(uint) => await Numbers<uint>(group, field, n),
            var t when t == typeof(long) => await Numbers<long>(group, field, n),
            var t when t == typeof(ulong) => await Numbers<ulong>(group, field, n),
            var t when t == typeof(float) => await Numbers<float>(group, field, n),
            var t when t == typeof(double) => await Numbers<double>(group, field, n),
            _ => null,
        };

    internal static async Task<double?[]> Numbers<T>(ParquetRowGroupReader group, DataField field, int n) where T : struct, INumberBase<T>
    {
        var result = new double?[n];
        if (field.IsNullable)
        {
            var values = new T?[n];
            await group.ReadAsync<T>(field, values.AsMemory(), null);
            for (int i = 0; i < n; i++) result[i] = values[i] is T v ? double.CreateTruncating(v) : null;
        }
        else
        {
            var values = new T[n];
            await group.ReadAsync<T>(field, values.AsMemory(), null);
            for (int i = 0; i < n; i++) result[i] = double.CreateTruncating(values[i]);
        }
        return result;
    }

    /// <summary>A folder or an archive: the images and part json files that sit together.</summary>
    private sealed record Unit(string Path, bool IsArchive, List<string> Files);

    private static (List<Unit> Units, List<string> Parquet) Discover(IEnumerable<string> sources)
    {
        var folders = new SortedDictionary<string, Unit>(StringComparer.Ordinal);
        var archives = new List<Unit>();
        var parquet = new List<string>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var source in sources)
        {
            string full = Path.GetFullPath(source);
            IEnumerable<string> files;
            if (Directory.Exists(full))
                files = Directory.EnumerateFiles(full, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal);
            else if (File.Exists(full))
                files = [full];
            else
                throw new ReverseSdInputException($"DiffusionDB source '{source}' does not exist: give part-XXXXXX folders or zips, part json files, metadata.parquet or images.");
            foreach (var file in files)
            {
                if (!seen.Add(file)) continue;
                string ext = Path.GetExtension(file).ToLowerInvariant();
                if (ext == ".zip") archives.Add(new Unit(file, true, []));
                else if (ext == ".parquet") parquet.Add(file);
                else if (ext == ".json" || ImageFiles.HasImageExtension(file))
                {
                    string dir = Path.GetDirectoryName(file)!;
                    if (!folders.TryGetValue(dir, out var unit)) folders[dir] = unit = new Unit(dir, false, []);
                    unit.Files.Add(file);
                }
            }
        }
        var units = folders.Values.Concat(archives).OrderBy(u => u.Path, StringComparer.Ordinal).ToList();
        return (units, parquet);
    }

    private sealed class Record(string imageName, string prompt, long? seed, int? steps, float? cfg, string? sampler)
    {
        public string ImageName { get; } = imageName;
        public string Prompt { get; } = prompt;
        public long? Seed { get; } = seed;
        public int? Steps { get; } = steps;
        public float? Cfg { get; } = cfg;
        public string? Sampler { get; } = sampler;
        public int? Width { get; set; }
        public int? Height { get; set; }
    }

    private sealed record FoundImage(ImageLocation Location, ImageCheck Check);

    private sealed class ReadState(DiffusionDbReaderOptions options, CancellationToken cancellationToken)
    {
        public DiffusionDbReaderOptions Options { get; } = options;
        private readonly List<(Unit Unit, List<Record> Records, List<string> ImageNames)> _units = [];
        private readonly Dictionary<string, FoundImage> _images = new(StringComparer.Ordinal);
        private readonly Dictionary<string, Record> _recordByImage = new(StringComparer.Ordinal);
        private readonly List<Record> _parquetOnly = [];
        private readonly List<string> _problems = [];
        private int _partFiles, _archives, _parquetFiles, _jsonEntries, _parquetRows, _parquetWithoutImage, _imageCount;
        private int _corruptImages, _corruptFiles, _duplicates, _invalid;

        public int RecordCount { get; private set; }

        public void ReadUnit(Unit unit)
        {
            var records = new List<Record>();
            var names = new List<string>();
            if (unit.IsArchive)
            {
                try
                {
                    using var archive = ZipFile.OpenRead(unit.Path);
                    _archives++;
                    foreach (var entry in archive.Entries.OrderBy(e => e.FullName, StringComparer.Ordinal))
                    {
                        cancellationToken.ThrowIfCancellationRequested();
                        string where = $"{unit.Path}!{entry.FullName}";
                        if (entry.FullName.EndsWith(".json", StringComparison.OrdinalIgnoreCase))
                        {
                            try
                            {
                                using var s = entry.Open();
                                ReadJson(s, where, records);
                            }
                            catch (Exception e) when (e is InvalidDataException or IOException)
                            {
                                BadFile(where, e.Message);
                            }
                        }
                        else if (ImageFiles.HasImageExtension(entry.FullName))
                        {
                            ImageCheck check;
                            try
                            {
                                using var s = entry.Open();
                                check = ImageValidation.CheckStructure(s);
                            }
                            catch (Exception e) when (e is InvalidDataException or IOException)
                            {
                                check = new ImageCheck(false, "unreadable archive entry: " + e.Message, 0, 0, new Dictionary<string, string>());
                            }
                            AddImage(new ImageLocation(unit.Path, entry.FullName), check, names);
                        }
                    }
                }
                catch (InvalidDataException e)
                {
                    BadFile(unit.Path, "not a readable zip archive: " + e.Message);
                }
            }
            else
            {
                foreach (var file in unit.Files)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    if (file.EndsWith(".json", StringComparison.OrdinalIgnoreCase))
                    {
                        using var s = File.OpenRead(file);
                        ReadJson(s, file, records);
                    }
                    else AddImage(new ImageLocation(file), ImageValidation.CheckStructure(File.ReadAllBytes(file)), names);
                }
            }
            foreach (var r in records)
            {
                if (!_recordByImage.TryAdd(r.ImageName, r)) { _duplicates++; continue; }
                RecordCount++;
            }
            RecordCount += names.Count(n => !_recordByImage.ContainsKey(n));
            _units.Add((unit, records, names));
        }

        private void AddImage(ImageLocation location, ImageCheck check, List<string> names)
        {
            _imageCount++;
            if (!check.IsValid)
            {
                _corruptImages++;
                Problem($"{location.Path}{(location.ArchiveEntry != null ? "!" + location.ArchiveEntry : "")}: {check.Problem}");
            }
            if (!_images.TryAdd(location.FileName, new FoundImage(location, check))) { _duplicates++; return; }
            names.Add(location.FileName);
        }

        private void ReadJson(Stream stream, string where, List<Record> records)
        {
            JsonDocument doc;
            try
            {
                doc = JsonDocument.Parse(stream);
            }
            catch (JsonException e)
            {
                BadFile(where, "not valid JSON: " + e.Message);
                return;
            }
            using (doc)
            {
                if (doc.RootElement.ValueKind != JsonValueKind.Object)
                {
                    BadFile(where, "a part json must be an object keyed by image file name");
                    return;
                }
                _partFiles++;
                foreach (var entry in doc.RootElement.EnumerateObject())
                {
                    _jsonEntries++;
                    var v = entry.Value;
                    if (v.ValueKind != JsonValueKind.Object || !v.TryGetProperty("p", out var p) || p.ValueKind != JsonValueKind.String)
                    {
                        _invalid++;
                        Problem($"{where}: entry '{entry.Name}' has no string prompt \"p\"");
                        continue;
                    }
                    records.Add(new Record(entry.Name, p.GetString()!, Number(v, "se"), (int?)Number(v, "st"),
                        v.TryGetProperty("c", out var c) && c.ValueKind == JsonValueKind.Number ? c.GetSingle() : null,
                        NormalizeSampler(v.TryGetProperty("sa", out var sa) ? sa.ValueKind == JsonValueKind.String ? sa.GetString() : sa.ToString() : null)));
                }
            }
        }

        private static long? Number(JsonElement v, string name) =>
            v.TryGetProperty(name, out var e) && e.ValueKind == JsonValueKind.Number && e.TryGetInt64(out long x) ? x : null;

        public void ReadParquet(string path)
        {
            try
            {
                ReadParquetAsync(path).GetAwaiter().GetResult();
                _parquetFiles++;
            }
            catch (Exception e) when (e is not OperationCanceledException and not ReverseSdInputException)
            {
                BadFile(path, "not a readable metadata parquet: " + e.Message);
            }
        }

        private async Task ReadParquetAsync(string path)
        {
            await using var reader = await ParquetReader.CreateAsync(path, cancellationToken: cancellationToken);
            var fields = reader.Schema.GetDataFields().ToDictionary(f => f.Name, StringComparer.OrdinalIgnoreCase);
            if (!fields.TryGetValue("image_name", out var nameField) || !fields.TryGetValue("prompt", out var promptField))
                throw new ReverseSdInputException(
                    $"parquet file '{path}' has no 'image_name' or 'prompt' column; its columns are: {string.Join(", ", fields.Keys)}.");
            bool imagesPresent = _images.Count > 0;
            var prompts = new Dictionary<string, string>(StringComparer.Ordinal); // interns repeated prompts
            for (int g = 0; g < reader.RowGroupCount; g++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                if (!imagesPresent && Options.MaxPairs is int max && RecordCount >= max) break;
                using var group = reader.OpenRowGroupReader(g);
                int n = checked((int)group.RowCount);
                var names = await Strings(group, nameField, n);
                var texts = await Strings(group, promptField, n);
                var seed = await Numbers(group, fields.GetValueOrDefault("seed"), n);
                var step = await Numbers(group, fields.GetValueOrDefault("step"), n);
                var cfg = await Numbers(group, fields.GetValueOrDefault("cfg"), n);
                var sampler = await Numbers(group, fields.GetValueOrDefault("sampler"), n);
                var width = await Numbers(group, fields.GetValueOrDefault("width"), n);
                var height = await Numbers(group, fields.GetValueOrDefault("height"), n);
                for (int i = 0; i < n; i++)
                {
                    string? name = names[i], text = texts[i];
                    if (name == null || text == null) { _invalid++; continue; }
                    if (imagesPresent && !_images.ContainsKey(name)) { _parquetWithoutImage++; continue; }
                    if (_recordByImage.TryGetValue(name, out var known))
                    {
                        // The json already gave this image's record; the parquet adds its size.
                        known.Width ??= (int?)width?[i];
                        known.Height ??= (int?)height?[i];
                        continue;
                    }
                    if (!prompts.TryGetValue(text, out var interned)) prompts[text] = interned = text;
                    var r = new Record(name, interned, (long?)seed?[i], (int?)step?[i], (float?)cfg?[i],
                        sampler?[i] is double code ? SamplerName((int)code) : null)
                    { Width = (int?)width?[i], Height = (int?)height?[i] };
                    _recordByImage[name] = r;
                    _parquetOnly.Add(r);
                    _parquetRows++;
                    RecordCount++;
                    if (!imagesPresent && Options.MaxPairs is int m && RecordCount >= m) return;
                }
            }
        }

        public DiffusionDbReadResult Finish()
        {
            var pairs = new List<DiffusionDbPair>();
            int withoutImage = 0, withoutPrompt = 0, fromText = 0;
            var used = new HashSet<string>(StringComparer.Ordinal);
            DiffusionDbPair FromRecord(Record r)
            {
                var image = _images.TryGetValue(r.ImageName, out var found) && found.Check.IsValid ? found : null;
                if (image == null) withoutImage++;
                int? w = r.Width ?? (image?.Check.Width > 0 ? image.Check.Width : null);
                int? h = r.Height ?? (image?.Check.Height > 0 ? image.Check.Height : null);
                return new DiffusionDbPair(r.ImageName, r.Prompt, r.Seed, r.Steps, r.Cfg, r.Sampler, w, h, image?.Location);
            }
            foreach (var (_, records, names) in _units)
            {
                foreach (var r in records)
                    if (ReferenceEquals(_recordByImage[r.ImageName], r) && used.Add(r.ImageName)) pairs.Add(FromRecord(r));
                foreach (var name in names)
                {
                    if (!used.Add(name)) continue;
                    if (_recordByImage.TryGetValue(name, out var r)) { pairs.Add(FromRecord(r)); continue; }
                    var image = _images[name];
                    if (!image.Check.IsValid) continue; // counted as corrupt
                    if (image.Check.Text.TryGetValue("prompt", out var prompt))
                    {
                        fromText++;
                        long? seed = image.Check.Text.TryGetValue("seed", out var s) && long.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out long x) ? x : null;
                        pairs.Add(new DiffusionDbPair(name, prompt, seed, null, null, null,
                            image.Check.Width > 0 ? image.Check.Width : null, image.Check.Height > 0 ? image.Check.Height : null, image.Location));
                    }
                    else
                    {
                        withoutPrompt++;
                        Problem($"{image.Location.Path}{(image.Location.ArchiveEntry != null ? "!" + image.Location.ArchiveEntry : "")}: image without a prompt (no json entry, parquet row or 'prompt' text chunk)");
                    }
                }
            }
            // Records are dropped as they become pairs, so the two never both hold millions of rows (DiffusionDB 2M: 2 M parquet rows).
            _recordByImage.Clear();
            _recordByImage.TrimExcess();
            for (int i = 0; i < _parquetOnly.Count; i++)
            {
                var r = _parquetOnly[i];
                _parquetOnly[i] = null!;
                if (!used.Contains(r.ImageName)) pairs.Add(FromRecord(r));   // parquet names are unique (deduplicated while reading)
            }
            _parquetOnly.Clear();
            if (Options.MaxPairs is int max && pairs.Count > max) pairs.RemoveRange(max, pairs.Count - max);
            var summary = new DiffusionDbReadSummary(_partFiles, _archives, _parquetFiles, _jsonEntries, _parquetRows, _parquetWithoutImage,
                _imageCount, _corruptImages, _corruptFiles, withoutImage, withoutPrompt, fromText, _duplicates, _invalid, pairs.Count);
            return new DiffusionDbReadResult(pairs, summary, _problems);
        }

        private void BadFile(string where, string why)
        {
            _corruptFiles++;
            Problem($"{where}: {why}");
        }

        private void Problem(string text)
        {
            if (_problems.Count < 20) _problems.Add(text);
        }
    }
}
