namespace ReverseSD.MLNet.Text;

/// <summary>
/// Prompt embeddings shared by the stages of one system Fit (<see cref="Pipeline.ReverseSdPipeline"/>): every member's heads,
/// the ensemble's weight search, DAKL and the prompt bank read the same Prompt texts, and each distinct text is embedded once.
/// Stages given no memo embed their prompts themselves.
/// </summary>
internal sealed class PromptEmbeddingMemo
{
    private readonly Dictionary<string, float[]> _embeddings = new(StringComparer.Ordinal);
    private readonly Func<IReadOnlyList<string>, IProgress<ProgressReport>?, CancellationToken, float[][]> _encode;

    /// <summary>A memo over all-MiniLM-L6-v2, or over <paramref name="encode"/> (the seam tests count calls through).</summary>
    public PromptEmbeddingMemo(Func<IReadOnlyList<string>, IProgress<ProgressReport>?, CancellationToken, float[][]>? encode = null)
        => _encode = encode ?? EncodeWithSentenceEncoder;

    /// <summary>Texts handed to the encoder since the memo was made (each distinct text once until <see cref="Clear"/>).</summary>
    public int EncodedTexts { get; private set; }

    /// <summary>The embeddings of <paramref name="texts"/>, in order; only texts not seen before reach the encoder.</summary>
    public float[][] Encode(IReadOnlyList<string> texts, IProgress<ProgressReport>? progress, CancellationToken cancellationToken)
    {
        lock (_embeddings)
        {
            var missing = texts.Where(t => !_embeddings.ContainsKey(t)).Distinct(StringComparer.Ordinal).ToList();
            if (missing.Count > 0)
            {
                var vectors = _encode(missing, progress, cancellationToken);
                for (int i = 0; i < missing.Count; i++) _embeddings[missing[i]] = vectors[i];
                EncodedTexts += missing.Count;
            }
            return texts.Select(t => (float[])_embeddings[t].Clone()).ToArray();
        }
    }

    /// <summary>Forgets every embedding (the end of a Fit), so the memo holds no memory between fits.</summary>
    public void Clear()
    {
        lock (_embeddings) _embeddings.Clear();
    }

    /// <summary>Embeds through <paramref name="memo"/> when a pipeline gave one, else with a sentence encoder loaded for this call.</summary>
    public static float[][] Encode(PromptEmbeddingMemo? memo, IReadOnlyList<string> texts, IProgress<ProgressReport>? progress, CancellationToken cancellationToken = default)
        => memo != null ? memo.Encode(texts, progress, cancellationToken) : EncodeWithSentenceEncoder(texts, progress, cancellationToken);

    private static float[][] EncodeWithSentenceEncoder(IReadOnlyList<string> texts, IProgress<ProgressReport>? progress, CancellationToken cancellationToken)
    {
        using var encoder = SentenceEncoder.Load();
        return encoder.Encode(texts, progress, cancellationToken);
    }
}
