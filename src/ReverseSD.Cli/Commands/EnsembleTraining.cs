using System.Globalization;
using Microsoft.ML;
using ReverseSD.MLNet;
using ReverseSD.MLNet.Backbones;
using ReverseSD.MLNet.Dakl;
using ReverseSD.MLNet.Ensemble;
using ReverseSD.MLNet.FineTuning;
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

    /// <summary>A comma-separated list of positive finite numbers, or null when malformed.</summary>
    public static IReadOnlyList<float>? ParseGrid(string text)
    {
        var values = new List<float>();
        foreach (string part in text.Split(','))
        {
            if (!float.TryParse(part.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out float v) || !(v > 0) || float.IsInfinity(v)) return null;
            values.Add(v);
        }
        return values;
    }

    /// <summary>Checks the ensemble options of `train`; null when fine, else the one-line error.</summary>
    public static string? Validate(TrainCommand.Settings s)
    {
        var backbones = s.Backbones;
        if (backbones.Any(string.IsNullOrEmpty)) return $"--backbone has an empty name in '{s.Backbone}': separate backbones with single commas.";
        var repeated = backbones.GroupBy(b => b.ToLowerInvariant()).FirstOrDefault(g => g.Count() > 1);
        if (repeated != null) return $"--backbone lists '{repeated.Key}' twice: each ensemble member needs another backbone.";
        if (backbones.Count > 16) return $"--backbone lists {backbones.Count} backbones; an ensemble takes at most 16.";
        if (backbones.Count > 1 && s.Preprocess != null) return "--preprocessing applies to a single ONNX backbone, not to an ensemble of several.";
        if (ParseCombination(s.Ensemble) == null) return $"--ensemble must be mean, weighted or median; got '{s.Ensemble}'.";
        if (s.Ensemble != null && backbones.Count < 2 && !s.Dakl) return "--ensemble needs at least two backbones in --backbone (e.g. resnet18,resnet18-288).";
        if (s.AdaptTo != null && !s.Dakl) return "--adapt-to only applies with --dakl.";
        if (s.DaklCentroids < 1) return "--dakl-centroids must be at least 1.";
        if (s.DaklGamma is float g && (!(g > 0) || float.IsInfinity(g))) return "--dakl-gamma must be a positive number.";
        if (s.DaklAlpha is float a && (!(a > 0) || float.IsInfinity(a))) return "--dakl-alpha must be a positive number.";
        if ((s.DaklGamma != null || s.DaklAlpha != null) && !s.Dakl) return "--dakl-gamma and --dakl-alpha only apply with --dakl.";
        if ((s.DaklGridGamma != null || s.DaklGridAlpha != null) && !s.Dakl) return "--dakl-grid-gamma and --dakl-grid-alpha only apply with --dakl.";
        if ((s.DaklGridGamma != null || s.DaklGridAlpha != null) && (s.DaklGamma != null || s.DaklAlpha != null))
            return "--dakl-grid-gamma/--dakl-grid-alpha choose γ and α on validation; --dakl-gamma/--dakl-alpha fix them: give one kind, not both.";
        if (s.DaklGridGamma != null && ParseGrid(s.DaklGridGamma) == null) return $"--dakl-grid-gamma must be positive numbers separated by commas (e.g. 0.001,0.01,0.1,1); got '{s.DaklGridGamma}'.";
        if (s.DaklGridAlpha != null && ParseGrid(s.DaklGridAlpha) == null) return $"--dakl-grid-alpha must be positive numbers separated by commas (e.g. 0.01,0.1,1,10); got '{s.DaklGridAlpha}'.";
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
            // --finetune fine-tunes each ResNet18 member; any other backbone stays frozen (refused only when no member can fine-tune).
            if (!IsResNet18(b)) member.FineTuning.Mode = BackboneFineTuning.None;
            return member;
        }).ToList(),
        Combination = ParseCombination(s.Ensemble)!.Value,
        UseDakl = s.Dakl,
        DaklCentroids = s.DaklCentroids,
        DaklSelection = s.DaklGamma != null || s.DaklAlpha != null ? DaklSelectionMode.Fixed : DaklSelectionMode.Validation,
        DaklGamma = s.DaklGamma ?? DomainAdaptiveKernelOptions.Defaults.Gamma,
        DaklAlpha = s.DaklAlpha ?? DomainAdaptiveKernelOptions.Defaults.Alpha,
        DaklGammaGrid = s.DaklGridGamma == null ? new ReverseSdEnsembleOptions().DaklGammaGrid : ParseGrid(s.DaklGridGamma)!,
        DaklAlphaGrid = s.DaklGridAlpha == null ? new ReverseSdEnsembleOptions().DaklAlphaGrid : ParseGrid(s.DaklGridAlpha)!,
        AdaptToDirectory = s.AdaptTo,
        KnnNeighbors = s.KnnBaseline,
        PromptBank = s.Bank,
    };

    /// <summary>
    /// True when <paramref name="backbone"/> names a ResNet18 preset --finetune can train (resnet18, resnet18-SIZE, resnet18-grid,
    /// resnet18-map); false for any other backbone.
    /// </summary>
    public static bool IsResNet18(string backbone)
    {
        try
        {
            return ImageBackbone.Resolve(backbone).IsResNet18;
        }
        catch (ReverseSdInputException)
        {
            return false; // an .onnx file (its preprocessing checked later) or a bad name (refused with its own message later)
        }
    }

    public static int Run(IAnsiConsole console, MLContext ml, TrainCommand.Settings settings, CancellationToken cancellationToken)
    {
        if (settings.FineTune != "none" && !settings.Backbones.Any(IsResNet18))
            throw new ReverseSdInputException($"--finetune {settings.FineTune} needs at least one ResNet18 preset member (resnet18, resnet18-SIZE, resnet18-grid or resnet18-map); '{settings.Backbone}' has none: use --finetune none.");
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
                t == null ? "" : EvaluationSummary.Difference(t.MeanDifference),
                t == null ? "" : t.T.ToString("F2", CultureInfo.InvariantCulture),
                t == null ? "" : t.PValue.ToString("G3", CultureInfo.InvariantCulture));
        }
        console.Write(table);
        PrintDaklSelection(console, trained.DaklSelection);
        if (trained.Combiner.Weights.Count > 0)
            console.MarkupLineInterpolated($"ensemble weights (fitted on validation): {string.Join(", ", trained.MemberNames.Zip(trained.Combiner.Weights, (n, w) => $"{n} {w.ToString("F3", CultureInfo.InvariantCulture)}"))}");
        if (trained.Report.CeilingMeanCosine is double ceiling)
            console.MarkupLineInterpolated($"visual-only ceiling: {F(ceiling)}");
        console.MarkupLine("vocabulary words and probabilities in the saved model: from member 1.");
    }

    /// <summary>Prints how DAKL's γ and α were chosen: the validation grid when selected on validation, and whether the saved model uses DAKL.</summary>
    public static void PrintDaklSelection(IAnsiConsole console, DaklSelectionResult? selection)
    {
        if (selection == null) return;
        string G(float v) => v.ToString("G4", CultureInfo.InvariantCulture);
        if (!selection.OnValidation)
        {
            console.MarkupLineInterpolated($"DAKL: fixed γ = {G(selection.Gamma)}, α = {G(selection.Alpha)} (not chosen on validation).");
            return;
        }
        var alphas = selection.Grid.Select(p => p.Alpha).Distinct().ToList();
        var grid = new Table().AddColumn("validation mean cosine: γ (rows) × α (columns)");
        foreach (float a in alphas) grid.AddColumn(new TableColumn(G(a)).RightAligned());
        foreach (var row in selection.Grid.GroupBy(p => p.Gamma))
            grid.AddRow([G(row.Key), .. alphas.Select(a => row.Where(p => p.Alpha == a).Select(p =>
                (p.Gamma == selection.Gamma && p.Alpha == selection.Alpha ? "*" : "") + F(p.ValidationMeanCosine)).FirstOrDefault() ?? "")]);
        console.Write(grid);
        double plain = selection.PlainEnsembleValidationMeanCosine!.Value;
        if (selection.Used)
            console.MarkupLineInterpolated($"DAKL: chosen on validation γ = {G(selection.Gamma)}, α = {G(selection.Alpha)} (* above; plain ensemble on validation {F(plain)}): the saved model applies DAKL.");
        else
            console.MarkupLineInterpolated($"DAKL: NOT USED. No grid point beat the plain ensemble on validation ({F(plain)}); the saved model is the plain ensemble. The DAKL row above is the best grid point (γ = {G(selection.Gamma)}, α = {G(selection.Alpha)}) for reference.");
    }

    private static string F(double v) => double.IsNaN(v) ? "-" : v.ToString("F4", CultureInfo.InvariantCulture);
}
