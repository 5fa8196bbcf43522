using System.Text.Json;

namespace ReverseSD.MLNet.Backbones;

/// <summary>cache.json of a <see cref="FeatureCacheFolder"/>: what the folder holds, written once by the first shard that starts.</summary>
internal sealed class FeatureCacheManifest
{
    private const int FormatVersion = 2;

    /// <summary>How cache.json is written and read.</summary>
    internal static readonly JsonSerializerOptions JsonOptions = new() { WriteIndented = true };

    public int Format { get; set; }
    public string Split { get; set; } = "";
    public string BackboneName { get; set; } = "";
    public string Backbone { get; set; } = "";
    public int FeatureSize { get; set; }
    public string Metadata { get; set; } = "";
    public int Rows { get; set; }
    public int Shards { get; set; }
    public int ChunkSize { get; set; }
    public List<int> ShardChunks { get; set; } = [];

    public static FeatureCacheManifest Create(SplitPlan plan, CachedBackbone backbone, int shards, int chunkSize)
    {
        var rowsPerShard = new int[shards];
        foreach (var pair in plan.Pairs) rowsPerShard[shards == 1 ? 0 : FeatureShard.Of(plan.Split, pair.FileName, shards)]++;
        return new FeatureCacheManifest
        {
            Format = FormatVersion, Split = plan.Split, BackboneName = backbone.Name, Backbone = backbone.Fingerprint,
            FeatureSize = backbone.FeatureSize, Metadata = plan.MetadataHash, Rows = plan.Pairs.Count, Shards = shards, ChunkSize = chunkSize,
            ShardChunks = rowsPerShard.Select(n => (n + chunkSize - 1) / chunkSize).ToList(),
        };
    }

    public bool Matches(SplitPlan plan, CachedBackbone backbone) =>
        Format == FormatVersion && Metadata == plan.MetadataHash && Backbone == backbone.Fingerprint && ChunkSize > 0 &&
        Shards > 0 && ShardChunks.Count == Shards;
}
