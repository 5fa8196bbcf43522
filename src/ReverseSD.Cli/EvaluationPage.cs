using System.Globalization;
using System.Net;
using System.Text;
using Microsoft.ML;
using ReverseSD.MLNet;
using ReverseSD.MLNet.Data;
using ReverseSD.MLNet.Evaluation;
using ReverseSD.MLNet.Pipeline;
using SkiaSharp;

namespace ReverseSD.Cli;

/// <summary>A test image shown on the page: its thumbnail, true prompt, the model's words and its cosine.</summary>
internal sealed record PageExample(string Label, string ImagePath, string TruePrompt, IReadOnlyList<PredictedWord> Words, double Cosine);

/// <summary>
/// The one self-contained HTML page of an evaluation (`evaluate --html`, the demo): the summary table with its t-test,
/// the distribution of per-image cosines for the model and the baseline (inline SVG), and the best, median and worst images
/// (thumbnails as data URIs). Nothing is fetched: no script, no external style, font or image.
/// </summary>
internal static class EvaluationPage
{
    private const int ThumbnailSize = 192;

    /// <summary>Picks the best, median and worst images of the split and predicts their words.</summary>
    public static List<PageExample> Examples(MLContext ml, ITransformer model, string dataDirectory, string split,
        IReadOnlyList<string> images, CosineMetrics metrics, int words = 8)
    {
        var prompts = ImageFolderDataset.Read(dataDirectory, split)
            .ToDictionary(p => Path.GetFullPath(Path.Combine(dataDirectory, split, p.FileName)), p => p.Prompt, StringComparer.Ordinal);
        var order = Enumerable.Range(0, metrics.Count).OrderByDescending(i => metrics.SampleCosines[i]).ToList();
        if (order.Count == 0) return [];
        var picks = new List<(string Label, int Index)> { ("best", order[0]), ("median", order[order.Count / 2]), ("worst", order[^1]) }
            .DistinctBy(p => p.Index).ToList();
        var paths = picks.Select(p => Path.GetFullPath(images[p.Index])).ToList();
        var predictions = ReverseSdModel.Predict(ml, model, paths, words, out _).ToDictionary(p => p.ImagePath, StringComparer.Ordinal);
        return picks.Select((p, k) => new PageExample(p.Label, paths[k], prompts.GetValueOrDefault(paths[k], ""),
            predictions.TryGetValue(paths[k], out var prediction) ? prediction.TopWords : [], metrics.SampleCosines[p.Index])).ToList();
    }

    /// <summary>Writes the page atomically.</summary>
    public static void Write(string path, EvaluationReport report, CosineMetrics model, CosineMetrics baseline, IReadOnlyList<PageExample> examples)
    {
        string html = Render(report, model, baseline, examples);
        string full = Path.GetFullPath(path);
        string? dir = Path.GetDirectoryName(full);
        if (!string.IsNullOrEmpty(dir) && !Directory.Exists(dir))
            throw new ReverseSdInputException($"--html '{path}': folder '{dir}' does not exist; create it first.");
        string temporary = full + $".tmp-{Environment.ProcessId}-{Guid.NewGuid():N}";
        File.WriteAllText(temporary, html, new UTF8Encoding(false));
        File.Move(temporary, full, overwrite: true);
    }

    /// <summary>The page's HTML.</summary>
    public static string Render(EvaluationReport report, CosineMetrics model, CosineMetrics baseline, IReadOnlyList<PageExample> examples)
    {
        var html = new StringBuilder();
        html.Append("""
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
            <title>reversesd evaluation</title>
            <style>
            body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;margin:24px auto;max-width:980px;color:#1d2330;padding:0 16px}
            h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;margin:28px 0 8px} .sub{color:#5b6272;margin:0 0 16px}
            table{border-collapse:collapse} td,th{padding:5px 12px;border-bottom:1px solid #e3e6ec;text-align:left} td.n{text-align:right;font-variant-numeric:tabular-nums}
            .cards{display:flex;gap:16px;flex-wrap:wrap} .card{border:1px solid #e3e6ec;border-radius:8px;padding:12px;width:280px;box-sizing:border-box}
            .card img{width:192px;height:192px;object-fit:contain;image-rendering:auto;display:block;margin:0 auto 8px;background:#f4f5f8}
            .label{font-weight:600;text-transform:uppercase;font-size:12px;color:#5b6272} .cos{float:right;font-variant-numeric:tabular-nums}
            .k{color:#5b6272;font-size:12px;margin-top:6px} .words span{display:inline-block;background:#eef2fb;border-radius:4px;padding:1px 6px;margin:2px 3px 0 0;font-size:13px}
            </style></head><body>

            """);
        html.Append("<h1>Reverse Stable Diffusion: evaluation</h1>\n");
        html.Append(CultureInfo.InvariantCulture, $"<p class=\"sub\">{E(report.Split)} split, n = {report.NTest}");
        if (report.SkippedImages > 0) html.Append(CultureInfo.InvariantCulture, $", {report.SkippedImages} unreadable image(s) skipped");
        html.Append(CultureInfo.InvariantCulture, $" · model format {E(report.ModelFormat)} · mean cosine between predicted and true prompt embeddings (all-MiniLM-L6-v2); 1 is a perfect match</p>\n");

        html.Append("<h2>Summary</h2>\n<table><tr><th></th><th>mean cosine</th><th>± SE</th><th>what it is</th></tr>\n");
        Row(html, "model", report.TestMeanCosine, report.TestStandardError, "the trained model's prediction");
        Row(html, "mean-embedding baseline", report.BaselineMeanCosine, report.BaselineStandardError, "always predicts the mean training prompt embedding");
        if (report.CeilingMeanCosine is double ceiling)
            Row(html, "visual-only ceiling", ceiling, double.NaN, "true prompt vs its visible part only: what an image can tell");
        html.Append("</table>\n");
        if (report.ModelVsBaseline is { } t)
            html.Append(CultureInfo.InvariantCulture,
                $"<p>Paired t-test, model vs baseline: t = {F(t.T, "F2")}, df = {t.DegreesOfFreedom}, p = {F(t.PValue, "G3")}, mean difference = {F(t.MeanDifference, "F4")}.</p>\n");

        if (report.Prompts is { } prompts)
        {
            html.Append(CultureInfo.InvariantCulture,
                $"<h2>Answers in words</h2>\n<p class=\"sub\">Each answer's MiniLM embedding against the TRUE prompt's embedding; bank: {E(prompts.Bank)} ({prompts.BankSize} prompts). Paired t-test against the model's embedding.</p>\n");
            html.Append("<table><tr><th></th><th>mean cosine</th><th>± SE</th><th>vs embedding: difference, t, p</th></tr>\n");
            html.Append(CultureInfo.InvariantCulture, $"<tr><td>model embedding</td><td class=\"n\">{F(report.TestMeanCosine, "F4")}</td><td class=\"n\">{F(report.TestStandardError, "F4")}</td><td></td></tr>\n");
            foreach (var row in prompts.Rows)
            {
                string test = row.VersusEmbedding is { } v ? $"{Commands.EvaluationSummary.Difference(v.MeanDifference)}, t = {F(v.T, "F2")}, p = {F(v.PValue, "G3")}" : "";
                html.Append(CultureInfo.InvariantCulture,
                    $"<tr><td>{E(row.Description)}</td><td class=\"n\">{F(row.MeanCosine, "F4")}</td><td class=\"n\">{F(row.StandardError, "F4")}</td><td class=\"n\">{E(test)}</td></tr>\n");
            }
            html.Append("</table>\n");
        }

        html.Append("<h2>Per-image cosines</h2>\n");
        html.Append(Histogram(model.SampleCosines, baseline.SampleCosines));

        if (examples.Count > 0)
        {
            html.Append("<h2>Best, median and worst images</h2>\n<div class=\"cards\">\n");
            foreach (var e in examples)
            {
                html.Append(CultureInfo.InvariantCulture, $"<div class=\"card\"><div><span class=\"label\">{E(e.Label)}</span><span class=\"cos\">cosine {F(e.Cosine, "F3")}</span></div>\n");
                if (Thumbnail(e.ImagePath) is string uri)
                    html.Append(CultureInfo.InvariantCulture, $"<img alt=\"{E(Path.GetFileName(e.ImagePath))}\" src=\"{uri}\">\n");
                html.Append(CultureInfo.InvariantCulture, $"<div class=\"k\">true prompt</div><div>{E(e.TruePrompt)}</div>\n");
                html.Append("<div class=\"k\">model's words (by lift; probability)</div><div class=\"words\">");
                foreach (var w in e.Words)
                    html.Append(CultureInfo.InvariantCulture, $"<span>{E(w.Word)} {F(w.Probability, "F2")}</span>");
                html.Append("</div></div>\n");
            }
            html.Append("</div>\n");
        }
        html.Append("</body></html>\n");
        return html.ToString();
    }

    private static void Row(StringBuilder html, string name, double mean, double se, string what) =>
        html.Append(CultureInfo.InvariantCulture, $"<tr><td>{E(name)}</td><td class=\"n\">{F(mean, "F4")}</td><td class=\"n\">{F(se, "F4")}</td><td>{E(what)}</td></tr>\n");

    /// <summary>Two overlaid histograms (model, baseline) of per-image cosines as inline SVG.</summary>
    internal static string Histogram(IReadOnlyList<double> model, IReadOnlyList<double> baseline)
    {
        const int width = 900, height = 320, left = 50, right = 20, top = 40, bottom = 45, bins = 40;
        var all = model.Concat(baseline).Where(double.IsFinite).ToList();
        if (all.Count == 0) return "<p>No cosines.</p>\n";
        double lo = Math.Floor(all.Min() * 20) / 20, hi = Math.Ceiling(all.Max() * 20) / 20;
        if (hi <= lo) hi = lo + 0.05;
        int[] Count(IReadOnlyList<double> values)
        {
            var counts = new int[bins];
            foreach (double v in values.Where(double.IsFinite))
                counts[Math.Clamp((int)((v - lo) / (hi - lo) * bins), 0, bins - 1)]++;
            return counts;
        }
        int[] m = Count(model), b = Count(baseline);
        int max = Math.Max(1, Math.Max(m.Max(), b.Max()));
        double plotW = width - left - right, plotH = height - top - bottom, barW = plotW / bins;
        var svg = new StringBuilder();
        svg.Append(CultureInfo.InvariantCulture, $"<svg width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" role=\"img\" aria-label=\"histogram of per-image cosines\" style=\"max-width:100%;height:auto\">\n");
        foreach (var (counts, colour) in new[] { (b, "#e8913a"), (m, "#3b6fd4") })
            for (int i = 0; i < bins; i++)
            {
                if (counts[i] == 0) continue;
                double h = counts[i] / (double)max * plotH;
                svg.Append(CultureInfo.InvariantCulture,
                    $"<rect x=\"{left + i * barW + 1:F1}\" y=\"{top + plotH - h:F1}\" width=\"{barW - 2:F1}\" height=\"{h:F1}\" fill=\"{colour}\" fill-opacity=\"0.6\"/>\n");
            }
        svg.Append(CultureInfo.InvariantCulture, $"<line x1=\"{left}\" y1=\"{top + plotH}\" x2=\"{width - right}\" y2=\"{top + plotH}\" stroke=\"#1d2330\"/>\n");
        svg.Append(CultureInfo.InvariantCulture, $"<line x1=\"{left}\" y1=\"{top}\" x2=\"{left}\" y2=\"{top + plotH}\" stroke=\"#1d2330\"/>\n");
        for (double x = lo; x <= hi + 1e-9; x += (hi - lo) > 0.5 ? 0.1 : 0.05)
        {
            double px = left + (x - lo) / (hi - lo) * plotW;
            svg.Append(CultureInfo.InvariantCulture, $"<line x1=\"{px:F1}\" y1=\"{top + plotH}\" x2=\"{px:F1}\" y2=\"{top + plotH + 5}\" stroke=\"#1d2330\"/>");
            svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{px:F1}\" y=\"{top + plotH + 18}\" font-size=\"12\" text-anchor=\"middle\">{x:F2}</text>\n");
        }
        svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{left + plotW / 2:F0}\" y=\"{height - 6}\" font-size=\"13\" text-anchor=\"middle\">cosine between predicted and true prompt embedding (per image)</text>\n");
        svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{left - 8}\" y=\"{top + 10}\" font-size=\"12\" text-anchor=\"end\">{max}</text>");
        svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{left - 8}\" y=\"{top + plotH}\" font-size=\"12\" text-anchor=\"end\">0</text>\n");
        // Legend above the plot, so it never covers a bar.
        svg.Append(CultureInfo.InvariantCulture, $"<rect x=\"{left}\" y=\"6\" width=\"12\" height=\"12\" fill=\"#3b6fd4\" fill-opacity=\"0.6\"/><text x=\"{left + 18}\" y=\"16\" font-size=\"13\">model (n = {model.Count})</text>\n");
        svg.Append(CultureInfo.InvariantCulture, $"<rect x=\"{left + 200}\" y=\"6\" width=\"12\" height=\"12\" fill=\"#e8913a\" fill-opacity=\"0.6\"/><text x=\"{left + 218}\" y=\"16\" font-size=\"13\">mean-embedding baseline (n = {baseline.Count})</text>\n");
        svg.Append("</svg>\n");
        return svg.ToString();
    }

    /// <summary>A PNG thumbnail (at most 192 px a side) as a data URI, or null when the image does not decode.</summary>
    internal static string? Thumbnail(string path)
    {
        using var source = SKBitmap.Decode(path);
        if (source == null) return null;
        double scale = Math.Min(1, ThumbnailSize / (double)Math.Max(source.Width, source.Height));
        var info = new SKImageInfo(Math.Max(1, (int)Math.Round(source.Width * scale)), Math.Max(1, (int)Math.Round(source.Height * scale)));
        using var resized = source.Resize(info, SKFilterQuality.Medium) ?? source.Copy();
        using var data = resized.Encode(SKEncodedImageFormat.Png, 100);
        return "data:image/png;base64," + Convert.ToBase64String(data.ToArray());
    }

    private static string E(string text) => WebUtility.HtmlEncode(text);

    private static string F(double value, string format) => double.IsFinite(value) ? value.ToString(format, CultureInfo.InvariantCulture) : "–";
}
