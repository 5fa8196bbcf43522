using System.Security.Cryptography;
using ReverseSD.MLNet.Data;

namespace ReverseSD.MLNet.Backbones;

/// <summary>The metadata rows of a split, their image paths and the shard assignment.</summary>
internal sealed class SplitPlan
{
    public required string Split { get; init; }
    public required string SplitRoot { get; init; }
    public required string MetadataHash { get; init; }
    public required IReadOnlyList<ImagePromptPair> Pairs { get; init; }

    public static SplitPlan Read(string datasetDirectory, string split)
    {
        var pairs = ImageFolderDataset.Read(datasetDirectory, split);
        string root = Path.GetFullPath(Path.Combine(datasetDirectory, split));
        string hash = Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(Path.Combine(root, ImageFolderDataset.MetadataFileName))));
        return new SplitPlan { Split = split, SplitRoot = root, MetadataHash = hash, Pairs = pairs };
    }

    public string ImagePath(int row) => Path.Combine(SplitRoot, Pairs[row].FileName);

    /// <summary>The metadata rows of <paramref name="shard"/>, in metadata order.</summary>
    public List<int> RowsOf(FeatureShard shard) =>
        shard.Count == 1
            ? Enumerable.Range(0, Pairs.Count).ToList()
            : Enumerable.Range(0, Pairs.Count).Where(i => FeatureShard.Of(Split, Pairs[i].FileName, shard.Count) == shard.Index).ToList();

    /// <summary>Null when <paramref name="chunk"/> holds exactly <paramref name="rows"/> with unchanged images, else what is wrong.</summary>
    public string? Check(FeatureCacheChunk chunk, int[] rows, bool needPromptEmbeddings)
    {
        if (needPromptEmbeddings && chunk.PromptEmbeddingSize == 0) return "without prompt embeddings";
        if (chunk.Entries.Count != rows.Length) return "of another size (stale)";
        for (int i = 0; i < rows.Length; i++)
        {
            var e = chunk.Entries[i];
            if (e.Row != rows[i] || e.FileName != Pairs[rows[i]].FileName) return $"of other rows (stale: '{e.FileName}')";
            if (FeatureCacheEntry.Stat(ImagePath(rows[i])) != (e.Size, e.Ticks)) return $"stale (image '{e.FileName}' changed since it was featurised)";
        }
        return null;
    }
}
