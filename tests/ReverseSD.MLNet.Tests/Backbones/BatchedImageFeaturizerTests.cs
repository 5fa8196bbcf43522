using Microsoft.ML;
using ReverseSD.MLNet.Backbones;
using SkiaSharp;
using static ReverseSD.MLNet.Tests.Backbones.BackboneTestData;

namespace ReverseSD.MLNet.Tests.Backbones;

public sealed class BatchedImageFeaturizerTests
{
    [Fact]
    [Trait("Category", "Slow")]
    public void FastPathGivesTheMlNetChainsResNet18FeaturesOn100Images()
    {
        using var dir = new TempDirectory();
        // Sizes that take every branch of the resize: larger and smaller, wider and taller, already 224, 512 px as SD.
        (int W, int H)[] sizes = [(512, 512), (96, 80), (64, 128), (224, 224), (300, 200), (200, 333), (512, 768), (704, 512)];
        var paths = new List<string>();
        for (int i = 0; i < 100; i++)
        {
            var (w, h) = sizes[i % sizes.Length];
            paths.Add(i % 10 == 9
                ? WriteJpeg(dir.File($"{i}.jpg"), seed: i, w, h)
                : i % 10 == 4 ? WriteGreyPng(dir.File($"{i}.png"), seed: i, w, h) : WritePng(dir.File($"{i}.png"), seed: i, w, h));
        }
        var ml = new MLContext(seed: 1);
        var data = Paths(ml, [.. paths]);
        float[][] expected;
        using (var chain = ml.Transforms.ApplyImageBackbone(ImageBackbone.ResNet18).Fit(data))
            expected = Features(ml, chain.Transform(data));

        using var fast = BatchedImageFeaturizer.Create(ImageBackbone.ResNet18, batchSize: 7);
        var actual = fast.Featurize(paths).ToList();

        Assert.Equal(100, actual.Count);
        Assert.All(actual, a => Assert.Null(a.Problem));
        float worst = 0;
        for (int i = 0; i < 100; i++)
        {
            Assert.Equal(512, actual[i].Features!.Length);
            worst = Math.Max(worst, MaxAbsDiff(expected[i], actual[i].Features!));
        }
        Assert.True(worst <= 1e-4f, $"max |fast - ML.NET| = {worst}");
    }

    [Theory]
    [InlineData("size=32,resize=pad,order=rgb,scale=0.00392156863,mean=0.1;0.2;0.3,std=0.5;0.25;0.125")]
    [InlineData("size=40x24,resize=stretch,order=bgr,scale=1,mean=10;20;30,std=2;3;4")]
    [InlineData("size=24x40,resize=crop,order=rgb")]
    public void FastPathMatchesTheMlNetChainForEveryResizeModeAndChannelOrder(string spec)
    {
        using var dir = new TempDirectory();
        var backbone = ImageBackbone.FromOnnx(WriteChannelMeanModel(dir.File("m.onnx")), ImagePreprocessing.Parse(spec));
        var paths = new[] { (90, 50), (50, 90), (32, 32), (40, 24), (17, 71) }
            .Select((s, i) => WritePng(dir.File($"{i}.png"), seed: 20 + i, s.Item1, s.Item2)).ToArray();
        var ml = new MLContext(seed: 1);
        var data = Paths(ml, paths);
        float[][] expected;
        using (var chain = ml.Transforms.ApplyImageBackbone(backbone).Fit(data))
            expected = Features(ml, chain.Transform(data));

        using var fast = BatchedImageFeaturizer.Create(backbone, batchSize: 2);
        var actual = fast.Featurize(paths).Select(f => f.Features!).ToArray();

        for (int i = 0; i < paths.Length; i++)
            Assert.True(MaxAbsDiff(expected[i], actual[i]) <= 1e-5f, $"image {i}: max |diff| {MaxAbsDiff(expected[i], actual[i])}");
    }

    [Fact]
    public void UnreadableImagesAreReportedInPlaceAndTheOthersStillScored()
    {
        using var dir = new TempDirectory();
        var backbone = ImageBackbone.FromOnnx(WriteChannelMeanModel(dir.File("m.onnx")), ImagePreprocessing.Parse("size=16"));
        string good1 = WritePng(dir.File("a.png"), seed: 1), good2 = WritePng(dir.File("b.png"), seed: 2);
        string corrupt = dir.File("corrupt.png");
        File.WriteAllText(corrupt, "not a png");
        string truncated = dir.File("truncated.png");
        var bytes = File.ReadAllBytes(WritePng(dir.File("full.png"), seed: 3, 200, 200));
        File.WriteAllBytes(truncated, bytes[..(bytes.Length / 2)]);
        string[] paths = [corrupt, good1, dir.File("missing.png"), truncated, good2];

        using var fast = BatchedImageFeaturizer.Create(backbone, batchSize: 1);
        var results = fast.Featurize(paths).ToList();
        using var single = BatchedImageFeaturizer.Create(backbone, batchSize: 4);

        Assert.Equal(5, results.Count);
        Assert.Equal([true, false, true, true, false], results.Select(r => r.Problem != null));
        Assert.Equal("file not found", results[2].Problem);
        Assert.Equal(single.Featurize([good1]).Single().Features, results[1].Features);
        Assert.Equal(single.Featurize([good2]).Single().Features, results[4].Features);
    }

    [Fact]
    public void StoppingEarlyEndsTheDecodingThreadsAndTheFeaturizerCanRunAgain()
    {
        using var dir = new TempDirectory();
        var backbone = ImageBackbone.FromOnnx(WriteChannelMeanModel(dir.File("m.onnx")), ImagePreprocessing.Parse("size=16"));
        var paths = Enumerable.Range(0, 40).Select(i => WritePng(dir.File($"{i}.png"), seed: i)).ToArray();
        using var fast = BatchedImageFeaturizer.Create(backbone, batchSize: 3);

        var firstThree = fast.Featurize(paths).Take(3).ToList();
        var all = fast.Featurize(paths).ToList();

        Assert.Equal(40, all.Count);
        Assert.Equal(all.Take(3).Select(a => a.Features), firstThree.Select(a => a.Features));
        Assert.Throws<OperationCanceledException>(() => fast.Featurize(paths, new CancellationToken(canceled: true)).ToList());
    }

    [Fact]
    public void AnInferenceFailureReachesTheCallerAndTheFeaturizerCanRunAgain()
    {
        using var dir = new TempDirectory();
        // Reshape to [1, -1] runs on one image, but gives [1, 2 × features] on a batch of two: ONNX Runtime refuses it.
        var g = new ReverseSD.MLNet.Onnx.OnnxGraphBuilder("whole-batch-as-one-row");
        g.Input("data", [-1, 3, 16, 16]);
        string flat = g.Node("Reshape", ["data", g.Initializer("shape", [1L, -1L], 2)]);
        g.Output(flat, "flat", [1, -1]);
        File.WriteAllBytes(dir.File("m.onnx"), g.ToBytes());
        var backbone = ImageBackbone.FromOnnx(dir.File("m.onnx"), ImagePreprocessing.Parse("size=16"));
        var paths = Enumerable.Range(0, 6).Select(i => WritePng(dir.File($"{i}.png"), seed: i)).ToArray();
        using var fast = BatchedImageFeaturizer.Create(backbone, batchSize: 2);

        Assert.Throws<Microsoft.ML.OnnxRuntime.OnnxRuntimeException>(() => fast.Featurize(paths).ToList());
        using var single = BatchedImageFeaturizer.Create(backbone, batchSize: 1);
        Assert.Equal(6, single.Featurize(paths).Count(f => f.Features!.Length == 768));
        Assert.Throws<Microsoft.ML.OnnxRuntime.OnnxRuntimeException>(() => fast.Featurize(paths).ToList());
    }

    [Fact]
    public void ComposedGraphCarriesItsPreprocessingForTheFastPath()
    {
        using var dir = new TempDirectory();
        var spec = ImagePreprocessing.Parse("size=40x24,resize=pad,order=bgr,mean=0.4;0.5;0.6,std=0.2;0.3;0.4");
        var backbone = ImageBackbone.FromOnnx(WriteChannelMeanModel(dir.File("m.onnx")), spec, "tiny");

        var composed = ImageBackbone.ReadComposed(backbone.Compose("ImageFeatures.Pixels", "ImageFeatures"));

        Assert.NotNull(composed);
        Assert.Equal(spec, composed.Preprocessing);
        Assert.Equal(("tiny", "ImageFeatures.Pixels", "ImageFeatures", 3), (composed.Name, composed.InputName, composed.OutputName, composed.FeatureSize));
        Assert.Null(ImageBackbone.ReadComposed(File.ReadAllBytes(dir.File("m.onnx"))));
    }

    private static string WriteJpeg(string path, int seed, int width, int height)
    {
        string png = WritePng(path + ".png", seed, width, height);
        using var bitmap = SKBitmap.Decode(png);
        using var data = bitmap.Encode(SKEncodedImageFormat.Jpeg, 90);
        File.WriteAllBytes(path, data.ToArray());
        File.Delete(png);
        return path;
    }

    private static string WriteGreyPng(string path, int seed, int width, int height)
    {
        string png = WritePng(path + ".rgb.png", seed, width, height);
        using var colour = SKBitmap.Decode(png);
        using var grey = colour.Copy(SKColorType.Gray8);
        using var data = grey.Encode(SKEncodedImageFormat.Png, 100);
        File.WriteAllBytes(path, data.ToArray());
        File.Delete(png);
        return path;
    }

    private static float MaxAbsDiff(float[] a, float[] b) => a.Zip(b, (x, y) => MathF.Abs(x - y)).Max();
}
