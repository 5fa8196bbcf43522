using System.Globalization;
using Microsoft.ML;
using ReverseSD.MLNet.Dakl;
using ReverseSD.MLNet.Evaluation;

namespace ReverseSD.MLNet.Pipeline;

/// <summary>
/// DAKL on an ensemble (paper §3 "Meta-regression", Table 10): fitted on the training samples' ensemble embeddings with the
/// unlabelled target-domain embeddings, γ and α chosen on the validation split over a grid (or fixed).
/// </summary>
internal static class DaklSelection
{
    /// <summary>
    /// The DAKL stage to keep and how it was chosen. With validation selection every grid point is fitted and scored on the
    /// validation split only (never the test labels); the result says whether the best one beats the plain ensemble there.
    /// </summary>
    public static (DomainAdaptiveKernelTransformer Dakl, DaklSelectionResult Selection) Select(MLContext ml, ReverseSdEnsembleOptions options,
        float[][] ensembleTrain, float[][] trainTargets, float[][] ensembleTargetDomain, float[][]? ensembleValidation, float[][]? validationTargets,
        int d, IProgress<ProgressReport>? progress, CancellationToken cancellationToken)
    {
        if (options.DaklSelection != DaklSelectionMode.Validation || ensembleValidation == null || validationTargets == null)
        {
            var fixedDakl = Fit(ml, options, ensembleTrain, trainTargets, ensembleTargetDomain, d, progress, options.DaklGamma, options.DaklAlpha);
            return (fixedDakl, new DaklSelectionResult(false, options.DaklGamma, options.DaklAlpha, true, null, []));
        }
        double plainValidation = PromptEmbeddingEvaluator.Evaluate(ensembleValidation, validationTargets).MeanCosine;
        var grid = new List<DaklGridPoint>();
        DomainAdaptiveKernelTransformer? best = null;
        int total = options.DaklGammaGrid.Count * options.DaklAlphaGrid.Count;
        foreach (float gamma in options.DaklGammaGrid)
            foreach (float alpha in options.DaklAlphaGrid)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var candidate = Fit(ml, options, ensembleTrain, trainTargets, ensembleTargetDomain, d, null, gamma, alpha);
                double cosine = PromptEmbeddingEvaluator.Evaluate(
                    Apply(candidate, ensembleValidation, ReverseSdEnsemble.EnsembleColumn, ReverseSdEnsemble.OutputColumn, d), validationTargets).MeanCosine;
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
                progress?.Report(new ProgressReport("DAKL validation grid", grid.Count, total, $"γ = {F(gamma)}, α = {F(alpha)}: {cosine:F4}"));
            }
        // The first grid point with the highest validation cosine (a NaN cosine, from a degenerate fit, never wins).
        var chosen = grid.First(p => Score(p.ValidationMeanCosine) == grid.Max(q => Score(q.ValidationMeanCosine)));
        return (best!, new DaklSelectionResult(true, chosen.Gamma, chosen.Alpha, Score(chosen.ValidationMeanCosine) > plainValidation, plainValidation, grid));
    }

    /// <summary>Fits DAKL with <paramref name="gamma"/> and <paramref name="alpha"/> on "EnsembleEmbedding" → "PredictedEmbedding".</summary>
    public static DomainAdaptiveKernelTransformer Fit(MLContext ml, ReverseSdEnsembleOptions options, float[][] ensembleTrain, float[][] trainTargets,
        float[][] ensembleTargetDomain, int d, IProgress<ProgressReport>? progress, float gamma, float alpha)
        => ml.Regression.Trainers.DomainAdaptiveKernel(new DomainAdaptiveKernelOptions
        {
            InputColumnName = ReverseSdEnsemble.EnsembleColumn,
            LabelColumnName = ReverseSdEnsemble.LabelColumn,
            OutputColumnName = ReverseSdEnsemble.OutputColumn,
            // Features only: the target-domain view has no label column, so no prompt of it can reach the fit.
            TargetDomainData = new VectorTableDataView((ReverseSdEnsemble.EnsembleColumn, d, ensembleTargetDomain)),
            NumberOfCentroids = options.DaklCentroids,
            Gamma = gamma,
            Alpha = alpha,
            Seed = options.Members[0].Heads.Seed,
            Progress = progress,
        }).Fit(new VectorTableDataView((ReverseSdEnsemble.EnsembleColumn, d, ensembleTrain), (ReverseSdEnsemble.LabelColumn, d, trainTargets)));

    /// <summary>Runs a fitted stage on rows of one vector column and reads its output column.</summary>
    public static float[][] Apply(ITransformer transformer, float[][] input, string inputColumn, string outputColumn, int size)
        => PromptEmbeddingEvaluator.ReadVectors(transformer.Transform(new VectorTableDataView((inputColumn, size, input))), outputColumn).ToArray();

    private static double Score(double cosine) => double.IsNaN(cosine) ? double.NegativeInfinity : cosine;

    private static string F(double v) => v.ToString("G4", CultureInfo.InvariantCulture);
}
