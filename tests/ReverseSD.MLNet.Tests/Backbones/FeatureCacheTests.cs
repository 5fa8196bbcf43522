using Microsoft.ML;
using Microsoft.ML.Data;
using ReverseSD.MLNet.Backbones;
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
    public void MovedDatasetIsFeaturisedAgainSoCachedImagePathsStayValid()
    {
        using var dir = new TempDirectory();
        var ml = new MLContext(seed: 1);
        WriteDataset(dir.File("data"), "train", 2);
        Assert.False(FeatureCache.GetOrCompute(ml, Tiny(dir), dir.File("data"), "train", dir.File("cache")).FromCache);

        Directory.Move(dir.File("data"), dir.File("moved"));
        var moved = FeatureCache.GetOrCompute(ml, Tiny(dir), dir.File("moved"), "train", dir.File("cache"));

        Assert.False(moved.FromCache);
        Assert.All(ml.Data.CreateEnumerable<CachedRow>(moved.Data, false), r => Assert.StartsWith(dir.File("moved"), r.ImagePath));
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
    public void CancellationStopsFeaturisingAndLeavesNoCache()
    {
        using var dir = new TempDirectory();
        var ml = new MLContext(seed: 1);
        string data = dir.File("data");
        WriteDataset(data, "train", 20);
        using var cts = new CancellationTokenSource();
        var progress = new SyncProgress(r => { if (r.Stage.StartsWith("Featurising", StringComparison.Ordinal) && r.Done >= 8) cts.Cancel(); });

        Assert.ThrowsAny<OperationCanceledException>(() =>
            FeatureCache.GetOrCompute(ml, Tiny(dir), data, "train", dir.File("cache"), progress, cts.Token));
        Assert.Empty(Directory.Exists(dir.File("cache")) ? Directory.GetFiles(dir.File("cache")) : []);
    }

    /// <summary>Reports synchronously (Progress&lt;T&gt; posts to the thread pool).</summary>
    private sealed class SyncProgress(Action<ProgressReport> report) : IProgress<ProgressReport>
    {
        public void Report(ProgressReport value) => report(value);
    }
}
