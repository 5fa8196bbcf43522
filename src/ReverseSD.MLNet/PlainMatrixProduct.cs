using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using Microsoft.ML.OnnxRuntime;
using ReverseSD.MLNet.Onnx;
using TorchSharp;

namespace ReverseSD.MLNet;

/// <summary>
/// The machine's float32 arithmetic rate, measured: a plain matrix product (TorchSharp's, or ONNX Runtime's MatMul)
/// repeated for a second, and the cores' peak (fused multiply-adds on registers alone). The bench commands print them
/// beside what a model reaches, so "at the machine's limit" is a measured number, not a hope.
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

    /// <summary>Independent multiply-add chains per thread: enough to keep every FMA unit busy despite each one's latency.</summary>
    private const int Chains = 12;

    /// <summary>
    /// The cores' float32 peak in GFLOP/s (2 per multiply-add): <paramref name="threads"/> threads at once, each running
    /// independent chains of fused multiply-adds on 512-bit vectors where the JIT accelerates them (else Vector&lt;float&gt;), on registers only (no memory),
    /// for about <paramref name="seconds"/>. No model can run faster than this on these cores in float32.
    /// </summary>
    public static double MeasureRegisterPeak(int threads, double seconds = 0.5)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(threads, 1);
        const long step = 1 << 20;
        var flops = new double[threads];
        var elapsed = new double[threads];
        using var start = new Barrier(threads);
        var workers = Enumerable.Range(0, threads).Select(t => new Thread(() =>
        {
            FusedMultiplyAddChains(1024); // JIT and warm-up
            start.SignalAndWait();
            var clock = Stopwatch.StartNew();
            long done = 0;
            do
            {
                FusedMultiplyAddChains(step);
                done += step;
            }
            while (clock.Elapsed.TotalSeconds < seconds);
            elapsed[t] = clock.Elapsed.TotalSeconds;
            flops[t] = 2.0 * Chains * VectorLanes * done;
        }) { IsBackground = true }).ToList();
        workers.ForEach(w => w.Start());
        workers.ForEach(w => w.Join());
        return flops.Sum() / elapsed.Max() / 1e9;
    }

    /// <summary>float32 lanes of the vectors <see cref="FusedMultiplyAddChains"/> uses.</summary>
    internal static int VectorLanes => Vector512.IsHardwareAccelerated ? Vector512<float>.Count : System.Numerics.Vector<float>.Count;

    /// <summary>
    /// <paramref name="iterations"/> × <see cref="Chains"/> vector multiply-adds a ← a·0.9999 + 0.00005 from a = 1 (it tends
    /// to 0.5: no overflow or denormals however long it runs); the sum of the chains keeps the JIT from dropping them.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    internal static float FusedMultiplyAddChains(long iterations)
    {
        if (Vector512.IsHardwareAccelerated)
        {
            var m = Vector512.Create(0.9999f);
            var c = Vector512.Create(5e-5f);
            Vector512<float> a0 = Vector512.Create(1f), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0, a8 = a0, a9 = a0, a10 = a0, a11 = a0;
            for (long i = 0; i < iterations; i++)
            {
                a0 = Vector512.FusedMultiplyAdd(a0, m, c); a1 = Vector512.FusedMultiplyAdd(a1, m, c);
                a2 = Vector512.FusedMultiplyAdd(a2, m, c); a3 = Vector512.FusedMultiplyAdd(a3, m, c);
                a4 = Vector512.FusedMultiplyAdd(a4, m, c); a5 = Vector512.FusedMultiplyAdd(a5, m, c);
                a6 = Vector512.FusedMultiplyAdd(a6, m, c); a7 = Vector512.FusedMultiplyAdd(a7, m, c);
                a8 = Vector512.FusedMultiplyAdd(a8, m, c); a9 = Vector512.FusedMultiplyAdd(a9, m, c);
                a10 = Vector512.FusedMultiplyAdd(a10, m, c); a11 = Vector512.FusedMultiplyAdd(a11, m, c);
            }
            return Vector512.Sum(a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11);
        }
        {
            var m = new System.Numerics.Vector<float>(0.9999f);
            var c = new System.Numerics.Vector<float>(5e-5f);
            System.Numerics.Vector<float> a0 = System.Numerics.Vector<float>.One, a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0, a8 = a0, a9 = a0, a10 = a0, a11 = a0;
            for (long i = 0; i < iterations; i++)
            {
                a0 = System.Numerics.Vector.FusedMultiplyAdd(a0, m, c); a1 = System.Numerics.Vector.FusedMultiplyAdd(a1, m, c);
                a2 = System.Numerics.Vector.FusedMultiplyAdd(a2, m, c); a3 = System.Numerics.Vector.FusedMultiplyAdd(a3, m, c);
                a4 = System.Numerics.Vector.FusedMultiplyAdd(a4, m, c); a5 = System.Numerics.Vector.FusedMultiplyAdd(a5, m, c);
                a6 = System.Numerics.Vector.FusedMultiplyAdd(a6, m, c); a7 = System.Numerics.Vector.FusedMultiplyAdd(a7, m, c);
                a8 = System.Numerics.Vector.FusedMultiplyAdd(a8, m, c); a9 = System.Numerics.Vector.FusedMultiplyAdd(a9, m, c);
                a10 = System.Numerics.Vector.FusedMultiplyAdd(a10, m, c); a11 = System.Numerics.Vector.FusedMultiplyAdd(a11, m, c);
            }
            return System.Numerics.Vector.Sum(a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11);
        }
    }
}
