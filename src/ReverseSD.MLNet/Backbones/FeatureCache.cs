using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.ML;
using Microsoft.ML.Data;
using ReverseSD.MLNet.Data;
using ReverseSD.MLNet.Text;

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

    private const int FormatVersion = 2;
    private const string ManifestName = "cache.json";
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
        var set = new CacheSet(cacheDirectory, split, backbone);
        var manifest = set.ReadManifest();
        if (manifest != null && !manifest.Matches(plan, backbone))
        {
            if (manifest.Shards > 1) throw StaleSet(set, manifest);
            Directory.Delete(set.Root, recursive: true);   // a single-process cache of other data: rebuilt here
            manifest = null;
        }

        if (manifest == null || manifest.Shards == 1)
        {
            var run = RunShard(mlContext, backbone, plan, set, new FeatureCacheOptions
            {
                Shard = FeatureShard.All, ChunkSize = options.ChunkSize, IncludePromptEmbeddings = options.IncludePromptEmbeddings,
            }, compute: true, progress, cancellationToken);
            return Merge(mlContext, plan, set, run.Manifest, [run], fromCache: run.ChunksComputed == 0);
        }

        CheckOneShardCount(set, manifest);
        var runs = Enumerable.Range(0, manifest.Shards)
            .Select(k => RunShard(mlContext, backbone, plan, set, new FeatureCacheOptions { Shard = new FeatureShard(k, manifest.Shards) },
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
        var set = new CacheSet(cacheDirectory, split, backbone);
        var manifest = set.ReadManifest();
        if (manifest == null || !manifest.Matches(plan, backbone)) return null;
        try
        {
            var runs = Enumerable.Range(0, manifest.Shards)
                .Select(k => RunShard(mlContext, backbone, plan, set, new FeatureCacheOptions
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
        var set = new CacheSet(cacheDirectory, split, cached);
        var manifest = set.ReadManifest();
        if (manifest != null && !manifest.Matches(plan, cached)) throw StaleSet(set, manifest);
        var run = RunShard(mlContext, cached, plan, set, options, compute: true, progress, cancellationToken);
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
            var manifest = CacheSet.ReadManifest(root);
            if (manifest == null) continue;
            var done = Enumerable.Range(0, manifest.Shards).Select(k =>
            {
                string folder = Path.Combine(root, CacheSet.ShardFolderName(new FeatureShard(k, manifest.Shards)));
                return Enumerable.Range(0, manifest.ShardChunks[k]).Count(j => File.Exists(Path.Combine(folder, CacheSet.ChunkFileName(j))));
            }).ToList();
            result.Add(new FeatureCacheStatus(root, manifest.Split, manifest.BackboneName, manifest.Shards, done, manifest.ShardChunks, manifest.Rows));
        }
        return result;
    }

    private sealed class ShardRun
    {
        public required FeatureShard Shard { get; init; }
        public required Manifest Manifest { get; init; }
        public required List<FeatureCacheChunk> Chunks { get; init; }
        public int Rows { get; init; }
        public int Skipped => Chunks.Sum(c => c.Entries.Count(e => e.Problem != null));
        public int ChunksComputed { get; init; }
        public int RowsComputed { get; init; }
    }

    /// <summary>Reads (and with <paramref name="compute"/>, featurises what is missing or stale of) one shard's chunks.</summary>
    private static ShardRun RunShard(MLContext mlContext, CachedBackbone backbone, SplitPlan plan, CacheSet set, FeatureCacheOptions options,
        bool compute, IProgress<ProgressReport>? progress, CancellationToken cancellationToken)
    {
        var shard = options.Shard;
        var manifest = set.ReadManifest();
        if (manifest == null)
        {
            if (!compute) throw new InvalidOperationException("No cache manifest to read.");
            manifest = Manifest.Create(plan, backbone, shard.Count, options.ChunkSize);
            Directory.CreateDirectory(set.Root);
            AtomicFile.WriteAllBytes(set.ManifestPath, JsonSerializer.SerializeToUtf8Bytes(manifest, JsonOptions));
        }
        if (manifest.Shards != shard.Count)
            throw new ReverseSdInputException(
                $"The cache '{set.Root}' is being written by {manifest.Shards} shards; this run is shard {shard} of {shard.Count}. " +
                $"Mixed shard counts would overlap: use --shard K/{manifest.Shards}, or another --cache-dir for {shard.Count} shards.");

        var rows = plan.RowsOf(shard);
        var chunkRows = rows.Chunk(manifest.ChunkSize).ToList();
        string folder = Path.Combine(set.Root, CacheSet.ShardFolderName(shard));
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
                string path = Path.Combine(folder, CacheSet.ChunkFileName(j));
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
        return new ShardRun
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

    /// <summary>Merges the shards' chunks by metadata row into one view in metadata.csv order.</summary>
    private static FeatureCacheResult Merge(MLContext mlContext, SplitPlan plan, CacheSet set, Manifest manifest, IReadOnlyList<ShardRun> runs, bool fromCache)
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

    private static void CheckOneShardCount(CacheSet set, Manifest manifest)
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

    private static ReverseSdInputException MissingShard(CacheSet set, Manifest manifest, FeatureShard shard, int chunk, int chunks, string problem)
    {
        string hint = "";
        foreach (string other in set.SiblingsOfSameSplit())
        {
            var m = CacheSet.ReadManifest(other);
            if (m != null && m.Shards == manifest.Shards && Directory.Exists(Path.Combine(other, CacheSet.ShardFolderName(shard))))
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

    private static ReverseSdInputException StaleSet(CacheSet set, Manifest manifest) => new(
        $"The cache '{set.Root}' was featurised from another version of {manifest.Split}/{ImageFolderDataset.MetadataFileName} " +
        $"(or another cache format) by {manifest.Shards} shard(s): delete that folder and featurise again, or use another --cache-dir.");

    private static readonly JsonSerializerOptions JsonOptions = new() { WriteIndented = true };

    /// <summary>The metadata rows of a split, their image paths and the shard assignment.</summary>
    private sealed class SplitPlan
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

    /// <summary>The folder of one split and backbone inside a cache folder.</summary>
    private sealed class CacheSet(string cacheDirectory, string split, CachedBackbone backbone)
    {
        private readonly string _cacheDirectory = Path.GetFullPath(cacheDirectory);

        public string Root { get; } = Path.Combine(Path.GetFullPath(cacheDirectory),
            $"{split}-{SafeName(backbone.Name)}-{Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(backbone.Fingerprint)))[..12]}");

        public string ManifestPath => Path.Combine(Root, ManifestName);

        public Manifest? ReadManifest() => ReadManifest(Root);

        public static Manifest? ReadManifest(string root)
        {
            string path = Path.Combine(root, ManifestName);
            if (!File.Exists(path)) return null;
            try
            {
                return JsonSerializer.Deserialize<Manifest>(File.ReadAllBytes(path), JsonOptions);
            }
            catch (JsonException)
            {
                return null;
            }
        }

        /// <summary>Other cache folders of the same split (other backbones).</summary>
        public IEnumerable<string> SiblingsOfSameSplit() =>
            Directory.Exists(_cacheDirectory)
                ? Directory.GetDirectories(_cacheDirectory, split + "-*").Where(d => d != Root && File.Exists(Path.Combine(d, ManifestName))).Order(StringComparer.Ordinal)
                : [];

        public static string ShardFolderName(FeatureShard shard) => string.Create(CultureInfo.InvariantCulture, $"shard-{shard.Index}-of-{shard.Count}");

        public static string ChunkFileName(int chunk) => string.Create(CultureInfo.InvariantCulture, $"chunk-{chunk:D6}.bin");

        private static string SafeName(string name) =>
            new(name.Select(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' ? c : '_').ToArray());
    }

    /// <summary>cache.json: what the cache folder holds, written once by the first shard that starts.</summary>
    private sealed class Manifest
    {
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

        public static Manifest Create(SplitPlan plan, CachedBackbone backbone, int shards, int chunkSize)
        {
            var rowsPerShard = new int[shards];
            foreach (var pair in plan.Pairs) rowsPerShard[shards == 1 ? 0 : FeatureShard.Of(plan.Split, pair.FileName, shards)]++;
            return new Manifest
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
}

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

/// <summary>
/// What the feature cache needs of a backbone: its name, its fingerprint (the cache key), its feature size and the compute
/// step (image paths in, feature rows out). A backbone read back from a saved model keys the same cache as the one it
/// was trained with.
/// </summary>
internal sealed record CachedBackbone(string Name, string Fingerprint, int FeatureSize, Func<IImageFeaturizer> CreateFeaturizer)
{
    /// <summary>The cache key and fast featuriser of <paramref name="backbone"/>.</summary>
    public static CachedBackbone Of(ImageBackbone backbone) =>
        new(backbone.Name, backbone.Fingerprint, backbone.FeatureSize, () => BatchedImageFeaturizer.Create(backbone));

    /// <summary>The cache key of a backbone read back from a saved model; null when the model predates recorded fingerprints.</summary>
    public static CachedBackbone? Of(ComposedBackbone composed) =>
        composed.Fingerprint == null ? null
            : new(composed.Name, composed.Fingerprint, composed.FeatureSize, () => BatchedImageFeaturizer.FromComposed(composed));
}
