using Microsoft.ML;
using Microsoft.ML.Data;
using ReverseSD.MLNet.Heads;
using ReverseSD.MLNet.Onnx;
using ReverseSD.MLNet.Pipeline;
using TorchSharp;

namespace ReverseSD.MLNet.Tests.Cli;

public sealed class ModelFormatTests
{
    private sealed class ImageOnly
    {
        public string ImagePath { get; set; } = "";
    }

    [Fact]
    public void LoadingAModelOfAnotherFormatVersionNamesBothVersions()
    {
        using var dir = new TempDirectory();
        var ml = new MLContext(1);
        var (images, pixels, network) = TinyModel(ml, dir);
        using var disposeNetwork = network;
        var columns = new HeadsGraphColumns("ImageFeatures", "PredictedEmbedding", "VocabularyProbabilities", "VocabularyWords", "ModelInfo");
        byte[] old = PromptHeadsOnnxCompiler.Compile(network, [], columns, formatVersion: "reversesd-model/0");
        using var heads = CompiledOnnxModel.Create(ml, old, ["PredictedEmbedding", "ModelInfo"], ["ImageFeatures"], pixels.Transform(images));
        string zip = dir.File("old.zip");
        ml.Model.Save(pixels.Append<ITransformer>(heads), images.Schema, zip);

        var error = Assert.Throws<ReverseSdInputException>(() => ReverseSdModel.Load(ml, zip));
        Assert.Contains("reversesd-model/0", error.Message);
        Assert.Contains(ReverseSdModelFormat.Version, error.Message);

        // The same graph with the current version loads.
        byte[] current = PromptHeadsOnnxCompiler.Compile(network, [], columns);
        using var currentHeads = CompiledOnnxModel.Create(ml, current, ["PredictedEmbedding", "ModelInfo"], ["ImageFeatures"], pixels.Transform(images));
        ml.Model.Save(pixels.Append<ITransformer>(currentHeads), images.Schema, dir.File("current.zip"));
        var loaded = ReverseSdModel.Load(ml, dir.File("current.zip"));
        Assert.Equal(384, loaded.Transform(images).GetColumn<float[]>("PredictedEmbedding").Single().Length);
        (loaded as IDisposable)?.Dispose();
    }

    [Fact]
    public void SavedZipStoresItsOnnxGraphsUncompressedAndLoadsInAPlainMlNetApp()
    {
        using var dir = new TempDirectory();
        var ml = new MLContext(1);
        var (images, pixels, network) = TinyModel(ml, dir);
        using var disposeNetwork = network;
        var columns = new HeadsGraphColumns("ImageFeatures", "PredictedEmbedding", "VocabularyProbabilities", "VocabularyWords", "ModelInfo");
        using var heads = CompiledOnnxModel.Create(ml, PromptHeadsOnnxCompiler.Compile(network, [], columns), ["PredictedEmbedding", "ModelInfo"],
            ["ImageFeatures"], pixels.Transform(images));
        var model = pixels.Append<ITransformer>(heads);
        string zip = dir.File("model.zip");

        ModelZip.Save(ml, model, images.Schema, zip);

        using (var archive = System.IO.Compression.ZipFile.OpenRead(zip))
        {
            var graphs = archive.Entries.Where(e => e.Name == "OnnxModel").ToList();
            Assert.NotEmpty(graphs);
            Assert.All(graphs, e => Assert.Equal(e.Length, e.CompressedLength));
            Assert.Contains(archive.Entries, e => e.Name != "OnnxModel" && e.CompressedLength < e.Length);
        }
        float[] expected = model.Transform(images).GetColumn<float[]>("PredictedEmbedding").Single();
        var plain = new MLContext(2).Model.Load(zip, out _);
        Assert.Equal(expected, plain.Transform(images).GetColumn<float[]>("PredictedEmbedding").Single());
        (plain as IDisposable)?.Dispose();
        var loaded = ReverseSdModel.Load(ml, zip);
        Assert.Equal(expected, loaded.Transform(images).GetColumn<float[]>("PredictedEmbedding").Single());
        (loaded as IDisposable)?.Dispose();
    }

    /// <summary>One 8 px image, a pixels chain giving 48 features, and an untrained heads network on them.</summary>
    private static (IDataView Images, ITransformer Pixels, PromptHeadsNetwork Network) TinyModel(MLContext ml, TempDirectory dir)
    {
        string image = dir.File("a.png");
        using (var bitmap = new SkiaSharp.SKBitmap(8, 8))
        {
            bitmap.Erase(SkiaSharp.SKColors.Red);
            File.WriteAllBytes(image, bitmap.Encode(SkiaSharp.SKEncodedImageFormat.Png, 100).ToArray());
        }
        var images = ml.Data.LoadFromEnumerable(new[] { new ImageOnly { ImagePath = image } });
        var pixels = ml.Transforms.LoadImages("Image", null, "ImagePath").Append(ml.Transforms.ResizeImages("Image", 4, 4))
            .Append(ml.Transforms.ExtractPixels("ImageFeatures", "Image")).Fit(images);
        PromptHeadsNetwork network;
        lock (TorchRandom.Gate)
        {
            torch.manual_seed(1);
            network = new PromptHeadsNetwork(HeadConfiguration.Vanilla, 48, 384, 0, [], 0);
        }
        network.eval();
        return (images, pixels, network);
    }

    [Fact]
    public void LoadingAMissingOrCorruptFileIsBadInput()
    {
        using var dir = new TempDirectory();
        var ml = new MLContext(1);
        Assert.Contains("does not exist", Assert.Throws<ReverseSdInputException>(() => ReverseSdModel.Load(ml, dir.File("none.zip"))).Message);
        File.WriteAllText(dir.File("bad.zip"), "garbage");
        Assert.Contains("not a readable ML.NET model zip", Assert.Throws<ReverseSdInputException>(() => ReverseSdModel.Load(ml, dir.File("bad.zip"))).Message);
    }
}
