using System.Globalization;
using ReverseSD.MLNet.Curriculum;
using Spectre.Console;

namespace ReverseSD.Cli.Commands;

/// <summary>Parsing of the curriculum options shared by train, analyze difficulty and ablate heads.</summary>
internal static class CurriculumArguments
{
    public static CurriculumSplitting? ParseSplitting(string value) => value.Trim().ToLowerInvariant() switch
    {
        "none" => CurriculumSplitting.None,
        "thirds" => CurriculumSplitting.Thirds,
        "thresholds" => CurriculumSplitting.Thresholds,
        _ => null,
    };

    public static DifficultyWeighting? ParseWeighting(string value) => value.Trim().ToLowerInvariant() switch
    {
        "mean" => DifficultyWeighting.Mean,
        "official" => DifficultyWeighting.ImprovingEpochsWeighted,
        _ => null,
    };

    /// <summary>Two comma-separated numbers, or null when <paramref name="value"/> is not that.</summary>
    public static (double First, double Second)? ParsePair(string? value)
    {
        if (value == null) return null;
        var parts = value.Split(',', StringSplitOptions.TrimEntries);
        if (parts.Length != 2) return null;
        if (!double.TryParse(parts[0], NumberStyles.Float, CultureInfo.InvariantCulture, out double a)
            || !double.TryParse(parts[1], NumberStyles.Float, CultureInfo.InvariantCulture, out double b)) return null;
        return (a, b);
    }

    /// <summary>Checks the options and returns the first problem as a validation error.</summary>
    public static ValidationResult Validate(string curriculum, int? epochs, string? shares, string? thresholds, string weighting,
        bool curriculumRequired = false)
    {
        var splitting = ParseSplitting(curriculum);
        if (splitting == null) return ValidationResult.Error($"--curriculum must be none, thirds or thresholds; got '{curriculum}'.");
        if (curriculumRequired && splitting == CurriculumSplitting.None) return ValidationResult.Error("--curriculum must be thirds or thresholds here.");
        if (epochs is < 1) return ValidationResult.Error("--curriculum-epochs must be at least 1.");
        if (ParseWeighting(weighting) == null) return ValidationResult.Error($"--difficulty-weighting must be mean or official; got '{weighting}'.");
        if (shares != null)
        {
            if (ParsePair(shares) is not var (easy, medium))
                return ValidationResult.Error($"--curriculum-shares must be two numbers 'EASY,MEDIUM' (e.g. 0.6,0.3); got '{shares}'.");
            if (!(easy > 0 && medium >= 0 && easy + medium <= 1))
                return ValidationResult.Error($"--curriculum-shares needs 0 < EASY, 0 <= MEDIUM and EASY + MEDIUM <= 1; got '{shares}'.");
        }
        if (thresholds != null)
        {
            if (ParsePair(thresholds) is not var (easyMax, mediumMax))
                return ValidationResult.Error($"--curriculum-thresholds must be two difficulties 'EASY_MAX,MEDIUM_MAX' (e.g. 0.35,0.6); got '{thresholds}'.");
            if (!(double.IsFinite(easyMax) && double.IsFinite(mediumMax) && easyMax <= mediumMax))
                return ValidationResult.Error($"--curriculum-thresholds needs EASY_MAX <= MEDIUM_MAX; got '{thresholds}'.");
        }
        if ((shares != null || thresholds != null) && splitting != CurriculumSplitting.Thresholds)
            return ValidationResult.Error("--curriculum-shares and --curriculum-thresholds go with --curriculum thresholds.");
        if (shares != null && thresholds != null)
            return ValidationResult.Error("Give --curriculum-shares or --curriculum-thresholds, not both.");
        return ValidationResult.Success();
    }

    /// <summary>The library options (call after <see cref="Validate"/> succeeded).</summary>
    public static CurriculumOptions Build(string curriculum, int? epochs, string? shares, string? thresholds, string weighting)
    {
        var options = new CurriculumOptions
        {
            Splitting = ParseSplitting(curriculum)!.Value,
            PreliminaryEpochs = epochs,
            Weighting = ParseWeighting(weighting)!.Value,
        };
        if (ParsePair(shares) is var (easy, medium)) (options.EasyShare, options.MediumShare) = (easy, medium);
        if (ParsePair(thresholds) is var (easyMax, mediumMax)) (options.EasyMax, options.MediumMax) = (easyMax, mediumMax);
        return options;
    }

    /// <summary>Writes the per-pair difficulty CSV (reusable scores) and says where.</summary>
    public static void WriteScores(IAnsiConsole console, DifficultyReport report, string path)
    {
        report.WriteScoresCsv(path);
        string auroc = report.NoiseAuroc is double a ? $", AUROC vs is_noisy {a.ToString("F4", CultureInfo.InvariantCulture)}" : "";
        console.MarkupLineInterpolated($"curriculum: easy {report.Chunks.Easy.Length}, medium {report.Chunks.Medium.Length}, hard {report.Chunks.Hard.Length}{auroc}; difficulty scores in {path}");
    }

    /// <summary>Prints the AUROC of difficulty against the benchmark's noise flags and easy / medium / hard examples (paper Fig. 9).</summary>
    public static void PrintDifficulty(IAnsiConsole console, DifficultyReport report, int examples = 3)
    {
        console.MarkupLineInterpolated(
            $"chunks: easy {report.Chunks.Easy.Length}, medium {report.Chunks.Medium.Length}, hard {report.Chunks.Hard.Length} (of {report.Pairs.Count} training pairs)");
        if (report.NoiseAuroc is double auroc)
            console.MarkupLineInterpolated(
                $"AUROC of difficulty vs is_noisy: [bold]{auroc.ToString("F4", CultureInfo.InvariantCulture)}[/] ({report.Pairs.Count(p => p.IsNoisy)} noisy pairs)");
        else
            console.MarkupLine("AUROC of difficulty vs is_noisy: n/a (no pair is marked noisy)");
        var table = new Table().AddColumn("chunk").AddColumn("file").AddColumn(new TableColumn("difficulty").RightAligned()).AddColumn("noisy").AddColumn("prompt");
        foreach (var (chunk, pairs) in report.Examples(examples))
            foreach (var p in pairs)
                table.AddRow(Markup.Escape(chunk), Markup.Escape(p.FileName), p.Difficulty.ToString("F4", CultureInfo.InvariantCulture),
                    p.IsNoisy ? "yes" : "", Markup.Escape(p.Prompt.Length > 90 ? p.Prompt[..87] + "..." : p.Prompt));
        console.Write(table);
    }
}
