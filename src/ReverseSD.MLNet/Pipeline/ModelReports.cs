using System.Globalization;
using ReverseSD.MLNet.Backbones;
using ReverseSD.MLNet.Curriculum;
using ReverseSD.MLNet.Evaluation;
using ReverseSD.MLNet.Heads;

namespace ReverseSD.MLNet.Pipeline;

/// <summary>The evaluation reports of the facades: metrics against the mean-embedding baseline, the options used, the per-sample CSV.</summary>
internal static class ModelReports
{
    /// <summary>The report of predictions on a split: model and constant-baseline cosines, the visual-only ceiling, a paired t-test.</summary>
    public static (EvaluationReport Report, CosineMetrics Model, CosineMetrics Baseline) Evaluate(string split, IReadOnlyList<float[]> predicted,
        float[][] targets, float[] meanEmbedding, float[][]? visualTargets, int skipped, IReadOnlyDictionary<string, string> options,
        IReadOnlyList<HeadsEpochSummary>? history, int? bestEpoch = null)
    {
        var model = PromptEmbeddingEvaluator.Evaluate(predicted, targets);
        var baseline = PromptEmbeddingEvaluator.EvaluateConstant(meanEmbedding, targets);
        double? ceiling = visualTargets == null ? null : PromptEmbeddingEvaluator.VisualCeiling(targets, visualTargets).MeanCosine;
        var report = new EvaluationReport
        {
            Split = split,
            NTest = model.Count,
            SkippedImages = skipped,
            TestMeanCosine = model.MeanCosine,
            TestStandardError = model.StandardError,
            BaselineMeanCosine = baseline.MeanCosine,
            BaselineStandardError = baseline.StandardError,
            CeilingMeanCosine = ceiling,
            ModelVsBaseline = model.Count > 1 ? PairedTTest.Run(model.SampleCosines, baseline.SampleCosines) : null,
            Options = options,
            TrainingHistory = history,
            BestEpoch = bestEpoch,
        };
        return (report, model, baseline);
    }

    /// <summary>Writes report.json and the per-sample cosines CSV beside it (REPORT-samples.csv); returns the CSV path.</summary>
    public static string Write(EvaluationReport report, string reportPath, IReadOnlyList<string> images, CosineMetrics model, CosineMetrics baseline)
    {
        string csv = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(reportPath))!, Path.GetFileNameWithoutExtension(reportPath) + "-samples.csv");
        PromptEmbeddingEvaluator.WriteSampleCosines(csv, images, model, baseline,
            report.Prompts?.Rows.Select(r => (r.Method + "_cosine", r.SampleCosines)).ToList());
        var withCsv = new EvaluationReport
        {
            ModelFormat = report.ModelFormat, Split = report.Split, NTest = report.NTest, SkippedImages = report.SkippedImages,
            TestMeanCosine = report.TestMeanCosine, TestStandardError = report.TestStandardError,
            BaselineMeanCosine = report.BaselineMeanCosine, BaselineStandardError = report.BaselineStandardError,
            CeilingMeanCosine = report.CeilingMeanCosine, ModelVsBaseline = report.ModelVsBaseline, Prompts = report.Prompts, PerSampleCsv = Path.GetFileName(csv),
            Options = report.Options, TrainingHistory = report.TrainingHistory, BestEpoch = report.BestEpoch,
        };
        withCsv.Save(reportPath);
        return csv;
    }

    /// <summary>The training options recorded in a single model's report.</summary>
    public static Dictionary<string, string> TrainingOptions(string data, ReverseSdTrainingOptions o, ImageBackbone backbone,
        int trainCount, int validationCount, int vocabularySize)
    {
        var h = o.Heads;
        string F(double v) => v.ToString("R", CultureInfo.InvariantCulture);
        var options = new Dictionary<string, string>
        {
            ["data"] = Path.GetFullPath(data),
            ["backbone"] = backbone.ToString(),
            ["head"] = h.Configuration.ToString(),
            ["lambda"] = F(h.VocabularyWeight),
            ["vocabulary_size"] = vocabularySize.ToString(CultureInfo.InvariantCulture),
            ["epochs"] = h.NumberOfEpochs.ToString(CultureInfo.InvariantCulture),
            ["learning_rate"] = F(h.LearningRate),
            ["batch_size"] = h.BatchSize.ToString(CultureInfo.InvariantCulture),
            ["optimizer"] = h.Optimizer.ToString(),
            ["weight_decay"] = F(h.WeightDecay),
            ["hidden"] = string.Join(",", h.HiddenLayerSizes),
            ["huber_weight"] = F(h.HuberWeight),
            ["seed"] = h.Seed.ToString(CultureInfo.InvariantCulture),
            ["n_train"] = trainCount.ToString(CultureInfo.InvariantCulture),
            ["n_validation"] = validationCount.ToString(CultureInfo.InvariantCulture),
            ["curriculum"] = CurriculumDescription(h),
            ["finetune"] = o.FineTuning is not { Mode: not FineTuning.BackboneFineTuning.None }
                ? "none"
                : $"{o.FineTuning.Mode.ToString().ToLowerInvariant()} (epochs {o.FineTuning.NumberOfEpochs}, learning rate {F(o.FineTuning.LearningRate)}, heads warm-up {o.FineTuning.HeadsWarmupEpochs})",
        };
        if (backbone.FeatureMapChannels > 0)
        {
            options["spatial_channels"] = h.SpatialChannels.ToString(CultureInfo.InvariantCulture);
            options["spatial_dropout"] = F(h.SpatialDropout);
        }
        return options;
    }

    /// <summary>"in-sample" or "out-of-fold (K folds)".</summary>
    internal static string Scoring(CurriculumOptions c) =>
        c.Scoring == DifficultyScoring.OutOfFold ? $"out-of-fold ({c.Folds.ToString(CultureInfo.InvariantCulture)} folds)" : "in-sample";

    private static string CurriculumDescription(PromptEmbeddingHeadsTrainer.Options h)
    {
        var c = h.Curriculum;
        if (!c.Enabled) return "none";
        string F(double v) => v.ToString("R", CultureInfo.InvariantCulture);
        string split = c.Splitting == CurriculumSplitting.Thirds ? "thirds"
            : c.EasyMax is double e && c.MediumMax is double m ? $"thresholds {F(e)},{F(m)}" : $"thresholds from shares {F(c.EasyShare)},{F(c.MediumShare)}";
        return $"{split}; preliminary epochs {c.PreliminaryEpochs ?? h.NumberOfEpochs}; weighting {c.Weighting}; scoring {Scoring(c)}; stages {string.Join(",", c.StageFractions.Select(f => F(Math.Round(f, 4))))}";
    }
}
