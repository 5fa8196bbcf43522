using Microsoft.ML;

namespace ReverseSD.MLNet.Text;

/// <summary>The sentence encoder on ML.NET's text catalog: <c>mlContext.Transforms.Text.EmbedSentences(...)</c>.</summary>
public static class SentenceEmbeddingCatalog
{
    /// <summary>
    /// Embeds <paramref name="inputColumnName"/> (text) into <paramref name="outputColumnName"/>, a unit-norm 384-d
    /// all-MiniLM-L6-v2 vector (the paper's prompt embedding, Eq. 1). Needs no training data.
    /// </summary>
    public static SentenceEmbeddingEstimator EmbedSentences(
        this TransformsCatalog.TextTransforms catalog,
        string outputColumnName = SentenceEmbeddingEstimator.Defaults.OutputColumnName,
        string inputColumnName = SentenceEmbeddingEstimator.Defaults.InputColumnName,
        int batchSize = SentenceEmbeddingEstimator.Defaults.BatchSize,
        int? gpuDeviceId = null) =>
        catalog.EmbedSentences(new SentenceEmbeddingEstimator.Options
        {
            OutputColumnName = outputColumnName,
            InputColumnName = inputColumnName,
            BatchSize = batchSize,
            GpuDeviceId = gpuDeviceId,
        });

    /// <summary>Embeds a text column as configured by <paramref name="options"/>.</summary>
    public static SentenceEmbeddingEstimator EmbedSentences(this TransformsCatalog.TextTransforms catalog, SentenceEmbeddingEstimator.Options options)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        return new SentenceEmbeddingEstimator(options);
    }
}
