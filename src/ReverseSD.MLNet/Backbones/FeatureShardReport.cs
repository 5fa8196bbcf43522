namespace ReverseSD.MLNet.Backbones;

/// <summary>What <see cref="FeatureCache.Featurize"/> did for one shard.</summary>
/// <param name="Shard">The shard.</param>
/// <param name="CachePath">The cache folder of the split and backbone.</param>
/// <param name="Rows">Metadata rows of this shard (readable or not).</param>
/// <param name="Skipped">Rows of this shard whose image does not decode.</param>
/// <param name="Chunks">Chunks of this shard.</param>
/// <param name="ChunksComputed">Chunks featurised by this run (the rest were already done and were kept).</param>
/// <param name="RowsComputed">Rows in the chunks featurised by this run.</param>
/// <param name="Elapsed">Wall time of this run.</param>
public sealed record FeatureShardReport(
    FeatureShard Shard, string CachePath, int Rows, int Skipped, int Chunks, int ChunksComputed, int RowsComputed, TimeSpan Elapsed);
