using System.Diagnostics;
using TorchSharp;
using static TorchSharp.torch;

namespace ReverseSD.MLNet.Dakl;

/// <summary>Sizes and settings of one DAKL fit benchmark on random unit vectors.</summary>
internal sealed record DaklBenchmarkSettings(int Centroids, int TargetDomainSamples, int Dimension, int TrainingSamples, KMeansEngine Engine,
    KMeansInitialization Initialization, int KMeansIterations, bool UseFloat64, int Seed, int MemoryBudgetMegabytes)
{
    /// <summary>Stop after k-means (and time one iteration's distance products as plain matrix products, the reference).</summary>
    public bool KMeansOnly { get; init; }
}

/// <summary>Measured times (wall clock) and memory of a DAKL fit benchmark.</summary>
internal sealed record DaklBenchmarkResult(TimeSpan DataGeneration, TimeSpan KMeans, TimeSpan CentroidTargets, TimeSpan Kernel, TimeSpan Solve,
    TimeSpan Weights, TimeSpan OnnxCompile, int KMeansIterationsRun, long OnnxBytes, bool UsedFloat64Kernel, long PeakWorkingSetBytes, long WorkingSetBeforeBytes, int TorchThreads)
{
    /// <summary>Floating-point operations of the kernel step: D = Ĉ Ẑᵀ (2·r·m·d) and P = D Dᵀ (2·r²·m).</summary>
    public double KernelFlops { get; init; }

    /// <summary>The same products as the kernel step on random matrices of the same shapes and blocks, plain TorchSharp (the reference).</summary>
    public TimeSpan ReferenceMatmul { get; init; }

    /// <summary>Floating-point operations of one k-means iteration's distance products (2·n·r·d); 0 without k-means.</summary>
    public double KMeansIterationFlops { get; init; }

    /// <summary>One k-means iteration's distance products (n × d by d × r) as one plain TorchSharp matrix product; zero unless k-means only.</summary>
    public TimeSpan KMeansReferenceMatmul { get; init; }
}

/// <summary>Times each step of a DAKL fit (k-means, centroid targets, kernel, solve, W, ONNX compile) on random unit vectors.</summary>
internal static class DaklBenchmark
{
    public static DaklBenchmarkResult Run(DaklBenchmarkSettings s, IProgress<ProgressReport>? progress = null, CancellationToken cancellation = default)
    {
        long before = Process.GetCurrentProcess().WorkingSet64;
        var clock = Stopwatch.StartNew();
        var train = RandomUnitRows(s.TrainingSamples, s.Dimension, s.Seed);
        var trainTargets = RandomUnitRows(s.TrainingSamples, s.Dimension, s.Seed + 1);
        var targetDomain = RandomUnitRows(s.TargetDomainSamples, s.Dimension, s.Seed + 2);
        var generation = clock.Elapsed;
        long budget = (long)s.MemoryBudgetMegabytes << 20;

        clock.Restart();
        progress?.Report(new ProgressReport("k-means", 0, s.KMeansIterations, $"{s.Centroids} centroids of {s.TrainingSamples} × {s.Dimension} ({s.Engine})"));
        int iterations = 0;
        var centroids = s.Centroids == s.TrainingSamples ? train
            : CentroidClustering.Run(train, new CentroidClustering.Settings(s.Centroids, s.Engine, s.Initialization, s.KMeansIterations, 0, s.Seed, budget), out iterations, progress, cancellation);
        var kMeans = clock.Elapsed;
        progress?.Report(new ProgressReport("k-means", s.KMeansIterations, s.KMeansIterations, $"{kMeans.TotalSeconds:F1} s"));
        double kMeansFlops = s.Centroids == s.TrainingSamples ? 0 : 2.0 * s.TrainingSamples * s.Centroids * s.Dimension;
        if (s.KMeansOnly)
            return new DaklBenchmarkResult(generation, kMeans, TimeSpan.Zero, TimeSpan.Zero, TimeSpan.Zero, TimeSpan.Zero, TimeSpan.Zero, iterations, 0, false,
                Process.GetCurrentProcess().PeakWorkingSet64, before, torch.get_num_threads())
            {
                KMeansIterationFlops = kMeansFlops,
                KMeansReferenceMatmul = ReferenceKMeansProduct(s.TrainingSamples, s.Centroids, s.Dimension),
            };

        clock.Restart();
        var centroidTargets = CentroidClustering.Targets(train, trainTargets, centroids, CentroidTarget.NearestSample, budget);
        var targetsTime = clock.Elapsed;

        cancellation.ThrowIfCancellationRequested();
        progress?.Report(new ProgressReport("kernel ridge", 0, 1, $"r = {centroids.Rows}, p = {s.TargetDomainSamples}"));
        var solution = DaklKernelRidge.Fit(centroids, centroidTargets, targetDomain, DomainAdaptiveKernelOptions.Defaults.Gamma, DomainAdaptiveKernelOptions.Defaults.Alpha, budget, s.UseFloat64);
        progress?.Report(new ProgressReport("kernel ridge", 1, 1));

        clock.Restart();
        long onnxBytes = solution.Compile(ColumnNames.EnsembleEmbedding, ColumnNames.PredictedEmbedding).LongLength;
        var compile = clock.Elapsed;
        var t = solution.Timings;
        int r = centroids.Rows, m = r + s.TargetDomainSamples;
        var reference = ReferenceMatmul(r, m, s.Dimension, (int)Math.Clamp(budget / 4 / Math.Max(1, r), 1, m), s.UseFloat64);
        return new DaklBenchmarkResult(generation, kMeans, targetsTime, t.Kernel, t.Solve, t.Weights, compile, iterations, onnxBytes, t.Float64Kernel,
            Process.GetCurrentProcess().PeakWorkingSet64, before, torch.get_num_threads())
        {
            KernelFlops = 2.0 * r * m * s.Dimension + 2.0 * r * (double)r * m,
            ReferenceMatmul = reference,
            KMeansIterationFlops = kMeansFlops,
        };
    }

    /// <summary>Times one n × d by d × r product of random float32 matrices (the output allocated beforehand): one k-means iteration's distances at plain TorchSharp speed.</summary>
    private static TimeSpan ReferenceKMeansProduct(int n, int r, int d)
    {
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        var generator = new torch.Generator(7);
        var x = torch.randn([n, d], generator: generator);
        var c = torch.randn([r, d], generator: generator);
        int block = Math.Min(n, 8192);
        var output = torch.empty(block, r);
        var clock = Stopwatch.StartNew();
        for (int start = 0; start < n; start += block)
        {
            int count = Math.Min(block, n - start);
            (count == block ? output : output.narrow(0, 0, count)).addmm_(x.narrow(0, start, count), c.t(), beta: 0);
        }
        _ = output.sum().item<float>();
        return clock.Elapsed;
    }

    /// <summary>
    /// Times the kernel step's matrix products alone on random matrices: per column block of D, D_b = C Z_bᵀ
    /// (r × d by d × b) and P += D_b D_bᵀ (r × b by b × r), with the fit's block size; no element-wise work.
    /// </summary>
    private static TimeSpan ReferenceMatmul(int r, int m, int d, int block, bool float64)
    {
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        var dtype = float64 ? ScalarType.Float64 : ScalarType.Float32;
        var generator = new torch.Generator(7);
        var c = torch.randn([r, d], dtype: dtype, generator: generator);
        var z = torch.randn([block, d], dtype: dtype, generator: generator);
        var p = torch.zeros(r, r, dtype);
        var clock = Stopwatch.StartNew();
        for (int start = 0; start < m; start += block)
        {
            using var inner = torch.NewDisposeScope();
            var dBlock = c.mm(z.narrow(0, 0, Math.Min(block, m - start)).t());
            p.addmm_(dBlock, dBlock.t());
        }
        _ = p.sum().to(ScalarType.Float64).item<double>(); // forces the products to finish
        return clock.Elapsed;
    }

    private static EmbeddingMatrix RandomUnitRows(int rows, int columns, int seed)
    {
        using var scope = torch.NewDisposeScope();
        var generator = new torch.Generator((ulong)seed);
        var x = torch.nn.functional.normalize(torch.randn([rows, columns], generator: generator), p: 2, dim: 1).contiguous();
        var values = new float[(long)rows * columns];
        x.data<float>().CopyTo(values);
        return new EmbeddingMatrix(values, rows, columns);
    }
}
