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
    /// Builds the kernel in float64 instead of float32 (about 2.5× slower; the solve is always float64). Without it a float32 kernel
    /// is rebuilt in float64 automatically when a small α makes the ridge system too ill-conditioned for float32
    /// (<see cref="DaklFitStatistics.UsedFloat64Kernel"/>).
    /// </summary>
    public bool UseFloat64 { get; set; }

    /// <summary>Upper bound on the size of one kernel block (r × block floats) in megabytes.</summary>
    public int MemoryBudgetMegabytes { get; set; } = Defaults.MemoryBudgetMegabytes;

    /// <summary>
    /// Validation rows (the input column and the label, an embedding or prompt text; rows with an empty prompt are left out).
    /// With <see cref="GammaGrid"/> and <see cref="AlphaGrid"/>, γ and α are chosen on them (paper Table 10): every grid point is
    /// fitted and the best validation mean cosine kept, and <see cref="DomainAdaptiveKernelTransformer.Selection"/> says whether
    /// it beats the input embedding itself there (when input and label have the same size). Null fits <see cref="Gamma"/> and <see cref="Alpha"/> as given.
    /// </summary>
    public IDataView? ValidationData { get; set; }

    /// <summary>The γ values tried on <see cref="ValidationData"/>; null (or no validation data) uses <see cref="Gamma"/>.</summary>
    public IReadOnlyList<float>? GammaGrid { get; set; }

    /// <summary>The α values tried on <see cref="ValidationData"/>; null (or no validation data) uses <see cref="Alpha"/>.</summary>
    public IReadOnlyList<float>? AlphaGrid { get; set; }

    /// <summary>Receives the timing of each fitting step.</summary>
    public IProgress<ProgressReport>? Progress { get; set; }

    /// <summary>The prompt embeddings shared by the stages of one system Fit; null embeds a text label here.</summary>
    internal Text.PromptEmbeddingMemo? PromptEmbeddings { get; set; }

    /// <summary>True when γ and α are chosen on validation data over the grids.</summary>
    internal bool SelectsOnValidation => ValidationData != null && GammaGrid is { Count: > 0 } && AlphaGrid is { Count: > 0 };
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
/// <param name="UsedFloat64Kernel">true when the kernel was built in float64 (asked for, or a float32 kernel was too inaccurate for the small α).</param>
/// <param name="ConditionNumberBound">upper bound on the condition number of the ridge system αI + D Dᵀ (large with a small α).</param>
public sealed record DaklFitStatistics(int TrainingSamples, int Centroids, int TargetDomainSamples, TimeSpan KMeans, TimeSpan CentroidTargets,
    TimeSpan Kernel, TimeSpan Solve, TimeSpan Weights, bool UsedFloat64Kernel, double ConditionNumberBound);

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
        if ((options.GammaGrid ?? []).Concat(options.AlphaGrid ?? []).Any(v => !(v > 0) || float.IsInfinity(v)))
            throw new ArgumentOutOfRangeException(nameof(options), "GammaGrid and AlphaGrid take positive finite numbers.");
        if (options.ValidationData != null)
            InputColumns.RequireFloatVector(options.ValidationData.Schema, options.InputColumnName, "validation data (DAKL input)");
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

        if (!_options.SelectsOnValidation)
        {
            var fixedDakl = Fit(input, z, y, targetDomain, _options.Gamma, _options.Alpha, _options.Progress);
            fixedDakl.Selection = new DaklSelectionResult(false, _options.Gamma, _options.Alpha, true, null, []);
            return fixedDakl;
        }
        return SelectOnValidation(input, z, y, targetDomain);
    }

    /// <summary>
    /// Fits every (γ, α) of the grids and keeps the first with the highest validation mean cosine (a NaN cosine, from a
    /// degenerate fit, never wins); only validation rows are scored, never test labels.
    /// </summary>
    private DomainAdaptiveKernelTransformer SelectOnValidation(IDataView input, EmbeddingMatrix z, EmbeddingMatrix y, EmbeddingMatrix? targetDomain)
    {
        var validation = _options.ValidationData!;
        var (labelled, targets) = ReadLabels(validation, "validation data");
        var inputs = EmbeddingMatrix.Read(validation, _options.InputColumnName, "validation data (DAKL input)");
        float[][] Rows(EmbeddingMatrix m) => labelled.Select(i => m.Row(i).ToArray()).ToArray();
        // The input itself as a prediction (the plain ensemble), when it lives in the label's space.
        double? plain = inputs.Columns == targets[0].Length ? Evaluation.PromptEmbeddingEvaluator.Evaluate(Rows(inputs), targets).MeanCosine : null;
        var grid = new List<DaklGridPoint>();
        DomainAdaptiveKernelTransformer? best = null;
        int total = _options.GammaGrid!.Count * _options.AlphaGrid!.Count;
        try
        {
            foreach (float gamma in _options.GammaGrid)
                foreach (float alpha in _options.AlphaGrid)
                {
                    var candidate = Fit(input, z, y, targetDomain, gamma, alpha, null);
                    var adapted = EmbeddingMatrix.Read(candidate.Transform(validation), _options.OutputColumnName, "validation data (DAKL output)");
                    double cosine = Evaluation.PromptEmbeddingEvaluator.Evaluate(Rows(adapted), targets).MeanCosine;
                    grid.Add(new DaklGridPoint(gamma, alpha, cosine));
                    if (grid.Count == 1 || Score(cosine) > grid.Take(grid.Count - 1).Max(p => Score(p.ValidationMeanCosine)))
                    {
                        best?.Dispose();
                        best = candidate;
                    }
                    else
                    {
                        candidate.Dispose();
                    }
                    _options.Progress?.Report(new ProgressReport("DAKL validation grid", grid.Count, total,
                        string.Create(System.Globalization.CultureInfo.InvariantCulture, $"γ = {gamma:G4}, α = {alpha:G4}: {cosine:F4}")));
                }
        }
        catch
        {
            best?.Dispose();
            throw;
        }
        var chosen = grid.First(p => Score(p.ValidationMeanCosine) == grid.Max(q => Score(q.ValidationMeanCosine)));
        best!.Selection = new DaklSelectionResult(true, chosen.Gamma, chosen.Alpha, plain == null || Score(chosen.ValidationMeanCosine) > plain, plain, grid);
        return best;

        static double Score(double cosine) => double.IsNaN(cosine) ? double.NegativeInfinity : cosine;
    }

    /// <summary>
    /// The rows of <paramref name="data"/> with a label and their target embeddings: every row for an embedding label, the rows
    /// with a non-empty prompt (embedded here, or once per system Fit through the shared memo) for a text label.
    /// </summary>
    private (int[] Rows, float[][] Targets) ReadLabels(IDataView data, string role)
    {
        if (data.Schema.GetColumnOrNull(_options.LabelColumnName)?.Type is TextDataViewType)
        {
            var prompts = data.GetColumn<ReadOnlyMemory<char>>(_options.LabelColumnName).Select(t => t.ToString()).ToList();
            var labelled = Enumerable.Range(0, prompts.Count).Where(i => prompts[i].Length > 0).ToArray();
            if (labelled.Length == 0)
                throw new ReverseSdInputException($"Every row of the {role} has an empty '{_options.LabelColumnName}': DAKL needs labelled rows.");
            return (labelled, Text.PromptEmbeddingMemo.Encode(_options.PromptEmbeddings, labelled.Select(i => prompts[i]).ToList(),
                ProgressStages.Renamed(_options.Progress, "DAKL: embedding prompts")));
        }
        var y = EmbeddingMatrix.Read(data, _options.LabelColumnName, role + " (label column: target embedding or prompt text)");
        return (Enumerable.Range(0, y.Rows).ToArray(), Enumerable.Range(0, y.Rows).Select(i => y.Row(i).ToArray()).ToArray());
    }

    /// <summary>One fit with <paramref name="gamma"/> and <paramref name="alpha"/> on checked training data.</summary>
    private DomainAdaptiveKernelTransformer Fit(IDataView input, EmbeddingMatrix z, EmbeddingMatrix y, EmbeddingMatrix? targetDomain,
        float gamma, float alpha, IProgress<ProgressReport>? progress)
    {
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
            progress?.Report(new ProgressReport("DAKL k-means", 0, _options.KMeansMaximumIterations, $"{r} centroids of {z.Rows} samples ({_options.KMeansEngine})"));
            centroids = CentroidClustering.Run(z, new CentroidClustering.Settings(r, _options.KMeansEngine, _options.KMeansInitialization,
                _options.KMeansMaximumIterations, _options.KMeansTolerance, _options.Seed, budget), progress);
            kMeansTime = clock.Elapsed;
            progress?.Report(new ProgressReport("DAKL k-means", _options.KMeansMaximumIterations, _options.KMeansMaximumIterations, $"{kMeansTime.TotalSeconds:F1} s"));
            clock.Restart();
            centroidTargets = CentroidClustering.Targets(z, y, centroids, _options.CentroidTarget, budget);
            targetsTime = clock.Elapsed;
        }
        var solution = DaklKernelRidge.Fit(centroids, centroidTargets, targetDomain, gamma, alpha, budget, _options.UseFloat64);
        var t = solution.Timings;
        progress?.Report(new ProgressReport("DAKL kernel ridge", 1, 1,
            $"kernel {t.Kernel.TotalSeconds:F1} s, solve {t.Solve.TotalSeconds:F1} s, weights {t.Weights.TotalSeconds:F1} s"));
        var statistics = new DaklFitStatistics(z.Rows, centroids.Rows, targetDomain?.Rows ?? 0, kMeansTime, targetsTime, t.Kernel, t.Solve, t.Weights, t.Float64Kernel, t.ConditionBound);
        return DomainAdaptiveKernelTransformer.Create(_mlContext, solution, _options.InputColumnName, _options.OutputColumnName, input, statistics);
    }

    /// <summary>
    /// With a text label: the rows with a prompt are the training samples (their prompts embedded as the targets), the rows
    /// with an empty prompt join the target domain.
    /// </summary>
    private (EmbeddingMatrix Z, EmbeddingMatrix Y, EmbeddingMatrix? TargetDomain) SplitByPrompt(IDataView input, EmbeddingMatrix z, EmbeddingMatrix? targetDomain)
    {
        var (labelled, targets) = ReadLabels(input, "training data");
        var isLabelled = new bool[z.Rows];
        foreach (int i in labelled)
        {
            if (i >= z.Rows) throw new ReverseSdInputException($"The training data has {z.Rows} input rows but more prompts.");
            isLabelled[i] = true;
        }
        var unlabelled = Enumerable.Range(0, z.Rows).Where(i => !isLabelled[i]).ToArray();
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

    /// <summary>How γ and α were chosen (fixed, or on validation over a grid) and whether DAKL beat its input there.</summary>
    public DaklSelectionResult Selection { get; internal set; } = new(false, 0, 0, true, null, []);

    /// <summary>Sizes and timings of the fit.</summary>
    public DaklFitStatistics Statistics { get; }

    internal static DomainAdaptiveKernelTransformer Create(MLContext ml, DaklSolution solution, string inputColumnName, string outputColumnName,
        IDataView schemaSource, DaklFitStatistics statistics)
    {
        var onnx = CompiledOnnxModel.Create(ml, solution.Compile(inputColumnName, outputColumnName), [outputColumnName], [inputColumnName], schemaSource);
        return new DomainAdaptiveKernelTransformer(onnx, inputColumnName, solution, statistics);
    }

}
