using ReverseSD.MLNet.Backbones;
using ReverseSD.MLNet.Onnx;

namespace ReverseSD.MLNet.Tests.Onnx;

public sealed class GraphArithmeticTests
{
    [Fact]
    public void CountsConvWithStridePaddingAndGroupsGemmWithTransposedWeightAndMatMulOfAComputedWeight()
    {
        // x [2, 6, 9, 9] → Conv W [4, 3, 3, 3] (group 2, stride 2, pads 1) → [2, 4, 5, 5] → Flatten [2, 100]
        // → Gemm with B stored [7, 100] (transB) → [2, 7] → MatMul by Transpose(V [3, 7]) = [7, 3] → [2, 3].
        var g = new OnnxGraphBuilder("tiny");
        string x = g.Input("x", [-1, 6, 9, 9]);
        string conv = g.Node("Conv", [x, g.Initializer("w", new float[4 * 3 * 3 * 3], 4, 3, 3, 3)], null,
            OnnxGraphBuilder.Attr("group", 2L), OnnxGraphBuilder.Attr("strides", [2L, 2]), OnnxGraphBuilder.Attr("pads", [1L, 1, 1, 1]),
            OnnxGraphBuilder.Attr("kernel_shape", [3L, 3]));
        string flat = g.Node("Flatten", [conv], null, OnnxGraphBuilder.Attr("axis", 1L));
        string gemm = g.Node("Gemm", [flat, g.Initializer("b", new float[7 * 100], 7, 100)], null, OnnxGraphBuilder.Attr("transB", 1L));
        string computed = g.Node("Transpose", [g.Initializer("v", new float[21], 3, 7)], null, OnnxGraphBuilder.Attr("perm", [1L, 0]));
        g.Output(g.Node("MatMul", [gemm, computed]), "y", [-1, 3]);

        var counted = GraphArithmetic.Count(g.ToBytes(), "x", [2, 6, 9, 9]);

        // Conv: batch · out_c · out_h · out_w · (in_c / group) · kh · kw, out_h = out_w = (9 + 2 − 3) / 2 + 1 = 5.
        long convMultiplyAdds = 2L * 4 * 5 * 5 * (6 / 2) * 3 * 3;
        Assert.Equal([convMultiplyAdds, 2L * 100 * 7, 2L * 7 * 3], counted.Nodes.Select(n => n.MultiplyAdds));
        Assert.Equal(5400 + 1400 + 42, counted.MultiplyAdds);
        Assert.Equal(new ProductNode("Conv", conv, 2 * 5 * 5, 3 * 3 * 3, 4), counted.Nodes[0]);
    }

    [Fact]
    public void TheShippedResNet18IsThePublishedResNet18WithAThirdBlockInItsLastStage()
    {
        const string pixels = "pixels";
        var backbone = ImageBackbone.ResNet18;
        var counted = GraphArithmetic.Count(backbone.Compose(pixels, "features"), pixels, [1, 3, 224, 224]);

        // torchvision's ResNet18 convolutions, from their shapes: conv1 (112² · 64 · 3·7·7), four 3×3 convs of layer1
        // (56² · 64 · 64·9), then for each of layer2..4 a strided 3×3 conv, three 3×3 convs and a 1×1 downsample; the
        // fully connected layer (512 · 1000) is cut off here, as the graph ends at the pool. Published: 1.82 G multiply-adds.
        long conv1 = 112L * 112 * 64 * 147;
        long layer1 = 4 * (56L * 56 * 64 * 576);
        long Stage(long side, long input, long output) => side * side * output * (input * 9) + 3 * (side * side * output * output * 9) + side * side * output * input;
        long published = conv1 + layer1 + Stage(28, 64, 128) + Stage(14, 128, 256) + Stage(7, 256, 512);
        Assert.Equal(1_813_561_344, published);
        Assert.InRange(published + 512 * 1000, 0.99 * 1.82e9, 1.01 * 1.82e9);

        // ML.NET's (CNTK) ResNet18 graph has 22 convolutions, not 20: layer4 holds three basic blocks, two more 3×3
        // 512 → 512 convolutions at 7 × 7 (231 M multiply-adds), so one image costs 2.045 G multiply-adds, 4.09 GFLOP.
        long extraBlock = 2 * (7L * 7 * 512 * 512 * 9);
        Assert.Equal(22, counted.Nodes.Count(n => n.OpType == "Conv"));
        Assert.Equal(published + extraBlock, counted.MultiplyAdds);
    }
}
