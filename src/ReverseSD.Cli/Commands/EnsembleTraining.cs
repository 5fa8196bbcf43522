using System.Globalization;
using Microsoft.ML;
using ReverseSD.MLNet.Ensemble;
using ReverseSD.MLNet.Pipeline;
using Spectre.Console;

namespace ReverseSD.Cli.Commands;

/// <summary>`reversesd train` with several backbones and/or --dakl: members → ensemble → DAKL → one model zip.</summary>
internal static class EnsembleTraining
{
    /// <summary>The ensemble rule of --ensemble, or null when unknown.</summary>
    public static EnsembleCombination? ParseCombination(string? rule) => (rule ?? "mean").Trim().ToLowerInvariant() switch
    {
        "mean" => EnsembleCombination.Mean,
        "weighted" => EnsembleCombination.WeightedMean,
        "median" => EnsembleCombination.Median,
        _ => null,
    };

    /// <summary>Checks the ensemble options of `train`; null when fine, else the one-line error.</summary>
    public static string? Validate(TrainCommand.Settings s)
    {
        var backbones = s.Backbones;
        if (backbones.Any(string.IsNullOrEmpty)) return $"--backbone has an empty name in '{s.Backbone}': separate backbones with single commas.";
        var repeated = backbones.GroupBy(b => b.ToLowerInvariant()).FirstOrDefault(g => g.Count() > 1);
        if (repeated != null) return $"--backbone lists '{repeated.Key}' twice: each ensemble member needs another backbone.";
        if (backbones.Count > 16) return $"--backbone lists {backbones.Count} backbones; an ensemble takes at most 16.";
        if (backbones.Count > 1 && s.Preprocess != null) return "--preprocess applies to a single ONNX backbone, not to an ensemble of several.";
        if (ParseCombination(s.Ensemble) == null) return $"--ensemble must be mean, weighted or median; got '{s.Ensemble}'.";
        if (s.Ensemble != null && backbones.Count < 2 && !s.Dakl) return "--ensemble needs at least two backbones in --backbone (e.g. resnet18,resnet18-288).";
        if (s.AdaptTo != null && !s.Dakl) return "--adapt-to only applies with --dakl.";
        if (s.DaklCentroids < 1) return "--dakl-centroids must be at least 1.";
        if (!(s.DaklGamma > 0) || float.IsInfinity(s.DaklGamma)) return "--dakl-gamma must be a positive number.";
        if (!(s.DaklAlpha > 0) || float.IsInfinity(s.DaklAlpha)) return "--dakl-alpha must be a positive number.";
        if (s.KnnBaseline < 0) return "--knn-baseline must be >= 0 (0 leaves the kNN baseline out).";
        return null;
    }

    /// <summary>The library options of an ensemble described by `train` settings.</summary>
    public static ReverseSdEnsembleOptions ToOptions(TrainCommand.Settings s) => new()
    {
        Members = s.Backbones.Select(b =>
        {
            var member = s.ToOptions();
            member.Backbone = b;
            return member;
        }).ToList(),
        Combination = ParseCombination(s.Ensemble)!.Value,
        UseDakl = s.Dakl,
        DaklCentroids = s.DaklCentroids,
        DaklGamma = s.DaklGamma,
        DaklAlpha = s.DaklAlpha,
        AdaptToDirectory = s.AdaptTo,
        KnnNeighbors = s.KnnBaseline,
    };

    public static int Run(IAnsiConsole console, MLContext ml, TrainCommand.Settings settings, CancellationToken cancellationToken)
    {
        using var trained = ConsoleProgress.Run(console, "training ensemble",
            progress => ReverseSdEnsemble.Train(ml, settings.Data, ToOptions(settings), progress, cancellationToken));
        trained.Save(settings.Out);
        if (settings.Report != null)
            ReverseSdModel.WriteReport(trained.Report, settings.Report, trained.TestImages, trained.Test, trained.Baseline);
        PrintRows(console, trained);
        console.MarkupLineInterpolated($"saved {Path.GetFullPath(settings.Out)}{(settings.Report != null ? " and " + Path.GetFullPath(settings.Report) : "")}");
        return 0;
    }

    /// <summary>Prints the Table 8 layout: each row's test mean cosine and a paired t-test against the row above.</summary>
    public static void PrintRows(IAnsiConsole console, ReverseSdEnsembleTrainedModel trained)
    {
        var table = new Table()
            .AddColumn($"test split (n = {trained.Test.Count})")
            .AddColumn(new TableColumn("mean cosine").RightAligned())
            .AddColumn(new TableColumn("± SE").RightAligned())
            .AddColumn(new TableColumn("vs row above: Δ").RightAligned())
            .AddColumn(new TableColumn("t").RightAligned())
            .AddColumn(new TableColumn("p").RightAligned());
        foreach (var row in trained.Rows)
        {
            var t = row.VersusPrevious;
            table.AddRow(Markup.Escape(row.Name), F(row.Metrics.MeanCosine), F(row.Metrics.StandardError),
                t == null ? "" : t.MeanDifference.ToString("+0.0000;-0.0000", CultureInfo.InvariantCulture),
                t == null ? "" : t.T.ToString("F2", CultureInfo.InvariantCulture),
                t == null ? "" : t.PValue.ToString("G3", CultureInfo.InvariantCulture));
        }
        console.Write(table);
        if (trained.Combiner.Weights.Count > 0)
            console.MarkupLineInterpolated($"ensemble weights (fitted on validation): {string.Join(", ", trained.MemberNames.Zip(trained.Combiner.Weights, (n, w) => $"{n} {w.ToString("F3", CultureInfo.InvariantCulture)}"))}");
        if (trained.Report.CeilingMeanCosine is double ceiling)
            console.MarkupLineInterpolated($"visual-only ceiling: {F(ceiling)}");
        console.MarkupLine("vocabulary words and probabilities in the saved model: from member 1.");
    }

    private static string F(double v) => double.IsNaN(v) ? "-" : v.ToString("F4", CultureInfo.InvariantCulture);
}
