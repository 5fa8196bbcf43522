using System.Globalization;
using ReverseSD.MLNet.Evaluation;
using Spectre.Console;

namespace ReverseSD.Cli.Commands;

/// <summary>The evaluation summary train, evaluate and demo print: model vs baseline vs ceiling.</summary>
internal static class EvaluationSummary
{
    /// <summary>Prints model vs baseline vs ceiling as a small table.</summary>
    public static void Print(IAnsiConsole console, EvaluationReport report)
    {
        var table = new Table().AddColumn($"{report.Split} split (n = {report.NTest})").AddColumn(new TableColumn("mean cosine").RightAligned()).AddColumn(new TableColumn("± SE").RightAligned());
        table.AddRow("model", F(report.TestMeanCosine), F(report.TestStandardError));
        table.AddRow("mean-embedding baseline", F(report.BaselineMeanCosine), F(report.BaselineStandardError));
        if (report.CeilingMeanCosine is double ceiling) table.AddRow("visual-only ceiling", F(ceiling), "");
        console.Write(table);
        if (report.ModelVsBaseline is { } t)
            console.MarkupLineInterpolated($"paired t-test model vs baseline: t = {t.T.ToString("F2", CultureInfo.InvariantCulture)}, df = {t.DegreesOfFreedom}, p = {t.PValue.ToString("G3", CultureInfo.InvariantCulture)}");
        if (report.Prompts is { } prompts)
        {
            var words = new Table().AddColumn($"answers in words vs the TRUE prompt (bank: {prompts.Bank}, {prompts.BankSize} prompts)")
                .AddColumn(new TableColumn("mean cosine").RightAligned()).AddColumn(new TableColumn("± SE").RightAligned())
                .AddColumn(new TableColumn("vs embedding: diff, t, p").RightAligned());
            words.AddRow("model embedding (as above)", F(report.TestMeanCosine), F(report.TestStandardError), "");
            foreach (var row in prompts.Rows)
                words.AddRow(Markup.Escape(row.Description), F(row.MeanCosine), F(row.StandardError), row.VersusEmbedding is { } v
                    ? string.Create(CultureInfo.InvariantCulture, $"{SignedDifference.Format(v.MeanDifference)}, t = {v.T:F2}, p = {v.PValue:G3}") : "");
            console.Write(words);
            if (prompts.ComposeMillisecondsPerImage > 0)
                console.MarkupLineInterpolated($"composer ({prompts.Composition}): {prompts.ComposeMillisecondsPerImage.ToString("F0", CultureInfo.InvariantCulture)} ms per image");
        }
        if (report.SkippedImages > 0) console.MarkupLineInterpolated($"[yellow]{report.SkippedImages} unreadable image(s) skipped[/]");
        if (report.Options.TryGetValue("epochs", out var epochs) && epochs.StartsWith("auto", StringComparison.Ordinal))
            console.MarkupLineInterpolated($"epochs: {epochs}");
        if (report.Options.TryGetValue("validation_note", out var note)) console.MarkupLineInterpolated($"[yellow]note: {note}[/]");
    }

    /// <summary>A difference of cosines as reports print it (<see cref="SignedDifference.Format"/>: "+0.0123", "-0.0123", "0.0000").</summary>
    public static string Difference(double value) => SignedDifference.Format(value);

    private static string F(double v) => double.IsNaN(v) ? "-" : v.ToString("F4", CultureInfo.InvariantCulture);
}
