using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Microsoft.ML;
using ReverseSD.MLNet.Evaluation;
using ReverseSD.MLNet.FineTuning;

namespace ReverseSD.MLNet.Pipeline;

/// <summary>One step of the full-system ablation, on the test split.</summary>
/// <param name="Name">What the row adds (e.g. "fine-tuned single (resnet18-layer4)").</param>
/// <param name="Metrics">Per-sample test cosines, in the order of <see cref="SystemAblationResult.TestImages"/>.</param>
/// <param name="ShareOfWay">(mean cosine − baseline) ÷ (ceiling − baseline), in percent; NaN without a visual-only ceiling.</param>
/// <param name="VersusPrevious">Paired t-test of this row's cosines minus the previous row's; null for the first row.</param>
/// <param name="Note">How the row was obtained when that matters (DAKL's choice on validation); null otherwise.</param>
public sealed record SystemAblationRow(string Name, CosineMetrics Metrics, double ShareOfWay, PairedTTestResult? VersusPrevious, string? Note);

/// <summary>The result of <see cref="SystemAblation.Run"/>: frozen single → fine-tuned single → ensemble → + DAKL, with what they cost.</summary>
public sealed class SystemAblationResult
{
    /// <summary>The rows, each with a paired t-test against the row before it.</summary>
    public required IReadOnlyList<SystemAblationRow> Rows { get; init; }

    /// <summary>The test images, in the order of every row's per-sample cosines.</summary>
    public required IReadOnlyList<string> TestImages { get; init; }

    /// <summary>The mean-embedding baseline on the test split.</summary>
    public required CosineMetrics Baseline { get; init; }

    /// <summary>The visual-only ceiling of the generated benchmark; null for other data.</summary>
    public double? CeilingMeanCosine { get; init; }

    /// <summary>The full system as the options choose it (DAKL only when validation chose it): the last row it includes.</summary>
    public required string SystemRow { get; init; }

    /// <summary>Every member of the ensemble with its test mean cosine (fine-tuned where asked).</summary>
    public required IReadOnlyList<(string Name, double MeanCosine)> Members { get; init; }

    /// <summary>Wall and CPU seconds (this process) of the frozen single model and of the system (fine-tuning, members, ensemble, DAKL).</summary>
    public required IReadOnlyList<(string Stage, double WallSeconds, double CpuSeconds)> Timings { get; init; }

    /// <summary>What was trained: data, members, heads and fine-tuning options, DAKL's selection.</summary>
    public required IReadOnlyDictionary<string, string> Options { get; init; }

    /// <summary>The table as Markdown.</summary>
    public string ToMarkdown()
    {
        var b = new StringBuilder();
        b.AppendLine(Invariant($"Test split, n = {Baseline.Count}; mean-embedding baseline {Baseline.MeanCosine:F4} ± {Baseline.StandardError:F4}; visual-only ceiling {(CeilingMeanCosine is double c ? c.ToString("F4", CultureInfo.InvariantCulture) : "-")}."));
        b.AppendLine();
        b.AppendLine("| step | mean cosine ± SE | % of the way baseline → ceiling | paired t-test vs previous row |");
        b.AppendLine("|---|---|---|---|");
        foreach (var r in Rows)
        {
            string t = r.VersusPrevious is { } p ? Invariant($"Δ = {SignedDifference.Format(p.MeanDifference)}, t = {p.T:F2}, p = {p.PValue:G3}") : "";
            b.AppendLine(Invariant($"| {r.Name}{(r.Note == null ? "" : " (" + r.Note + ")")} | {r.Metrics.MeanCosine:F4} ± {r.Metrics.StandardError:F4} | {Percent(r.ShareOfWay)} | {t} |"));
        }
        b.AppendLine();
        b.AppendLine(Invariant($"The full system as chosen: {SystemRow}. Members: {string.Join(", ", Members.Select(m => $"{m.Name} {m.MeanCosine:F4}"))}."));
        b.AppendLine(Invariant($"Times (this process): {string.Join("; ", Timings.Select(x => $"{x.Stage} {x.WallSeconds:F0} s wall, {x.CpuSeconds:F0} s CPU"))}."));
        return b.ToString();
    }

    /// <summary>The result as indented JSON.</summary>
    public string ToJson() => JsonSerializer.Serialize(new
    {
        n_test = Baseline.Count,
        baseline_mean_cosine = Baseline.MeanCosine,
        baseline_standard_error = Baseline.StandardError,
        ceiling_mean_cosine = CeilingMeanCosine,
        system = SystemRow,
        rows = Rows.Select(r => new
        {
            name = r.Name,
            note = r.Note,
            mean_cosine = r.Metrics.MeanCosine,
            standard_error = r.Metrics.StandardError,
            percent_of_way = double.IsNaN(r.ShareOfWay) ? (double?)null : r.ShareOfWay,
            versus_previous = r.VersusPrevious is { } p
                ? new { t = p.T, df = p.DegreesOfFreedom, p = p.PValue, mean_difference = p.MeanDifference }
                : null,
        }),
        members = Members.Select(m => new { name = m.Name, mean_cosine = m.MeanCosine }),
        timings = Timings.Select(x => new { stage = x.Stage, wall_seconds = x.WallSeconds, cpu_seconds = x.CpuSeconds }),
        options = Options,
    }, new JsonSerializerOptions { WriteIndented = true });

    /// <summary>
    /// Writes report.json, report.md and report-samples.csv (one column of per-sample test cosines per row, and the baseline)
    /// into <paramref name="directory"/>, atomically.
    /// </summary>
    public void Save(string directory)
    {
        Directory.CreateDirectory(directory);
        AtomicFile.WriteAllBytes(Path.Combine(directory, "report.json"), Encoding.UTF8.GetBytes(ToJson()));
        AtomicFile.WriteAllBytes(Path.Combine(directory, "report.md"), Encoding.UTF8.GetBytes(ToMarkdown()));
        var csv = new StringBuilder();
        csv.AppendLine(string.Join(",", ["image", .. Rows.Select((_, i) => $"row{i + 1}_cosine"), "baseline_cosine"]));
        for (int i = 0; i < TestImages.Count; i++)
            csv.AppendLine(string.Join(",", [Csv(TestImages[i]), .. Rows.Select(r => R(r.Metrics.SampleCosines[i])), R(Baseline.SampleCosines[i])]));
        AtomicFile.WriteAllBytes(Path.Combine(directory, "report-samples.csv"), Encoding.UTF8.GetBytes(csv.ToString()));
    }

    private static string Percent(double v) => double.IsNaN(v) ? "-" : v.ToString("F1", CultureInfo.InvariantCulture) + " %";

    private static string R(double v) => v.ToString("R", CultureInfo.InvariantCulture);

    private static string Csv(string s) => s.Contains(',') || s.Contains('"') ? "\"" + s.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"" : s;

    private static string Invariant(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}

/// <summary>
/// The full system's ablation (issue 14) on one data set folder: the first member's backbone frozen (heads only), the same
/// backbone fine-tuned (when the first member's options fine-tune), the ensemble of all members (each fine-tuned as its
/// options say), and DAKL on the ensemble as its options choose it (on validation by default). Each row is the test mean
/// cosine with a paired t-test against the row before it and its share of the way from the mean-embedding baseline to the
/// visual-only ceiling.
/// </summary>
public static class SystemAblation
{
    /// <summary>
    /// Trains the rows: the frozen single model (member 1's options with <see cref="BackboneFineTuning.None"/>), then the system of
    /// <paramref name="options"/> (<see cref="ReverseSdEnsemble.Train"/>, with DAKL and no kNN row or prompt bank); no zip is written.
    /// </summary>
    public static SystemAblationResult Run(MLContext mlContext, string dataDirectory, ReverseSdEnsembleOptions options,
        IProgress<ProgressReport>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(mlContext);
        ArgumentNullException.ThrowIfNull(options);
        if (options.Members is not { Count: > 0 }) throw new ReverseSdInputException("The system ablation needs at least one member backbone.");
        var first = options.Members[0];
        var frozenOptions = new ReverseSdTrainingOptions
        {
            Backbone = first.Backbone, Preprocessing = first.Preprocessing, Heads = first.Heads, VocabularySize = first.VocabularySize,
            CacheDirectory = first.CacheDirectory, CacheChunkSize = first.CacheChunkSize, PromptBank = ReverseSdTrainingOptions.NoBank,
        };
        var system = new ReverseSdEnsembleOptions
        {
            Members = options.Members, Combination = options.Combination, UseDakl = true, DaklCentroids = options.DaklCentroids,
            DaklSelection = options.DaklSelection, DaklGammaGrid = options.DaklGammaGrid, DaklAlphaGrid = options.DaklAlphaGrid,
            DaklGamma = options.DaklGamma, DaklAlpha = options.DaklAlpha, AdaptToDirectory = options.AdaptToDirectory,
            KnnNeighbors = 0, PromptBank = ReverseSdTrainingOptions.NoBank,
        };
        ReverseSdEnsemble.Check(system);

        var timings = new List<(string, double, double)>();
        var (frozen, frozenTime) = Timed(() => ReverseSdModel.Train(mlContext, dataDirectory, frozenOptions, ProgressStages.Prefixed(progress, "frozen single: "), cancellationToken));
        using (frozen)
        {
            timings.Add(("frozen single", frozenTime.Wall, frozenTime.Cpu));
            var (trained, systemTime) = Timed(() => ReverseSdEnsemble.Train(mlContext, dataDirectory, system, ProgressStages.Prefixed(progress, "system: "), cancellationToken));
            using (trained)
            {
                timings.Add(("system (fine-tuning, members, ensemble, DAKL)", systemTime.Wall, systemTime.Cpu));
                if (!trained.TestImages.SequenceEqual(frozen.TestImages, StringComparer.Ordinal))
                    throw new InvalidOperationException("The frozen model and the system scored other test images; the rows cannot be paired.");
                return Result(dataDirectory, options, frozen, trained, timings);
            }
        }
    }

    private static SystemAblationResult Result(string dataDirectory, ReverseSdEnsembleOptions options, ReverseSdTrainedModel frozen,
        ReverseSdEnsembleTrainedModel trained, List<(string, double, double)> timings)
    {
        int m = trained.Members.Count;
        var baseline = trained.Baseline;
        double? ceiling = trained.Report.CeilingMeanCosine;
        var steps = new List<(string Name, CosineMetrics Metrics, string? Note)>
        {
            ($"frozen single ({frozen.Report.Options.GetValueOrDefault("backbone", options.Members[0].Backbone).Split(' ')[0]}, heads only)", frozen.Test, null),
        };
        bool firstFineTuned = options.Members[0].FineTuning.Mode != BackboneFineTuning.None;
        if (firstFineTuned)
            steps.Add(($"fine-tuned single ({trained.MemberNames[0]})", trained.Rows[0].Metrics, null));
        string systemRow = steps[^1].Name;
        if (m > 1)
        {
            var ensemble = trained.Rows[m];
            steps.Add(($"{ensemble.Name} of {m} members ({string.Join(", ", trained.MemberNames)})", ensemble.Metrics, null));
            systemRow = steps[^1].Name;
        }
        var daklRow = trained.Rows.FirstOrDefault(r => r.Name.StartsWith("ensemble + DAKL", StringComparison.Ordinal));
        var selection = trained.DaklSelection;
        if (daklRow != null && selection != null)
        {
            string how = !selection.OnValidation ? "γ, α fixed"
                : selection.Used ? "γ, α chosen on validation: USED"
                : "best validation grid point; NOT USED: the plain ensemble was better on validation";
            string note = string.Create(CultureInfo.InvariantCulture, $"γ = {selection.Gamma:G4}, α = {selection.Alpha:G4}, {how}");
            steps.Add(("+ DAKL", daklRow.Metrics, note));
            if (selection.Used || !selection.OnValidation) systemRow = "+ DAKL after " + systemRow;
        }
        var rows = steps.Select((s, i) => new SystemAblationRow(s.Name, s.Metrics, Share(s.Metrics.MeanCosine, baseline.MeanCosine, ceiling),
            i == 0 || s.Metrics.Count < 2 ? null : PairedTTest.Run(s.Metrics.SampleCosines, steps[i - 1].Metrics.SampleCosines), s.Note)).ToList();

        var reportOptions = new Dictionary<string, string>(trained.Report.Options)
        {
            ["data"] = Path.GetFullPath(dataDirectory),
            ["frozen_single_epochs"] = frozen.Report.Options.GetValueOrDefault("epochs", ""),
        };
        return new SystemAblationResult
        {
            Rows = rows,
            TestImages = trained.TestImages,
            Baseline = baseline,
            CeilingMeanCosine = ceiling,
            SystemRow = systemRow,
            Members = trained.MemberNames.Select((n, k) => (n, trained.Rows[k].Metrics.MeanCosine)).ToList(),
            Timings = timings,
            Options = reportOptions,
        };
    }

    /// <summary>(mean − baseline) ÷ (ceiling − baseline) in percent; NaN without a ceiling above the baseline.</summary>
    internal static double Share(double mean, double baseline, double? ceiling) =>
        ceiling is double c && c > baseline ? 100 * (mean - baseline) / (c - baseline) : double.NaN;

    private static (T Value, (double Wall, double Cpu) Time) Timed<T>(Func<T> run)
    {
        using var process = Process.GetCurrentProcess();
        var cpu = process.TotalProcessorTime;
        var clock = Stopwatch.StartNew();
        var value = run();
        process.Refresh();
        return (value, (clock.Elapsed.TotalSeconds, (process.TotalProcessorTime - cpu).TotalSeconds));
    }
}
