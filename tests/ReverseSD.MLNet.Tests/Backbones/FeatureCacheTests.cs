using Microsoft.ML;
using Microsoft.ML.Data;
using ReverseSD.MLNet.Backbones;
using ReverseSD.MLNet.Evaluation;
using static ReverseSD.MLNet.Tests.Backbones.BackboneTestData;

namespace ReverseSD.MLNet.Tests.Backbones;

public sealed class FeatureCacheTests
{
    private sealed class CachedRow
    {
        public string ImagePath { get; set; } = "";
        public string Prompt { get; set; } = "";
        public float[] ImageFeatures { get; set; } = [];
    }

    private static ImageBackbone Tiny(TempDirectory dir, string spec = "size=16") =>
        ImageBackbone.FromOnnx(WriteChannelMeanModel(dir.File("tiny.onnx")), ImagePreprocessing.Parse(spec), "tiny");

    [Fact]
    public void FirstCallFeaturisesSecondCallReusesTheCache()
    {
        using var dir = new TempDirectory();
        var ml = new MLContext(seed: 1);
        string data = dir.File("data");
        WriteDataset(data, "train", 5);
        var reports = new List<ProgressReport>();
        var progress = new SyncProgress(reports.Add);

        var first = FeatureCache.GetOrCompute(ml, Tiny(dir), data, "train", dir.File("cache"), progress);
        var second = FeatureCache.GetOrCompute(ml, Tiny(dir), data, "train", dir.File("cache"));

        Assert.False(first.FromCache);
        Assert.True(second.FromCache);
        Assert.Equal(first.CachePath, second.CachePath);
        Assert.Equal(5, second.Rows);
        Assert.Equal(3, second.FeatureSize);
        var a = ml.Data.CreateEnumerable<CachedRow>(first.Data, false).ToList();
        var b = ml.Data.CreateEnumerable<CachedRow>(second.Data, false).ToList();
        Assert.Equal(5, b.Count);
        Assert.Equal(a.Select(r => r.ImagePath), b.Select(r => r.ImagePath));
        Assert.Equal("a picture number 0", b[0].Prompt);
        for (int i = 0; i < a.Count; i++) Assert.Equal(a[i].ImageFeatures, b[i].ImageFeatures);
        Assert.Equal(3, ((VectorDataViewType)second.Data.Schema["ImageFeatures"].Type).Size);
        Assert.Contains(reports, r => r.Stage.StartsWith("Featurising train", StringComparison.Ordinal) && r.Done == 5 && r.Total == 5);
        // Each image goes through the backbone once: the featurising pass completes exactly once.
        Assert.Single(reports, r => r.Stage.StartsWith("Featurising train", StringComparison.Ordinal) && r.Done == r.Total);
    }

    [Fact]
    public void ChangedImageOrOtherBackboneMakesTheCacheStaleAndItIsRebuilt()
    {
        using var dir = new TempDirectory();
        var ml = new MLContext(seed: 1);
        string data = dir.File("data");
        string split = WriteDataset(data, "train", 3);
        var first = FeatureCache.GetOrCompute(ml, Tiny(dir), data, "train", dir.File("cache"));
        float[] before = ml.Data.CreateEnumerable<CachedRow>(first.Data, false).First().ImageFeatures;

        WritePng(Path.Combine(split, "img0.png"), seed: 99, 120, 40);   // other picture, other size
        var afterEdit = FeatureCache.GetOrCompute(ml, Tiny(dir), data, "train", dir.File("cache"));
        float[] after = ml.Data.CreateEnumerable<CachedRow>(afterEdit.Data, false).First().ImageFeatures;
        Assert.False(afterEdit.FromCache);
        Assert.Equal(first.CachePath, afterEdit.CachePath);
        Assert.NotEqual(before, after);

        var otherSpec = FeatureCache.GetOrCompute(ml, Tiny(dir, "size=16,mean=0;0;0,std=1;1;1"), data, "train", dir.File("cache"));
        Assert.False(otherSpec.FromCache);
        Assert.NotEqual(first.CachePath, otherSpec.CachePath);
        Assert.True(FeatureCache.GetOrCompute(ml, Tiny(dir), data, "train", dir.File("cache")).FromCache);
    }

    [Fact]
    public void ChangedMetadataMakesTheCacheStale()
    {
        using var dir = new TempDirectory();
        var ml = new MLContext(seed: 1);
        string data = dir.File("data");
        WriteDataset(data, "train", 3);
        Assert.False(FeatureCache.GetOrCompute(ml, Tiny(dir), data, "train", dir.File("cache")).FromCache);

        var pairs = ReverseSD.MLNet.Data.ImageFolderDataset.Read(data, "train").Take(2).ToList();
        ReverseSD.MLNet.Data.ImageFolderDataset.Write(data, "train", pairs);
        var rebuilt = FeatureCache.GetOrCompute(ml, Tiny(dir), data, "train", dir.File("cache"));
        Assert.False(rebuilt.FromCache);
        Assert.Equal(2, rebuilt.Rows);
    }

    [Fact]
    public void MovedDatasetReusesItsCacheWithImagePathsUnderTheNewFolder()
    {
        using var dir = new TempDirectory();
        var ml = new MLContext(seed: 1);
        WriteDataset(dir.File("data"), "train", 2);
        var before = FeatureCache.GetOrCompute(ml, Tiny(dir), dir.File("data"), "train", dir.File("cache"));
        Assert.False(before.FromCache);

        Directory.Move(dir.File("data"), dir.File("moved"));
        var moved = FeatureCache.GetOrCompute(ml, Tiny(dir), dir.File("moved"), "train", dir.File("cache"));

        Assert.True(moved.FromCache);
        var rows = ml.Data.CreateEnumerable<CachedRow>(moved.Data, false).ToList();
        Assert.All(rows, r => Assert.StartsWith(dir.File("moved"), r.ImagePath));
        Assert.All(rows, r => Assert.True(File.Exists(r.ImagePath)));
    }

    [Fact]
    public void CorruptAndMissingImagesAreSkippedAndCountedAlsoOnACacheHit()
    {
        using var dir = new TempDirectory();
        var ml = new MLContext(seed: 1);
        string data = dir.File("data");
        WriteDataset(data, "train", 4, corrupt: 2);

        var result = FeatureCache.GetOrCompute(ml, Tiny(dir), data, "train", dir.File("cache"));
        var again = FeatureCache.GetOrCompute(ml, Tiny(dir), data, "train", dir.File("cache"));

        Assert.Equal(4, result.Rows);
        Assert.Equal(2, result.Skipped.Count);
        Assert.All(result.Skipped, s => Assert.Contains("corrupt", s.Path));
        Assert.Equal(4, ml.Data.CreateEnumerable<CachedRow>(result.Data, false).Count());
        Assert.True(again.FromCache);
        Assert.Equal(result.Skipped, again.Skipped);
    }

    [Fact]
    public void ImageValidationRejectsMissingGarbageAndTruncatedFiles()
    {
        using var dir = new TempDirectory();
        string good = WritePng(dir.File("good.png"), 1, 64, 64);
        File.WriteAllText(dir.File("garbage.png"), "not an image");
        byte[] bytes = File.ReadAllBytes(good);
        File.WriteAllBytes(dir.File("truncated.png"), bytes[..(bytes.Length / 2)]);

        Assert.Null(ImageValidation.FindProblem(good));
        Assert.Equal("file not found", ImageValidation.FindProblem(dir.File("missing.png")));
        Assert.NotNull(ImageValidation.FindProblem(dir.File("garbage.png")));
        Assert.Contains("IncompleteInput", ImageValidation.FindProblem(dir.File("truncated.png")));
    }

    [Fact]
    public void MlNetLoadImagesThrowsOnAnUndecodableFileWhichIsWhyRowsAreCheckedFirst()
    {
        using var dir = new TempDirectory();
        var ml = new MLContext(seed: 1);
        File.WriteAllText(dir.File("bad.png"), "not an image");
        var data = Paths(ml, dir.File("bad.png"));
        using var backbone = ml.Transforms.ApplyImageBackbone(Tiny(dir)).Fit(data);

        var e = Assert.ThrowsAny<Exception>(() => Features(ml, backbone.Transform(data)));
        Assert.Contains("Invalid input stream contents", e.ToString());
    }

    [Fact]
    public void FilterReadableDropsRowsWhoseImageDoesNotDecodeSoTheBackboneCanScoreTheRest()
    {
        using var dir = new TempDirectory();
        var ml = new MLContext(seed: 1);
        File.WriteAllText(dir.File("bad.png"), "not an image");
        var data = Paths(ml, WritePng(dir.File("a.png"), 1), dir.File("bad.png"), WritePng(dir.File("b.png"), 2));

        var filtered = ImageValidation.FilterReadable(ml, data, out var skipped);
        using var backbone = ml.Transforms.ApplyImageBackbone(Tiny(dir)).Fit(filtered);

        Assert.Single(skipped);
        Assert.Equal(dir.File("bad.png"), skipped[0].Path);
        Assert.Equal(2, Features(ml, backbone.Transform(filtered)).Length);
        Assert.DoesNotContain(filtered.Schema, c => !c.IsHidden && c.Name.StartsWith("ReverseSD.", StringComparison.Ordinal));
    }

    [Fact]
    public void CancellationLeavesOnlyWholeChunksAndTheNextCallFinishesTheRest()
    {
        using var dir = new TempDirectory();
        var ml = new MLContext(seed: 1);
        string data = dir.File("data");
        WriteDataset(data, "train", 20);
        using var cts = new CancellationTokenSource();
        var progress = new SyncProgress(r => { if (r.Stage.StartsWith("Featurising", StringComparison.Ordinal) && r.Done >= 8) cts.Cancel(); });   // reported after row 8: the end of chunk 2
        var options = new FeatureCacheOptions { ChunkSize = 4 };

        Assert.ThrowsAny<OperationCanceledException>(() =>
            FeatureCache.GetOrCompute(ml, Tiny(dir), data, "train", dir.File("cache"), options, progress, cts.Token));
        var files = Directory.GetFiles(dir.File("cache"), "*", SearchOption.AllDirectories).Select(Path.GetFileName).ToList();
        Assert.Equal(["chunk-000000.bin", "chunk-000001.bin"], files.Where(f => f!.StartsWith("chunk", StringComparison.Ordinal)).Order());
        Assert.DoesNotContain(files, f => f!.Contains(".tmp", StringComparison.Ordinal));

        var resumed = FeatureCache.Featurize(ml, Tiny(dir), data, "train", dir.File("cache"), options);
        Assert.Equal(5, resumed.Chunks);
        Assert.Equal(3, resumed.ChunksComputed);
        Assert.Equal(12, resumed.RowsComputed);
        var all = FeatureCache.GetOrCompute(ml, Tiny(dir), data, "train", dir.File("cache"));
        var fresh = FeatureCache.GetOrCompute(ml, Tiny(dir), data, "train", dir.File("fresh"));
        Assert.True(all.FromCache);
        AssertSameRows(ml, fresh, all);
    }

    [Fact]
    public void ShardsPartitionTheSplitAndTheirMergeEqualsTheSingleProcessCache()
    {
        using var dir = new TempDirectory();
        var ml = new MLContext(seed: 1);
        string data = dir.File("data");
        WriteDataset(data, "train", 30, corrupt: 2);
        var options = new FeatureCacheOptions { ChunkSize = 3 };

        var reports = Enumerable.Range(0, 3).Select(k =>
        {
            options.Shard = new FeatureShard(k, 3);
            return FeatureCache.Featurize(ml, Tiny(dir), data, "train", dir.File("sharded"), options);
        }).ToList();
        var merged = FeatureCache.GetOrCompute(ml, Tiny(dir), data, "train", dir.File("sharded"));
        var single = FeatureCache.GetOrCompute(ml, Tiny(dir), data, "train", dir.File("single"));

        Assert.Equal(32, reports.Sum(r => r.Rows));
        Assert.All(reports, r => Assert.InRange(r.Rows, 1, 31));
        Assert.Equal(2, reports.Sum(r => r.Skipped));
        Assert.True(merged.FromCache);
        Assert.Equal(30, merged.Rows);
        Assert.Equal(single.Skipped, merged.Skipped);
        AssertSameRows(ml, single, merged);
        var status = Assert.Single(FeatureCache.Status(dir.File("sharded")));
        Assert.True(status.IsComplete);
        Assert.Equal(3, status.Shards);
        Assert.Equal(reports.Select(r => r.Chunks), status.ChunksTotal);
    }

    [Fact]
    public void ARerunOfAShardComputesOnlyItsMissingOrStaleChunks()
    {
        using var dir = new TempDirectory();
        var ml = new MLContext(seed: 1);
        string data = dir.File("data");
        string split = WriteDataset(data, "train", 12);
        var options = new FeatureCacheOptions { ChunkSize = 4 };
        Assert.Equal(3, FeatureCache.Featurize(ml, Tiny(dir), data, "train", dir.File("cache"), options).ChunksComputed);

        var again = FeatureCache.Featurize(ml, Tiny(dir), data, "train", dir.File("cache"), options);
        Assert.Equal(0, again.ChunksComputed);

        File.Delete(Directory.GetFiles(dir.File("cache"), "chunk-000001.bin", SearchOption.AllDirectories).Single());
        WritePng(Path.Combine(split, "img10.png"), seed: 77, 50, 50);   // row 10 is in chunk 2
        var repaired = FeatureCache.Featurize(ml, Tiny(dir), data, "train", dir.File("cache"), options);
        Assert.Equal(2, repaired.ChunksComputed);
        Assert.Equal(8, repaired.RowsComputed);
        AssertSameRows(ml, FeatureCache.GetOrCompute(ml, Tiny(dir), data, "train", dir.File("fresh")),
            FeatureCache.GetOrCompute(ml, Tiny(dir), data, "train", dir.File("cache")));
    }

    [Fact]
    public void AMissingShardIsOneErrorThatNamesIt()
    {
        using var dir = new TempDirectory();
        var ml = new MLContext(seed: 1);
        string data = dir.File("data");
        WriteDataset(data, "train", 12);
        foreach (int k in new[] { 0, 2 })
            FeatureCache.Featurize(ml, Tiny(dir), data, "train", dir.File("cache"), new FeatureCacheOptions { Shard = new FeatureShard(k, 3) });

        var e = Assert.Throws<ReverseSdInputException>(() => FeatureCache.GetOrCompute(ml, Tiny(dir), data, "train", dir.File("cache")));
        Assert.Contains("Shard 1/3", e.Message);
        Assert.Contains("--shard 1/3", e.Message);
        Assert.False(Assert.Single(FeatureCache.Status(dir.File("cache"))).IsComplete);
    }

    [Fact]
    public void MixingShardCountsIsRefused()
    {
        using var dir = new TempDirectory();
        var ml = new MLContext(seed: 1);
        string data = dir.File("data");
        WriteDataset(data, "train", 6);
        FeatureCache.Featurize(ml, Tiny(dir), data, "train", dir.File("cache"), new FeatureCacheOptions { Shard = new FeatureShard(0, 3) });

        var e = Assert.Throws<ReverseSdInputException>(() =>
            FeatureCache.Featurize(ml, Tiny(dir), data, "train", dir.File("cache"), new FeatureCacheOptions { Shard = new FeatureShard(1, 2) }));
        Assert.Contains("written by 3 shards", e.Message);
        Assert.Contains("--shard K/3", e.Message);
    }

    [Fact]
    public void ShardsOfDifferentBackbonesNeverMergeAndTheErrorSaysSo()
    {
        using var dir = new TempDirectory();
        var ml = new MLContext(seed: 1);
        string data = dir.File("data");
        WriteDataset(data, "train", 9);
        var other = ImageBackbone.FromOnnx(WriteChannelMeanModel(dir.File("other.onnx")), ImagePreprocessing.Parse("size=16,mean=0;0;0,std=1;1;1"), "other");
        FeatureCache.Featurize(ml, Tiny(dir), data, "train", dir.File("cache"), new FeatureCacheOptions { Shard = new FeatureShard(0, 2) });
        FeatureCache.Featurize(ml, other, data, "train", dir.File("cache"), new FeatureCacheOptions { Shard = new FeatureShard(1, 2) });

        var e = Assert.Throws<ReverseSdInputException>(() => FeatureCache.GetOrCompute(ml, Tiny(dir), data, "train", dir.File("cache")));
        Assert.Contains("Shard 1/2", e.Message);
        Assert.Contains("different backbones", e.Message);
        Assert.Contains("'other'", e.Message);
    }

    [Fact]
    public void TextOptionStoresEachPromptsEmbeddingAndAChunkWithoutThemIsRecomputedWhenAsked()
    {
        using var dir = new TempDirectory();
        var ml = new MLContext(seed: 1);
        string data = dir.File("data");
        WriteDataset(data, "train", 4, corrupt: 1);
        Assert.Equal(1, FeatureCache.Featurize(ml, Tiny(dir), data, "train", dir.File("cache"), new FeatureCacheOptions()).ChunksComputed);
        Assert.Null(FeatureCache.GetOrCompute(ml, Tiny(dir), data, "train", dir.File("cache")).Data.Schema.GetColumnOrNull("PromptEmbedding"));

        var withText = FeatureCache.Featurize(ml, Tiny(dir), data, "train", dir.File("cache"), new FeatureCacheOptions { IncludePromptEmbeddings = true });
        var result = FeatureCache.GetOrCompute(ml, Tiny(dir), data, "train", dir.File("cache"));

        Assert.Equal(1, withText.ChunksComputed);
        var cached = PromptEmbeddingEvaluator.ReadVectors(result.Data, "PromptEmbedding");
        using var encoder = ReverseSD.MLNet.Text.SentenceEncoder.Load();
        var expected = encoder.Encode(ml.Data.CreateEnumerable<CachedRow>(result.Data, false).Select(r => r.Prompt).ToList());
        Assert.Equal(4, cached.Length);
        for (int i = 0; i < cached.Length; i++)
            Assert.True(cached[i].Zip(expected[i]).Max(p => Math.Abs(p.First - p.Second)) < 1e-5, $"row {i} differs from the encoder's embedding");
        Assert.Equal(0, FeatureCache.Featurize(ml, Tiny(dir), data, "train", dir.File("cache"), new FeatureCacheOptions()).ChunksComputed);
    }

    [Fact]
    public void ShardAssignmentIsAStableHashOfThePathRelativeToTheDataFolder()
    {
        Assert.Equal(0xaf63dc4c8601ec8cUL, FeatureShard.Fnv1a64("a"));   // FNV-1a 64 reference value
        Assert.Equal(FeatureShard.Of("train", "sub/img1.png", 7), FeatureShard.Of("train", "sub\\img1.png", 7));
        var counts = new int[4];
        for (int i = 0; i < 400; i++) counts[FeatureShard.Of("train", $"img{i}.png", 4)]++;
        Assert.All(counts, c => Assert.InRange(c, 60, 140));
    }

    [Fact]
    public void ShardIndexComesFromTheArgumentOrFromTheJobEnvironment()
    {
        Assert.Equal(new FeatureShard(2, 5), FeatureShard.Parse("2/5", _ => null));
        Assert.Equal(new FeatureShard(3, 5), FeatureShard.Parse("5", v => v == "JOB_COMPLETION_INDEX" ? "3" : null));
        Assert.Equal(new FeatureShard(4, 5), FeatureShard.Parse("/5", v => v == "SLURM_ARRAY_TASK_ID" ? "4" : null));
        Assert.Contains("neither JOB_COMPLETION_INDEX nor SLURM_ARRAY_TASK_ID", Assert.Throws<ReverseSdInputException>(() => FeatureShard.Parse("5", _ => null)).Message);
        Assert.Contains("out of range", Assert.Throws<ReverseSdInputException>(() => FeatureShard.Parse("5/5", _ => null)).Message);
        Assert.Throws<ReverseSdInputException>(() => FeatureShard.Parse("1/0", _ => null));
        Assert.Throws<ReverseSdInputException>(() => FeatureShard.Parse("x/3", _ => null));
    }

    private static void AssertSameRows(MLContext ml, FeatureCacheResult expected, FeatureCacheResult actual)
    {
        var a = ml.Data.CreateEnumerable<CachedRow>(expected.Data, false).ToList();
        var b = ml.Data.CreateEnumerable<CachedRow>(actual.Data, false).ToList();
        Assert.Equal(a.Select(r => r.ImagePath), b.Select(r => r.ImagePath));
        Assert.Equal(a.Select(r => r.Prompt), b.Select(r => r.Prompt));
        for (int i = 0; i < a.Count; i++) Assert.Equal(a[i].ImageFeatures, b[i].ImageFeatures);
    }

    /// <summary>Reports synchronously (Progress&lt;T&gt; posts to the thread pool).</summary>
    private sealed class SyncProgress(Action<ProgressReport> report) : IProgress<ProgressReport>
    {
        public void Report(ProgressReport value) => report(value);
    }
}
