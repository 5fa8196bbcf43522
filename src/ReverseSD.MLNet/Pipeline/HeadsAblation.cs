using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Microsoft.ML;
using ReverseSD.MLNet.Curriculum;
using ReverseSD.MLNet.Evaluation;
using ReverseSD.MLNet.Heads;

namespace ReverseSD.MLNet.Pipeline;

/// <summary>One row of the paper's Table 1 ablation, over several seeds.</summary>
/// <param name="Name">"vanilla", "+ MLC" or "+ MLC + CL".</param>
/// <param name="SeedMeanCosines">Test mean cosine of each seed's model, in seed order.</param>
/// <param name="Mean">Mean of <paramref name="SeedMeanCosines"/>.</param>
/// <param name="StandardDeviation">Sample standard deviation over seeds (NaN for one seed).</param>
/// <param name="VersusPrevious">Paired t-test of this row's per-sample cosines (averaged over seeds) against the previous row's; null for the first row.</param>
/// <param name="Seconds">Wall time of this row's trainings (all seeds).</param>
public sealed record HeadsAblationRow(
    string Name, IReadOnlyList<double> SeedMeanCosines, double Mean, double StandardDeviation, PairedTTestResult? VersusPrevious, double Seconds);

/// <summary>The result of <see cref="HeadsAblation.Run"/>: the table rows and what they were measured on.</summary>
public sealed class HeadsAblationResult
{
    /// <summary>vanilla, + MLC, + MLC + CL.</summary>
    public required IReadOnlyList<HeadsAblationRow> Rows { get; init; }

    /// <summary>The seeds, one model per row and seed.</summary>
    public required IReadOnlyList<int> Seeds { get; init; }

    /// <summary>Number of test pairs.</summary>
    public required int NTest { get; init; }

    /// <summary>Test mean cosine of the mean-training-embedding baseline.</summary>
    public required double BaselineMeanCosine { get; init; }

    /// <summary>What was trained (backbone, epochs, head configuration, curriculum, data).</summary>
    public required IReadOnlyDictionary<string, string> Options { get; init; }

    /// <summary>The table as Markdown (paper Table 1 layout: rows vanilla / + MLC / + MLC + CL, mean ± std over seeds).</summary>
    public string ToMarkdown()
    {
        var b = new StringBuilder();
        b.AppendLine(Invariant($"Test mean cosine, mean ± std over {Seeds.Count} seed(s) ({string.Join(", ", Seeds)}); n_test = {NTest}."));
        b.AppendLine();
        b.AppendLine("| Model | MLC | CL | Cosine similarity | per seed | paired t-test vs previous row |");
        b.AppendLine("|---|---|---|---|---|---|");
        foreach (var r in Rows)
        {
            string t = r.VersusPrevious is { } p ? Invariant($"Δ = {SignedDifference.Format(p.MeanDifference)}, t = {p.T:F2}, p = {p.PValue:G3}") : "";
            b.AppendLine(Invariant($"| {r.Name} | {(r.Name.Contains("MLC") ? "✓" : "-")} | {(r.Name.Contains("CL") ? "✓" : "-")} | {r.Mean:F4} ± {(double.IsNaN(r.StandardDeviation) ? "-" : r.StandardDeviation.ToString("F4", CultureInfo.InvariantCulture))} | {string.Join(" ", r.SeedMeanCosines.Select(c => c.ToString("F4", CultureInfo.InvariantCulture)))} | {t} |"));
        }
        b.AppendLine();
        b.AppendLine(Invariant($"Mean-embedding baseline: {BaselineMeanCosine:F4}. The t-test pairs each test sample's cosine averaged over the seeds (df = n_test − 1)."));
        return b.ToString();
    }

    /// <summary>The result as indented JSON.</summary>
    public string ToJson() => JsonSerializer.Serialize(new
    {
        seeds = Seeds,
        n_test = NTest,
        baseline_mean_cosine = BaselineMeanCosine,
        options = Options,
        rows = Rows.Select(r => new
        {
            name = r.Name,
            mean_cosine = r.Mean,
            std = double.IsNaN(r.StandardDeviation) ? (double?)null : r.StandardDeviation,
            seed_mean_cosines = r.SeedMeanCosines,
            seconds = r.Seconds,
            versus_previous = r.VersusPrevious is { } p
                ? new { t = p.T, df = p.DegreesOfFreedom, p = p.PValue, mean_difference = p.MeanDifference, pairing = "per-sample cosine averaged over seeds" }
                : null,
        }),
    }, new JsonSerializerOptions { WriteIndented = true });

    /// <summary>Writes ablation.json and ablation.md into <paramref name="directory"/>, atomically.</summary>
    public void Save(string directory)
    {
        Directory.CreateDirectory(directory);
        AtomicFile.WriteAllBytes(Path.Combine(directory, "ablation.json"), Encoding.UTF8.GetBytes(ToJson()));
        AtomicFile.WriteAllBytes(Path.Combine(directory, "ablation.md"), Encoding.UTF8.GetBytes(ToMarkdown()));
    }

    private static string Invariant(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}

/// <summary>
/// The paper's Table 1 ablation on one backbone: vanilla (embedding head only), + MLC (the vocabulary head, configuration 3
/// unless the options name another), + MLC + CL (the curriculum, equal thirds unless the options set one), each trained with
/// several seeds on the same cached features and evaluated on the test split.
/// </summary>
public static class HeadsAblation
{
    /// <summary>Progress stage of the ablation's runs.</summary>
    public const string ProgressStage = "ablation";

    /// <summary>
    /// Trains the three rows for seeds <c>options.Heads.Seed</c>, +1, ... (<paramref name="seeds"/> in all); the other heads options
    /// (epochs, learning rate, batch, λ, ...) are shared by every row.
    /// </summary>
    public static HeadsAblationResult Run(MLContext mlContext, string dataDirectory, ReverseSdTrainingOptions options, int seeds = 3,
        IProgress<ProgressReport>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(mlContext);
        ArgumentNullException.ThrowIfNull(options);
        if (seeds < 1) throw new ReverseSdInputException($"The ablation needs at least one seed; got {seeds}.");
        PromptEmbeddingHeadsTrainer.Validate(options.Heads);
        var backbone = ReverseSdModel.Check(options);
        var data = PreparedSplits.Prepare(mlContext, dataDirectory, [(backbone, options.CacheDirectory)], withTest: true, progress, cancellationToken,
            options.CacheChunkSize);
        var vocabulary = data.Vocabulary(options.VocabularySize);
        var train = data.Train.HeadsView(0, vocabulary);
        var validation = data.Validation?.HeadsView(0, vocabulary);
        var test = data.Test!.FeaturesView(0);
        var targets = data.Test.Targets;
        double baseline = PromptEmbeddingEvaluator.EvaluateConstant(data.MeanTrainTarget, targets).MeanCosine;

        var mlc = options.Heads.Configuration == HeadConfiguration.Vanilla ? HeadConfiguration.EmbeddingFeedsVocabulary : options.Heads.Configuration;
        var curriculum = options.Heads.Curriculum.Enabled ? options.Heads.Curriculum.Clone() : new CurriculumOptions { Splitting = CurriculumSplitting.Thirds };
        (string Name, HeadConfiguration Configuration, CurriculumOptions Curriculum)[] variants =
        [
            ("vanilla", HeadConfiguration.Vanilla, new CurriculumOptions()),
            ("+ MLC", mlc, new CurriculumOptions()),
            ("+ MLC + CL", mlc, curriculum),
        ];
        var seedList = Enumerable.Range(0, seeds).Select(k => options.Heads.Seed + k).ToList();
        var rows = new List<HeadsAblationRow>();
        double[]? previous = null;
        int run = 0, runs = variants.Length * seeds;
        foreach (var (name, configuration, variantCurriculum) in variants)
        {
            var clock = Stopwatch.StartNew();
            var perSeed = new List<double>();
            var summed = new double[targets.Length];
            foreach (int seed in seedList)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var heads = options.Heads.Clone();
                heads.Configuration = configuration;
                heads.Curriculum = variantCurriculum;
                heads.Seed = seed;
                var variant = new ReverseSdTrainingOptions
                {
                    Backbone = options.Backbone, Preprocessing = options.Preprocessing, VocabularySize = options.VocabularySize, Heads = heads,
                    PromptBank = ReverseSdTrainingOptions.NoBank,
                };
                using var model = ReverseSdPipeline.Create(mlContext, variant, progress, cancellationToken).Heads(0, prepared: true, vocabulary).Fit(train, validation);
                var predicted = PromptEmbeddingEvaluator.ReadVectors(model.Transform(test), heads.OutputColumnName);
                var metrics = PromptEmbeddingEvaluator.Evaluate(predicted, targets);
                perSeed.Add(metrics.MeanCosine);
                for (int i = 0; i < summed.Length; i++) summed[i] += metrics.SampleCosines[i];
                progress?.Report(new ProgressReport(ProgressStage, ++run, runs, string.Create(CultureInfo.InvariantCulture,
                    $"{name}, seed {seed}: test mean cosine {metrics.MeanCosine:F4} (best epoch {model.BestEpoch}/{model.TrainingHistory.Count})")));
            }
            var averaged = summed.Select(s => s / seeds).ToArray();
            double mean = perSeed.Average();
            double std = seeds > 1 ? Math.Sqrt(perSeed.Sum(c => (c - mean) * (c - mean)) / (seeds - 1)) : double.NaN;
            var versus = previous != null && averaged.Length > 1 ? PairedTTest.Run(averaged, previous) : null;
            rows.Add(new HeadsAblationRow(name, perSeed, mean, std, versus, clock.Elapsed.TotalSeconds));
            previous = averaged;
        }
        var h = options.Heads;
        return new HeadsAblationResult
        {
            Rows = rows,
            Seeds = seedList,
            NTest = targets.Length,
            BaselineMeanCosine = baseline,
            Options = new Dictionary<string, string>
            {
                ["data"] = Path.GetFullPath(dataDirectory),
                ["backbone"] = options.Backbone,
                ["mlc_head"] = mlc.ToString(),
                ["curriculum"] = $"{curriculum.Splitting}, preliminary epochs {curriculum.PreliminaryEpochs ?? h.NumberOfEpochs}, weighting {curriculum.Weighting}, scoring {ModelReports.Scoring(curriculum)}",
                ["epochs"] = h.NumberOfEpochs.ToString(CultureInfo.InvariantCulture),
                ["learning_rate"] = h.LearningRate.ToString("R", CultureInfo.InvariantCulture),
                ["batch_size"] = h.BatchSize.ToString(CultureInfo.InvariantCulture),
                ["lambda"] = h.VocabularyWeight.ToString("R", CultureInfo.InvariantCulture),
                ["vocabulary_size"] = vocabulary.Count.ToString(CultureInfo.InvariantCulture),
                ["n_train"] = data.Train.Count.ToString(CultureInfo.InvariantCulture),
                ["n_validation"] = (data.Validation?.Count ?? 0).ToString(CultureInfo.InvariantCulture),
            },
        };
    }
}
