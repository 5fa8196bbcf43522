using System.Globalization;
using Microsoft.ML;
using Microsoft.ML.Data;
using ReverseSD.MLNet.Backbones;
using ReverseSD.MLNet.Dakl;
using ReverseSD.MLNet.Data;
using ReverseSD.MLNet.Ensemble;
using ReverseSD.MLNet.Evaluation;
using ReverseSD.MLNet.Retrieval;
using ReverseSD.MLNet.Text;

namespace ReverseSD.MLNet.Pipeline;

/// <summary>Options of <see cref="ReverseSdEnsemble.Train"/>: the members, the combination rule, DAKL and the kNN baseline.</summary>
public sealed class ReverseSdEnsembleOptions
{
    /// <summary>One training setup per member (its backbone and heads); each member is trained as by <see cref="ReverseSdModel.Train"/>.</summary>
    public IReadOnlyList<ReverseSdTrainingOptions> Members { get; set; } = [];

    /// <summary>How the members' embeddings are combined (paper §4.9); a weighted mean fits its weights on the validation split (on the training split when there is none).</summary>
    public EnsembleCombination Combination { get; set; } = EnsembleCombination.Mean;

    /// <summary>Fits DAKL (paper §3, Eq. 5–7) on the ensemble embedding.</summary>
    public bool UseDakl { get; set; }

    /// <summary>DAKL's r, capped at the training set size (paper: 10,000).</summary>
    public int DaklCentroids { get; set; } = DomainAdaptiveKernelOptions.Defaults.NumberOfCentroids;

    /// <summary>How DAKL's γ and α are chosen: on the validation split over the grids (default; fixed when there is no validation split) or fixed.</summary>
    public DaklSelectionMode DaklSelection { get; set; } = DaklSelectionMode.Validation;

    /// <summary>The γ values tried by validation selection (paper Table 10 tunes γ on validation).</summary>
    public IReadOnlyList<float> DaklGammaGrid { get; set; } = [0.001f, 0.01f, 0.1f, 1f];

    /// <summary>The α values tried by validation selection.</summary>
    public IReadOnlyList<float> DaklAlphaGrid { get; set; } = [0.01f, 0.1f, 1f, 10f];

    /// <summary>DAKL's γ when the selection is fixed (paper Table 10: 0.001).</summary>
    public float DaklGamma { get; set; } = DomainAdaptiveKernelOptions.Defaults.Gamma;

    /// <summary>DAKL's ridge penalty α when the selection is fixed (official code: 10).</summary>
    public float DaklAlpha { get; set; } = DomainAdaptiveKernelOptions.Defaults.Alpha;

    /// <summary>Folder of unlabelled target-domain images for DAKL; null uses the validation and test images (never their prompts).</summary>
    public string? AdaptToDirectory { get; set; }

    /// <summary>k of the kNN regression baseline in the first member's feature space (paper §4.10); 0 leaves it out.</summary>
    public int KnnNeighbors { get; set; } = NearestNeighborRegressionOptions.Defaults.NumberOfNeighbors;
}

/// <summary>How DAKL's γ and α are chosen by <see cref="ReverseSdEnsemble.Train"/>.</summary>
public enum DaklSelectionMode
{
    /// <summary>Fit DAKL at every grid point, keep the best validation mean cosine, and keep no DAKL unless it beats the plain ensemble on validation.</summary>
    Validation = 0,

    /// <summary>Use <see cref="ReverseSdEnsembleOptions.DaklGamma"/> and <see cref="ReverseSdEnsembleOptions.DaklAlpha"/> as given.</summary>
    Fixed = 1,
}

/// <summary>One DAKL grid point and the validation mean cosine of the ensemble + DAKL fitted with it.</summary>
/// <param name="Gamma">DAKL's γ.</param>
/// <param name="Alpha">DAKL's α.</param>
/// <param name="ValidationMeanCosine">Mean cosine on the validation split.</param>
public sealed record DaklGridPoint(float Gamma, float Alpha, double ValidationMeanCosine);

/// <summary>How DAKL's settings were chosen and whether the saved model uses DAKL.</summary>
/// <param name="OnValidation">True when chosen on the validation split; false when fixed.</param>
/// <param name="Gamma">The chosen (or fixed) γ.</param>
/// <param name="Alpha">The chosen (or fixed) α.</param>
/// <param name="Used">True when the saved model applies DAKL; false when no grid point beat the plain ensemble on validation.</param>
/// <param name="PlainEnsembleValidationMeanCosine">The plain ensemble's validation mean cosine; null when fixed.</param>
/// <param name="Grid">Every grid point with its validation mean cosine, in grid order; empty when fixed.</param>
public sealed record DaklSelectionResult(bool OnValidation, float Gamma, float Alpha, bool Used, double? PlainEnsembleValidationMeanCosine,
    IReadOnlyList<DaklGridPoint> Grid);

/// <summary>One row of the ensemble's test evaluation (paper Table 8 layout), with a paired t-test against the row above.</summary>
/// <param name="Name">What was evaluated.</param>
/// <param name="Metrics">Per-sample test cosines.</param>
/// <param name="VersusPrevious">Paired t-test of this row's cosines minus the previous row's; null for the first row.</param>
public sealed record EnsembleEvaluationRow(string Name, CosineMetrics Metrics, PairedTTestResult? VersusPrevious);

/// <summary>One combination of members (paper Table 9): its test mean cosine, and with DAKL refitted on that combination.</summary>
public sealed record EnsembleAblationResult(IReadOnlyList<string> Members, double MeanCosine, double? MeanCosineWithDakl);

/// <summary>
/// A trained ensemble: the members, the fitted combiner, optionally DAKL, the one chain saved as a zip ("ImagePath" →
/// "PredictedEmbedding"; "VocabularyProbabilities", "VocabularyWords" and "ModelInfo" come from the first member), and its test evaluation.
/// </summary>
public sealed class ReverseSdEnsembleTrainedModel : IDisposable
{
    private readonly MLContext _mlContext;
    private bool _disposed;

    internal ReverseSdEnsembleTrainedModel(MLContext mlContext, ITransformer model, IReadOnlyList<ReverseSdTrainedModel> members,
        IReadOnlyList<string> memberNames, EmbeddingEnsembleTransformer combiner, DomainAdaptiveKernelTransformer? dakl,
        DaklSelectionResult? daklSelection, IReadOnlyList<EnsembleEvaluationRow> rows, EvaluationReport report, CosineMetrics test, CosineMetrics baseline,
        IReadOnlyList<string> testImages, EnsembleData data, ReverseSdEnsembleOptions options)
    {
        _mlContext = mlContext;
        Model = model;
        Members = members;
        MemberNames = memberNames;
        Combiner = combiner;
        Dakl = dakl;
        DaklSelection = daklSelection;
        Rows = rows;
        Report = report;
        Test = test;
        Baseline = baseline;
        TestImages = testImages;
        Data = data;
        Options = options;
    }

    /// <summary>The whole fitted chain: every member's backbone and heads, the combiner, and DAKL when fitted.</summary>
    public ITransformer Model { get; }

    /// <summary>The trained members, in the order given.</summary>
    public IReadOnlyList<ReverseSdTrainedModel> Members { get; }

    /// <summary>The members' names (their backbones), in the order given.</summary>
    public IReadOnlyList<string> MemberNames { get; }

    /// <summary>The fitted combiner (its weights when a weighted mean).</summary>
    public EmbeddingEnsembleTransformer Combiner { get; }

    /// <summary>The fitted DAKL stage of the saved chain, or null (no DAKL asked, or it lost to the plain ensemble on validation).</summary>
    public DomainAdaptiveKernelTransformer? Dakl { get; }

    /// <summary>How DAKL's γ and α were chosen and whether DAKL is used; null without DAKL.</summary>
    public DaklSelectionResult? DaklSelection { get; }

    /// <summary>Test rows: each member, the ensemble, ensemble + DAKL, the kNN baseline and the mean-embedding baseline.</summary>
    public IReadOnlyList<EnsembleEvaluationRow> Rows { get; }

    /// <summary>The saved model's test evaluation (against the mean-embedding baseline) and the options used.</summary>
    public EvaluationReport Report { get; }

    /// <summary>Per-sample test cosines of the saved model (ensemble + DAKL when used, else the ensemble).</summary>
    public CosineMetrics Test { get; }

    /// <summary>Per-sample test cosines of the mean-embedding baseline.</summary>
    public CosineMetrics Baseline { get; }

    /// <summary>The test images, in the order of <see cref="Test"/>.</summary>
    public IReadOnlyList<string> TestImages { get; }

    internal EnsembleData Data { get; }

    internal ReverseSdEnsembleOptions Options { get; }

    /// <summary>Saves the whole chain into one zip with <c>mlContext.Model.Save</c>, atomically.</summary>
    public void Save(string path) => AtomicFile.Write(path, stream => _mlContext.Model.Save(Model, ReverseSdModel.ImageInputSchema(_mlContext), stream));

    /// <summary>Disposes the members' and the ensemble stages' native sessions.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        foreach (var member in Members) member.Dispose();
        Combiner.Dispose();
        Dakl?.Dispose();
    }
}

/// <summary>The members' predictions on every split, aligned by image, and the true embeddings where labels may be used.</summary>
internal sealed record EnsembleData(
    float[][][] Train, float[][][]? Validation, float[][][] Test, float[][][] TargetDomain,
    float[][] TrainTargets, float[][]? ValidationTargets, float[][] TestTargets, int EmbeddingSize);

/// <summary>
/// The ensemble pipeline (paper §4.9 and §3 "Meta-regression"): trains one heads model per member backbone, combines their
/// predicted embeddings (weights fitted on the validation split for a weighted mean), optionally fits DAKL on the training
/// samples' ensemble embeddings with the unlabelled target-domain images, and evaluates each stage on the test split.
/// </summary>
public static class ReverseSdEnsemble
{
    /// <summary>Name of a member's copied embedding column inside the saved chain (1-based).</summary>
    public static string MemberColumnName(int member) => $"MemberEmbedding{member}";

    private const string EnsembleColumn = ColumnNames.EnsembleEmbedding;
    private const string Output = ColumnNames.PredictedEmbedding;
    private const string Label = ColumnNames.PromptEmbedding;

    /// <summary>Trains the members and the ensemble on DATA/train (validation on DATA/validation when present), evaluates on DATA/test.</summary>
    public static ReverseSdEnsembleTrainedModel Train(MLContext mlContext, string dataDirectory, ReverseSdEnsembleOptions options,
        IProgress<ProgressReport>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(mlContext);
        ArgumentNullException.ThrowIfNull(options);
        Check(options);
        var backbones = options.Members.Select(m => ImageBackbone.Resolve(m.Backbone, m.Preprocessing)).ToList();
        (List<string> Good, int Skipped)? adaptTo = options.AdaptToDirectory == null ? null : TargetDomainImages(options.AdaptToDirectory);

        var members = new List<ReverseSdTrainedModel>();
        var disposables = new List<IDisposable>();
        try
        {
            for (int k = 0; k < options.Members.Count; k++)
            {
                string prefix = $"member {k + 1}/{options.Members.Count} ({options.Members[k].Backbone}): ";
                members.Add(ReverseSdModel.Train(mlContext, dataDirectory, options.Members[k], Prefixed(progress, prefix), cancellationToken));
            }
            return Build(mlContext, dataDirectory, options, backbones, members, adaptTo, disposables, progress, cancellationToken);
        }
        catch
        {
            foreach (var d in disposables) d.Dispose();
            foreach (var m in members) m.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Every non-empty combination of the members (paper Table 9 order) with its test mean cosine; with <paramref name="withDakl"/>,
    /// DAKL is refitted on each combination's ensemble embeddings with the model's chosen (or fixed) γ and α.
    /// </summary>
    public static IReadOnlyList<EnsembleAblationResult> Ablate(MLContext mlContext, ReverseSdEnsembleTrainedModel model, bool withDakl,
        IProgress<ProgressReport>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(mlContext);
        ArgumentNullException.ThrowIfNull(model);
        var data = model.Data;
        int m = data.Train.Length, d = data.EmbeddingSize;
        var weights = model.Combiner.Weights.Count == m ? model.Combiner.Weights.ToArray() : null;
        var subsets = Enumerable.Range(1, (1 << m) - 1)
            .Select(mask => Enumerable.Range(0, m).Where(i => (mask & (1 << i)) != 0).ToArray())
            .OrderBy(s => s.Length)
            .ThenBy(s => string.Join(",", s.Select(i => i.ToString("D2", CultureInfo.InvariantCulture))), StringComparer.Ordinal)
            .ToList();
        var results = new List<EnsembleAblationResult>();
        int done = 0;
        foreach (var subset in subsets)
        {
            float[][] Combine(float[][][] split) => Rows(EmbeddingCombiner.Combine(
                subset.Select(i => EmbeddingMatrix.FromRows(split[i])).ToArray(), model.Combiner.Combination, weights == null ? null : subset.Select(i => weights[i]).ToArray()), d);
            var test = Combine(data.Test);
            double plain = PromptEmbeddingEvaluator.Evaluate(test, data.TestTargets).MeanCosine;
            double? adapted = null;
            if (withDakl)
            {
                var chosen = model.DaklSelection;
                using var dakl = FitDakl(mlContext, model.Options, Combine(data.Train), data.TrainTargets, Combine(data.TargetDomain), d, null,
                    chosen?.Gamma ?? model.Options.DaklGamma, chosen?.Alpha ?? model.Options.DaklAlpha);
                adapted = PromptEmbeddingEvaluator.Evaluate(Apply(dakl, test, EnsembleColumn, Output, d), data.TestTargets).MeanCosine;
            }
            results.Add(new EnsembleAblationResult(subset.Select(i => model.MemberNames[i]).ToArray(), plain, adapted));
            progress?.Report(new ProgressReport("ensemble ablation", ++done, subsets.Count));
        }
        return results;
    }

    private static void Check(ReverseSdEnsembleOptions o)
    {
        if (o.Members is not { Count: > 0 }) throw new ReverseSdInputException("An ensemble needs at least one member backbone.");
        if (o.Members.Count > 16) throw new ReverseSdInputException($"An ensemble takes at most 16 members; got {o.Members.Count}.");
        if (!Enum.IsDefined(o.Combination)) throw new ReverseSdInputException($"Unknown ensemble combination {o.Combination}.");
        if (o.DaklCentroids < 1) throw new ReverseSdInputException($"DAKL's number of centroids r must be at least 1; got {o.DaklCentroids}.");
        if (!(o.DaklGamma > 0) || float.IsInfinity(o.DaklGamma)) throw new ReverseSdInputException($"DAKL's γ must be a positive finite number; got {o.DaklGamma}.");
        if (!(o.DaklAlpha > 0) || float.IsInfinity(o.DaklAlpha)) throw new ReverseSdInputException($"DAKL's α must be a positive finite number; got {o.DaklAlpha}.");
        if (!Enum.IsDefined(o.DaklSelection)) throw new ReverseSdInputException($"Unknown DAKL selection {o.DaklSelection}.");
        if (o.UseDakl && o.DaklSelection == DaklSelectionMode.Validation)
        {
            if (o.DaklGammaGrid is not { Count: > 0 } || o.DaklAlphaGrid is not { Count: > 0 })
                throw new ReverseSdInputException("DAKL's validation selection needs at least one γ and one α in its grids.");
            if (o.DaklGammaGrid.Concat(o.DaklAlphaGrid).Any(v => !(v > 0) || float.IsInfinity(v)))
                throw new ReverseSdInputException($"DAKL's γ and α grids take positive finite numbers; got γ {string.Join(",", o.DaklGammaGrid)} and α {string.Join(",", o.DaklAlphaGrid)}.");
        }
        if (o.KnnNeighbors < 0) throw new ReverseSdInputException($"The kNN baseline's k must be >= 0 (0 leaves it out); got {o.KnnNeighbors}.");
    }

    private static ReverseSdEnsembleTrainedModel Build(MLContext ml, string dataDirectory, ReverseSdEnsembleOptions options,
        IReadOnlyList<ImageBackbone> backbones, IReadOnlyList<ReverseSdTrainedModel> members, (List<string> Good, int Skipped)? adaptTo, List<IDisposable> disposables,
        IProgress<ProgressReport>? progress, CancellationToken cancellationToken)
    {
        int m = members.Count;
        bool hasValidation = File.Exists(Path.Combine(dataDirectory, "validation", ImageFolderDataset.MetadataFileName));
        string[] splits = hasValidation ? ["train", "validation", "test"] : ["train", "test"];

        // Each member's predictions on the cached features of every split (the same numbers its saved chain gives from the images).
        var predictions = new Dictionary<string, float[][][]>();
        var paths = new Dictionary<string, List<string>>();
        var prompts = new Dictionary<string, List<string>>();
        var firstFeatures = new Dictionary<string, float[][]>();
        foreach (string split in splits)
        {
            predictions[split] = new float[m][][];
            for (int k = 0; k < m; k++)
            {
                var mo = options.Members[k];
                string cache = mo.CacheDirectory ?? Path.Combine(dataDirectory, ".cache");
                var features = FeatureCache.GetOrCompute(ml, backbones[k], dataDirectory, split, cache, progress, cancellationToken);
                var imagePaths = features.Data.GetColumn<string>(ColumnNames.ImagePath).ToList();
                if (k == 0)
                {
                    paths[split] = imagePaths;
                    prompts[split] = features.Data.GetColumn<string>(ColumnNames.Prompt).ToList();
                    firstFeatures[split] = PromptEmbeddingEvaluator.ReadVectors(features.Data, ColumnNames.ImageFeatures).ToArray();
                }
                else if (!imagePaths.SequenceEqual(paths[split], StringComparer.Ordinal))
                {
                    throw new InvalidOperationException($"Member {k + 1} read other '{split}' images than member 1; the feature caches disagree.");
                }
                predictions[split][k] = PromptEmbeddingEvaluator.ReadVectors(members[k].Heads.Transform(features.Data), mo.Heads.OutputColumnName).ToArray();
            }
        }
        int d = predictions["train"][0][0].Length;
        if (predictions["train"][0].Length < 2)
            throw new ReverseSdInputException($"The train split of '{dataDirectory}' has fewer than 2 readable images: too few for an ensemble or DAKL.");

        var targets = new Dictionary<string, float[][]>();
        using (var encoder = SentenceEncoder.Load())
            foreach (string split in splits)
                targets[split] = encoder.Encode(prompts[split], Prefixed(progress, $"ensemble: embedding prompts: {split} "), cancellationToken);

        // Target-domain images for DAKL: the validation and test images (features only) or another folder.
        float[][][] targetDomain;
        int targetDomainSkipped = 0;
        if (adaptTo is var (goodImages, skippedImages))
        {
            targetDomain = PredictImages(ml, members, goodImages, cancellationToken);
            targetDomainSkipped = skippedImages;
        }
        else
        {
            targetDomain = Enumerable.Range(0, m)
                .Select(k => (hasValidation ? predictions["validation"][k] : []).Concat(predictions["test"][k]).ToArray()).ToArray();
        }

        string[] memberColumns = Enumerable.Range(1, m).Select(MemberColumnName).ToArray();
        VectorTableDataView MemberView(float[][][] member, float[][]? labels) => new(memberColumns
            .Select((c, k) => (c, d, member[k]))
            .Concat(labels == null ? [] : [(Label, d, labels)]).ToArray());
        var trainView = MemberView(predictions["train"], targets["train"]);
        var validationView = hasValidation ? MemberView(predictions["validation"], targets["validation"]) : null;
        var testView = MemberView(predictions["test"], null);

        string ensembleColumn = options.UseDakl ? EnsembleColumn : Output;
        var combiner = ml.Transforms.CombineEmbeddings(new EmbeddingEnsembleOptions
        {
            InputColumnNames = memberColumns,
            OutputColumnName = ensembleColumn,
            Combination = options.Combination,
            ValidationData = validationView ?? trainView,
            LabelColumnName = Label,
        }).Fit(trainView);
        disposables.Add(combiner);
        var ensembleTest = PromptEmbeddingEvaluator.ReadVectors(combiner.Transform(testView), ensembleColumn).ToArray();

        DomainAdaptiveKernelTransformer? dakl = null;
        float[][]? daklTest = null;
        DaklSelectionResult? selection = null;
        if (options.UseDakl)
        {
            var ensembleTrain = PromptEmbeddingEvaluator.ReadVectors(combiner.Transform(trainView), ensembleColumn).ToArray();
            var ensembleTarget = targetDomain[0].Length == 0 ? [] : PromptEmbeddingEvaluator.ReadVectors(combiner.Transform(MemberView(targetDomain, null)), ensembleColumn).ToArray();
            if (options.DaklSelection == DaklSelectionMode.Validation && validationView != null)
            {
                // Paper Table 10 tunes γ on validation: fit DAKL per grid point, score the validation split only (never the test labels).
                var ensembleValidation = PromptEmbeddingEvaluator.ReadVectors(combiner.Transform(validationView), ensembleColumn).ToArray();
                double plainValidation = PromptEmbeddingEvaluator.Evaluate(ensembleValidation, targets["validation"]).MeanCosine;
                var grid = new List<DaklGridPoint>();
                int total = options.DaklGammaGrid.Count * options.DaklAlphaGrid.Count;
                foreach (float gamma in options.DaklGammaGrid)
                    foreach (float alpha in options.DaklAlphaGrid)
                    {
                        cancellationToken.ThrowIfCancellationRequested();
                        var candidate = FitDakl(ml, options, ensembleTrain, targets["train"], ensembleTarget, d, null, gamma, alpha);
                        double cosine = PromptEmbeddingEvaluator.Evaluate(Apply(candidate, ensembleValidation, EnsembleColumn, Output, d), targets["validation"]).MeanCosine;
                        grid.Add(new DaklGridPoint(gamma, alpha, cosine));
                        if (grid.Count == 1 || Score(cosine) > grid.Take(grid.Count - 1).Max(p => Score(p.ValidationMeanCosine)))
                        {
                            dakl?.Dispose();
                            dakl = candidate;
                        }
                        else
                        {
                            candidate.Dispose();
                        }
                        progress?.Report(new ProgressReport("DAKL validation grid", grid.Count, total, $"γ = {F(gamma)}, α = {F(alpha)}: {cosine:F4}"));
                    }
                // The first grid point with the highest validation cosine (a NaN cosine, from a degenerate fit, never wins).
                var best = grid.First(p => Score(p.ValidationMeanCosine) == grid.Max(q => Score(q.ValidationMeanCosine)));
                selection = new DaklSelectionResult(true, best.Gamma, best.Alpha, Score(best.ValidationMeanCosine) > plainValidation, plainValidation, grid);
            }
            else
            {
                dakl = FitDakl(ml, options, ensembleTrain, targets["train"], ensembleTarget, d, progress, options.DaklGamma, options.DaklAlpha);
                selection = new DaklSelectionResult(false, options.DaklGamma, options.DaklAlpha, true, null, []);
            }
            disposables.Add(dakl!);
            daklTest = Apply(dakl!, ensembleTest, EnsembleColumn, Output, d);
        }

        // Test rows (Table 8 layout): members, ensemble, ensemble + DAKL, kNN baseline, mean baseline.
        var testTargets = targets["test"];
        var rows = new List<(string Name, CosineMetrics Metrics)>();
        var memberNames = backbones.Select(b => b.Name).ToList();
        for (int k = 0; k < m; k++)
            rows.Add(($"member {k + 1}: {memberNames[k]}", PromptEmbeddingEvaluator.Evaluate(predictions["test"][k], testTargets)));
        string combinationName = options.Combination switch { EnsembleCombination.WeightedMean => "weighted mean", EnsembleCombination.Median => "median", _ => "mean" };
        var ensembleMetrics = PromptEmbeddingEvaluator.Evaluate(ensembleTest, testTargets);
        rows.Add(($"ensemble ({combinationName})", ensembleMetrics));
        var finalMetrics = ensembleMetrics;
        if (dakl != null)
        {
            var daklMetrics = PromptEmbeddingEvaluator.Evaluate(daklTest!, testTargets);
            if (selection!.Used) finalMetrics = daklMetrics;
            var s = dakl.Statistics;
            string how = !selection.OnValidation ? "fixed"
                : selection.Used ? "best on validation" : "best on validation, NOT USED: the plain ensemble was better on validation";
            rows.Add(($"ensemble + DAKL (r = {s.Centroids}, p = {s.TargetDomainSamples}, γ = {F(selection.Gamma)}, α = {F(selection.Alpha)}, {how})", daklMetrics));
        }
        if (options.KnnNeighbors > 0)
        {
            int f = firstFeatures["train"][0].Length;
            using var knn = ml.Regression.Trainers.NearestNeighborPrompts(ColumnNames.ImageFeatures, Label, Output, options.KnnNeighbors)
                .Fit(new VectorTableDataView((ColumnNames.ImageFeatures, f, firstFeatures["train"]), (Label, d, targets["train"])));
            var knnTest = Apply(knn, firstFeatures["test"], ColumnNames.ImageFeatures, Output, f);
            rows.Add(($"kNN regression (k = {options.KnnNeighbors}, {memberNames[0]} features)", PromptEmbeddingEvaluator.Evaluate(knnTest, testTargets)));
        }
        var meanEmbedding = PromptEmbeddingEvaluator.MeanEmbedding(targets["train"]);
        var baseline = PromptEmbeddingEvaluator.EvaluateConstant(meanEmbedding, testTargets);
        rows.Add(("mean-embedding baseline", baseline));
        var evaluated = rows.Select((r, i) => new EnsembleEvaluationRow(r.Name, r.Metrics,
            i == 0 || r.Metrics.Count < 2 ? null : PairedTTest.Run(r.Metrics.SampleCosines, rows[i - 1].Metrics.SampleCosines))).ToList();

        var reportOptions = new Dictionary<string, string>(members[0].Report.Options)
        {
            ["backbone"] = string.Join(",", backbones.Select(b => b.ToString())),
            ["ensemble"] = options.Combination.ToString(),
            ["ensemble_weights"] = string.Join(",", combiner.Weights.Select(w => F(w))),
            ["dakl"] = options.UseDakl ? "true" : "false",
            ["knn_baseline"] = options.KnnNeighbors.ToString(CultureInfo.InvariantCulture),
        };
        for (int k = 0; k < m; k++)
            reportOptions[$"member_{k + 1}_test_mean_cosine"] = F(rows[k].Metrics.MeanCosine);
        if (dakl != null)
        {
            var s = dakl.Statistics;
            reportOptions["dakl_centroids"] = s.Centroids.ToString(CultureInfo.InvariantCulture);
            reportOptions["dakl_target_domain_samples"] = s.TargetDomainSamples.ToString(CultureInfo.InvariantCulture);
            reportOptions["dakl_target_domain"] = options.AdaptToDirectory == null ? (hasValidation ? "validation+test images" : "test images") : Path.GetFullPath(options.AdaptToDirectory);
            reportOptions["dakl_target_domain_skipped"] = targetDomainSkipped.ToString(CultureInfo.InvariantCulture);
            reportOptions["dakl_gamma"] = F(selection!.Gamma);
            reportOptions["dakl_alpha"] = F(selection.Alpha);
            reportOptions["dakl_selection"] = selection.OnValidation ? "validation"
                : options.DaklSelection == DaklSelectionMode.Validation ? "fixed (no validation split)" : "fixed";
            reportOptions["dakl_used"] = selection.Used ? "true" : "false";
            reportOptions["dakl_test_mean_cosine"] = F(rows.First(r => r.Name.StartsWith("ensemble + DAKL", StringComparison.Ordinal)).Metrics.MeanCosine);
            if (selection.OnValidation)
            {
                reportOptions["dakl_plain_ensemble_validation_mean_cosine"] = F(selection.PlainEnsembleValidationMeanCosine!.Value);
                reportOptions["dakl_validation_grid"] = string.Join("; ", selection.Grid.Select(p => $"gamma={F(p.Gamma)} alpha={F(p.Alpha)}: {F(p.ValidationMeanCosine)}"));
            }
            reportOptions["ensemble_test_mean_cosine"] = F(ensembleMetrics.MeanCosine);
        }
        var report = new EvaluationReport
        {
            Split = "test",
            NTest = finalMetrics.Count,
            SkippedImages = members[0].Report.SkippedImages,
            TestMeanCosine = finalMetrics.MeanCosine,
            TestStandardError = finalMetrics.StandardError,
            BaselineMeanCosine = baseline.MeanCosine,
            BaselineStandardError = baseline.StandardError,
            CeilingMeanCosine = members[0].Report.CeilingMeanCosine,
            ModelVsBaseline = finalMetrics.Count > 1 ? PairedTTest.Run(finalMetrics.SampleCosines, baseline.SampleCosines) : null,
            Options = reportOptions,
        };

        var used = selection is { Used: true } ? dakl : null;
        var chain = Chain(ml, members, combiner, used, options.UseDakl, d);
        var data = new EnsembleData(predictions["train"], hasValidation ? predictions["validation"] : null, predictions["test"], targetDomain,
            targets["train"], hasValidation ? targets["validation"] : null, testTargets, d);
        if (dakl != null && used == null)
        {
            dakl.Dispose();
            disposables.Remove(dakl);
        }
        return new ReverseSdEnsembleTrainedModel(ml, chain, members, memberNames, combiner, used, selection, evaluated, report, finalMetrics, baseline,
            paths["test"], data, options);
    }

    /// <summary>
    /// The saved chain: members last to first (so the first member's vocabulary columns and ModelInfo stay visible), each
    /// member's embedding copied to its own column, then the combiner and DAKL writing "PredictedEmbedding" (a copy of the
    /// ensemble embedding when the combiner wrote "EnsembleEmbedding" for a DAKL that lost on validation).
    /// </summary>
    private static TransformerChain<ITransformer> Chain(MLContext ml, IReadOnlyList<ReverseSdTrainedModel> members,
        EmbeddingEnsembleTransformer combiner, DomainAdaptiveKernelTransformer? dakl, bool combinerWritesEnsembleColumn, int d)
    {
        var stages = new List<ITransformer>();
        var schema = new VectorTableDataView((Output, d, []));
        for (int k = members.Count - 1; k >= 0; k--)
        {
            stages.AddRange(members[k].Model is TransformerChain<ITransformer> memberChain ? memberChain : [members[k].Model]);
            stages.Add(ml.Transforms.CopyColumns(MemberColumnName(k + 1), Output).Fit(schema));
        }
        stages.Add(combiner);
        if (dakl != null) stages.Add(dakl);
        else if (combinerWritesEnsembleColumn) stages.Add(ml.Transforms.CopyColumns(Output, EnsembleColumn).Fit(new VectorTableDataView((EnsembleColumn, d, []))));
        return new TransformerChain<ITransformer>(stages.ToArray());
    }

    private static DomainAdaptiveKernelTransformer FitDakl(MLContext ml, ReverseSdEnsembleOptions options, float[][] ensembleTrain, float[][] trainTargets,
        float[][] ensembleTargetDomain, int d, IProgress<ProgressReport>? progress, float gamma, float alpha)
        => ml.Regression.Trainers.DomainAdaptiveKernel(new DomainAdaptiveKernelOptions
        {
            InputColumnName = EnsembleColumn,
            LabelColumnName = Label,
            OutputColumnName = Output,
            // Features only: the target-domain view has no label column, so no prompt of it can reach the fit.
            TargetDomainData = new VectorTableDataView((EnsembleColumn, d, ensembleTargetDomain)),
            NumberOfCentroids = options.DaklCentroids,
            Gamma = gamma,
            Alpha = alpha,
            Seed = options.Members[0].Heads.Seed,
            Progress = progress,
        }).Fit(new VectorTableDataView((EnsembleColumn, d, ensembleTrain), (Label, d, trainTargets)));

    private static float[][] Apply(ITransformer transformer, float[][] input, string inputColumn, string outputColumn, int size)
        => PromptEmbeddingEvaluator.ReadVectors(transformer.Transform(new VectorTableDataView((inputColumn, size, input))), outputColumn).ToArray();

    /// <summary>The readable images of a target-domain folder (checked before any training) and the count of unreadable ones.</summary>
    private static (List<string> Good, int Skipped) TargetDomainImages(string folder)
    {
        if (!Directory.Exists(folder))
            throw new ReverseSdInputException($"The target-domain folder '{folder}' (--adapt-to) does not exist.");
        var files = Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories)
            .Where(ImageFiles.HasImageExtension).Select(Path.GetFullPath).Order(StringComparer.Ordinal).ToList();
        var good = files.Where(f => ImageValidation.FindProblem(f) == null).ToList();
        if (good.Count == 0) throw new ReverseSdInputException($"The target-domain folder '{folder}' (--adapt-to) has no readable image.");
        return (good, files.Count - good.Count);
    }

    /// <summary>Each member's prediction on images, through its own backbone + heads chain.</summary>
    private static float[][][] PredictImages(MLContext ml, IReadOnlyList<ReverseSdTrainedModel> members, List<string> images,
        CancellationToken cancellationToken)
    {
        var result = new float[members.Count][][];
        for (int k = 0; k < members.Count; k++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var input = ml.Data.LoadFromEnumerable(images.Select(p => new ImagePathRow { ImagePath = p }).ToList());
            result[k] = PromptEmbeddingEvaluator.ReadVectors(members[k].Model.Transform(input), Output).ToArray();
        }
        return result;
    }

    private sealed class ImagePathRow
    {
        public string ImagePath { get; set; } = "";
    }

    private static float[][] Rows(float[] flat, int d) => Enumerable.Range(0, flat.Length / d).Select(i => flat.AsSpan(i * d, d).ToArray()).ToArray();

    private static double Score(double cosine) => double.IsNaN(cosine) ? double.NegativeInfinity : cosine;

    private static string F(double v) => v.ToString("G4", CultureInfo.InvariantCulture);

    private static IProgress<ProgressReport>? Prefixed(IProgress<ProgressReport>? progress, string prefix)
        => progress == null ? null : new PrefixedProgress(progress, prefix);

    private sealed class PrefixedProgress(IProgress<ProgressReport> inner, string prefix) : IProgress<ProgressReport>
    {
        public void Report(ProgressReport value) => inner.Report(value with { Stage = prefix + value.Stage });
    }
}
