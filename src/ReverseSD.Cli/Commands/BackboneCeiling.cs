using System.Diagnostics;
using Microsoft.ML.OnnxRuntime;
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
    /// <param name="RegisterPeakGflops">The cores' float32 peak: multiply-adds on registers alone, on every core (<see cref="PlainMatrixProduct.MeasureRegisterPeak"/>).</param>
    internal sealed record MachineRate(double OwnShapesGflops, int Shapes, double SquareGflops, double OnnxRuntimeSquareGflops, int Threads, double RegisterPeakGflops)
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
    /// with TorchSharp and with ONNX Runtime, and the cores' register peak.
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
        double peak = PlainMatrixProduct.MeasureRegisterPeak(Environment.ProcessorCount);
        return new MachineRate(seconds > 0 ? flops / seconds / 1e9 : 0, shapes.Count, square, onnxRuntime, squareThreads, peak);
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

    /// <summary>
    /// ONNX Runtime alone on a composed backbone graph: the fast path's kind of session, pre-filled inputs of up to
    /// <c>batchSize</c> images (no decoding) and a pre-allocated output.
    /// </summary>
    internal sealed class RawInference : IDisposable
    {
        private readonly InferenceSession _session;
        private readonly RunOptions _runOptions = new();
        private readonly string _inputName, _outputName;
        private readonly ImagePreprocessing _spec;
        private readonly int _featureSize;
        private readonly float[] _input, _output;

        public RawInference(byte[] model, string inputName, string outputName, ImagePreprocessing spec, int featureSize, int batchSize, int threads)
        {
            _session = BatchedImageFeaturizer.CreateSession(model, threads);
            (_inputName, _outputName, _spec, _featureSize) = (inputName, outputName, spec, featureSize);
            var random = new Random(1);
            _input = new float[batchSize * 3 * spec.Width * spec.Height];
            for (int i = 0; i < _input.Length; i++) _input[i] = (float)(random.NextDouble() * 255 * spec.Scale);
            _output = new float[batchSize * featureSize];
        }

        /// <summary>Runs the graph once on <paramref name="images"/> images (at most the batch size).</summary>
        public void Run(int images)
        {
            int chw = 3 * _spec.Width * _spec.Height;
            using var x = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, _input.AsMemory(0, images * chw), [images, 3, _spec.Height, _spec.Width]);
            using var y = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, _output.AsMemory(0, images * _featureSize), [images, _featureSize]);
            _session.Run(_runOptions, [_inputName], [x], [_outputName], [y]);
        }

        /// <summary>Seconds per image over <paramref name="batches"/> full batches of <paramref name="batchSize"/> images, after one warm-up batch.</summary>
        public double SecondsPerImage(int batchSize, int batches)
        {
            Run(batchSize);
            var clock = Stopwatch.StartNew();
            for (int i = 0; i < batches; i++) Run(batchSize);
            return clock.Elapsed.TotalSeconds / (batchSize * batches);
        }

        public void Dispose()
        {
            _runOptions.Dispose();
            _session.Dispose();
        }
    }
}
