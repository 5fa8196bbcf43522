using Microsoft.ML;
using Microsoft.ML.Data;
using ReverseSD.MLNet.Onnx;

namespace ReverseSD.MLNet.Tests.Onnx;

/// <summary>
/// ML.NET loads a zip's ONNX graphs from temporary copies named by Path.GetRandomFileName (8.3, random extension); a copy
/// whose extension comes out "ort" is read by ONNX Runtime as its ORT format and fails. These tests make that name on purpose.
/// </summary>
public sealed class OrtFormatMisreadTests
{
    private sealed class Row
    {
        [VectorType(3)] public float[] Features { get; set; } = [];
    }

    private static byte[] DenseGraph()
    {
        var g = new OnnxGraphBuilder("dense");
        string x = g.Input("Features", [-1, 3]);
        g.Output(g.Dense(x, [1, 0, 0, 1, 1, 1], [0.5f, -0.5f], 3, 2, "head"), "Embedding", [-1, 2]);
        return g.ToBytes();
    }

    private static (MLContext Ml, IDataView Data) Context()
    {
        var ml = new MLContext(seed: 1);
        return (ml, ml.Data.LoadFromEnumerable(new[] { new Row { Features = [1, 2, 3] } }));
    }

    private static ITransformer Apply(MLContext ml, IDataView data, string graphPath) =>
        ml.Transforms.ApplyOnnxModel(["Embedding"], ["Features"], graphPath).Fit(data);

    [Fact]
    public void AnOnnxGraphInAFileNamedDotOrtFailsToLoadAsOrtFormatAndLoadsUnderAnotherName()
    {
        using var dir = new TempDirectory();
        byte[] graph = DenseGraph();
        File.WriteAllBytes(dir.File("copy.ort"), graph);
        File.WriteAllBytes(dir.File("copy.xj2"), graph);
        var (ml, data) = Context();

        var error = Assert.ThrowsAny<Exception>(() => Apply(ml, data, dir.File("copy.ort")));
        Assert.True(OrtFormatMisread.IsCause(error), error.ToString());

        var loaded = Apply(ml, data, dir.File("copy.xj2"));
        Assert.Equal(2, VectorData.ReadColumn(loaded.Transform(data), "Embedding")[0].Length);
        (loaded as IDisposable)?.Dispose();
    }

    [Fact]
    public void RetryLoadsAgainAfterACopyNamedDotOrtAndReturnsTheNextLoad()
    {
        using var dir = new TempDirectory();
        byte[] graph = DenseGraph();
        File.WriteAllBytes(dir.File("first.ort"), graph);
        File.WriteAllBytes(dir.File("second.tmp"), graph);
        var (ml, data) = Context();
        string[] names = ["first.ort", "second.tmp"];   // the random names of two loads in a row
        int calls = 0;

        var loaded = OrtFormatMisread.Retry(() => Apply(ml, data, dir.File(names[calls++])));

        Assert.Equal(2, calls);
        Assert.Equal(2, VectorData.ReadColumn(loaded.Transform(data), "Embedding")[0].Length);
        (loaded as IDisposable)?.Dispose();
    }

    [Fact]
    public void RetryGivesUpAfterThreeMisreadsAndNeverRepeatsOtherFailures()
    {
        using var dir = new TempDirectory();
        File.WriteAllBytes(dir.File("always.ort"), DenseGraph());
        var (ml, data) = Context();

        int calls = 0;
        var error = Assert.ThrowsAny<Exception>(() => OrtFormatMisread.Retry(() => { calls++; return Apply(ml, data, dir.File("always.ort")); }));
        Assert.True(OrtFormatMisread.IsCause(error));
        Assert.Equal(OrtFormatMisread.Attempts, calls);

        calls = 0;
        File.WriteAllBytes(dir.File("broken.onnx"), [1, 2, 3, 4]);
        var other = Assert.ThrowsAny<Exception>(() => OrtFormatMisread.Retry(() => { calls++; return Apply(ml, data, dir.File("broken.onnx")); }));
        Assert.False(OrtFormatMisread.IsCause(other), other.ToString());
        Assert.Equal(1, calls);
    }
}
