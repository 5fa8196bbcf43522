using Microsoft.ML.OnnxRuntime;
using ReverseSD.MLNet.Onnx;
using ReverseSD.MLNet.Onnx.Proto;
using ReverseSD.MLNet.Text;
using Xunit.Abstractions;

namespace ReverseSD.MLNet.Tests.Text;

public sealed class Int8EncoderWeightsTests(ITestOutputHelper output)
{
    [Fact]
    public void EachColumnIsScaledToItsOwnLargestMagnitudeAndRoundsWithinHalfAStep()
    {
        // [3 × 2]: column 0 spans ±2, column 1 only ±0.01; per-column scales keep the small column's precision.
        float[] w = [2f, 0.01f, -1f, -0.005f, 0.3f, 0.0025f];

        var (values, scales) = Int8EncoderWeights.PerColumn(w, rows: 3, columns: 2);

        Assert.Equal(2f / 127, scales[0], 1e-7f);
        Assert.Equal(0.01f / 127, scales[1], 1e-9f);
        Assert.Equal(127, values[0]);
        Assert.Equal(127, values[1]);
        for (int i = 0; i < w.Length; i++)
            Assert.True(Math.Abs(values[i] * scales[i % 2] - w[i]) <= scales[i % 2] / 2 + 1e-9, $"element {i}");
    }

    [Fact]
    public void AWeightMatMulBecomesDynamicQuantizeMatMulAndGivesNearlyTheFloatProduct()
    {
        var random = new Random(3);
        float[] weight = Enumerable.Range(0, 16 * 8).Select(_ => (float)(random.NextDouble() - 0.5)).ToArray();
        var g = new OnnxGraphBuilder("tiny encoder");
        string x = g.Input("x", [-1, 16]);
        string activations = g.Node("MatMul", [g.Node("MatMul", [x, g.Node("Transpose", [x], null, OnnxGraphBuilder.Attr("perm", [1L, 0]))]), x]);   // x·xᵀ·x: no weight, stays float
        string product = g.Node("MatMul", [activations, g.Initializer("w", weight, 16, 8)]);
        g.Output(product, "y", [-1, 8]);
        byte[] floatModel = g.ToBytes();

        byte[] int8Model = Int8EncoderWeights.Quantize(floatModel, out int rewritten);

        var graph = ModelProto.Parser.ParseFrom(int8Model);
        Assert.Equal(1, rewritten);
        Assert.Single(graph.Graph.Node, n => n.OpType == "DynamicQuantizeMatMul" && n.Domain == "com.microsoft");
        Assert.Equal(2, graph.Graph.Node.Count(n => n.OpType == "MatMul"));   // the products of activations are left alone
        Assert.DoesNotContain(graph.Graph.Initializer, t => t.Name == "w");   // the float weight is gone
        float[] input = Enumerable.Range(0, 4 * 16).Select(_ => (float)(random.NextDouble() - 0.5)).ToArray();
        float[] expected = Run(floatModel, input), actual = Run(int8Model, input);
        double largest = expected.Max(Math.Abs);
        double worst = expected.Zip(actual, (e, a) => Math.Abs(e - a)).Max();
        output.WriteLine($"largest |y| {largest:F4}, worst |int8 - float| {worst:F5}");
        Assert.True(worst <= 0.03 * largest, $"int8 product off by {worst} (largest value {largest})");
        Assert.True(worst > 0, "the int8 graph gave exactly the float product: it did not run quantized");
    }

    [SkippableFact]
    public void TheInt8EncoderStaysCloseToTheReferenceEmbeddings()
    {
        Skip.IfNot(SharedData.Available, SharedData.SkipReason);
        var golden = GoldenEmbeddings.Load();
        using var encoder = SentenceEncoder.Load(null, SentenceEncoder.DefaultBatchSize, int8Weights: true);

        var vectors = encoder.Encode(golden.Select(g => g.Prompt).ToList());

        var cosines = golden.Select((g, i) => GoldenEmbeddings.Cosine(vectors[i], g.Vector)).ToList();
        output.WriteLine($"int8 vs reference cosines: {string.Join(", ", cosines.Select(c => c.ToString("F5")))}");
        Assert.All(vectors, v => Assert.Equal(1.0, GoldenEmbeddings.Norm(v), 5));
        Assert.All(cosines, c => Assert.True(c is >= 0.98 and < 0.99999, $"cosine {c}: not within the int8 band"));
    }

    private static float[] Run(byte[] model, float[] input)
    {
        using var session = OnnxSessions.Create(model, 1);
        using var x = OrtValue.CreateTensorValueFromMemory(input, [input.Length / 16, 16]);
        using var results = session.Run(new RunOptions(), ["x"], [x], ["y"]);
        return results[0].GetTensorDataAsSpan<float>().ToArray();
    }
}
