using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Microsoft.ML;
using ReverseSD.MLNet.Text;

namespace ReverseSD.MLNet.Backbones;

/// <summary>
/// One shard's chunks as <see cref="FeatureCache"/> reads them: finished chunks are kept, and when computing, missing or stale
/// ones are featurised and committed one at a time.
/// </summary>
internal sealed class FeatureShardRun
{
    public required FeatureShard Shard { get; init; }
    public required FeatureCacheManifest Manifest { get; init; }
    public required List<FeatureCacheChunk> Chunks { get; init; }
    public int Rows { get; init; }
    public int Skipped => Chunks.Sum(c => c.Entries.Count(e => e.Problem != null));
    public int ChunksComputed { get; init; }
    public int RowsComputed { get; init; }

    /// <summary>Reads (and with <paramref name="compute"/>, featurises what is missing or stale of) one shard's chunks.</summary>
    public static FeatureShardRun Run(MLContext mlContext, CachedBackbone backbone, SplitPlan plan, FeatureCacheFolder set, FeatureCacheOptions options,
        bool compute, IProgress<ProgressReport>? progress, CancellationToken cancellationToken)
    {
        var shard = options.Shard;
        var manifest = set.ReadManifest();
        if (manifest == null)
        {
            if (!compute) throw new InvalidOperationException("No cache manifest to read.");
            manifest = FeatureCacheManifest.Create(plan, backbone, shard.Count, options.ChunkSize);
            Directory.CreateDirectory(set.Root);
            AtomicFile.WriteAllBytes(set.ManifestPath, JsonSerializer.SerializeToUtf8Bytes(manifest, FeatureCacheManifest.JsonOptions));
        }
        if (manifest.Shards != shard.Count)
            throw new ReverseSdInputException(
                $"The cache '{set.Root}' is being written by {manifest.Shards} shards; this run is shard {shard} of {shard.Count}. " +
                $"Mixed shard counts would overlap: use --shard K/{manifest.Shards}, or another --cache-dir for {shard.Count} shards.");

        var rows = plan.RowsOf(shard);
        var chunkRows = rows.Chunk(manifest.ChunkSize).ToList();
        string folder = Path.Combine(set.Root, FeatureCacheFolder.ShardFolderName(shard));
        string stage = $"Featurising {plan.Split} with {backbone.Name}" + (shard.Count > 1 ? $" (shard {shard})" : "");
        if (compute) RemoveAbandonedTemporaryFiles(folder);
        var chunks = new List<FeatureCacheChunk>(chunkRows.Count);
        IImageFeaturizer? featurizer = null;
        SentenceEncoder? encoder = null;
        int done = 0, computedChunks = 0, computedRows = 0;
        var clock = Stopwatch.StartNew();
        try
        {
            for (int j = 0; j < chunkRows.Count; j++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                string path = Path.Combine(folder, FeatureCacheFolder.ChunkFileName(j));
                var chunk = FeatureCacheChunk.TryRead(path);
                string? problem = chunk == null
                    ? "not featurised yet"
                    : plan.Check(chunk, chunkRows[j], options.IncludePromptEmbeddings);
                if (problem == null)
                {
                    chunks.Add(chunk!);
                    done += chunkRows[j].Length;
                    progress?.Report(new ProgressReport(stage, done, rows.Count));
                    continue;
                }
                if (!compute)
                    throw MissingShard(set, manifest, shard, j, chunkRows.Count, problem);

                featurizer ??= backbone.CreateFeaturizer();
                if (options.IncludePromptEmbeddings) encoder ??= SentenceEncoder.Load();
                chunk = ComputeChunk(plan, chunkRows[j], featurizer, encoder, backbone.FeatureSize,
                    () =>
                    {
                        done++;
                        if (progress != null && (done % 8 == 0 || done == rows.Count))
                            progress.Report(new ProgressReport(stage, done, rows.Count,
                                string.Create(CultureInfo.InvariantCulture, $"{clock.Elapsed.TotalMilliseconds / Math.Max(1, computedRows + 1):F1} ms/image")));
                        computedRows++;
                    }, cancellationToken);
                chunk.Write(path);
                chunks.Add(chunk);
                computedChunks++;
            }
        }
        finally
        {
            featurizer?.Dispose();
            encoder?.Dispose();
        }
        return new FeatureShardRun
        {
            Shard = shard, Manifest = manifest, Chunks = chunks, Rows = rows.Count, ChunksComputed = computedChunks, RowsComputed = computedRows,
        };
    }

    /// <summary>
    /// Deletes chunk files a killed run left half-written (temporary names) more than an hour ago; younger ones may belong to
    /// a process still writing the same shard (a retried pod), whose move would fail without them.
    /// </summary>
    private static void RemoveAbandonedTemporaryFiles(string folder)
    {
        if (!Directory.Exists(folder)) return;
        foreach (string file in Directory.EnumerateFiles(folder, "*.tmp-*"))
        {
            try
            {
                if (DateTime.UtcNow - File.GetLastWriteTimeUtc(file) > TimeSpan.FromHours(1)) File.Delete(file);
            }
            catch (IOException)
            {
            }
        }
    }

    private static FeatureCacheChunk ComputeChunk(SplitPlan plan, int[] rows, IImageFeaturizer featurizer, SentenceEncoder? encoder, int featureSize,
        Action rowDone, CancellationToken cancellationToken)
    {
        var stats = rows.Select(i => FeatureCacheEntry.Stat(plan.ImagePath(i))).ToList();   // before reading: a later edit makes the chunk stale
        var paths = rows.Select(plan.ImagePath).ToList();
        var images = new List<FeaturizedImage>(rows.Length);
        foreach (var image in featurizer.Featurize(paths, cancellationToken))
        {
            cancellationToken.ThrowIfCancellationRequested();
            images.Add(image);
            rowDone();
        }
        if (images.Count != rows.Length)
            throw new InvalidOperationException($"The featuriser returned {images.Count} results for {rows.Length} images.");
        float[][]? text = null;
        if (encoder != null)
        {
            var readable = Enumerable.Range(0, rows.Length).Where(i => images[i].Problem == null).ToList();
            var encoded = encoder.Encode(readable.Select(i => plan.Pairs[rows[i]].Prompt).ToList(), null, cancellationToken);
            text = new float[rows.Length][];
            for (int k = 0; k < readable.Count; k++) text[readable[k]] = encoded[k];
        }
        var entries = new FeatureCacheEntry[rows.Length];
        for (int i = 0; i < rows.Length; i++)
        {
            var image = images[i];
            if (image.Problem == null && image.Features?.Length != featureSize)
                throw new InvalidOperationException($"The featuriser returned {image.Features?.Length} features for '{paths[i]}', expected {featureSize}.");
            entries[i] = new FeatureCacheEntry
            {
                Row = rows[i], FileName = plan.Pairs[rows[i]].FileName, Size = stats[i].Size, Ticks = stats[i].Ticks,
                Problem = image.Problem, Features = image.Features, PromptEmbedding = image.Problem == null ? text?[i] : null,
            };
        }
        return new FeatureCacheChunk { FeatureSize = featureSize, PromptEmbeddingSize = encoder == null ? 0 : SentenceEncoder.Dimension, Entries = entries };
    }

    private static ReverseSdInputException MissingShard(FeatureCacheFolder set, FeatureCacheManifest manifest, FeatureShard shard, int chunk, int chunks, string problem)
    {
        string hint = "";
        foreach (string other in set.SiblingsOfSameSplit())
        {
            var m = FeatureCacheFolder.ReadManifest(other);
            if (m != null && m.Shards == manifest.Shards && Directory.Exists(Path.Combine(other, FeatureCacheFolder.ShardFolderName(shard))))
            {
                hint = $" The cache folder holds shard {shard} for another backbone, '{m.BackboneName}' ({Path.GetFileName(other)}): " +
                       "the shards were run with different backbones, and shards of different backbones never merge.";
                break;
            }
        }
        return new ReverseSdInputException(
            $"Shard {shard} of '{set.Root}' ({manifest.BackboneName}) is missing or unfinished: chunk {chunk + 1} of {chunks} is {problem}.{hint} " +
            $"Run 'reversesd featurize --data DIR --split {manifest.Split} --backbone {manifest.BackboneName} --cache-dir {Path.GetDirectoryName(set.Root)} --shard {shard}' " +
            "(finished chunks are kept).");
    }
}
