using System.ComponentModel;
using ReverseSD.MLNet.Dakl;
using Spectre.Console;
using Spectre.Console.Cli;

namespace ReverseSD.Cli.Commands;

/// <summary>`reversesd bench dakl`: times each step of a DAKL fit and reports peak memory, on random unit vectors.</summary>
internal sealed class BenchDaklCommand(IAnsiConsole console) : Command<BenchDaklCommand.Settings>
{
    public sealed class Settings : CommandSettings
    {
        [CommandOption("-r|--centroids <COUNT>")]
        [Description("Number of k-means centroids r (default 2000).")]
        public int Centroids { get; init; } = 2000;

        [CommandOption("-p|--target-samples <COUNT>")]
        [Description("Number of unlabelled target-domain samples p (default 5000).")]
        public int TargetDomainSamples { get; init; } = 5000;

        [CommandOption("-d|--dimension <SIZE>")]
        [Description("Embedding size d (default 384).")]
        public int Dimension { get; init; } = 384;

        [CommandOption("-n|--train-samples <COUNT>")]
        [Description("Training samples clustered by k-means (default 5 × r); equal to r skips k-means.")]
        public int? TrainingSamples { get; init; }

        [CommandOption("--kmeans <ENGINE>")]
        [Description("k-means implementation: torch (default; Lloyd on TorchSharp matrix products) or mlnet (ML.NET's KMeans trainer).")]
        public string KMeans { get; init => field = value.Trim().ToLowerInvariant(); } = "torch";

        [CommandOption("--init <METHOD>")]
        [Description("k-means initialisation: random (default) or kmeans++.")]
        public string Initialization { get; init => field = value.Trim().ToLowerInvariant(); } = "random";

        [CommandOption("--kmeans-iterations <COUNT>")]
        [Description("k-means iteration budget (default 10; tolerance 0: stops earlier only when no centroid moves).")]
        public int KMeansIterations { get; init; } = 10;

        [CommandOption("--kmeans-only")]
        [Description("Time k-means only (e.g. -r 10000 -n 50000), against one plain matrix product of an iteration's distance shape.")]
        public bool KMeansOnly { get; init; }

        [CommandOption("--float64")]
        [Description("Build the kernel and solve in float64 instead of float32.")]
        public bool UseFloat64 { get; init; }

        [CommandOption("--memory-budget-mb <MB>")]
        [Description("Upper bound on one r × block kernel block, in megabytes (default 512).")]
        public int MemoryBudgetMegabytes { get; init; } = DomainAdaptiveKernelOptions.Defaults.MemoryBudgetMegabytes;

        [CommandOption("--seed <SEED>")]
        [Description("Seed of the random data and the k-means initialisation (default 1, as in every command).")]
        public int Seed { get; init; } = 1;

        public override ValidationResult Validate()
        {
            if (Centroids < 1 || TargetDomainSamples < 0 || Dimension < 1 || KMeansIterations < 1 || MemoryBudgetMegabytes < 1)
                return ValidationResult.Error("-r, -d, --kmeans-iterations and --memory-budget-mb must be positive, -p non-negative.");
            if (TrainingSamples is { } n && n < Centroids)
                return ValidationResult.Error($"-n ({n}) must be at least -r ({Centroids}).");
            if (KMeans is not ("torch" or "mlnet"))
                return ValidationResult.Error($"--kmeans must be torch or mlnet, not '{KMeans}'.");
            if (Initialization is not ("random" or "kmeans++"))
                return ValidationResult.Error($"--init must be random or kmeans++, not '{Initialization}'.");
            return ValidationResult.Success();
        }
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        var bench = new DaklBenchmarkSettings(settings.Centroids, settings.TargetDomainSamples, settings.Dimension,
            settings.TrainingSamples ?? checked(5 * settings.Centroids),
            settings.KMeans == "mlnet" ? KMeansEngine.MLNet : KMeansEngine.TorchSharp,
            settings.Initialization == "kmeans++" ? KMeansInitialization.KMeansPlusPlus : KMeansInitialization.Random,
            settings.KMeansIterations, settings.UseFloat64, settings.Seed, settings.MemoryBudgetMegabytes) { KMeansOnly = settings.KMeansOnly };
        var result = ConsoleProgress.Run(console, "DAKL benchmark", progress => DaklBenchmark.Run(bench, progress, cancellationToken));

        console.MarkupLineInterpolated(
            $"DAKL fit on random unit vectors: r = {bench.Centroids}, p = {bench.TargetDomainSamples}, d = {bench.Dimension}, n = {bench.TrainingSamples}, k-means {settings.KMeans} ({settings.Initialization}, {bench.KMeansIterations} iterations), {(bench.UseFloat64 ? "float64" : "float32")}, {result.TorchThreads} TorchSharp threads");
        if (settings.KMeansOnly)
        {
            int run = Math.Max(1, result.KMeansIterationsRun);
            double perIteration = result.KMeans.TotalSeconds / run;
            double kMeansGflops = result.KMeansIterationFlops / perIteration / 1e9, plainGflops = result.KMeansIterationFlops / result.KMeansReferenceMatmul.TotalSeconds / 1e9;
            console.MarkupLineInterpolated(
                $"k-means: {result.KMeans.TotalSeconds:F2} s for {(result.KMeansIterationsRun >= 0 ? result.KMeansIterationsRun.ToString(System.Globalization.CultureInfo.InvariantCulture) : "?")} iterations ({perIteration:F2} s per iteration, goal <= 60 s at r = 10000, n = 50000 with the library default of 20 iterations)");
            console.MarkupLineInterpolated(
                $"per iteration {kMeansGflops:F1} GFLOP/s of distance products; one plain TorchSharp product of that shape {plainGflops:F1} GFLOP/s ({result.KMeansReferenceMatmul.TotalSeconds:F2} s); k-means / plain: {kMeansGflops / plainGflops:F2}");
            console.MarkupLineInterpolated($"peak working set {result.PeakWorkingSetBytes / 1048576.0:F0} MB; load average {BenchBackboneCommand.LoadAverage()}");
            return 0;
        }
        var table = new Table().AddColumn("step").AddColumn(new TableColumn("seconds").RightAligned());
        void Row(string step, TimeSpan time) => table.AddRow(Markup.Escape(step), time.TotalSeconds.ToString("F2", System.Globalization.CultureInfo.InvariantCulture));
        Row("random data", result.DataGeneration);
        Row(result.KMeansIterationsRun >= 0 ? $"k-means ({result.KMeansIterationsRun} iterations run)" : "k-means (ML.NET: iterations not reported)", result.KMeans);
        Row("centroid targets (nearest sample)", result.CentroidTargets);
        Row("kernel (D Dᵀ, D 1)", result.Kernel);
        Row("solve (Cholesky + Woodbury, float64)" + (result.UsedFloat64Kernel && !bench.UseFloat64 ? "; float32 kernel too inaccurate, rebuilt in float64" : ""), result.Solve);
        Row("W = K_DA[C,:]ᵀ A", result.Weights);
        Row("ONNX compile", result.OnnxCompile);
        Row("fit total (without data)", result.KMeans + result.CentroidTargets + result.Kernel + result.Solve + result.Weights + result.OnnxCompile);
        console.Write(table);
        double kernelGflops = result.KernelFlops / result.Kernel.TotalSeconds / 1e9, referenceGflops = result.KernelFlops / result.ReferenceMatmul.TotalSeconds / 1e9;
        console.MarkupLineInterpolated(
            $"kernel step {kernelGflops:F1} GFLOP/s; plain TorchSharp matrix products of the same shapes {referenceGflops:F1} GFLOP/s ({result.ReferenceMatmul.TotalSeconds:F2} s); kernel / plain: {kernelGflops / referenceGflops:F2} (goal >= 0.8)");
        console.MarkupLineInterpolated($"peak working set {result.PeakWorkingSetBytes / 1048576.0:F0} MB (process, before the run {result.WorkingSetBeforeBytes / 1048576.0:F0} MB); ONNX model {result.OnnxBytes / 1048576.0:F1} MB");
        return 0;
    }
}
