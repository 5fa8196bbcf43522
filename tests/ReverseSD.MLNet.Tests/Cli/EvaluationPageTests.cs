using System.Diagnostics;
using System.Text.RegularExpressions;
using ReverseSD.Cli;
using ReverseSD.MLNet.Evaluation;
using ReverseSD.MLNet.Pipeline;
using SkiaSharp;

namespace ReverseSD.MLNet.Tests.Cli;

public sealed class EvaluationPageTests
{
    /// <summary>A page of three generated images with known prompts and cosines.</summary>
    private static (string Html, string Folder) Page(TempDirectory dir)
    {
        var colours = new[] { SKColors.Crimson, SKColors.SeaGreen, SKColors.RoyalBlue };
        var examples = new List<PageExample>();
        for (int i = 0; i < 3; i++)
        {
            string path = dir.File($"img{i}.png");
            using (var bitmap = new SKBitmap(300, 200))
            using (var canvas = new SKCanvas(bitmap))
            {
                canvas.Clear(SKColors.White);
                using var paint = new SKPaint { Color = colours[i], IsAntialias = true };
                canvas.DrawCircle(150, 100, 60 + 10 * i, paint);
                using var data = bitmap.Encode(SKEncodedImageFormat.Png, 100);
                File.WriteAllBytes(path, data.ToArray());
            }
            examples.Add(new PageExample(new[] { "best", "median", "worst" }[i], path, $"a <b>{colours[i]}</b> circle & \"friends\" {i}",
                [new PredictedWord("circle", 0.9f, 0.3f, 3f), new PredictedWord("red", 0.5f, 0.1f, 5f)], 0.9 - 0.2 * i));
        }
        var random = new Random(4);
        var model = CosineMetrics.FromSamples(Enumerable.Range(0, 200).Select(_ => 0.8 + 0.1 * (random.NextDouble() - 0.5)).ToArray());
        var baseline = CosineMetrics.FromSamples(Enumerable.Range(0, 200).Select(_ => 0.6 + 0.1 * (random.NextDouble() - 0.5)).ToArray());
        var report = new EvaluationReport
        {
            NTest = 200, TestMeanCosine = model.MeanCosine, TestStandardError = model.StandardError, BaselineMeanCosine = baseline.MeanCosine,
            BaselineStandardError = baseline.StandardError, CeilingMeanCosine = 0.9, ModelVsBaseline = PairedTTest.Run(model.SampleCosines, baseline.SampleCosines),
        };
        string page = dir.File("report.html");
        EvaluationPage.Write(page, report, model, baseline, examples);
        return (File.ReadAllText(page), page);
    }

    [Fact]
    public void ThePageIsSelfContainedWithTheSummaryHistogramAndThreeThumbnails()
    {
        using var dir = new TempDirectory();
        var (html, _) = Page(dir);
        Assert.Contains("<svg", html);
        Assert.Equal(3, Regex.Matches(html, "src=\"data:image/png;base64,").Count);
        Assert.DoesNotMatch("(src|href)=\"(?!data:)", html);
        Assert.DoesNotContain("<script", html);
        Assert.DoesNotContain("<link", html);
        Assert.DoesNotContain("url(", html);
        Assert.DoesNotContain("@import", html);
        Assert.Contains("a &lt;b&gt;", html);
        Assert.Contains("visual-only ceiling", html);
        Assert.Contains("Paired t-test, model vs baseline: t = ", html);
        foreach (string label in new[] { "best", "median", "worst" }) Assert.Contains($">{label}<", html);
    }

    [SkippableFact]
    [Trait("Category", "Slow")]
    public void HeadlessChromiumRendersThePageToANonBlankScreenshot()
    {
        string? chromium = new[] { "/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome" }.FirstOrDefault(File.Exists);
        Skip.If(chromium == null, "no Chromium found (.ci/run installs Debian's chromium)");
        using var dir = new TempDirectory();
        var (_, page) = Page(dir);
        string artefacts = Path.Combine(SharedData.RepoRoot, "artifacts", "screenshots");
        Directory.CreateDirectory(artefacts);
        string screenshot = Path.Combine(artefacts, "evaluation-page.png");
        File.Delete(screenshot);
        var start = new ProcessStartInfo(chromium!) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string arg in new[] { "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync", $"--user-data-dir={dir.File("profile")}",
                     "--hide-scrollbars", "--window-size=1000,1100", $"--screenshot={screenshot}", new Uri(page).AbsoluteUri })
            start.ArgumentList.Add(arg);
        using var process = Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync();
        process.StandardOutput.ReadToEnd();
        Assert.True(process.WaitForExit(120_000), "chromium did not finish within 2 minutes");
        Assert.True(File.Exists(screenshot), $"no screenshot; chromium exit {process.ExitCode}: {stderr.Result}");
        using var bitmap = SKBitmap.Decode(screenshot);
        Assert.Equal(1000, bitmap.Width);
        // The page's colours are on it: the three thumbnails' circles and the histogram's blue bars.
        var pixels = bitmap.Pixels;
        Assert.Contains(pixels, p => p.Red > 180 && p.Green < 60 && p.Blue < 90);  // crimson
        Assert.Contains(pixels, p => p.Green > 120 && p.Red < 80 && p.Blue < 110); // sea green
        Assert.True(pixels.Select(p => p.Red / 32 * 64 + p.Green / 32 * 8 + p.Blue / 32).Distinct().Count() > 10, "the screenshot is nearly blank");
    }
}
