namespace ReverseSD.MLNet.Backbones;

/// <summary>Options of <see cref="FeatureCache"/>: which shard to featurise, chunk size, prompt embeddings.</summary>
public sealed class FeatureCacheOptions
{
    /// <summary>The shard <see cref="FeatureCache.Featurize"/> computes (default: the whole split, 0/1).</summary>
    public FeatureShard Shard { get; set; } = FeatureShard.All;

    /// <summary>Rows per chunk, the unit that is committed atomically and skipped on a rerun (fixed by the first shard that starts).</summary>
    public int ChunkSize { get; set; } = FeatureCache.DefaultChunkSize;

    /// <summary>Also compute and store each prompt's all-MiniLM-L6-v2 embedding (column PromptEmbedding).</summary>
    public bool IncludePromptEmbeddings { get; set; }
}
