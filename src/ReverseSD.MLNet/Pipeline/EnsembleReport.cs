using System.Globalization;
using Microsoft.ML;
using ReverseSD.MLNet.Dakl;
using ReverseSD.MLNet.Ensemble;
using ReverseSD.MLNet.Evaluation;
using ReverseSD.MLNet.Retrieval;

namespace ReverseSD.MLNet.Pipeline;

/// <summary>The ensemble's test evaluation: one row per stage (paper Table 8 layout) and the report of the saved model.</summary>
internal static class EnsembleReport
{
    /// <summary>The ensemble's predictions on the test split, by stage.</summary>
    public sealed record TestPredictions(float[][][] Members, float[][] Ensemble, float[][]? Dakl);

    /// <summary>
    /// Rows for each member, the ensemble, ensemble + DAKL, the kNN regression baseline (first backbone's features) and the
    /// mean-embedding baseline, each with a paired t-test against the row above; and the report of the saved model.
    /// </summary>
    public static (List<EnsembleEvaluationRow> Rows, EvaluationReport Report, CosineMetrics Final, CosineMetrics Baseline) Evaluate(
        MLContext ml, ReverseSdEnsembleOptions options, PreparedSplits data, IReadOnlyList<ReverseSdTrainedModel> members,
        EmbeddingEnsembleTransformer combiner, DomainAdaptiveKernelTransformer? dakl, DaklSelectionResult? selection, TestPredictions test,
        int targetDomainSkipped)
    {
        var testTargets = data.Test!.Targets;
        var rows = new List<(string Name, CosineMetrics Metrics)>();
        int m = members.Count;
        for (int k = 0; k < m; k++)
            rows.Add(($"member {k + 1}: {data.Backbones[k].Name}", PromptEmbeddingEvaluator.Evaluate(test.Members[k], testTargets)));
        string combinationName = options.Combination switch { EnsembleCombination.WeightedMean => "weighted mean", EnsembleCombination.Median => "median", _ => "mean" };
        var ensembleMetrics = PromptEmbeddingEvaluator.Evaluate(test.Ensemble, testTargets);
        rows.Add(($"ensemble ({combinationName})", ensembleMetrics));
        var finalMetrics = ensembleMetrics;
        if (dakl != null)
        {
            var daklMetrics = PromptEmbeddingEvaluator.Evaluate(test.Dakl!, testTargets);
            if (selection!.Used) finalMetrics = daklMetrics;
            var s = dakl.Statistics;
            string how = !selection.OnValidation ? "fixed"
                : selection.Used ? "best on validation" : "best on validation, NOT USED: the plain ensemble was better on validation";
            rows.Add(($"ensemble + DAKL (r = {s.Centroids}, p = {s.TargetDomainSamples}, γ = {F(selection.Gamma)}, α = {F(selection.Alpha)}, {how})", daklMetrics));
        }
        if (options.KnnNeighbors > 0)
        {
            var trainFeatures = data.Train.Features[0];
            int f = trainFeatures[0].Length, d = testTargets[0].Length;
            using var knn = ml.Regression.Trainers.NearestNeighborRegression(PreparedSplit.FeaturesColumn, ReverseSdEnsemble.LabelColumn,
                    ReverseSdEnsemble.OutputColumn, options.KnnNeighbors)
                .Fit(new VectorTableDataView((PreparedSplit.FeaturesColumn, f, trainFeatures), (ReverseSdEnsemble.LabelColumn, d, data.Train.Targets)));
            var knnTest = VectorTableDataView.TransformRows(knn, data.Test.Features[0], PreparedSplit.FeaturesColumn, ReverseSdEnsemble.OutputColumn, f);
            rows.Add(($"kNN regression, image-to-image variant (k = {options.KnnNeighbors} nearest training images in {data.Backbones[0].Name} feature space, similarity-weighted mean of their prompt embeddings)", PromptEmbeddingEvaluator.Evaluate(knnTest, testTargets)));
        }
        var baseline = PromptEmbeddingEvaluator.EvaluateConstant(data.MeanTrainTarget, testTargets);
        rows.Add(("mean-embedding baseline", baseline));
        var evaluated = rows.Select((r, i) => new EnsembleEvaluationRow(r.Name, r.Metrics,
            i == 0 || r.Metrics.Count < 2 ? null : PairedTTest.Run(r.Metrics.SampleCosines, rows[i - 1].Metrics.SampleCosines))).ToList();

        var reportOptions = new Dictionary<string, string>(members[0].Report.Options)
        {
            ["backbone"] = string.Join(",", data.Backbones.Select(b => b.ToString())),
            ["ensemble"] = options.Combination.ToString(),
            ["ensemble_weights"] = string.Join(",", combiner.Weights.Select(w => F(w))),
            ["dakl"] = options.UseDakl ? "true" : "false",
            ["knn_baseline"] = options.KnnNeighbors.ToString(CultureInfo.InvariantCulture),
            ["knn_baseline_variant"] = options.KnnNeighbors > 0 ? "image-to-image (not the paper's §4.10 CLIP image-to-prompt variant)" : "none",
        };
        for (int k = 0; k < m; k++)
        {
            reportOptions[$"member_{k + 1}_test_mean_cosine"] = F(rows[k].Metrics.MeanCosine);
            if (members[k].Report.Options.TryGetValue("finetune", out var fineTuning)) reportOptions[$"member_{k + 1}_finetune"] = fineTuning;
        }
        if (dakl != null)
        {
            var s = dakl.Statistics;
            reportOptions["dakl_centroids"] = s.Centroids.ToString(CultureInfo.InvariantCulture);
            reportOptions["dakl_target_domain_samples"] = s.TargetDomainSamples.ToString(CultureInfo.InvariantCulture);
            reportOptions["dakl_target_domain"] = options.AdaptToDirectory == null
                ? (data.Validation != null ? "validation+test images" : "test images") : Path.GetFullPath(options.AdaptToDirectory);
            reportOptions["dakl_target_domain_skipped"] = targetDomainSkipped.ToString(CultureInfo.InvariantCulture);
            reportOptions["dakl_gamma"] = F(selection!.Gamma);
            reportOptions["dakl_alpha"] = F(selection.Alpha);
            reportOptions["dakl_selection"] = selection.OnValidation ? "validation"
                : options.DaklSelection == DaklSelectionMode.Validation ? "fixed (no validation split)" : "fixed";
            reportOptions["dakl_used"] = selection.Used ? "true" : "false";
            reportOptions["dakl_kernel_precision"] = s.UsedFloat64Kernel ? "float64" : "float32";
            reportOptions["dakl_condition_number_bound"] = s.ConditionNumberBound.ToString("G3", CultureInfo.InvariantCulture);
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
        return (evaluated, report, finalMetrics, baseline);
    }

    private static string F(double v) => v.ToString("G4", CultureInfo.InvariantCulture);
}
