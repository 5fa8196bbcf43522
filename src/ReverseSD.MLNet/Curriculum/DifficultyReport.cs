using System.Text.Json;
using OxyPlot;
using OxyPlot.Annotations;
using OxyPlot.Axes;
using OxyPlot.Legends;
using OxyPlot.Series;
using ReverseSD.MLNet.Evaluation;

namespace ReverseSD.MLNet.Curriculum;

/// <summary>One scored training pair, for the paper's Fig. 9 style examples.</summary>
public sealed record ScoredPair(string FileName, string Prompt, double Difficulty, bool IsNoisy);

/// <summary>
/// The analysis of a difficulty scoring (paper §4.6, Fig. 9): a histogram with the chunk thresholds, AUROC of difficulty
/// against known label noise (generated benchmark), and easy / medium / hard examples.
/// </summary>
public sealed class DifficultyReport
{
    /// <summary>The scored pairs, in training-set order.</summary>
    public required IReadOnlyList<ScoredPair> Pairs { get; init; }

    /// <summary>The chunks the curriculum would use.</summary>
    public required CurriculumChunks Chunks { get; init; }

    /// <summary>AUROC of difficulty as a detector of noisy pairs, or null when no pair is marked noisy.</summary>
    public double? NoiseAuroc => Pairs.Any(p => p.IsNoisy) && Pairs.Any(p => !p.IsNoisy)
        ? Auroc.Compute(Pairs.Select(p => p.Difficulty).ToList(), Pairs.Select(p => p.IsNoisy).ToList())
        : null;

    /// <summary>The <paramref name="count"/> examples nearest the middle of each chunk (as Fig. 9 shows typical cases).</summary>
    public IReadOnlyDictionary<string, IReadOnlyList<ScoredPair>> Examples(int count = 3) => new Dictionary<string, IReadOnlyList<ScoredPair>>
    {
        ["easy"] = Middle(Chunks.Easy, count),
        ["medium"] = Middle(Chunks.Medium, count),
        ["hard"] = Middle(Chunks.Hard, count),
    };

    /// <summary>Writes the difficulty histogram (noisy and clean pairs stacked) with the chunk borders as an SVG file.</summary>
    public void WriteHistogramSvg(string path, int bins = 40)
    {
        var model = new PlotModel { Title = "Difficulty of training pairs", Padding = new OxyThickness(8, 8, 16, 8) };
        model.Legends.Add(new Legend { LegendPosition = LegendPosition.RightTop, LegendPlacement = LegendPlacement.Inside, LegendBackground = OxyColors.White });
        double min = Pairs.Min(p => p.Difficulty), max = Pairs.Max(p => p.Difficulty);
        double width = Math.Max((max - min) / bins, 1e-9);
        var clean = new RectangleBarSeries { Title = "clean", FillColor = OxyColor.FromRgb(70, 130, 180) };
        var noisy = new RectangleBarSeries { Title = "noisy (is_noisy = 1)", FillColor = OxyColor.FromRgb(220, 90, 60) };
        for (int b = 0; b < bins; b++)
        {
            double lo = min + b * width, hi = lo + width;
            bool In(ScoredPair p) => p.Difficulty >= lo && (p.Difficulty < hi || (b == bins - 1 && p.Difficulty <= hi));
            int c = Pairs.Count(p => !p.IsNoisy && In(p)), n = Pairs.Count(p => p.IsNoisy && In(p));
            if (c > 0) clean.Items.Add(new RectangleBarItem(lo, 0, hi, c));
            if (n > 0) noisy.Items.Add(new RectangleBarItem(lo, c, hi, c + n));
        }
        model.Series.Add(clean);
        if (noisy.Items.Count > 0) model.Series.Add(noisy);
        model.Axes.Add(new LinearAxis { Position = AxisPosition.Bottom, Title = "difficulty = 1 − (weighted) mean cosine over the preliminary epochs" });
        model.Axes.Add(new LinearAxis { Position = AxisPosition.Left, Title = "pairs", Minimum = 0 });
        foreach (var (name, chunk) in new[] { ("easy | medium", Chunks.Easy), ("medium | hard", Chunks.Medium) })
        {
            if (chunk.Length == 0) continue;
            double border = Pairs[chunk[^1]].Difficulty;
            model.Annotations.Add(new LineAnnotation { Type = LineAnnotationType.Vertical, X = border, Text = name, Color = OxyColors.Black, LineStyle = LineStyle.Dash });
        }
        if (NoiseAuroc is double auroc)
            model.Subtitle = string.Create(System.Globalization.CultureInfo.InvariantCulture,
                $"AUROC of difficulty vs is_noisy: {auroc:F4} ({Pairs.Count(p => p.IsNoisy)} noisy of {Pairs.Count} pairs)");
        // Text stays text; Skia measures it with real fonts and the baseline workaround places it right in renderers that
        // ignore SVG's dominant-baseline (e.g. librsvg): without both, titles are clipped and tick labels overlap the ticks.
        using var measurer = new OxyPlot.SkiaSharp.SkiaRenderContext();
        AtomicFile.Write(path, stream => new SvgExporter { Width = 800, Height = 450, TextMeasurer = measurer, UseVerticalTextAlignmentWorkaround = true }
            .Export(model, stream));
    }

    /// <summary>Writes the per-pair scores and the chunk of each pair as CSV (file_name,prompt,difficulty,chunk,is_noisy).</summary>
    public void WriteScoresCsv(string path)
    {
        var chunkOf = new string[Pairs.Count];
        foreach (int i in Chunks.Easy) chunkOf[i] = "easy";
        foreach (int i in Chunks.Medium) chunkOf[i] = "medium";
        foreach (int i in Chunks.Hard) chunkOf[i] = "hard";
        ReverseSD.MLNet.Data.CsvTable.Write(path, ["file_name", "prompt", "difficulty", "chunk", "is_noisy"],
            Pairs.Select((p, i) => (IReadOnlyList<string>)[p.FileName, p.Prompt,
                p.Difficulty.ToString("R", System.Globalization.CultureInfo.InvariantCulture), chunkOf[i], p.IsNoisy ? "1" : "0"]));
    }

    /// <summary>A JSON summary: counts per chunk, thresholds, AUROC and examples.</summary>
    public string ToJson() => JsonSerializer.Serialize(new
    {
        n = Pairs.Count,
        easy = Chunks.Easy.Length,
        medium = Chunks.Medium.Length,
        hard = Chunks.Hard.Length,
        noise_auroc = NoiseAuroc,
        examples = Examples().ToDictionary(k => k.Key, k => k.Value.Select(p => new { file_name = p.FileName, prompt = p.Prompt, difficulty = p.Difficulty, is_noisy = p.IsNoisy })),
    }, new JsonSerializerOptions { WriteIndented = true });

    private List<ScoredPair> Middle(int[] chunk, int count)
    {
        int start = Math.Max(0, chunk.Length / 2 - count / 2);
        return chunk.Skip(start).Take(count).Select(i => Pairs[i]).ToList();
    }
}
