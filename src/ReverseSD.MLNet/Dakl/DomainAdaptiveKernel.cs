using System.Diagnostics;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms.Onnx;
using ReverseSD.MLNet.Onnx;

namespace ReverseSD.MLNet.Dakl;

/// <summary>Which target embedding a k-means centroid gets (persisted values are explicit).</summary>
public enum CentroidTarget
{
    /// <summary>The target of the training sample nearest to the centroid (official code).</summary>
    NearestSample = 0,

    /// <summary>The L2-normalised mean target of the centroid's members.</summary>
    MemberMean = 1,
}

/// <summary>Options of <see cref="DomainAdaptiveKernelEstimator"/>.</summary>
public sealed class DomainAdaptiveKernelOptions
{
    /// <summary>A copy, so that changing these options after an estimator is built changes nothing.</summary>
    internal DomainAdaptiveKernelOptions Clone() => (DomainAdaptiveKernelOptions)MemberwiseClone();

    /// <summary>Defaults of the options (the paper's and the official code's values).</summary>
    public static class Defaults
    {
        /// <summary>r, the number of k-means centroids (paper: 10,000).</summary>
        public const int NumberOfCentroids = 10_000;

        /// <summary>γ of the RBF transformation (paper Table 10: 0.001).</summary>
        public const float Gamma = 0.001f;

        /// <summary>α, the ridge penalty (official code: 10).</summary>
        public const float Alpha = 10f;

        /// <summary>k-means iteration budget.</summary>
        public const int KMeansMaximumIterations = 20;

        /// <summary>k-means stopping tolerance (squared centroid movement).</summary>
        public const float KMeansTolerance = 1e-6f;

        /// <summary>Upper bound on one kernel block, in megabytes.</summary>
        public const int MemoryBudgetMegabytes = 512;
    }

    /// <summary>The ensemble's predicted embedding z (input of the meta-regression).</summary>
    public string InputColumnName { get; set; } = ColumnNames.EnsembleEmbedding;

    /// <summary>
    /// The label: the true prompt embedding of the training samples, or the prompt text (embedded with all-MiniLM-L6-v2 at Fit,
    /// as the heads do); with a text label, rows with an empty prompt are unlabelled target-domain samples (added to
    /// <see cref="TargetDomainData"/>), so the whole system fits as one chain on one data view.
    /// </summary>
    public string LabelColumnName { get; set; } = ColumnNames.PromptEmbedding;

    /// <summary>The adapted, unit-norm embedding.</summary>
    public string OutputColumnName { get; set; } = ColumnNames.PredictedEmbedding;

    /// <summary>
    /// Unlabelled target-domain samples X̄ (e.g. validation + test images' ensemble embeddings, never their prompts); they enter
    /// the kernel as features only. Null fits a plain kernel ridge on the centroids (p = 0).
    /// </summary>
    public IDataView? TargetDomainData { get; set; }

    /// <summary>The embedding column of <see cref="TargetDomainData"/>; null uses <see cref="InputColumnName"/>.</summary>
    public string? TargetDomainColumnName { get; set; }

    /// <summary>r, the number of k-means centroids replacing the training set (paper: 10,000); capped at the training set size (no k-means then).</summary>
    public int NumberOfCentroids { get; set; } = Defaults.NumberOfCentroids;

    /// <summary>γ of the RBF transformation, Eq. 7 (paper Table 10: 0.001 best).</summary>
    public float Gamma { get; set; } = Defaults.Gamma;

    /// <summary>α, the L2 penalty of the dual ridge regression (official code: 10).</summary>
    public float Alpha { get; set; } = Defaults.Alpha;

    /// <summary>How each centroid's target embedding is chosen.</summary>
    public CentroidTarget CentroidTarget { get; set; } = CentroidTarget.NearestSample;

    /// <summary>The k-means implementation.</summary>
    public KMeansEngine KMeansEngine { get; set; } = KMeansEngine.TorchSharp;

    /// <summary>k-means initialisation.</summary>
    public KMeansInitialization KMeansInitialization { get; set; } = KMeansInitialization.Random;

    /// <summary>k-means iteration budget.</summary>
    public int KMeansMaximumIterations { get; set; } = Defaults.KMeansMaximumIterations;

    /// <summary>k-means stops early when no centroid moves more than this (squared distance; ML.NET: relative loss change, at least 1e-7).</summary>
    public float KMeansTolerance { get; set; } = Defaults.KMeansTolerance;

    /// <summary>Seed of the k-means initialisation (same seed, same centroids).</summary>
    public int Seed { get; set; }

    /// <summary>
    /// Builds the kernel and solves in float64 instead of float32 (about 2.5× slower). float32 agrees with a float64 reference to
    /// about 1e-4 at the paper's γ = 0.001, α = 10, but loses accuracy for large γ with small α; float64 agrees to about 1e-6.
    /// </summary>
    public bool UseFloat64 { get; set; }

    /// <summary>Upper bound on the size of one kernel block (r × block floats) in megabytes.</summary>
    public int MemoryBudgetMegabytes { get; set; } = Defaults.MemoryBudgetMegabytes;

    /// <summary>Receives the timing of each fitting step.</summary>
    public IProgress<ProgressReport>? Progress { get; set; }
}

/// <summary>Wall-clock times and sizes of one DAKL fit.</summary>
/// <param name="TrainingSamples">n, training rows.</param>
/// <param name="Centroids">r, centroids used (the option capped at n).</param>
/// <param name="TargetDomainSamples">p, unlabelled target-domain rows.</param>
/// <param name="KMeans">k-means time (zero when r = n).</param>
/// <param name="CentroidTargets">time to assign the centroid targets.</param>
/// <param name="Kernel">time to build the kernel terms D Dᵀ and D 1.</param>
/// <param name="Solve">Cholesky + Woodbury solve.</param>
/// <param name="Weights">time to precompute W = K_DA[C, :]ᵀ A.</param>
/// <param name="UsedFloat64Solve">true when float32 Cholesky failed and float64 was used.</param>
public sealed record DaklFitStatistics(int TrainingSamples, int Centroids, int TargetDomainSamples, TimeSpan KMeans, TimeSpan CentroidTargets,
    TimeSpan Kernel, TimeSpan Solve, TimeSpan Weights, bool UsedFloat64Solve);

/// <summary>
/// Domain-adaptive kernel learning (DAKL, paper §3 "Meta-regression", Eq. 5–7): k-means centroids of the training embeddings and
/// unlabelled target-domain embeddings form Z; the normalised linear kernel of Z through an RBF gives second-order features
/// K_DA, on which a dual ridge regression (linear kernel) maps the centroids to their target embeddings.
/// </summary>
/// <remarks>
/// | Input | Output | Needs training data | GPU |
/// |---|---|---|---|
/// | ensemble embedding; label (fit); target-domain embeddings (fit, unlabelled) | adapted embedding | yes | no (TorchSharp CPU) |
/// The fitted model is an ONNX graph: normalise → MatMul Ẑᵀ → exp(γ(·) − γ) → MatMul W → L2-normalise.
/// </remarks>
public sealed class DomainAdaptiveKernelEstimator : IEstimator<DomainAdaptiveKernelTransformer>
{
    private readonly MLContext _mlContext;
    private readonly DomainAdaptiveKernelOptions _options;

    internal DomainAdaptiveKernelEstimator(MLContext mlContext, DomainAdaptiveKernelOptions options)
    {
        ArgumentNullException.ThrowIfNull(mlContext);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentException.ThrowIfNullOrWhiteSpace(options.InputColumnName, nameof(options.InputColumnName));
        ArgumentException.ThrowIfNullOrWhiteSpace(options.LabelColumnName, nameof(options.LabelColumnName));
        ArgumentException.ThrowIfNullOrWhiteSpace(options.OutputColumnName, nameof(options.OutputColumnName));
        if (options.OutputColumnName == options.InputColumnName)
            throw new ArgumentException($"OutputColumnName '{options.OutputColumnName}' must differ from InputColumnName (the compiled graph cannot overwrite its input).", nameof(options));
        ArgumentOutOfRangeException.ThrowIfLessThan(options.NumberOfCentroids, 1, nameof(options.NumberOfCentroids));
        if (!(options.Gamma > 0) || float.IsInfinity(options.Gamma))
            throw new ArgumentOutOfRangeException(nameof(options.Gamma), options.Gamma, "Gamma must be a positive finite number.");
        if (!(options.Alpha > 0) || float.IsInfinity(options.Alpha))
            throw new ArgumentOutOfRangeException(nameof(options.Alpha), options.Alpha, "Alpha must be a positive finite number.");
        ArgumentOutOfRangeException.ThrowIfLessThan(options.KMeansMaximumIterations, 1, nameof(options.KMeansMaximumIterations));
        if (!(options.KMeansTolerance >= 0))
            throw new ArgumentOutOfRangeException(nameof(options.KMeansTolerance), options.KMeansTolerance, "KMeansTolerance must be non-negative.");
        ArgumentOutOfRangeException.ThrowIfLessThan(options.MemoryBudgetMegabytes, 1, nameof(options.MemoryBudgetMegabytes));
        if (!Enum.IsDefined(options.CentroidTarget) || !Enum.IsDefined(options.KMeansEngine) || !Enum.IsDefined(options.KMeansInitialization))
            throw new ArgumentOutOfRangeException(nameof(options), "Unknown CentroidTarget, KMeansEngine or KMeansInitialization value.");
        if (options.TargetDomainData != null)
            InputColumns.RequireFloatVector(options.TargetDomainData.Schema, options.TargetDomainColumnName ?? options.InputColumnName, "target-domain data");
        _mlContext = mlContext;
        _options = options.Clone();
    }

    internal DomainAdaptiveKernelOptions Options => _options;

    /// <inheritdoc/>
    public SchemaShape GetOutputSchema(SchemaShape inputSchema)
    {
        InputColumns.RequireFloatVector(inputSchema, _options.InputColumnName, "input data (DAKL input)");
        if (!(inputSchema.Any(c => c.Name == _options.LabelColumnName)
              && inputSchema.Last(c => c.Name == _options.LabelColumnName) is { Kind: SchemaShape.Column.VectorKind.Scalar, ItemType: TextDataViewType }))
            InputColumns.RequireFloatVector(inputSchema, _options.LabelColumnName, "training data (label column: target embedding or prompt text)");
        return SchemaShapes.WithColumns(inputSchema, (_options.OutputColumnName, SchemaShapes.FloatVector));
    }

    /// <inheritdoc/>
    public DomainAdaptiveKernelTransformer Fit(IDataView input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var z = EmbeddingMatrix.Read(input, _options.InputColumnName, "training data (DAKL input)");
        EmbeddingMatrix? targetDomain = _options.TargetDomainData == null ? null
            : EmbeddingMatrix.Read(_options.TargetDomainData, _options.TargetDomainColumnName ?? _options.InputColumnName, "target-domain data");
        EmbeddingMatrix y;
        if (input.Schema.GetColumnOrNull(_options.LabelColumnName)?.Type is TextDataViewType)
            (z, y, targetDomain) = SplitByPrompt(input, z, targetDomain);
        else
            y = EmbeddingMatrix.Read(input, _options.LabelColumnName, "training data (label column: target embedding or prompt text)");
        if (z.Rows != y.Rows)
            throw new ReverseSdInputException($"The training data has {z.Rows} input rows but {y.Rows} label rows.");
        if (targetDomain != null && targetDomain.Columns != z.Columns)
            throw new ReverseSdInputException($"The target-domain embeddings have {targetDomain.Columns} values per row; the training embeddings have {z.Columns}.");
        foreach (var (matrix, role) in new[] { (z, "training data"), (y, "training labels"), (targetDomain, "target-domain data") })
            if (matrix != null && matrix.Values.Any(v => !float.IsFinite(v)))
                throw new ReverseSdInputException($"The {role} contain NaN or infinite values.");

        long budget = (long)_options.MemoryBudgetMegabytes << 20;
        int r = Math.Min(_options.NumberOfCentroids, z.Rows);
        var clock = Stopwatch.StartNew();
        EmbeddingMatrix centroids, centroidTargets;
        TimeSpan kMeansTime = TimeSpan.Zero, targetsTime = TimeSpan.Zero;
        if (r == z.Rows)
        {
            (centroids, centroidTargets) = (z, y);
        }
        else
        {
            _options.Progress?.Report(new ProgressReport("DAKL k-means", 0, _options.KMeansMaximumIterations, $"{r} centroids of {z.Rows} samples ({_options.KMeansEngine})"));
            centroids = CentroidClustering.Run(z, new CentroidClustering.Settings(r, _options.KMeansEngine, _options.KMeansInitialization,
                _options.KMeansMaximumIterations, _options.KMeansTolerance, _options.Seed, budget), _options.Progress);
            kMeansTime = clock.Elapsed;
            _options.Progress?.Report(new ProgressReport("DAKL k-means", _options.KMeansMaximumIterations, _options.KMeansMaximumIterations, $"{kMeansTime.TotalSeconds:F1} s"));
            clock.Restart();
            centroidTargets = CentroidClustering.Targets(z, y, centroids, _options.CentroidTarget, budget);
            targetsTime = clock.Elapsed;
        }
        var solution = DaklKernelRidge.Fit(centroids, centroidTargets, targetDomain, _options.Gamma, _options.Alpha, budget, _options.UseFloat64);
        var t = solution.Timings;
        _options.Progress?.Report(new ProgressReport("DAKL kernel ridge", 1, 1,
            $"kernel {t.Kernel.TotalSeconds:F1} s, solve {t.Solve.TotalSeconds:F1} s, weights {t.Weights.TotalSeconds:F1} s"));
        var statistics = new DaklFitStatistics(z.Rows, centroids.Rows, targetDomain?.Rows ?? 0, kMeansTime, targetsTime, t.Kernel, t.Solve, t.Weights, t.UsedFloat64Solve);
        return DomainAdaptiveKernelTransformer.Create(_mlContext, solution, _options.InputColumnName, _options.OutputColumnName, input, statistics);
    }

    /// <summary>
    /// With a text label: the rows with a prompt are the training samples (their prompts embedded as the targets), the rows
    /// with an empty prompt join the target domain.
    /// </summary>
    private (EmbeddingMatrix Z, EmbeddingMatrix Y, EmbeddingMatrix? TargetDomain) SplitByPrompt(IDataView input, EmbeddingMatrix z, EmbeddingMatrix? targetDomain)
    {
        var prompts = input.GetColumn<ReadOnlyMemory<char>>(_options.LabelColumnName).Select(t => t.ToString()).ToList();
        if (prompts.Count != z.Rows)
            throw new ReverseSdInputException($"The training data has {z.Rows} input rows but {prompts.Count} prompts.");
        var labelled = Enumerable.Range(0, z.Rows).Where(i => prompts[i].Length > 0).ToArray();
        var unlabelled = Enumerable.Range(0, z.Rows).Where(i => prompts[i].Length == 0).ToArray();
        if (labelled.Length == 0)
            throw new ReverseSdInputException($"Every row of the training data has an empty '{_options.LabelColumnName}': DAKL needs labelled rows.");
        float[][] targets;
        using (var encoder = Text.SentenceEncoder.Load())
            targets = encoder.Encode(labelled.Select(i => prompts[i]).ToList(), ProgressStages.Renamed(_options.Progress, "DAKL: embedding prompts"));
        var rows = labelled.Select(i => z.Row(i).ToArray()).ToList();
        if (unlabelled.Length > 0)
        {
            var target = unlabelled.Select(i => z.Row(i).ToArray()).ToList();
            if (targetDomain != null)
                target.InsertRange(0, Enumerable.Range(0, targetDomain.Rows).Select(i => targetDomain.Row(i).ToArray()));
            targetDomain = EmbeddingMatrix.FromRows(target);
        }
        return (EmbeddingMatrix.FromRows(rows), EmbeddingMatrix.FromRows(targets), targetDomain);
    }
}

/// <summary>A fitted <see cref="DomainAdaptiveKernelEstimator"/>; scores through its compiled ONNX graph.</summary>
public sealed class DomainAdaptiveKernelTransformer : CompiledOnnxTransformer
{

    private DomainAdaptiveKernelTransformer(OnnxTransformer onnx, string inputColumnName, DaklSolution solution, DaklFitStatistics statistics)
        : base(onnx, [(inputColumnName, solution.InputSize)], "DAKL input")
    {
        Solution = solution;
        Statistics = statistics;
    }

    internal DaklSolution Solution { get; }

    /// <summary>Sizes and timings of the fit.</summary>
    public DaklFitStatistics Statistics { get; }

    internal static DomainAdaptiveKernelTransformer Create(MLContext ml, DaklSolution solution, string inputColumnName, string outputColumnName,
        IDataView schemaSource, DaklFitStatistics statistics)
    {
        var onnx = CompiledOnnxModel.Create(ml, solution.Compile(inputColumnName, outputColumnName), [outputColumnName], [inputColumnName], schemaSource);
        return new DomainAdaptiveKernelTransformer(onnx, inputColumnName, solution, statistics);
    }

}
