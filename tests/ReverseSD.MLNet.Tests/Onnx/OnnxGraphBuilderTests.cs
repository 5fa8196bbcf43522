using Microsoft.ML;
using Microsoft.ML.Data;
using ReverseSD.MLNet.Onnx;

namespace ReverseSD.MLNet.Tests.Onnx;

public sealed class OnnxGraphBuilderTests
{
    private sealed class Row
    {
        [VectorType(3)] public float[] Features { get; set; } = [];
    }

    private sealed class Scored
    {
        [VectorType(2)] public float[] Embedding { get; set; } = [];
        [VectorType(2)] public string[] Words { get; set; } = [];
    }

    [Fact]
    public void CompiledDenseL2GraphScoresThroughOnnxTransformerAndSurvivesSaveLoad()
    {
        var ml = new MLContext(seed: 1);
        var g = new OnnxGraphBuilder("dense");
        string x = g.Input("Features", [-1, 3]);
        float[] w = [1, 0, 0, 1, 1, 1];   // [3, 2]
        float[] b = [0.5f, -0.5f];
        string y = g.L2Normalize(g.Dense(x, w, b, 3, 2, "head"));
        g.Output(y, "Embedding", [-1, 2]);
        string bank = g.Initializer("bank", ["cat", "dog"], 2);
        string idx = g.Initializer("idx", [1L, 0L], 1, 2);
        g.Output(g.Node("Gather", [bank, idx]), "Words", [1, 2], ReverseSD.MLNet.Onnx.Proto.TensorProto.Types.DataType.String);

        var data = ml.Data.LoadFromEnumerable(new[] { new Row { Features = [1, 2, 3] } });
        var transformer = CompiledOnnxModel.Create(ml, g.ToBytes(), ["Embedding", "Words"], ["Features"], data);
        var path = Path.Combine(Path.GetTempPath(), $"onnx-{Guid.NewGuid():N}.zip");
        try
        {
            ml.Model.Save(transformer, data.Schema, path);
            var loaded = ml.Model.Load(path, out _);
            foreach (var model in new[] { (ITransformer)transformer, loaded })
            {
                var row = ml.Data.CreateEnumerable<Scored>(model.Transform(data), reuseRowObject: false).Single();
                // x·W + b = [1+3, 2+3] + [0.5, -0.5] = [4.5, 4.5] -> normalised [0.7071, 0.7071]
                Assert.Equal(0.70710677f, row.Embedding[0], 5);
                Assert.Equal(0.70710677f, row.Embedding[1], 5);
                Assert.Equal(["dog", "cat"], row.Words);
            }
        }
        finally
        {
            File.Delete(path);
            transformer.Dispose();
        }
    }

    [Fact]
    public void ACompiledStageKeepsItsGraphFileUntilDisposedThenDeletesIt()
    {
        var ml = new MLContext(seed: 1);
        var g = new OnnxGraphBuilder("dense");
        g.Output(g.Dense(g.Input("Features", [-1, 3]), [1, 0, 0, 1, 1, 1], [0, 0], 3, 2, "head"), "Embedding", [-1, 2]);
        var data = ml.Data.LoadFromEnumerable(new[] { new Row { Features = [1, 2, 3] } });
        var transformer = CompiledOnnxModel.Create(ml, g.ToBytes(), ["Embedding"], ["Features"], data);
        string graph = CompiledOnnxModel.GraphFileOf(transformer)!;
        Assert.True(File.Exists(graph));

        CompiledOnnxModel.Release(transformer);

        Assert.False(File.Exists(graph));
        Assert.Null(CompiledOnnxModel.GraphFileOf(transformer));
    }
}
