using System.Globalization;
using System.IO.Compression;
using System.Text.Json;
using Parquet;
using Parquet.Schema;

namespace ReverseSD.MLNet.Data;

public static partial class DiffusionDbReader
{
    /// <summary>One read: the folders and archives with their records and images, the parquet metadata, the counts and the first problems.</summary>
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
