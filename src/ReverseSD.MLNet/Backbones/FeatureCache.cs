using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using Microsoft.ML;
using Microsoft.ML.Data;
using ReverseSD.MLNet.Data;
using ReverseSD.MLNet.Text;

namespace ReverseSD.MLNet.Backbones;

/// <summary>
/// Featurises a data set split once with a backbone and keeps the result on disk, keyed by the backbone's fingerprint
/// (model hash + preprocessing) and the split's metadata.csv; each row also records its image's size and modification
/// time, so a changed image makes its chunk stale. The split's rows are divided into <see cref="FeatureShard"/>s (a stable
/// hash of each image path) and each shard into chunks, each committed atomically: several processes can featurise the
/// shards of one cache at once, a killed run resumes at its first unfinished chunk, and a reader merges all shards by
/// metadata row. Image paths are stored relative to the split, so a moved data folder reuses its cache.
/// </summary>
/// <remarks>
/// Layout: <c>CACHE/SPLIT-BACKBONE-HASH/cache.json</c> (written by the first shard: backbone, metadata hash, N, chunk size,
/// chunks per shard) and <c>shard-K-of-N/chunk-NNNNNN.bin</c>.
/// </remarks>
public static class FeatureCache
{
    /// <summary>Default rows per chunk.</summary>
    public const int DefaultChunkSize = 512;

    private static readonly Regex ShardFolder = new(@"^shard-(\d+)-of-(\d+)$", RegexOptions.CultureInvariant);

    /// <summary>
    /// Returns the features of <paramref name="split"/> of the data set folder <paramref name="datasetDirectory"/>
    /// (see <see cref="ImageFolderDataset"/>) from <paramref name="cacheDirectory"/>. Missing or stale chunks are featurised
    /// now (unreadable images skipped and counted); a cache written by N &gt; 1 shards is only read, and a missing,
    /// duplicated or stale shard is a <see cref="ReverseSdInputException"/> that names it.
    /// </summary>
    public static FeatureCacheResult GetOrCompute(
        MLContext mlContext, ImageBackbone backbone, string datasetDirectory, string split, string cacheDirectory,
        IProgress<ProgressReport>? progress = null, CancellationToken cancellationToken = default) =>
        GetOrCompute(mlContext, backbone, datasetDirectory, split, cacheDirectory, new FeatureCacheOptions(), progress, cancellationToken);

    private static void CheckArguments(MLContext mlContext, ImageBackbone backbone, string datasetDirectory, string split, string cacheDirectory,
        FeatureCacheOptions options)
    {
        ArgumentNullException.ThrowIfNull(mlContext);
        ArgumentNullException.ThrowIfNull(backbone);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentException.ThrowIfNullOrWhiteSpace(datasetDirectory);
        ArgumentException.ThrowIfNullOrWhiteSpace(split);
        ArgumentException.ThrowIfNullOrWhiteSpace(cacheDirectory);
    }

    /// <summary>As <see cref="GetOrCompute(MLContext, ImageBackbone, string, string, string, IProgress{ProgressReport}, CancellationToken)"/>, with options (the shard is ignored: the whole split is returned).</summary>
    public static FeatureCacheResult GetOrCompute(
        MLContext mlContext, ImageBackbone backbone, string datasetDirectory, string split, string cacheDirectory, FeatureCacheOptions options,
        IProgress<ProgressReport>? progress = null, CancellationToken cancellationToken = default)
    {
        CheckArguments(mlContext, backbone, datasetDirectory, split, cacheDirectory, options);
        return GetOrCompute(mlContext, CachedBackbone.Of(backbone), datasetDirectory, split, cacheDirectory, options, progress, cancellationToken);
    }

    /// <summary>As the public overload, for any backbone the cache can key (also one read back from a saved model).</summary>
    internal static FeatureCacheResult GetOrCompute(
        MLContext mlContext, CachedBackbone backbone, string datasetDirectory, string split, string cacheDirectory, FeatureCacheOptions options,
        IProgress<ProgressReport>? progress, CancellationToken cancellationToken)
    {
        var plan = SplitPlan.Read(datasetDirectory, split);
        var set = new FeatureCacheFolder(cacheDirectory, split, backbone);
        var manifest = set.ReadManifest();
        if (manifest != null && !manifest.Matches(plan, backbone))
        {
            if (manifest.Shards > 1) throw StaleSet(set, manifest);
            Directory.Delete(set.Root, recursive: true);   // a single-process cache of other data: rebuilt here
            manifest = null;
        }

        if (manifest == null || manifest.Shards == 1)
        {
            var run = FeatureShardRun.Run(mlContext, backbone, plan, set, new FeatureCacheOptions
            {
                Shard = FeatureShard.All, ChunkSize = options.ChunkSize, IncludePromptEmbeddings = options.IncludePromptEmbeddings,
            }, compute: true, progress, cancellationToken);
            return Merge(mlContext, plan, set, run.Manifest, [run], fromCache: run.ChunksComputed == 0);
        }

        CheckOneShardCount(set, manifest);
        var runs = Enumerable.Range(0, manifest.Shards)
            .Select(k => FeatureShardRun.Run(mlContext, backbone, plan, set, new FeatureCacheOptions { Shard = new FeatureShard(k, manifest.Shards) },
                compute: false, progress, cancellationToken))
            .ToList();
        return Merge(mlContext, plan, set, manifest, runs, fromCache: true);
    }

    /// <summary>
    /// The split's cached features when every chunk of every shard is finished and current (with prompt embeddings when
    /// <paramref name="needPromptEmbeddings"/>); null otherwise. Nothing is computed.
    /// </summary>
    internal static FeatureCacheResult? TryRead(MLContext mlContext, CachedBackbone backbone, string datasetDirectory, string split,
        string cacheDirectory, bool needPromptEmbeddings)
    {
        var plan = SplitPlan.Read(datasetDirectory, split);
        var set = new FeatureCacheFolder(cacheDirectory, split, backbone);
        var manifest = set.ReadManifest();
        if (manifest == null || !manifest.Matches(plan, backbone)) return null;
        try
        {
            var runs = Enumerable.Range(0, manifest.Shards)
                .Select(k => FeatureShardRun.Run(mlContext, backbone, plan, set, new FeatureCacheOptions
                {
                    Shard = new FeatureShard(k, manifest.Shards), IncludePromptEmbeddings = needPromptEmbeddings,
                }, compute: false, null, CancellationToken.None))
                .ToList();
            return Merge(mlContext, plan, set, manifest, runs, fromCache: true);
        }
        catch (ReverseSdInputException)
        {
            return null;
        }
    }

    /// <summary>
    /// Featurises one shard (<see cref="FeatureCacheOptions.Shard"/>) of the split into <paramref name="cacheDirectory"/>:
    /// finished chunks are kept, missing or stale ones computed and committed one at a time. Shards of one cache may run
    /// at the same time in separate processes; a shard count or backbone that differs from the cache's is refused.
    /// </summary>
    public static FeatureShardReport Featurize(
        MLContext mlContext, ImageBackbone backbone, string datasetDirectory, string split, string cacheDirectory, FeatureCacheOptions options,
        IProgress<ProgressReport>? progress = null, CancellationToken cancellationToken = default)
    {
        CheckArguments(mlContext, backbone, datasetDirectory, split, cacheDirectory, options);
        if (options.ChunkSize < 1) throw new ReverseSdInputException($"The chunk size must be at least 1 (got {options.ChunkSize}).");

        var clock = Stopwatch.StartNew();
        var plan = SplitPlan.Read(datasetDirectory, split);
        var cached = CachedBackbone.Of(backbone);
        var set = new FeatureCacheFolder(cacheDirectory, split, cached);
        var manifest = set.ReadManifest();
        if (manifest != null && !manifest.Matches(plan, cached)) throw StaleSet(set, manifest);
        var run = FeatureShardRun.Run(mlContext, cached, plan, set, options, compute: true, progress, cancellationToken);
        CheckOneShardCount(set, run.Manifest);
        return new FeatureShardReport(options.Shard, set.Root, run.Rows, run.Skipped, run.Chunks.Count, run.ChunksComputed, run.RowsComputed, clock.Elapsed);
    }

    /// <summary>Reads which shards and chunks of every cache folder under <paramref name="cacheDirectory"/> are finished (nothing is computed).</summary>
    public static IReadOnlyList<FeatureCacheStatus> Status(string cacheDirectory)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(cacheDirectory);
        if (!Directory.Exists(cacheDirectory))
            throw new ReverseSdInputException($"Cache folder '{cacheDirectory}' does not exist: featurise into it with 'reversesd featurize --cache-dir {cacheDirectory}'.");
        var result = new List<FeatureCacheStatus>();
        foreach (string root in Directory.GetDirectories(cacheDirectory).Order(StringComparer.Ordinal))
        {
            var manifest = FeatureCacheFolder.ReadManifest(root);
            if (manifest == null) continue;
            var done = Enumerable.Range(0, manifest.Shards).Select(k =>
            {
                string folder = Path.Combine(root, FeatureCacheFolder.ShardFolderName(new FeatureShard(k, manifest.Shards)));
                return Enumerable.Range(0, manifest.ShardChunks[k]).Count(j => File.Exists(Path.Combine(folder, FeatureCacheFolder.ChunkFileName(j))));
            }).ToList();
            result.Add(new FeatureCacheStatus(root, manifest.Split, manifest.BackboneName, manifest.Shards, done, manifest.ShardChunks, manifest.Rows));
        }
        return result;
    }


    /// <summary>Merges the shards' chunks by metadata row into one view in metadata.csv order.</summary>
    private static FeatureCacheResult Merge(MLContext mlContext, SplitPlan plan, FeatureCacheFolder set, FeatureCacheManifest manifest, IReadOnlyList<FeatureShardRun> runs, bool fromCache)
    {
        var byRow = new (FeatureCacheEntry Entry, FeatureShard Shard, int Chunk)?[plan.Pairs.Count];
        bool text = true;
        foreach (var run in runs)
        {
            for (int j = 0; j < run.Chunks.Count; j++)
            {
                text &= run.Chunks[j].PromptEmbeddingSize > 0;
                foreach (var entry in run.Chunks[j].Entries)
                {
                    if (byRow[entry.Row] is { } other)
                        throw new ReverseSdInputException(
                            $"Image '{entry.FileName}' is in shard {other.Shard} chunk {other.Chunk} and again in shard {run.Shard} chunk {j} of '{set.Root}': " +
                            "a duplicated shard. Delete that cache folder and featurise again.");
                    byRow[entry.Row] = (entry, run.Shard, j);
                }
            }
        }
        var missing = Enumerable.Range(0, byRow.Length).FirstOrDefault(i => byRow[i] == null, -1);
        if (missing >= 0)
        {
            var shard = new FeatureShard(FeatureShard.Of(plan.Split, plan.Pairs[missing].FileName, manifest.Shards), manifest.Shards);
            throw new ReverseSdInputException(
                $"Image '{plan.Pairs[missing].FileName}' is in no chunk of '{set.Root}': shard {shard} is missing. Run 'reversesd featurize --shard {shard}'.");
        }

        int featureSize = manifest.FeatureSize;
        var rows = new List<FeaturizedRow>(plan.Pairs.Count);
        var skipped = new List<UnreadableImage>();
        for (int i = 0; i < byRow.Length; i++)
        {
            var entry = byRow[i]!.Value.Entry;
            var pair = plan.Pairs[i];
            if (entry.Problem != null)
            {
                skipped.Add(new UnreadableImage(plan.ImagePath(i), entry.Problem));
                continue;
            }
            rows.Add(new FeaturizedRow
            {
                ImagePath = plan.ImagePath(i), Prompt = pair.Prompt, VisualPrompt = pair.VisualPrompt ?? "", IsNoisy = pair.IsNoisy,
                Domain = pair.Domain ?? "", ImageFeatures = entry.Features!, PromptEmbedding = text ? entry.PromptEmbedding! : [],
            });
        }
        if (rows.Count == 0)
            throw new ReverseSdInputException(
                $"No readable image in '{plan.SplitRoot}' ({skipped.Count} unreadable, e.g. '{skipped.FirstOrDefault()?.Path}': {skipped.FirstOrDefault()?.Reason}).");

        var definition = SchemaDefinition.Create(typeof(FeaturizedRow));
        definition[nameof(FeaturizedRow.ImageFeatures)].ColumnType = new VectorDataViewType(NumberDataViewType.Single, featureSize);
        if (text) definition[nameof(FeaturizedRow.PromptEmbedding)].ColumnType = new VectorDataViewType(NumberDataViewType.Single, SentenceEncoder.Dimension);
        else definition.Remove(definition[nameof(FeaturizedRow.PromptEmbedding)]);
        var data = mlContext.Data.LoadFromEnumerable(rows, definition);
        return new FeatureCacheResult(data, set.Root, fromCache, rows.Count, featureSize, skipped);
    }

    private static void CheckOneShardCount(FeatureCacheFolder set, FeatureCacheManifest manifest)
    {
        if (!Directory.Exists(set.Root)) return;
        foreach (string dir in Directory.GetDirectories(set.Root).Select(Path.GetFileName).Order(StringComparer.Ordinal)!)
        {
            var match = ShardFolder.Match(dir!);
            if (match.Success && int.Parse(match.Groups[2].Value, CultureInfo.InvariantCulture) != manifest.Shards)
                throw new ReverseSdInputException(
                    $"The cache '{set.Root}' mixes shard counts: its manifest says {manifest.Shards} shards but it holds '{dir}'. " +
                    "Delete the folder(s) of the other count, or featurise into another --cache-dir.");
        }
    }

    private static ReverseSdInputException StaleSet(FeatureCacheFolder set, FeatureCacheManifest manifest) => new(
        $"The cache '{set.Root}' was featurised from another version of {manifest.Split}/{ImageFolderDataset.MetadataFileName} " +
        $"(or another cache format) by {manifest.Shards} shard(s): delete that folder and featurise again, or use another --cache-dir.");
}
