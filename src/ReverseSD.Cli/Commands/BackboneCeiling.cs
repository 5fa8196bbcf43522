using System.Diagnostics;
using ReverseSD.MLNet;
using ReverseSD.MLNet.Backbones;
using ReverseSD.MLNet.Onnx;

namespace ReverseSD.Cli.Commands;

/// <summary>
/// What `bench backbone` and `bench predict` measure to say how fast featurising could be on this machine in float32:
/// the backbone's multiply-adds counted from its graph, the machine's float32 rate (plain TorchSharp products, measured),
/// and the CPU time of decoding and resizing alone.
/// </summary>
internal static class BackboneCeiling
{
    /// <summary>Side of the square product that measures the machine's best float32 rate.</summary>
    private const int SquareSide = 1024;

    /// <summary>The machine's float32 rate, measured in this run, on the graph's own product shapes and on a large square product.</summary>
    /// <param name="OwnShapesGflops">The graph's products (each of its distinct im2col shapes at the batch size) as plain TorchSharp products: total FLOP / total time.</param>
    /// <param name="Shapes">Distinct product shapes measured.</param>
    /// <param name="SquareGflops">A plain TorchSharp [1024 × 1024] × [1024 × 1024] product.</param>
    /// <param name="OnnxRuntimeSquareGflops">The same square product as a one-node ONNX Runtime MatMul (ONNX Runtime's own kernels).</param>
    /// <param name="Threads">Threads TorchSharp and ONNX Runtime used.</param>
    internal sealed record MachineRate(double OwnShapesGflops, int Shapes, double SquareGflops, double OnnxRuntimeSquareGflops, int Threads)
    {
        /// <summary>The highest of the measured rates: the ceiling a run of the graph is held against.</summary>
        public double BestGflops => Math.Max(Math.Max(OwnShapesGflops, SquareGflops), OnnxRuntimeSquareGflops);
    }

    /// <summary>The arithmetic of one image through a composed backbone graph (input [1, 3, H, W]).</summary>
    public static GraphArithmetic CountPerImage(byte[] model, string inputName, ImagePreprocessing spec) =>
        GraphArithmetic.Count(model, inputName, [1, 3, spec.Height, spec.Width]);

    /// <summary>
    /// Measures plain TorchSharp float32 products: each distinct product shape of <paramref name="graph"/> with its rows
    /// times <paramref name="batchSize"/> (about <paramref name="secondsPerShape"/> each), and one large square product
    /// with TorchSharp and with ONNX Runtime.
    /// </summary>
    public static MachineRate Measure(GraphArithmetic graph, int batchSize, double secondsPerShape = 0.25)
    {
        var shapes = graph.Nodes.GroupBy(n => (n.Rows * batchSize, n.Inner, n.Columns)).ToList();
        double flops = 0, seconds = 0;
        int threads = 0;
        foreach (var shape in shapes)
        {
            var (rows, inner, columns) = shape.Key;
            (double gflops, threads) = PlainMatrixProduct.Measure(rows, inner, columns, secondsPerShape);
            double shapeFlops = 2.0 * rows * inner * columns * shape.Count();
            flops += shapeFlops;
            seconds += shapeFlops / (gflops * 1e9);
        }
        var (square, squareThreads) = PlainMatrixProduct.Measure(SquareSide, SquareSide, SquareSide);
        double onnxRuntime = PlainMatrixProduct.MeasureOnnxRuntime(SquareSide, SquareSide, SquareSide, squareThreads);
        return new MachineRate(seconds > 0 ? flops / seconds / 1e9 : 0, shapes.Count, square, onnxRuntime, squareThreads);
    }

    /// <summary>
    /// Decoding and resizing alone (<see cref="ImagePixelLoader"/>, on this thread), on <paramref name="paths"/>: CPU and
    /// wall milliseconds per image (the process's CPU time: nothing else of it should run meanwhile), and the images that decoded.
    /// </summary>
    public static (double CpuMs, double WallMs, int Decoded) DecodeCost(IReadOnlyList<string> paths, ImagePreprocessing spec)
    {
        using var loader = new ImagePixelLoader(spec);
        var buffer = new float[loader.InputLength];
        if (paths.Count > 0) loader.Load(paths[0], buffer); // warm-up
        using var process = Process.GetCurrentProcess();
        var cpuBefore = process.TotalProcessorTime;
        var clock = Stopwatch.StartNew();
        int decoded = paths.Count(p => loader.Load(p, buffer) == null);
        double wall = clock.Elapsed.TotalMilliseconds;
        process.Refresh();
        double cpu = (process.TotalProcessorTime - cpuBefore).TotalMilliseconds;
        int n = Math.Max(paths.Count, 1);
        return (cpu / n, wall / n, decoded);
    }
}
