namespace ReverseSD.MLNet.Backbones;

/// <summary>Progress of one cache folder (one split and backbone), as <see cref="FeatureCache.Status"/> reads it from disk.</summary>
/// <param name="CachePath">The cache folder.</param>
/// <param name="Split">Split name.</param>
/// <param name="Backbone">Backbone name.</param>
/// <param name="Shards">Number of shards N.</param>
/// <param name="ChunksDone">Finished chunks per shard.</param>
/// <param name="ChunksTotal">Chunks per shard.</param>
/// <param name="Rows">Metadata rows of the split.</param>
public sealed record FeatureCacheStatus(
    string CachePath, string Split, string Backbone, int Shards, IReadOnlyList<int> ChunksDone, IReadOnlyList<int> ChunksTotal, int Rows)
{
    /// <summary>True when every chunk of every shard is finished.</summary>
    public bool IsComplete => ChunksDone.SequenceEqual(ChunksTotal);
}
