using Microsoft.ML;
using ReverseSD.MLNet.Backbones;
using static ReverseSD.MLNet.Tests.Backbones.BackboneTestData;

namespace ReverseSD.MLNet.Tests.Backbones;

public sealed class GridBackboneTests
{
    [Fact]
    [Trait("Category", "Slow")]
    public void GridBackboneKeepsTheResNet18FeaturesAndAddsNineCellsThatTheFastPathGivesToo()
    {
        using var dir = new TempDirectory();
        var ml = new MLContext(seed: 1);
        string[] paths = [WritePng(dir.File("a.png"), seed: 21, 120, 90), WritePng(dir.File("b.png"), seed: 22, 224, 224), WritePng(dir.File("c.png"), seed: 23, 300, 500)];
        var data = Paths(ml, paths);
        using var plain = ml.Transforms.ApplyImageBackbone(ImageBackbone.ResNet18).Fit(data);
        using var grid = ml.Transforms.ApplyImageBackbone(ImageBackbone.ResNet18Grid).Fit(data);
        var pooled = Features(ml, plain.Transform(data));
        var withGrid = Features(ml, grid.Transform(data));

        Assert.Equal(512 + 9 * 512, ImageBackbone.ResNet18Grid.FeatureSize);
        Assert.Equal("resnet18-grid", ImageBackbone.Resolve("resnet18-grid").Name);
        Assert.NotEqual(ImageBackbone.ResNet18.Fingerprint, ImageBackbone.ResNet18Grid.Fingerprint);
        for (int i = 0; i < paths.Length; i++)
        {
            Assert.Equal(5120, withGrid[i].Length);
            Assert.True(MaxAbsDiff(pooled[i], withGrid[i][..512]) < 1e-4f, $"row {i}: pooled part differs by {MaxAbsDiff(pooled[i], withGrid[i][..512])}");
            // Layout [channel, row, column]: the nine cells of a channel are not all alike (where things are is kept).
            var cells = Enumerable.Range(0, 512).Select(c => withGrid[i].AsSpan(512 + 9 * c, 9).ToArray()).ToList();
            Assert.Contains(cells, c => c.Max() - c.Min() > 0.1f);
        }

        using var fast = BatchedImageFeaturizer.Create(ImageBackbone.ResNet18Grid, batchSize: 2);
        var fastFeatures = fast.Featurize(paths).Select(f => f.Features!).ToArray();
        for (int i = 0; i < paths.Length; i++)
            Assert.True(MaxAbsDiff(withGrid[i], fastFeatures[i]) <= 1e-4f, $"row {i}: fast path differs by {MaxAbsDiff(withGrid[i], fastFeatures[i])}");
    }

    private static float MaxAbsDiff(float[] a, float[] b) => a.Zip(b, (x, y) => MathF.Abs(x - y)).Max();
}
