using ReverseSD.MLNet.Onnx;
using ReverseSD.MLNet.Text;

namespace ReverseSD.MLNet.Tests.Text;

public sealed class EncoderArithmeticTests
{
    [Fact]
    public void CountsWeightProductsPerWordPieceAndAttentionProductsThatTheOutputDependsOnButNotAPoolerBehindIt()
    {
        // x [n, t, 4] → q = x·Wq [4, 4], k = x·Wk [4, 4] → scores = q·kᵀ (activations) → h = scores·x → out = h·W1 [4, 6];
        // a pooler behind the output (out·Wp [6, 2]) is not on the output's path.
        var g = new OnnxGraphBuilder("encoder");
        string x = g.Input("x", [-1, -1, 4]);
        string q = g.Node("MatMul", [x, g.Initializer("wq", new float[16], 4, 4)]);
        string k = g.Node("MatMul", [x, g.Initializer("wk", new float[16], 4, 4)]);
        string scores = g.Node("MatMul", [q, g.Node("Transpose", [k], null, OnnxGraphBuilder.Attr("perm", [0L, 2, 1]))]);
        string h = g.Node("MatMul", [scores, x]);
        string output = g.Node("MatMul", [h, g.Initializer("w1", new float[24], 4, 6)]);
        g.Output(output, "last_hidden_state", [-1, -1, 6]);
        g.Output(g.Node("MatMul", [output, g.Initializer("wp", new float[12], 6, 2)]), "pooled", [-1, -1, 2]);

        var counted = EncoderArithmetic.Count(g.ToBytes(), "last_hidden_state", hiddenSize: 4);

        Assert.Equal(4 * 4 + 4 * 4 + 4 * 6, counted.WeightMultiplyAddsPerWordPiece);
        Assert.Equal(2, counted.AttentionProducts);
        // 3 texts of 5 word pieces: 2 × (15 × 56 weight multiply-adds + 2 products × 3 texts × 5 × 5 × 4).
        Assert.Equal(2.0 * (15 * 56 + 2 * 3 * 5 * 5 * 4), counted.Flops(3, 5));
    }

    [Fact]
    public void TheShippedMiniLmHasSixLayersOfWeightProductsAndTwoAttentionProductsEach()
    {
        var counted = EncoderArithmetic.Count(SentenceEncoder.ReadModel(), "last_hidden_state", SentenceEncoder.Dimension);

        // Per layer: Q, K, V and the output projection (384 × 384 each), and the feed-forward 384 × 1536 and 1536 × 384.
        Assert.Equal(6L * (4 * 384 * 384 + 2 * 384 * 1536), counted.WeightMultiplyAddsPerWordPiece);
        Assert.Equal(12, counted.AttentionProducts);
    }
}
