using Microsoft.ML;
using ReverseSD.MLNet.Backbones;
using static ReverseSD.MLNet.Tests.Backbones.BackboneTestData;

namespace ReverseSD.MLNet.Tests.Backbones;

public sealed class MapBackboneTests
{
    [Fact]
    [Trait("Category", "Slow")]
    public void MapBackboneGivesTheLastFeatureMapWhoseAverageIsTheResNet18FeaturesAndTheFastPathGivesItToo()
    {
        using var dir = new TempDirectory();
        var ml = new MLContext(seed: 1);
        string[] paths = [WritePng(dir.File("a.png"), seed: 21, 120, 90), WritePng(dir.File("b.png"), seed: 22, 224, 224), WritePng(dir.File("c.png"), seed: 23, 300, 500)];
        var data = Paths(ml, paths);
        using var plain = ml.Transforms.ApplyImageBackbone(ImageBackbone.ResNet18).Fit(data);
        using var map = ml.Transforms.ApplyImageBackbone(ImageBackbone.ResNet18Map).Fit(data);
        var pooled = Features(ml, plain.Transform(data));
        var maps = Features(ml, map.Transform(data));

        Assert.Equal(512 * 7 * 7, ImageBackbone.ResNet18Map.FeatureSize);
        Assert.Equal(512, ImageBackbone.ResNet18Map.FeatureMapChannels);
        Assert.Equal(0, ImageBackbone.ResNet18.FeatureMapChannels);
        Assert.Equal("resnet18-map", ImageBackbone.Resolve("resnet18-map").Name);
        Assert.NotEqual(ImageBackbone.ResNet18.Fingerprint, ImageBackbone.ResNet18Map.Fingerprint);
        for (int i = 0; i < paths.Length; i++)
        {
            Assert.Equal(25_088, maps[i].Length);
            // Layout [channel, row, column]: each channel's 49 values average to the pooled feature, and they differ by position.
            var averages = Enumerable.Range(0, 512).Select(c => maps[i].AsSpan(49 * c, 49).ToArray().Average()).ToArray();
            Assert.True(MaxAbsDiff(pooled[i], averages) < 1e-4f, $"row {i}: average of the map differs from the pooled features by {MaxAbsDiff(pooled[i], averages)}");
            Assert.Contains(Enumerable.Range(0, 512), c => maps[i].AsSpan(49 * c, 49).ToArray() is var v && v.Max() - v.Min() > 0.1f);
        }

        using var fast = BatchedImageFeaturizer.Create(ImageBackbone.ResNet18Map, batchSize: 2);
        var fastFeatures = fast.Featurize(paths).Select(f => f.Features!).ToArray();
        for (int i = 0; i < paths.Length; i++)
            Assert.True(MaxAbsDiff(maps[i], fastFeatures[i]) <= 1e-4f, $"row {i}: fast path differs by {MaxAbsDiff(maps[i], fastFeatures[i])}");
    }

    private static float MaxAbsDiff(float[] a, float[] b) => a.Zip(b, (x, y) => MathF.Abs(x - y)).Max();
}
