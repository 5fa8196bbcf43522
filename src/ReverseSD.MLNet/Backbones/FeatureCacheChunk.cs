using System.Runtime.InteropServices;

namespace ReverseSD.MLNet.Backbones;

/// <summary>One row of a <see cref="FeatureCacheChunk"/>: a metadata row, its image's size and time stamp, and its features or why it has none.</summary>
internal sealed class FeatureCacheEntry
{
    public int Row { get; init; }
    public string FileName { get; init; } = "";
    public long Size { get; init; }
    public long Ticks { get; init; }
    public string? Problem { get; init; }
    public float[]? Features { get; init; }
    public float[]? PromptEmbedding { get; init; }

    /// <summary>Size and modification time of <paramref name="path"/> (-1 and 0 when missing).</summary>
    public static (long Size, long Ticks) Stat(string path)
    {
        var info = new FileInfo(path);
        return info.Exists ? (info.Length, info.LastWriteTimeUtc.Ticks) : (-1, 0);
    }
}

/// <summary>
/// A chunk of one shard of the feature cache: consecutive rows of the shard (in metadata order), written as one binary file
/// under a temporary name and moved into place, so a chunk file that exists is complete. Layout (little-endian):
/// magic "RSDC", version, feature size, prompt-embedding size (0 = none), entry count; per entry: metadata row index,
/// file name, image size, image modification ticks, problem ("" = featurised), features, prompt embedding; the entry count again.
/// </summary>
internal sealed class FeatureCacheChunk
{
    private const int Magic = 0x43445352;   // "RSDC"
    private const int Version = 1;

    public required int FeatureSize { get; init; }
    public required int PromptEmbeddingSize { get; init; }
    public required IReadOnlyList<FeatureCacheEntry> Entries { get; init; }

    public void Write(string path) => AtomicFile.Write(path, stream =>
    {
        using var w = new BinaryWriter(stream, System.Text.Encoding.UTF8, leaveOpen: true);
        w.Write(Magic);
        w.Write(Version);
        w.Write(FeatureSize);
        w.Write(PromptEmbeddingSize);
        w.Write(Entries.Count);
        foreach (var e in Entries)
        {
            w.Write(e.Row);
            w.Write(e.FileName);
            w.Write(e.Size);
            w.Write(e.Ticks);
            w.Write(e.Problem ?? "");
            if (e.Problem != null) continue;
            w.Write(MemoryMarshal.AsBytes(e.Features.AsSpan()));
            if (PromptEmbeddingSize > 0) w.Write(MemoryMarshal.AsBytes(e.PromptEmbedding.AsSpan()));
        }
        w.Write(Entries.Count);
    });

    /// <summary>Reads a chunk file; null when it is missing or not a complete chunk of this format.</summary>
    public static FeatureCacheChunk? TryRead(string path)
    {
        if (!File.Exists(path)) return null;
        try
        {
            using var r = new BinaryReader(File.OpenRead(path));
            if (r.ReadInt32() != Magic || r.ReadInt32() != Version) return null;
            int featureSize = r.ReadInt32(), textSize = r.ReadInt32(), count = r.ReadInt32();
            if (featureSize < 1 || textSize < 0 || count < 0) return null;
            var entries = new List<FeatureCacheEntry>(count);
            for (int i = 0; i < count; i++)
            {
                int row = r.ReadInt32();
                string file = r.ReadString();
                long size = r.ReadInt64(), ticks = r.ReadInt64();
                string problem = r.ReadString();
                float[]? features = null, text = null;
                if (problem.Length == 0)
                {
                    features = ReadFloats(r, featureSize);
                    if (textSize > 0) text = ReadFloats(r, textSize);
                }
                entries.Add(new FeatureCacheEntry
                {
                    Row = row, FileName = file, Size = size, Ticks = ticks, Problem = problem.Length == 0 ? null : problem,
                    Features = features, PromptEmbedding = text,
                });
            }
            if (r.ReadInt32() != count) return null;
            return new FeatureCacheChunk { FeatureSize = featureSize, PromptEmbeddingSize = textSize, Entries = entries };
        }
        catch (Exception e) when (e is EndOfStreamException or IOException or FormatException)
        {
            return null;
        }
    }

    private static float[] ReadFloats(BinaryReader r, int count)
    {
        var values = new float[count];
        var bytes = MemoryMarshal.AsBytes(values.AsSpan());
        r.BaseStream.ReadExactly(bytes);
        return values;
    }
}
