using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using ReverseSD.MLNet.Data;
using ReverseSD.MLNet.Text;

namespace ReverseSD.MLNet.Retrieval;

/// <summary>Options of <see cref="PromptBankBuilder.Build"/>.</summary>
public sealed class PromptBankBuildOptions
{
    /// <summary>Text/CSV files, data set folders, DiffusionDB part json files or folders, metadata.parquet files.</summary>
    public IReadOnlyList<string> Inputs { get; set; } = [];

    /// <summary>The prompt column of CSV inputs (case-insensitive); data set folders always use "prompt".</summary>
    public string Column { get; set; } = "prompt";

    /// <summary>Apply the paper's four prompt filters (§4.1) before embedding.</summary>
    public bool PaperFilters { get; set; }

    /// <summary>Prompts embedded and saved per chunk: the unit of progress and of resuming an interrupted build.</summary>
    public int ChunkSize { get; set; } = 4096;

    /// <summary>Prompts per sentence-encoder call.</summary>
    public int BatchSize { get; set; } = SentenceEncoder.DefaultBatchSize;

    /// <summary>Number of frequent comma phrases kept in the bank header for the composer.</summary>
    public int FrequentPhrases { get; set; } = 200;
}

/// <summary>What a bank build did.</summary>
public sealed record PromptBankBuildSummary(long PromptsRead, long Duplicates, long Filtered, long Count, int ChunksResumed, TimeSpan EmbeddingTime);

/// <summary>
/// Builds a <see cref="PromptBank"/> file: reads the sources, trims, drops empty prompts and exact duplicates
/// (case-insensitive, the first spelling kept), optionally applies the paper's filters, embeds with MiniLM chunk by chunk
/// and assembles the bank, which appears atomically only when complete. Work lives in <c>BANK.partial/</c>: a build
/// killed and started again with the same inputs continues from its last finished chunk and writes the same bytes.
/// Memory holds one chunk, a 16-byte hash per distinct prompt and the phrase counts, never the whole bank.
/// </summary>
public static class PromptBankBuilder
{
    private const int PhraseCountLimit = 200_000;

    /// <summary>Builds the bank at <paramref name="path"/> from <paramref name="options"/>' inputs.</summary>
    public static PromptBankBuildSummary Build(string path, PromptBankBuildOptions options, IProgress<ProgressReport>? progress = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.ChunkSize, 1, nameof(options.ChunkSize));
        ArgumentOutOfRangeException.ThrowIfLessThan(options.BatchSize, 1, nameof(options.BatchSize));
        ArgumentOutOfRangeException.ThrowIfNegative(options.FrequentPhrases, nameof(options.FrequentPhrases));
        var files = PromptSources.Expand(options.Inputs);
        using var encoder = SentenceEncoder.Load(null, options.BatchSize);
        return BuildFrom(path, files, options, encoder.Encode, progress, cancellationToken);
    }

    /// <summary>Builds a bank in memory-bounded chunks with the given encoder (tests pass the real one).</summary>
    internal static PromptBankBuildSummary BuildFrom(string path, IReadOnlyList<string> files, PromptBankBuildOptions options,
        Func<IReadOnlyList<string>, IProgress<ProgressReport>?, CancellationToken, float[][]> encode,
        IProgress<ProgressReport>? progress, CancellationToken cancellationToken)
    {
        string full = Path.GetFullPath(path);
        string work = full + ".partial";
        string fingerprint = Fingerprint(files, options);
        string fingerprintFile = Path.Combine(work, "build.json");
        if (Directory.Exists(work) && (!File.Exists(fingerprintFile) || File.ReadAllText(fingerprintFile) != fingerprint))
            Directory.Delete(work, recursive: true); // another build's leftovers: start over
        Directory.CreateDirectory(work);
        if (!File.Exists(fingerprintFile)) AtomicFile.WriteAllBytes(fingerprintFile, Encoding.UTF8.GetBytes(fingerprint));

        string textFile = Path.Combine(work, "text.bin"), offsetsFile = Path.Combine(work, "offsets.bin"), doneFile = Path.Combine(work, "prompts.json");
        PromptListSummary list;
        if (File.Exists(doneFile))
            list = JsonSerializer.Deserialize<PromptListSummary>(File.ReadAllBytes(doneFile))!;
        else
        {
            list = WritePromptList(files, options, textFile, offsetsFile, progress, cancellationToken);
            AtomicFile.WriteAllBytes(doneFile, JsonSerializer.SerializeToUtf8Bytes(list));
        }
        if (list.Count == 0)
        {
            Directory.Delete(work, recursive: true);
            throw new ReverseSdInputException(
                $"No prompt left to put in the bank ({list.Read} read, {list.Duplicates} duplicates, {list.Filtered} filtered out): give inputs with prompts{(options.PaperFilters ? " or use --filters none" : "")}.");
        }

        // Embed chunk by chunk; a chunk's vectors are written atomically, so finished chunks survive a kill.
        int chunks = (int)((list.Count + options.ChunkSize - 1) / options.ChunkSize);
        int resumed = 0;
        var timer = Stopwatch.StartNew();
        long embeddedNow = 0;
        using (var offsets = File.OpenRead(offsetsFile))
        using (var text = File.OpenRead(textFile))
        {
            for (int c = 0; c < chunks; c++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                string chunkFile = ChunkPath(work, c);
                long start = (long)c * options.ChunkSize;
                int n = (int)Math.Min(options.ChunkSize, list.Count - start);
                if (File.Exists(chunkFile) && new FileInfo(chunkFile).Length == (long)n * SentenceEncoder.Dimension * sizeof(float))
                {
                    resumed++;
                    continue;
                }
                var prompts = ReadPrompts(offsets, text, start, n);
                var vectors = encode(prompts, null, cancellationToken);
                var bytes = new byte[(long)n * SentenceEncoder.Dimension * sizeof(float)];
                for (int i = 0; i < n; i++)
                    MemoryMarshal.AsBytes(vectors[i].AsSpan()).CopyTo(bytes.AsSpan(i * SentenceEncoder.Dimension * sizeof(float)));
                if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("Prompt banks are written on little-endian machines.");
                AtomicFile.WriteAllBytes(chunkFile, bytes);
                embeddedNow += n;
                long done = Math.Min(list.Count, (long)(c + 1) * options.ChunkSize);
                double rate = embeddedNow / Math.Max(timer.Elapsed.TotalSeconds, 1e-9);
                var eta = TimeSpan.FromSeconds((list.Count - done) / Math.Max(rate, 1e-9));
                progress?.Report(new ProgressReport("Embedding prompts", done, list.Count,
                    string.Create(CultureInfo.InvariantCulture, $"{rate:F0} prompts/s, ETA {eta:hh\\:mm\\:ss}")));
            }
        }
        timer.Stop();

        var info = new PromptBankInfo
        {
            Encoder = PromptBank.EncoderIdentity,
            EncoderSha256 = PromptBank.EncoderSha256,
            Sources = files,
            Filters = options.PaperFilters ? "paper" : "none",
            PromptsRead = list.Read,
            FrequentPhrases = list.Phrases,
        };
        AtomicFile.Write(full, stream =>
        {
            WriteHeader(stream, info, SentenceEncoder.Dimension, list.Count, new FileInfo(textFile).Length);
            for (int c = 0; c < chunks; c++)
            {
                using var chunk = File.OpenRead(ChunkPath(work, c));
                chunk.CopyTo(stream);
            }
            using (var offsets = File.OpenRead(offsetsFile)) offsets.CopyTo(stream);
            using (var text = File.OpenRead(textFile)) text.CopyTo(stream);
        });
        Directory.Delete(work, recursive: true);
        return new PromptBankBuildSummary(list.Read, list.Duplicates, list.Filtered, list.Count, resumed, timer.Elapsed);
    }

    /// <summary>Writes a bank from prompts and their vectors held in memory (small banks: tests, a training set's prompts).</summary>
    internal static void Write(string path, IReadOnlyList<string> prompts, IReadOnlyList<float[]> vectors, PromptBankInfo info)
    {
        ArgumentOutOfRangeException.ThrowIfNotEqual(vectors.Count, prompts.Count);
        if (prompts.Count == 0) throw new ReverseSdInputException("A prompt bank needs at least one prompt.");
        int d = vectors[0].Length;
        var textBytes = prompts.Select(Encoding.UTF8.GetBytes).ToList();
        AtomicFile.Write(path, stream =>
        {
            WriteHeader(stream, info, d, prompts.Count, textBytes.Sum(b => (long)b.Length));
            var row = new float[d];
            foreach (var v in vectors)
            {
                if (v.Length != d) throw new ArgumentException($"Every vector needs {d} values.", nameof(vectors));
                PromptBank.Normalise(v, row);
                stream.Write(MemoryMarshal.AsBytes(row.AsSpan()));
            }
            var offset = new byte[sizeof(long)];
            long position = 0;
            foreach (var b in textBytes.Append([]))
            {
                BinaryPrimitives.WriteInt64LittleEndian(offset, position);
                stream.Write(offset);
                position += b.Length;
            }
            foreach (var b in textBytes) stream.Write(b);
        });
    }

    /// <summary>
    /// Streams a bank to <paramref name="path"/> without holding it in memory: <paramref name="fillVectors"/> writes rows
    /// [start, start + rows) into its buffer (they are normalised here) and <paramref name="prompt"/> gives row i's text
    /// (called twice per row, so it must be deterministic). Used for generated benchmark banks.
    /// </summary>
    internal static void WriteStreaming(string path, PromptBankInfo info, int dimension, long count,
        Action<long, int, float[]> fillVectors, Func<long, string> prompt)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        long textLength = 0;
        for (long i = 0; i < count; i++) textLength += Encoding.UTF8.GetByteCount(prompt(i));
        AtomicFile.Write(path, stream =>
        {
            using var buffered = new BufferedStream(stream, 1 << 20);
            WriteHeader(buffered, info, dimension, count, textLength);
            const int chunk = 8192;
            var rows = new float[chunk * dimension];
            for (long start = 0; start < count; start += chunk)
            {
                int n = (int)Math.Min(chunk, count - start);
                fillVectors(start, n, rows);
                for (int i = 0; i < n; i++) PromptBank.Normalise(rows.AsSpan(i * dimension, dimension), rows.AsSpan(i * dimension, dimension));
                buffered.Write(MemoryMarshal.AsBytes(rows.AsSpan(0, n * dimension)));
            }
            var offset = new byte[sizeof(long)];
            long position = 0;
            for (long i = 0; i <= count; i++)
            {
                BinaryPrimitives.WriteInt64LittleEndian(offset, position);
                buffered.Write(offset);
                if (i < count) position += Encoding.UTF8.GetByteCount(prompt(i));
            }
            for (long i = 0; i < count; i++) buffered.Write(Encoding.UTF8.GetBytes(prompt(i)));
        });
    }

    /// <summary>The comma-separated phrases of a prompt, trimmed, empty ones dropped.</summary>
    internal static IEnumerable<string> Phrases(string prompt) =>
        prompt.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);

    private static void WriteHeader(Stream stream, PromptBankInfo info, int dimension, long count, long textLength)
    {
        byte[] json = JsonSerializer.SerializeToUtf8Bytes(info);
        long vectors = Align(PromptBank.FixedHeaderSize + json.Length);
        long offsets = vectors + count * dimension * sizeof(float);
        long text = offsets + (count + 1) * sizeof(long);
        var header = new byte[vectors];
        PromptBank.Magic.CopyTo(header);
        BinaryPrimitives.WriteInt32LittleEndian(header.AsSpan(8), PromptBank.FormatVersion);
        BinaryPrimitives.WriteInt32LittleEndian(header.AsSpan(12), dimension);
        BinaryPrimitives.WriteInt64LittleEndian(header.AsSpan(16), count);
        BinaryPrimitives.WriteInt64LittleEndian(header.AsSpan(24), vectors);
        BinaryPrimitives.WriteInt64LittleEndian(header.AsSpan(32), offsets);
        BinaryPrimitives.WriteInt64LittleEndian(header.AsSpan(40), text);
        BinaryPrimitives.WriteInt64LittleEndian(header.AsSpan(48), textLength);
        BinaryPrimitives.WriteInt32LittleEndian(header.AsSpan(56), json.Length);
        json.CopyTo(header, PromptBank.FixedHeaderSize);
        stream.Write(header);
    }

    private static long Align(long n) => (n + PromptBank.Alignment - 1) / PromptBank.Alignment * PromptBank.Alignment;

    private static string ChunkPath(string work, int chunk) => Path.Combine(work, $"vectors-{chunk:D6}.f32");

    /// <summary>Phase one's result: the distinct kept prompts (on disk) and what was dropped.</summary>
    private sealed record PromptListSummary(long Read, long Duplicates, long Filtered, long Count, IReadOnlyList<string> Phrases);

    private static PromptListSummary WritePromptList(IReadOnlyList<string> files, PromptBankBuildOptions options, string textFile, string offsetsFile,
        IProgress<ProgressReport>? progress, CancellationToken cancellationToken)
    {
        long read = 0, duplicates = 0, filtered = 0, count = 0, position = 0;
        var seen = new HashSet<UInt128>();
        var near = options.PaperFilters ? new NearDuplicateFilter() : null;
        var phrases = new Dictionary<string, long>(StringComparer.Ordinal);
        var offset = new byte[sizeof(long)];
        using (var text = new FileStream(textFile, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16))
        using (var offsets = new FileStream(offsetsFile, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16))
        {
            for (int f = 0; f < files.Count; f++)
            {
                foreach (string raw in PromptSources.Read(files[f], options.Column, cancellationToken))
                {
                    if ((++read & 0xFFFF) == 0) cancellationToken.ThrowIfCancellationRequested();
                    string prompt = PromptFilters.Trim(raw);
                    if (prompt.Length == 0) { filtered++; continue; }
                    if (!seen.Add(Hash(prompt))) { duplicates++; continue; }
                    if (near != null && !(PromptFilters.HasWordsAndNoNullOrNaN(prompt) && PromptFilters.HasOnlyEnglishCharacters(prompt) && near.TryKeep(prompt)))
                    {
                        filtered++;
                        continue;
                    }
                    BinaryPrimitives.WriteInt64LittleEndian(offset, position);
                    offsets.Write(offset);
                    byte[] bytes = Encoding.UTF8.GetBytes(prompt);
                    text.Write(bytes);
                    position += bytes.Length;
                    count++;
                    CountPhrases(phrases, prompt);
                }
                progress?.Report(new ProgressReport("Reading prompts", f + 1, files.Count, $"{count} distinct prompts"));
            }
            BinaryPrimitives.WriteInt64LittleEndian(offset, position);
            offsets.Write(offset);
        }
        return new PromptListSummary(read, duplicates, filtered, count, Top(phrases, options.FrequentPhrases));
    }

    /// <summary>The <paramref name="count"/> most frequent lower-cased comma phrases of <paramref name="prompts"/> seen more than once.</summary>
    internal static List<string> FrequentPhrases(IEnumerable<string> prompts, int count)
    {
        var phrases = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var prompt in prompts) CountPhrases(phrases, prompt);
        return Top(phrases, count);
    }

    private static List<string> Top(Dictionary<string, long> phrases, int count) =>
        phrases.OrderByDescending(p => p.Value).ThenBy(p => p.Key, StringComparer.Ordinal)
            .Where(p => p.Value > 1).Take(count).Select(p => p.Key).ToList();

    /// <summary>Counts lower-cased phrases; past <see cref="PhraseCountLimit"/> distinct ones, those seen once are forgotten (bounded memory).</summary>
    private static void CountPhrases(Dictionary<string, long> counts, string prompt)
    {
        foreach (string phrase in Phrases(prompt))
        {
            string key = phrase.ToLowerInvariant();
            counts[key] = counts.GetValueOrDefault(key) + 1;
        }
        if (counts.Count > PhraseCountLimit)
        {
            foreach (var rare in counts.Where(p => p.Value <= 1).Select(p => p.Key).ToList()) counts.Remove(rare);
            if (counts.Count > PhraseCountLimit / 2)
            {
                long cut = counts.Values.Order().ElementAt(counts.Count - PhraseCountLimit / 2);
                foreach (var rare in counts.Where(p => p.Value < cut).Select(p => p.Key).ToList()) counts.Remove(rare);
            }
        }
    }

    private static UInt128 Hash(string prompt)
    {
        Span<byte> digest = stackalloc byte[32];
        SHA256.HashData(Encoding.UTF8.GetBytes(prompt.ToLowerInvariant()), digest);
        return BinaryPrimitives.ReadUInt128LittleEndian(digest);
    }

    private static List<string> ReadPrompts(FileStream offsets, FileStream text, long start, int n)
    {
        var table = new byte[(n + 1) * sizeof(long)];
        offsets.Position = start * sizeof(long);
        offsets.ReadExactly(table);
        long first = BinaryPrimitives.ReadInt64LittleEndian(table);
        long last = BinaryPrimitives.ReadInt64LittleEndian(table.AsSpan(n * sizeof(long)));
        var bytes = new byte[checked((int)(last - first))];
        text.Position = first;
        text.ReadExactly(bytes);
        var prompts = new List<string>(n);
        for (int i = 0; i < n; i++)
        {
            long a = BinaryPrimitives.ReadInt64LittleEndian(table.AsSpan(i * sizeof(long))) - first;
            long b = BinaryPrimitives.ReadInt64LittleEndian(table.AsSpan((i + 1) * sizeof(long))) - first;
            prompts.Add(Encoding.UTF8.GetString(bytes, (int)a, (int)(b - a)));
        }
        return prompts;
    }

    private static string Fingerprint(IReadOnlyList<string> files, PromptBankBuildOptions options)
    {
        var sources = files.Select(f =>
        {
            var fi = new FileInfo(f);
            return new { path = f, size = fi.Length, modified = fi.LastWriteTimeUtc.Ticks };
        });
        return JsonSerializer.Serialize(new
        {
            format = PromptBank.FormatVersion, encoder = PromptBank.EncoderIdentity, encoder_sha256 = PromptBank.EncoderSha256, sources, column = options.Column,
            filters = options.PaperFilters, chunk = options.ChunkSize, phrases = options.FrequentPhrases,
        });
    }
}
