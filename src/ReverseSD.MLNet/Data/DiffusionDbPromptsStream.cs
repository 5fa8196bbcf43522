using System.Collections;
using System.Globalization;
using System.Text;
using Parquet;
using Parquet.Schema;

namespace ReverseSD.MLNet.Data;

/// <summary>
/// Prompts-only preparation of metadata.parquet files (DiffusionDB 2M: 2 M rows, Large: 14 M) streamed by row groups in
/// three passes, so memory grows with the distinct kept prompts, not with the rows: pass 1 reads image_name and prompt,
/// drops repeated image names, runs the four filters in source order (texts remembered by hash) and marks the kept rows;
/// pass 2 collects the kept rows' distinct split keys; pass 3 writes each kept row with its split. It writes the same
/// prompts.csv and counts as <see cref="DiffusionDbReader"/> + <see cref="PromptFilters"/> + <see cref="PromptSplit"/>
/// on the same files.
/// </summary>
internal static class DiffusionDbPromptsStream
{
    public static DiffusionDbPrepareSummary Prepare(IReadOnlyList<string> parquetFiles, string outputDirectory, DiffusionDbPrepareOptions options,
        IProgress<ProgressReport>? progress, CancellationToken cancellationToken)
    {
        // Pass 1. Texts are remembered by a 64-bit hash (FNV-1a over UTF-16 units), not kept: image names (to drop repeats),
        // raw prompts (one filter decision each), kept prompts' first and last 50 characters (filter iv) and split keys. A
        // false match between two different texts has a probability near 1e-7 at 2 M distinct texts.
        var seenNames = new HashSet<ulong>();
        var filters = new CompactFilterPass();
        var keyHashes = new HashSet<ulong>();
        var kept = new List<BitArray>();   // per file: rows to write
        var problems = new List<string>();
        int filesRead = 0, corruptFiles = 0, rows = 0, invalid = 0;
        foreach (string file in parquetFiles)
        {
            var keep = new BitArray(0);
            kept.Add(keep);
            try
            {
                ForEachRowGroup(file, needAll: false, cancellationToken, (g, start, n) =>
                {
                    keep.Length = start + n;
                    for (int i = 0; i < n; i++)
                    {
                        if (options.MaxPairs is int max && rows >= max) return false;
                        string? name = g.Names[i], prompt = g.Prompts[i];
                        if (name == null || prompt == null) { invalid++; continue; }
                        if (!seenNames.Add(Hash(name))) continue;   // the first row of an image name is used, as the reader does
                        rows++;
                        string? trimmed = filters.Keep(prompt);
                        if (trimmed == null) continue;
                        keep[start + i] = true;
                        keyHashes.Add(Hash(PromptSplit.KeyOf(trimmed)));
                    }
                    progress?.Report(new ProgressReport("read metadata (pass 1 of 3)", rows, 0, Path.GetFileName(file)));
                    return true;
                });
                filesRead++;
            }
            catch (Exception e) when (e is not OperationCanceledException and not ReverseSdInputException)
            {
                corruptFiles++;
                if (problems.Count < 20) problems.Add($"{file}: not a readable metadata parquet: {e.Message}");
            }
        }
        seenNames = null;
        var filterSummary = filters.Summary;
        filters = null;

        // Pass 2: the distinct split keys of the kept rows, once the pass 1 sets are released, as UTF-8 (their ordinal order
        // is UTF-16's: kept prompts are printable ASCII plus a few BMP punctuation marks), sorted and cut as PromptSplit does.
        var keys = new Dictionary<ulong, byte[]>(keyHashes.Count);
        keyHashes = null;
        for (int f = 0; f < parquetFiles.Count; f++)
            if (HasAny(kept[f]))
                foreach (var group in RowGroupsOf(parquetFiles[f], kept[f], needAll: false))
                    foreach (int i in group.Kept)
                    {
                        string key = PromptSplit.KeyOf(PromptFilters.Trim(group.Rows.Prompts[i]!));
                        ulong h = Hash(key);
                        if (!keys.ContainsKey(h)) keys[h] = Encoding.UTF8.GetBytes(key);
                    }
        var sorted = keys.ToArray();
        keys = null;
        Array.Sort(sorted, (a, b) => a.Value.AsSpan().SequenceCompareTo(b.Value));
        var splitOfSorted = PromptSplit.SplitOfSortedKeys(sorted.Length, options.Split, options.Seed);
        var splitOf = new Dictionary<ulong, byte>(sorted.Length);
        for (int i = 0; i < sorted.Length; i++) splitOf[sorted[i].Key] = splitOfSorted[i];
        sorted = null;

        // Pass 3: the kept rows with their metadata and split.
        int[] perSplit = new int[3];
        string csv = Path.Combine(outputDirectory, DiffusionDbDataset.PromptsFileName);
        CsvTable.Write(csv, ["image_name", "prompt", "seed", "steps", "cfg", "sampler", "width", "height", "split"], Rows());
        var read = new DiffusionDbReadSummary(0, 0, filesRead, 0, rows, 0, 0, 0, corruptFiles, rows, 0, 0, 0, invalid, rows);
        return new DiffusionDbPrepareSummary(read, filterSummary, perSplit[0], perSplit[1], perSplit[2], 0, filterSummary.Kept, Path.GetFullPath(csv));

        IEnumerable<IReadOnlyList<string>> Rows()
        {
            for (int f = 0; f < parquetFiles.Count; f++)
            {
                if (!HasAny(kept[f])) continue;
                foreach (var group in RowGroupsOf(parquetFiles[f], kept[f], needAll: true))
                {
                    var g = group.Rows;
                    foreach (int i in group.Kept)
                    {
                        string trimmed = PromptFilters.Trim(g.Prompts[i]!);
                        int splitIndex = splitOf[Hash(PromptSplit.KeyOf(trimmed))];
                        perSplit[splitIndex]++;
                        yield return
                        [
                            g.Names[i]!, trimmed, Text((long?)g.Seed?[i]), Text((int?)g.Step?[i]),
                            ((float?)g.Cfg?[i])?.ToString("R", CultureInfo.InvariantCulture) ?? "",
                            g.Sampler?[i] is double code ? DiffusionDbReader.SamplerName((int)code) : "",
                            Text((int?)g.Width?[i]), Text((int?)g.Height?[i]), ImageFolderDataset.Splits[splitIndex],
                        ];
                    }
                    progress?.Report(new ProgressReport("write prompts.csv (pass 3 of 3)", perSplit.Sum(), filterSummary.Kept));
                }
            }
        }

        // The row groups of a file, read one at a time, with the indices of their kept rows.
        IEnumerable<(RowGroup Rows, List<int> Kept)> RowGroupsOf(string file, BitArray keep, bool needAll)
        {
            var reader = ParquetReader.CreateAsync(file, cancellationToken: cancellationToken).GetAwaiter().GetResult();
            try
            {
                var fields = reader.Schema.GetDataFields().ToDictionary(x => x.Name, StringComparer.OrdinalIgnoreCase);
                int start = 0;
                for (int g = 0; g < reader.RowGroupCount && start < keep.Length; g++)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    var group = ReadGroup(reader, g, fields, needAll).GetAwaiter().GetResult();
                    var indices = new List<int>();
                    for (int i = 0; i < group.Count && start + i < keep.Length; i++)
                        if (keep[start + i]) indices.Add(i);
                    start += group.Count;
                    yield return (group, indices);
                }
            }
            finally
            {
                reader.DisposeAsync().AsTask().GetAwaiter().GetResult();
            }
        }
    }

    private static bool HasAny(BitArray bits)
    {
        for (int i = 0; i < bits.Length; i++)
            if (bits[i]) return true;
        return false;
    }

    private static string Text(long? value) => value?.ToString(CultureInfo.InvariantCulture) ?? "";

    /// <summary>64-bit FNV-1a over the UTF-16 code units of <paramref name="text"/>.</summary>
    private static ulong Hash(string text) => Hash(text.AsSpan());

    private static ulong Hash(ReadOnlySpan<char> text)
    {
        ulong hash = 14695981039346656037UL;
        foreach (char c in text)
        {
            hash ^= c;
            hash *= 1099511628211UL;
        }
        return hash;
    }

    /// <summary>
    /// The four filters in source order with <see cref="PromptFilters.Apply{T}"/>'s rules and counts, remembering texts by
    /// a 64-bit hash instead of keeping them.
    /// </summary>
    private sealed class CompactFilterPass
    {
        private readonly Dictionary<ulong, byte> _verdictOfRaw = [];
        private readonly Dictionary<ulong, bool> _seen = [];   // trimmed prompt -> kept by filter (iv)
        private readonly HashSet<ulong> _prefixes = [], _suffixes = [];
        private int _input, _trimmed, _noWord, _nonEnglish, _nearDuplicate, _kept, _keptDistinct;

        /// <summary>The trimmed prompt when kept, else null.</summary>
        public string? Keep(string raw)
        {
            _input++;
            string t = PromptFilters.Trim(raw);
            if (t.Length != raw.Length) _trimmed++;
            ulong h = Hash(raw);
            if (!_verdictOfRaw.TryGetValue(h, out byte verdict))
                _verdictOfRaw[h] = verdict = (byte)(!PromptFilters.HasWordsAndNoNullOrNaN(t) ? 2 : !PromptFilters.HasOnlyEnglishCharacters(t) ? 3 : !NearKeep(t) ? 4 : 0);
            switch (verdict)
            {
                case 2: _noWord++; return null;
                case 3: _nonEnglish++; return null;
                case 4: _nearDuplicate++; return null;
                default: _kept++; return t;
            }
        }

        /// <summary><see cref="NearDuplicateFilter.TryKeep"/> on hashes.</summary>
        private bool NearKeep(string prompt)
        {
            ulong h = Hash(prompt);
            if (_seen.TryGetValue(h, out bool wasKept)) return wasKept;
            const int n = PromptFilters.NearDuplicateLength;
            bool keep = true;
            if (prompt.Length >= n)
            {
                ulong prefix = Hash(prompt.AsSpan(0, n)), suffix = Hash(prompt.AsSpan(prompt.Length - n));
                keep = !_prefixes.Contains(prefix) && !_suffixes.Contains(suffix);
                if (keep)
                {
                    _prefixes.Add(prefix);
                    _suffixes.Add(suffix);
                }
            }
            _seen[h] = keep;
            if (keep) _keptDistinct++;
            return keep;
        }

        public PromptFilterSummary Summary => new(_input, _trimmed, _noWord, _nonEnglish, _nearDuplicate, _kept, _keptDistinct);
    }

    private sealed class RowGroup
    {
        public int Count { get; init; }
        public required string?[] Names { get; init; }
        public required string?[] Prompts { get; init; }
        public double?[]? Seed { get; init; }
        public double?[]? Step { get; init; }
        public double?[]? Cfg { get; init; }
        public double?[]? Sampler { get; init; }
        public double?[]? Width { get; init; }
        public double?[]? Height { get; init; }
    }

    /// <summary>Calls <paramref name="onGroup"/> (group, index of its first row in the file, rows) per row group until it returns false.</summary>
    private static void ForEachRowGroup(string file, bool needAll, CancellationToken cancellationToken, Func<RowGroup, int, int, bool> onGroup)
    {
        Task.Run(async () =>
        {
            await using var reader = await ParquetReader.CreateAsync(file, cancellationToken: cancellationToken);
            var fields = reader.Schema.GetDataFields().ToDictionary(f => f.Name, StringComparer.OrdinalIgnoreCase);
            if (!fields.ContainsKey("image_name") || !fields.ContainsKey("prompt"))
                throw new ReverseSdInputException(
                    $"parquet file '{file}' has no 'image_name' or 'prompt' column; its columns are: {string.Join(", ", fields.Keys)}.");
            int start = 0;
            for (int g = 0; g < reader.RowGroupCount; g++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var group = await ReadGroup(reader, g, fields, needAll);
                if (!onGroup(group, start, group.Count)) return;
                start = checked(start + group.Count);
            }
        }, cancellationToken).GetAwaiter().GetResult();
    }

    private static async Task<RowGroup> ReadGroup(ParquetReader reader, int g, Dictionary<string, DataField> fields, bool needAll)
    {
        using var group = reader.OpenRowGroupReader(g);
        int n = checked((int)group.RowCount);
        return new RowGroup
        {
            Count = n,
            Names = await DiffusionDbReader.Strings(group, fields["image_name"], n),
            Prompts = await DiffusionDbReader.Strings(group, fields["prompt"], n),
            Seed = needAll ? await DiffusionDbReader.Numbers(group, fields.GetValueOrDefault("seed"), n) : null,
            Step = needAll ? await DiffusionDbReader.Numbers(group, fields.GetValueOrDefault("step"), n) : null,
            Cfg = needAll ? await DiffusionDbReader.Numbers(group, fields.GetValueOrDefault("cfg"), n) : null,
            Sampler = needAll ? await DiffusionDbReader.Numbers(group, fields.GetValueOrDefault("sampler"), n) : null,
            Width = needAll ? await DiffusionDbReader.Numbers(group, fields.GetValueOrDefault("width"), n) : null,
            Height = needAll ? await DiffusionDbReader.Numbers(group, fields.GetValueOrDefault("height"), n) : null,
        };
    }
}
