using Microsoft.ML;
using ReverseSD.MLNet.Data;

namespace ReverseSD.MLNet.Backbones;

/// <summary>The featurised split returned by <see cref="FeatureCache.GetOrCompute(MLContext, ImageBackbone, string, string, string, IProgress{ProgressReport}, CancellationToken)"/>.</summary>
/// <param name="Data">Columns ImagePath, Prompt, VisualPrompt, IsNoisy, Domain and ImageFeatures (vector of <see cref="FeatureSize"/> floats),
/// plus PromptEmbedding (384 floats) when every chunk was featurised with prompt embeddings; rows in metadata.csv order.</param>
/// <param name="CachePath">The cache folder of this split and backbone (its shards and chunks).</param>
/// <param name="FromCache">True when every chunk was reused, false when some were featurised now.</param>
/// <param name="Rows">Number of rows in <paramref name="Data"/>.</param>
/// <param name="FeatureSize">Length of the feature vectors.</param>
/// <param name="Skipped">Images left out because they do not decode (counted, never fatal).</param>
public sealed record FeatureCacheResult(
    IDataView Data, string CachePath, bool FromCache, int Rows, int FeatureSize, IReadOnlyList<UnreadableImage> Skipped);

/// <summary>A featurised row as returned by <see cref="FeatureCache"/>.</summary>
internal sealed class FeaturizedRow
{
    public string ImagePath { get; set; } = "";
    public string Prompt { get; set; } = "";
    public string VisualPrompt { get; set; } = "";
    public bool IsNoisy { get; set; }
    public string Domain { get; set; } = "";
    public float[] ImageFeatures { get; set; } = [];
    public float[] PromptEmbedding { get; set; } = [];
}
