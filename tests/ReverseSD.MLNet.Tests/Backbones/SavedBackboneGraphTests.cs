using ReverseSD.MLNet.Backbones;
using ReverseSD.MLNet.Onnx.Proto;
using ReverseSD.MLNet.Pipeline;
using static ReverseSD.MLNet.Tests.Backbones.BackboneTestData;

namespace ReverseSD.MLNet.Tests.Backbones;

public sealed class SavedBackboneGraphTests
{
    [Fact]
    public void HeaderDescribesTheBackboneAsAFullParseDoesWithoutItsNodesAndWeights()
    {
        using var dir = new TempDirectory();
        var spec = ImagePreprocessing.Parse("size=40x24,resize=pad,order=bgr,mean=0.4;0.5;0.6,std=0.2;0.3;0.4");
        byte[] bytes = ImageBackbone.FromOnnx(WriteChannelMeanModel(dir.File("m.onnx")), spec, "tiny").Compose("ImageFeatures.Pixels", "ImageFeatures");
        var full = ModelProto.Parser.ParseFrom(bytes);

        var header = SavedBackboneGraph.ReadHeader(bytes);

        Assert.NotNull(header);
        Assert.Equal(ImageBackbone.ReadComposed(bytes), ImageBackbone.ReadComposed(header, bytes));
        Assert.Equal((full.IrVersion, full.OpsetImport, full.MetadataProps), (header.IrVersion, header.OpsetImport, header.MetadataProps));
        Assert.Equal((full.Graph.Input, full.Graph.Output), (header.Graph.Input, header.Graph.Output));
        Assert.NotEmpty(full.Graph.Initializer);
        Assert.Equal(full.Graph.Initializer.Select(t => t.Name), header.Graph.Initializer.Select(t => t.Name));
        Assert.All(header.Graph.Initializer, t => Assert.True(t.RawData.IsEmpty && t.FloatData.Count == 0));
        Assert.Empty(header.Graph.Node);
    }

    [Fact]
    public void HeaderOfATruncatedOrForeignFileIsNull()
    {
        using var dir = new TempDirectory();
        byte[] bytes = ImageBackbone.FromOnnx(WriteChannelMeanModel(dir.File("m.onnx")), ImagePreprocessing.Parse("size=16")).Compose("p", "f");

        Assert.Null(SavedBackboneGraph.ReadHeader(bytes.AsSpan(0, bytes.Length / 2)));
        Assert.Null(SavedBackboneGraph.ReadHeader("this is not an ONNX model"u8));
        Assert.Null(SavedBackboneGraph.ReadHeader([]));
    }
}
