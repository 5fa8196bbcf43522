using Xunit.Abstractions;
using ReverseSD.MLNet.Backbones;
using ReverseSD.MLNet.FineTuning;
using static ReverseSD.MLNet.Tests.Backbones.BackboneTestData;

namespace ReverseSD.MLNet.Tests.FineTuning;

public sealed class ResNet18TorchBackboneTests(ITestOutputHelper output)
{
    [SkippableFact]
    public void TorchSharpResNet18GivesOnnxRuntimesFeaturesOnRealDiffusionDbImages()
    {
        Skip.IfNot(SharedData.Available, SharedData.SkipReason);
        var paths = Directory.GetFiles(SharedData.PathOf("diffusiondb-demo6", "images"), "*.png")
            .Concat(Directory.GetFiles(SharedData.PathOf("kaggle-sample", "images")))
            .Order(StringComparer.Ordinal).ToArray();
        Assert.True(paths.Length >= 10, $"expected the 6 DiffusionDB and 7 Kaggle images, found {paths.Length}");

        float worst = MaxDifferenceFromOnnxRuntime(ImageBackbone.ResNet18, paths);

        output.WriteLine($"max |TorchSharp - ONNX Runtime| = {worst} over {paths.Length} real images");
        Assert.True(worst <= 1e-4f, $"max |TorchSharp - ONNX Runtime| = {worst} over {paths.Length} real images");
    }

    [Theory]
    [InlineData(224)]
    [InlineData(225)] // odd: CNTK's asymmetric stride-2 padding gives other shapes than a symmetric one
    [InlineData(160)]
    public void TorchSharpResNet18GivesOnnxRuntimesFeaturesOnGeneratedImages(int size)
    {
        using var dir = new TempDirectory();
        (int W, int H)[] sizes = [(512, 512), (96, 80), (64, 128), (224, 224), (300, 200)];
        var paths = sizes.Select((s, i) => WritePng(dir.File($"{i}.png"), seed: 40 + i, s.W, s.H)).ToArray();

        float worst = MaxDifferenceFromOnnxRuntime(ImageBackbone.ResNet18At(size), paths);

        output.WriteLine($"size {size}: max |TorchSharp - ONNX Runtime| = {worst}");
        Assert.True(worst <= 1e-4f, $"size {size}: max |TorchSharp - ONNX Runtime| = {worst}");
    }

    [Fact]
    public void UnreadableImagesGiveNoFeaturesAndTheOthersKeepTheirPlace()
    {
        using var dir = new TempDirectory();
        string good = WritePng(dir.File("a.png"), seed: 3), corrupt = dir.File("bad.png");
        File.WriteAllText(corrupt, "not a png");
        using var torchBackbone = ResNet18TorchBackbone.Create(ImageBackbone.ResNet18At(64));

        var features = torchBackbone.Featurize([corrupt, good, dir.File("missing.png")]);

        Assert.Null(features[0]);
        Assert.Equal(ResNet18Network.FeatureSize, features[1]!.Length);
        Assert.Null(features[2]);
    }

    [Fact]
    public void ABackboneThatIsNotResNet18IsRefusedWithTheFix()
    {
        using var dir = new TempDirectory();
        var other = ImageBackbone.FromOnnx(WriteChannelMeanModel(dir.File("m.onnx")), ImagePreprocessing.Parse("size=32"));

        var e = Assert.Throws<ReverseSdInputException>(() => ResNet18TorchBackbone.Create(other));

        Assert.Contains("--finetune none", e.Message);
    }

    internal static float MaxDifferenceFromOnnxRuntime(ImageBackbone backbone, IReadOnlyList<string> paths)
    {
        using var onnx = BatchedImageFeaturizer.Create(backbone, batchSize: 4);
        var expected = onnx.Featurize(paths).Select(f => f.Features!).ToArray();
        using var torchBackbone = ResNet18TorchBackbone.Create(backbone);
        var actual = torchBackbone.Featurize(paths, batchSize: 4);
        float worst = 0;
        for (int i = 0; i < paths.Count; i++)
        {
            Assert.NotNull(expected[i]);
            Assert.NotNull(actual[i]);
            Assert.Equal(expected[i].Length, actual[i]!.Length);
            for (int j = 0; j < expected[i].Length; j++)
                worst = Math.Max(worst, MathF.Abs(expected[i][j] - actual[i]![j]));
        }
        return worst;
    }
}
