using System.Buffers.Binary;
using System.IO.MemoryMappedFiles;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using TorchSharp;
using static TorchSharp.torch;

namespace ReverseSD.MLNet.Retrieval;

/// <summary>One prompt of a bank found for a query: its row in the bank, its text and its cosine to the query.</summary>
public sealed record PromptMatch(long Index, string Prompt, float Score);

/// <summary>What a prompt bank file says about itself (the JSON part of its header).</summary>
public sealed class PromptBankInfo
{
    /// <summary>The sentence encoder that made the vectors (see <see cref="PromptBank.EncoderIdentity"/>).</summary>
    [JsonPropertyName("encoder")] public string Encoder { get; init; } = "";

    /// <summary>SHA-256 of the encoder's ONNX model file (see <see cref="PromptBank.EncoderSha256"/>); a bank whose hash differs is refused.</summary>
    [JsonPropertyName("encoder_sha256")] public string EncoderSha256 { get; init; } = "";

    /// <summary>The input files the prompts came from, as given to the build.</summary>
    [JsonPropertyName("sources")] public IReadOnlyList<string> Sources { get; init; } = [];

    /// <summary>"paper" when the paper's four prompt filters were applied, "none" otherwise.</summary>
    [JsonPropertyName("filters")] public string Filters { get; init; } = "none";

    /// <summary>Prompts read from the sources before deduplication and filters.</summary>
    [JsonPropertyName("prompts_read")] public long PromptsRead { get; init; }

    /// <summary>The most frequent comma-separated phrases of the bank, most frequent first (the composer's edits).</summary>
    [JsonPropertyName("frequent_phrases")] public IReadOnlyList<string> FrequentPhrases { get; init; } = [];
}

/// <summary>
/// A prompt bank on disk: prompts and their L2-normalised sentence embeddings, memory-mapped, so a bank of millions of
/// prompts is searched without reading it into managed arrays. Exact top-k cosine search runs as batched matrix products
/// over chunks of the bank (TorchSharp). Thread-safe for concurrent searches.
/// </summary>
/// <remarks>
/// File format (version 1, little-endian): 64-byte fixed header — magic "RSDBANK\0", int32 version, int32 dimension d,
/// int64 count n, int64 offset of the vectors, int64 offset of the text offsets, int64 offset of the text, int64 text
/// length, int32 length of the JSON info, int32 0 — then the UTF-8 JSON <see cref="PromptBankInfo"/>, zero padding to a
/// multiple of 64 bytes, n×d float32 vectors (row-major, unit norm), n+1 int64 offsets into the text, and the prompts as
/// UTF-8 text (prompt i is bytes [offset[i], offset[i+1])).
/// </remarks>
public sealed class PromptBank : IDisposable
{
    /// <summary>The first eight bytes of every bank file.</summary>
    public static ReadOnlySpan<byte> Magic => "RSDBANK\0"u8;

    /// <summary>The bank format version this code reads and writes.</summary>
    public const int FormatVersion = 2;

    /// <summary>The identity of the sentence encoder whose vectors the banks hold; a bank with another one is refused.</summary>
    public const string EncoderIdentity = "sentence-transformers/all-MiniLM-L6-v2 (onnx, mean pooling, L2, 256 word pieces)";

    /// <summary>
    /// SHA-256 (lower-case hex) of the bytes of the ONNX model this reversesd embeds prompts with, computed once per process;
    /// written in every bank's header next to <see cref="EncoderIdentity"/>, and a bank with another hash is refused.
    /// </summary>
    public static string EncoderSha256 => Text.SentenceEncoder.ModelSha256;

    internal const int FixedHeaderSize = 64;
    internal const int Alignment = 64;

    /// <summary>Bank rows multiplied per matrix product during a search.</summary>
    internal const int SearchChunkRows = 32768;

    /// <summary>Candidates found by the matrix product beyond k, rescored exactly (see <see cref="Search"/>).</summary>
    private const int ExtraCandidates = 8;

    private readonly MemoryMappedFile _file;
    private readonly MemoryMappedViewAccessor _view;
    private readonly long _vectorsOffset, _offsetsOffset, _textOffset;
    private bool _disposed;

    private PromptBank(string path, MemoryMappedFile file, MemoryMappedViewAccessor view, int dimension, long count,
        long vectorsOffset, long offsetsOffset, long textOffset, PromptBankInfo info, long size)
    {
        Path = path;
        _file = file;
        _view = view;
        Dimension = dimension;
        Count = count;
        _vectorsOffset = vectorsOffset;
        _offsetsOffset = offsetsOffset;
        _textOffset = textOffset;
        Info = info;
        FileSize = size;
    }

    /// <summary>The bank file.</summary>
    public string Path { get; }

    /// <summary>Number of prompts.</summary>
    public long Count { get; }

    /// <summary>Length of each vector.</summary>
    public int Dimension { get; }

    /// <summary>The header's description: encoder, sources, filters, frequent phrases.</summary>
    public PromptBankInfo Info { get; }

    /// <summary>Size of the file in bytes.</summary>
    public long FileSize { get; }

    /// <summary>
    /// Opens a bank file written by <c>reversesd bank build</c>. A missing file, another format or version, an empty bank, a
    /// bank from another sentence encoder or of another dimension is a <see cref="ReverseSdInputException"/>.
    /// </summary>
    public static PromptBank Open(string path, int? expectedDimension = SentenceEncoderDimension) =>
        Open(path, expectedDimension, checkEncoder: true, out _);

    /// <summary>
    /// Opens a bank to describe it (<c>bank info</c>), also one from another sentence encoder, which
    /// <see cref="Open(string, int?)"/> refuses: <paramref name="encoderProblem"/> then says why it cannot be searched here.
    /// </summary>
    internal static PromptBank OpenForInspection(string path, out string? encoderProblem) =>
        Open(path, null, checkEncoder: false, out encoderProblem);

    private static PromptBank Open(string path, int? expectedDimension, bool checkEncoder, out string? encoderProblem)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        if (!File.Exists(path))
            throw new ReverseSdInputException($"Prompt bank '{path}' does not exist: build one with 'reversesd bank build --input PROMPTS --out {path}'.");
        long size = new FileInfo(path).Length;
        var header = new byte[FixedHeaderSize];
        using (var stream = File.OpenRead(path))
        {
            if (size < FixedHeaderSize || stream.ReadAtLeast(header, FixedHeaderSize, throwOnEndOfStream: false) < FixedHeaderSize
                || !header.AsSpan(0, 8).SequenceEqual(Magic))
                throw new ReverseSdInputException($"'{path}' is not a prompt bank (no RSDBANK header): build one with 'reversesd bank build'.");
        }
        int version = BinaryPrimitives.ReadInt32LittleEndian(header.AsSpan(8));
        if (version != FormatVersion)
            throw new ReverseSdInputException($"Prompt bank '{path}' has format version {version}; this reversesd reads version {FormatVersion}{(version == 1 ? " (version 1 did not record its encoder model's SHA-256, so its vectors cannot be checked)" : "")}: rebuild it with 'reversesd bank build'.");
        int dimension = BinaryPrimitives.ReadInt32LittleEndian(header.AsSpan(12));
        long count = BinaryPrimitives.ReadInt64LittleEndian(header.AsSpan(16));
        long vectors = BinaryPrimitives.ReadInt64LittleEndian(header.AsSpan(24));
        long offsets = BinaryPrimitives.ReadInt64LittleEndian(header.AsSpan(32));
        long text = BinaryPrimitives.ReadInt64LittleEndian(header.AsSpan(40));
        long textLength = BinaryPrimitives.ReadInt64LittleEndian(header.AsSpan(48));
        int infoLength = BinaryPrimitives.ReadInt32LittleEndian(header.AsSpan(56));
        if (dimension < 1 || count < 0 || infoLength < 0 || vectors < FixedHeaderSize + infoLength
            || offsets != vectors + count * dimension * sizeof(float) || text != offsets + (count + 1) * sizeof(long) || text + textLength != size)
            throw new ReverseSdInputException($"Prompt bank '{path}' is truncated or corrupt (its header does not match its size): rebuild it with 'reversesd bank build'.");
        if (count == 0)
            throw new ReverseSdInputException($"Prompt bank '{path}' is empty: build it from a file with at least one prompt.");

        var file = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
        MemoryMappedViewAccessor? view = null;
        try
        {
            view = file.CreateViewAccessor(0, size, MemoryMappedFileAccess.Read);
            var infoBytes = new byte[infoLength];
            view.ReadArray(FixedHeaderSize, infoBytes, 0, infoLength);
            PromptBankInfo info;
            try
            {
                info = JsonSerializer.Deserialize<PromptBankInfo>(infoBytes) ?? new PromptBankInfo();
            }
            catch (JsonException e)
            {
                throw new ReverseSdInputException($"Prompt bank '{path}' has an unreadable header ({e.Message}): rebuild it with 'reversesd bank build'.", e);
            }
            encoderProblem = info.Encoder != EncoderIdentity
                ? $"Prompt bank '{path}' was embedded with '{info.Encoder}', but this reversesd predicts '{EncoderIdentity}' embeddings: rebuild the bank with 'reversesd bank build'."
                : info.EncoderSha256 != EncoderSha256
                ? $"Prompt bank '{path}' was embedded by an encoder model with SHA-256 '{(info.EncoderSha256.Length == 0 ? "(none recorded)" : info.EncoderSha256)}', but this reversesd's encoder model has SHA-256 '{EncoderSha256}' (the same name, other weights): its vectors are not comparable; rebuild the bank with 'reversesd bank build'."
                : null;
            if (checkEncoder && encoderProblem != null) throw new ReverseSdInputException(encoderProblem);
            if (expectedDimension is int d && d != dimension)
                throw new ReverseSdInputException($"Prompt bank '{path}' holds {dimension}-d vectors; {d}-d are needed: rebuild the bank with 'reversesd bank build'.");
            return new PromptBank(System.IO.Path.GetFullPath(path), file, view, dimension, count, vectors, offsets, text, info, size);
        }
        catch
        {
            view?.Dispose();
            file.Dispose();
            throw;
        }
    }

    private const int SentenceEncoderDimension = Text.SentenceEncoder.Dimension;

    /// <summary>The prompt in row <paramref name="index"/>.</summary>
    public string Prompt(long index)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, Count);
        long start = _view.ReadInt64(_offsetsOffset + index * sizeof(long));
        long end = _view.ReadInt64(_offsetsOffset + (index + 1) * sizeof(long));
        var bytes = new byte[checked((int)(end - start))];
        _view.ReadArray(_textOffset + start, bytes, 0, bytes.Length);
        return Encoding.UTF8.GetString(bytes);
    }

    /// <summary>Copies the vector of row <paramref name="index"/>.</summary>
    public float[] Vector(long index)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, Count);
        var v = new float[Dimension];
        _view.ReadArray(_vectorsOffset + index * Dimension * sizeof(float), v, 0, Dimension);
        return v;
    }

    /// <summary>Copies rows [start, start + rows) of the vectors into <paramref name="destination"/> (row-major).</summary>
    internal void ReadVectors(long start, int rows, float[] destination) =>
        _view.ReadArray(_vectorsOffset + start * Dimension * sizeof(float), destination, 0, rows * Dimension);

    /// <summary>
    /// Exact top-k cosine search: for each query (normalised here), the <paramref name="k"/> bank prompts with the highest
    /// cosine, best first (ties: lower row first). Runs as one matrix product per chunk of the bank for all queries at once;
    /// the candidates it finds are scored again by a plain dot product, so the scores are the same in every run (a
    /// multi-threaded matrix product may differ in the last bit from one run to the next).
    /// </summary>
    public IReadOnlyList<PromptMatch>[] Search(IReadOnlyList<float[]> queries, int k)
    {
        var hits = SearchIndices(queries, k);
        return hits.Select(row => (IReadOnlyList<PromptMatch>)row.Select(h => new PromptMatch(h.Index, Prompt(h.Index), h.Score)).ToList()).ToArray();
    }

    /// <summary>As <see cref="Search"/>, without reading the prompt texts.</summary>
    internal (long Index, float Score)[][] SearchIndices(IReadOnlyList<float[]> queries, int k, int chunkRows = SearchChunkRows)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentNullException.ThrowIfNull(queries);
        ArgumentOutOfRangeException.ThrowIfLessThan(k, 1);
        int q = queries.Count;
        if (q == 0) return [];
        int d = Dimension;
        var flat = new float[q * d];
        for (int i = 0; i < q; i++)
        {
            if (queries[i] is not { } v || v.Length != d)
                throw new ReverseSdInputException($"Query {i} has {queries[i]?.Length ?? 0} values; the prompt bank '{Path}' holds {d}-d vectors.");
            Normalise(v, flat.AsSpan(i * d, d));
        }
        int kk = (int)Math.Min(k, Count);
        // A few candidates more than asked, rescored exactly below: the matrix product's last-bit noise cannot change the top k.
        int candidates = (int)Math.Min(k + ExtraCandidates, Count);
        int chunk = (int)Math.Min(chunkRows, Count);
        var buffer = new float[chunk * d];
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var queryTensor = tensor(flat, [q, d]);
        Tensor? bestScores = null, bestIndices = null;
        for (long start = 0; start < Count; start += chunk)
        {
            int rows = (int)Math.Min(chunk, Count - start);
            ReadVectors(start, rows, buffer);
            using var inner = NewDisposeScope();
            var bank = tensor(buffer, [chunk, d]).narrow(0, 0, rows);
            var scores = queryTensor.matmul(bank.t()); // q × rows
            var (values, indices) = scores.topk(Math.Min(candidates, rows), dim: 1, largest: true, sorted: false);
            indices = indices.add(start);
            if (bestScores is null)
            {
                bestScores = values;
                bestIndices = indices;
            }
            else
            {
                var allScores = cat([bestScores, values], 1);
                var allIndices = cat([bestIndices!, indices], 1);
                var (v2, pos) = allScores.topk(Math.Min(candidates, (int)allScores.shape[1]), dim: 1, largest: true, sorted: false);
                bestScores = v2;
                bestIndices = allIndices.gather(1, pos);
            }
            bestScores.MoveToOuterDisposeScope();
            bestIndices!.MoveToOuterDisposeScope();
        }
        var ix = bestIndices!.contiguous().data<long>().ToArray();
        int width = (int)bestScores!.shape[1];
        var result = new (long, float)[q][];
        var vector = new float[d];
        for (int i = 0; i < q; i++)
        {
            var query = flat.AsSpan(i * d, d);
            var row = new (long Index, float Score)[width];
            for (int j = 0; j < width; j++)
            {
                long index = ix[i * width + j];
                ReadVectors(index, 1, vector);
                double dot = 0;
                for (int t = 0; t < d; t++) dot += (double)query[t] * vector[t];
                row[j] = (index, (float)dot);
            }
            Array.Sort(row, (a, b) => b.Score != a.Score ? b.Score.CompareTo(a.Score) : a.Index.CompareTo(b.Index));
            result[i] = row.Length > kk ? row[..kk] : row;
        }
        return result;
    }

    /// <summary>Writes <paramref name="source"/> / its L2 norm into <paramref name="destination"/> (a zero vector stays zero).</summary>
    internal static void Normalise(ReadOnlySpan<float> source, Span<float> destination)
    {
        double norm = 0;
        foreach (float x in source) norm += (double)x * x;
        float scale = norm > 0 ? (float)(1 / Math.Sqrt(norm)) : 0f;
        for (int i = 0; i < source.Length; i++) destination[i] = source[i] * scale;
    }

    /// <summary>Unmaps the file; safe to call more than once.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _view.Dispose();
        _file.Dispose();
    }
}
