using Microsoft.ML;
using Microsoft.ML.Data;
using ReverseSD.MLNet.Backbones;
using SkiaSharp;
using static ReverseSD.MLNet.Tests.Backbones.BackboneTestData;

namespace ReverseSD.MLNet.Tests.Backbones;

public sealed class ImageBackboneTests
{
    [Fact]
    [Trait("Category", "Slow")]
    public void ResNet18GivesFinite512dFeaturesThatDifferBetweenImages()
    {
        using var dir = new TempDirectory();
        var ml = new MLContext(seed: 1);
        var data = Paths(ml,
            WritePng(dir.File("a.png"), seed: 1, 96, 80),
            WritePng(dir.File("b.png"), seed: 2, 64, 128),
            WritePng(dir.File("c.png"), seed: 3, 200, 150));
        using var backbone = ml.Transforms.ApplyImageBackbone(ImageBackbone.ResNet18).Fit(data);

        var scored = backbone.Transform(data);
        var column = scored.Schema["ImageFeatures"];
        Assert.Equal(512, ((VectorDataViewType)column.Type).Size);
        var features = Features(ml, scored);
        Assert.Equal(3, features.Length);
        Assert.All(features, f =>
        {
            Assert.Equal(512, f.Length);
            Assert.All(f, v => Assert.True(float.IsFinite(v)));
            Assert.True(f.Max(MathF.Abs) > 0);
        });
        Assert.True(MaxAbsDiff(features[0], features[1]) > 1e-2);
        Assert.DoesNotContain(scored.Schema, c => !c.IsHidden && c.Name.StartsWith("ImageFeatures.", StringComparison.Ordinal));
    }

    [Fact]
    [Trait("Category", "Slow")]
    public void SameImageGivesSameFeaturesAcrossPathsAndRuns()
    {
        using var dir = new TempDirectory();
        var ml = new MLContext(seed: 1);
        string a = WritePng(dir.File("a.png"), seed: 7);
        File.Copy(a, dir.File("copy.png"));
        var data = Paths(ml, a, dir.File("copy.png"));
        using var backbone = ml.Transforms.ApplyImageBackbone(ImageBackbone.ResNet18).Fit(data);

        var first = Features(ml, backbone.Transform(data));
        var second = Features(ml, backbone.Transform(data));
        Assert.Equal(first[0], first[1]);
        Assert.Equal(first[0], second[0]);
    }

    [Fact]
    [Trait("Category", "Slow")]
    public void ResNet18PresetMatchesMlNetDnnImageFeaturizer()
    {
        using var dir = new TempDirectory();
        var ml = new MLContext(seed: 1);
        var data = Paths(ml, WritePng(dir.File("a.png"), seed: 11, 120, 90), WritePng(dir.File("b.png"), seed: 12, 70, 140));
        var reference = ml.Transforms.LoadImages("Image", null, "ImagePath")
            .Append(ml.Transforms.ResizeImages("Image", 224, 224))
            .Append(ml.Transforms.ExtractPixels("Pixels", "Image"))
            .Append(ml.Transforms.DnnFeaturizeImage("Reference", m => m.ModelSelector.ResNet18(ml, m.OutputColumn, m.InputColumn), "Pixels"))
            .Fit(data);
        using var ours = ml.Transforms.ApplyImageBackbone(ImageBackbone.ResNet18).Fit(data);

        var expected = Features(ml, reference.Transform(data), "Reference");
        var actual = Features(ml, ours.Transform(data));
        for (int i = 0; i < expected.Length; i++)
            Assert.True(MaxAbsDiff(expected[i], actual[i]) < 1e-3, $"row {i}: max |diff| {MaxAbsDiff(expected[i], actual[i])}");
    }

    [Fact]
    [Trait("Category", "Slow")]
    public void ResNet18AtAnotherSizeGives512dFeaturesThatDifferFromTheNativeSize()
    {
        using var dir = new TempDirectory();
        var ml = new MLContext(seed: 1);
        var data = Paths(ml, WritePng(dir.File("a.png"), seed: 5, 300, 300));
        using var native = ml.Transforms.ApplyImageBackbone(ImageBackbone.ResNet18).Fit(data);
        var at160 = ImageBackbone.ResNet18At(160);
        using var small = ml.Transforms.ApplyImageBackbone(at160).Fit(data);

        Assert.Equal("resnet18-160", at160.Name);
        Assert.Equal(512, at160.FeatureSize);
        var a = Features(ml, native.Transform(data))[0];
        var b = Features(ml, small.Transform(data))[0];
        Assert.All(b, v => Assert.True(float.IsFinite(v)));
        Assert.True(MaxAbsDiff(a, b) > 1e-2);
        Assert.NotEqual(ImageBackbone.ResNet18.Fingerprint, at160.Fingerprint);
        Assert.Throws<ReverseSdInputException>(() => ImageBackbone.ResNet18At(32));
    }

    [Theory]
    [InlineData("rgb", 200, 100, 50)]
    [InlineData("bgr", 50, 100, 200)]
    public void CustomEncoderSeesPerChannelNormalisedPixelsInTheSpecifiedOrder(string order, int first, int second, int third)
    {
        using var dir = new TempDirectory();
        var ml = new MLContext(seed: 1);
        string model = WriteChannelMeanModel(dir.File("mean.onnx"));
        var spec = ImagePreprocessing.Parse($"size=32,resize=stretch,order={order},scale=0.00392156863,mean=0.1;0.2;0.3,std=0.5;0.25;0.125");
        var backbone = ImageBackbone.FromOnnx(model, spec);
        var data = Paths(ml, WriteSolidPng(dir.File("solid.png"), new SKColor(200, 100, 50)));
        using var transformer = ml.Transforms.ApplyImageBackbone(backbone).Fit(data);

        var f = Features(ml, transformer.Transform(data))[0];
        Assert.Equal(3, backbone.FeatureSize);
        Assert.Equal((first / 255f - 0.1f) / 0.5f, f[0], 3);
        Assert.Equal((second / 255f - 0.2f) / 0.25f, f[1], 3);
        Assert.Equal((third / 255f - 0.3f) / 0.125f, f[2], 3);
    }

    [Fact]
    public void SpecAndModelSizeMismatchIsReportedWithBothShapes()
    {
        using var dir = new TempDirectory();
        var ml = new MLContext(seed: 1);
        string model = WriteChannelMeanModel(dir.File("fixed.onnx"), 32, 32);
        var backbone = ImageBackbone.FromOnnx(model, ImagePreprocessing.Parse("size=64"));

        var e = Assert.Throws<ReverseSdInputException>(() => backbone.FeatureSize);
        Assert.Contains("[N,3,32,32]", e.Message);
        Assert.Contains("[N,3,64,64]", e.Message);
        var estimator = ml.Transforms.ApplyImageBackbone(backbone);
        Assert.Throws<ReverseSdInputException>(() => estimator.Fit(Paths(ml, WritePng(dir.File("a.png"), 1))));
    }

    [Fact]
    public void UnknownInputOrOutputTensorNamesTheModelsTensors()
    {
        using var dir = new TempDirectory();
        string model = WriteChannelMeanModel(dir.File("m.onnx"));
        var badInput = Assert.Throws<ReverseSdInputException>(() => ImageBackbone.FromOnnx(model, ImagePreprocessing.Parse("size=32,input=pixels")).FeatureSize);
        Assert.Contains("'data'", badInput.Message);
        var badOutput = Assert.Throws<ReverseSdInputException>(() => ImageBackbone.FromOnnx(model, ImagePreprocessing.Parse("size=32,output=logits")).FeatureSize);
        Assert.Contains("'pooled'", badOutput.Message);
    }

    [Fact]
    public void FittedBackboneSavesAndLoadsAsPlainMlNetAndScoresIdentically()
    {
        using var dir = new TempDirectory();
        var ml = new MLContext(seed: 1);
        var data = Paths(ml, WritePng(dir.File("a.png"), seed: 21), WritePng(dir.File("b.png"), seed: 22, 50, 90));
        // A small encoder keeps the zip small; the chain (image stages + composed ONNX model) is the one ResNet18 uses.
        var encoder = ImageBackbone.FromOnnx(WriteChannelMeanModel(dir.File("m.onnx")), ImagePreprocessing.Parse("size=48x40,resize=pad,order=bgr,mean=0.4;0.5;0.6,std=0.2;0.3;0.4"));
        using var backbone = ml.Transforms.ApplyImageBackbone(encoder).Fit(data);
        var before = Features(ml, backbone.Transform(data));

        ml.Model.Save(backbone, data.Schema, dir.File("model.zip"));
        var loaded = ml.Model.Load(dir.File("model.zip"), out _);
        try
        {
            var after = Features(ml, loaded.Transform(data));
            Assert.Equal(before.Length, after.Length);
            for (int i = 0; i < before.Length; i++)
                Assert.Equal(before[i], after[i]);
        }
        finally
        {
            (loaded as IDisposable)?.Dispose();
        }
    }

    [Fact]
    public void MissingOrWronglyTypedInputColumnFailsAtGetOutputSchemaNamingTheColumn()
    {
        var ml = new MLContext(seed: 1);
        var estimator = ml.Transforms.ApplyImageBackbone(ImageBackbone.ResNet18);
        var noPath = ml.Data.LoadFromEnumerable(new[] { new { Prompt = "a cat" } });
        var numberPath = ml.Data.LoadFromEnumerable(new[] { new NumberRow() });

        var missing = Assert.Throws<ReverseSdInputException>(() => estimator.GetOutputSchema(SchemaShapes.Of(noPath.Schema)));
        Assert.Contains("'ImagePath'", missing.Message);
        Assert.Contains("Prompt", missing.Message);
        var wrong = Assert.Throws<ReverseSdInputException>(() => estimator.GetOutputSchema(SchemaShapes.Of(numberPath.Schema)));
        Assert.Contains("must be text", wrong.Message);
        Assert.Throws<ReverseSdInputException>(() => estimator.Fit(noPath));
    }

    [Fact]
    public void CatalogArgumentsReachTheEstimator()
    {
        using var dir = new TempDirectory();
        var ml = new MLContext(seed: 1);
        var backbone = ImageBackbone.FromOnnx(WriteChannelMeanModel(dir.File("m.onnx")), ImagePreprocessing.Parse("size=16"));
        var data = ml.Data.LoadFromEnumerable(new[] { new FileRow { File = WritePng(dir.File("a.png"), 3) } });
        var estimator = ml.Transforms.ApplyImageBackbone(backbone, outputColumnName: "Feat", inputColumnName: "File");

        Assert.Same(backbone, estimator.Backbone);
        var shape = estimator.GetOutputSchema(SchemaShapes.Of(data.Schema));
        Assert.Contains(shape, c => c.Name == "Feat");
        using var transformer = estimator.Fit(data);
        Assert.Equal(3, ((VectorDataViewType)transformer.Transform(data).Schema["Feat"].Type).Size);
    }

    [Fact]
    public void SchemaCheckBuildsNoOnnxStageSoItLeavesNoTemporaryGraphFile()
    {
        // ML.NET's ONNX estimator copies its graph to a temporary file when it is built, deleted only when its transformer is
        // disposed; a schema check (every Append and Fit of a pipeline makes one) must not build it: with the graph file
        // gone, the check still answers, and only Fit needs the graph.
        using var dir = new TempDirectory();
        var ml = new MLContext(seed: 1);
        string model = WriteChannelMeanModel(dir.File("m.onnx"));
        var estimator = ml.Transforms.ApplyImageBackbone(ImageBackbone.FromOnnx(model, ImagePreprocessing.Parse("size=16")));
        var data = Paths(ml, WritePng(dir.File("a.png"), 5));
        File.Delete(model);

        var shape = estimator.GetOutputSchema(SchemaShapes.Of(data.Schema));

        var features = Assert.Single(shape, c => c.Name == ImageBackboneOptions.Defaults.OutputColumnName);
        Assert.Equal(SchemaShape.Column.VectorKind.Vector, features.Kind);
        Assert.Equal(NumberDataViewType.Single, features.ItemType);
        Assert.Equal(SchemaShapes.Of(data.Schema).Select(c => c.Name).Append(features.Name), shape.Select(c => c.Name));
        Assert.Throws<ReverseSdInputException>(() => estimator.Fit(data));
    }

    [Fact]
    public void AFittedBackboneSavesFromItsOwnGraphFileAndDeletesItWhenDisposed()
    {
        // ML.NET 5.0.1 never deletes the copy it makes of a graph given as a stream (64 MB for ResNet18, one per Fit):
        // the estimator hands it a file of its own instead, which outlives saving and goes with Dispose.
        using var dir = new TempDirectory();
        var ml = new MLContext(seed: 1);
        var data = Paths(ml, WritePng(dir.File("a.png"), 6));
        var transformer = ml.Transforms.ApplyImageBackbone(ImageBackbone.FromOnnx(WriteChannelMeanModel(dir.File("m.onnx")), ImagePreprocessing.Parse("size=16"))).Fit(data);
        string graph = transformer.GraphFile!;
        Assert.True(File.Exists(graph));
        ml.Model.Save(transformer, data.Schema, dir.File("model.zip"));

        transformer.Dispose();

        Assert.False(File.Exists(graph));
        var loaded = ml.Model.Load(dir.File("model.zip"), out _);
        Assert.Equal(3, Features(ml, loaded.Transform(data))[0].Length);
        (loaded as IDisposable)?.Dispose();
    }

    [Fact]
    public void DisposingOneFittedBackboneLeavesAnotherFitOfTheSameEstimatorWorking()
    {
        using var dir = new TempDirectory();
        var ml = new MLContext(seed: 1);
        var data = Paths(ml, WritePng(dir.File("a.png"), 4));
        var estimator = ml.Transforms.ApplyImageBackbone(ImageBackbone.FromOnnx(WriteChannelMeanModel(dir.File("m.onnx")), ImagePreprocessing.Parse("size=16")));
        var first = estimator.Fit(data);
        using var second = estimator.Fit(data);
        var expected = Features(ml, first.Transform(data));

        first.Dispose();
        first.Dispose();

        Assert.Equal(expected, Features(ml, second.Transform(data)));
        Assert.Throws<ObjectDisposedException>(() => first.Transform(data));
    }

    [Fact]
    public void ResolveKnowsThePresetsAndAsksForASpecForOnnxFiles()
    {
        Assert.Equal("resnet18", ImageBackbone.Resolve("ResNet18").Name);
        Assert.Equal("resnet18-288", ImageBackbone.Resolve("resnet18-288").Name);
        Assert.Throws<ReverseSdInputException>(() => ImageBackbone.Resolve("vit.onnx"));
        Assert.Throws<ReverseSdInputException>(() => ImageBackbone.Resolve("alexnet"));
        Assert.Throws<ReverseSdInputException>(() => ImageBackbone.Resolve("resnet18-big"));
        Assert.Throws<ReverseSdInputException>(() => ImageBackbone.Resolve("resnet18", "size=224"));
    }

    private sealed class NumberRow
    {
        public float ImagePath { get; set; }
    }

    private sealed class FileRow
    {
        public string File { get; set; } = "";
    }

    private static float MaxAbsDiff(float[] a, float[] b) => a.Zip(b, (x, y) => MathF.Abs(x - y)).Max();
}
