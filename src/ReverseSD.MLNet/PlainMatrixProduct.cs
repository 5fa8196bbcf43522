using System.Diagnostics;
using Microsoft.ML.OnnxRuntime;
using ReverseSD.MLNet.Onnx;
using TorchSharp;

namespace ReverseSD.MLNet;

/// <summary>
/// The machine's float32 arithmetic rate, measured: a plain matrix product (TorchSharp's, or ONNX Runtime's MatMul)
/// repeated for a second. The bench commands print it beside what a model reaches, so "at the machine's limit" is a
/// measured number, not a hope.
/// </summary>
internal static class PlainMatrixProduct
{
    /// <summary>
    /// GFLOP/s (2 per multiply-add) of a plain TorchSharp float32 matrix product [<paramref name="rows"/> × k] × [k × n],
    /// the output allocated beforehand, repeated for about <paramref name="seconds"/> (after one warm-up product), and the
    /// threads TorchSharp used.
    /// </summary>
    public static (double GflopsPerSecond, int Threads) Measure(long rows, long k, long n, double seconds = 1.0)
    {
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        var generator = new torch.Generator(7);
        var a = torch.randn([rows, k], generator: generator);
        var b = torch.randn([k, n], generator: generator);
        var output = torch.empty(rows, n);
        output.addmm_(a, b, beta: 0);
        int repeats = 0;
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed.TotalSeconds < seconds || repeats < 3)
        {
            output.addmm_(a, b, beta: 0);
            repeats++;
        }
        _ = output.sum().item<float>(); // forces the products to finish
        double elapsed = clock.Elapsed.TotalSeconds;
        return (2.0 * rows * k * n * repeats / elapsed / 1e9, torch.get_num_threads());
    }

    /// <summary>
    /// As <see cref="Measure"/>, with ONNX Runtime's own kernels: a one-node MatMul graph ([rows × k] input, [k × n]
    /// weight) in a session with <paramref name="threads"/> intra-op threads, the output allocated beforehand.
    /// </summary>
    public static double MeasureOnnxRuntime(int rows, int k, int n, int threads, double seconds = 1.0)
    {
        var random = new Random(7);
        var weight = new float[k * n];
        for (int i = 0; i < weight.Length; i++) weight[i] = (float)(random.NextDouble() - 0.5);
        var graph = new OnnxGraphBuilder("plain product");
        string a = graph.Input("a", [rows, k]);
        graph.Output(graph.Node("MatMul", [a, graph.Initializer("b", weight, k, n)]), "c", [rows, n]);
        using var session = OnnxSessions.Create(graph.ToBytes(), threads);
        var input = new float[rows * k];
        for (int i = 0; i < input.Length; i++) input[i] = (float)(random.NextDouble() - 0.5);
        var output = new float[rows * n];
        using var x = OrtValue.CreateTensorValueFromMemory(input, [rows, k]);
        using var y = OrtValue.CreateTensorValueFromMemory(output, [rows, n]);
        using var runOptions = new RunOptions();
        session.Run(runOptions, ["a"], [x], ["c"], [y]);
        int repeats = 0;
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed.TotalSeconds < seconds || repeats < 3)
        {
            session.Run(runOptions, ["a"], [x], ["c"], [y]);
            repeats++;
        }
        return 2.0 * rows * k * n * repeats / clock.Elapsed.TotalSeconds / 1e9;
    }
}
