using System.Globalization;
using ReverseSD.MLNet.Data;
using ReverseSD.MLNet.Evaluation;
using ReverseSD.MLNet.Retrieval;
using ReverseSD.MLNet.Text;

namespace ReverseSD.MLNet.Composer;

/// <summary>
/// One row of the text-inversion table: cosines of a method's prompts to the true prompt embeddings, their paired t-test
/// against top-1 retrieval, the mean wall time per prompt, the texts embedded per prompt, and the mean CPU time of this
/// process (all its threads) per prompt, less sensitive than wall time to other processes sharing the cores.
/// </summary>
internal sealed record TextInversionRow(string Method, CosineMetrics Metrics, PairedTTestResult? VersusTop1, double MillisecondsPerPrompt,
    double TextsEmbeddedPerPrompt, double CpuMillisecondsPerPrompt = 0);

/// <summary>The text-inversion tables: exact targets and targets blurred to a given cosine.</summary>
internal sealed record TextInversionResult(int BankSize, int HeldOut, double NoiseCosine, double MeasuredNoiseCosine,
    IReadOnlyList<TextInversionRow> Exact, IReadOnlyList<TextInversionRow> Noisy);

/// <summary>
/// Text inversion on real prompts, independent of any image model: distinct prompts are split by prompt into a bank and
/// held-out prompts; each held-out prompt's true MiniLM embedding (and the same blurred to a cosine of about 0.7, what a
/// real image model predicts) is turned back into a prompt by top-1 retrieval, the greedy baseline and the beam composer;
/// every answer is scored by cos(MiniLM(answer), true embedding), against the bank oracle (the best bank prompt for the true
/// embedding: the ceiling of pure retrieval). The methods run interleaved, prompt by prompt, so their times see the same
/// load; with a samples file, every prompt's results are appended to it as they are made.
/// </summary>
internal static class TextInversionExperiment
{
    private static readonly CompositionMethod[] Methods = [CompositionMethod.None, CompositionMethod.Greedy, CompositionMethod.Beam];

    public static TextInversionResult Run(IReadOnlyList<string> inputs, int heldOut, double noiseCosine, int seed, PromptComposerOptions options,
        string workDirectory, IProgress<ProgressReport>? progress, CancellationToken cancellationToken, bool paperFilters = true, string? samplesPath = null)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var prompts = new List<string>();
        foreach (var file in PromptSources.Expand(inputs))
            foreach (var raw in PromptSources.Read(file, "prompt", cancellationToken))
            {
                string p = PromptFilters.Trim(raw);
                if (p.Length > 0 && seen.Add(p.ToLowerInvariant())) prompts.Add(p);
            }
        // The paper's filters drop near duplicates (same first or last 50 characters): without them a held-out prompt often
        // has a near copy in the bank (DiffusionDB users vary one prompt), and retrieval alone looks far better than it is.
        if (paperFilters) prompts = [.. PromptFilters.Apply(prompts, cancellationToken).Kept];
        if (prompts.Count < heldOut + 10)
            throw new ReverseSdInputException($"The inputs hold {prompts.Count} distinct prompts; holding out {heldOut} needs at least {heldOut + 10}.");
        var random = new Random(seed);
        var order = Enumerable.Range(0, prompts.Count).ToArray();
        random.Shuffle(order);
        var test = order.Take(heldOut).Select(i => prompts[i]).ToList();
        var bankPrompts = order.Skip(heldOut).Order().Select(i => prompts[i]).ToList();

        using var encoder = SentenceEncoder.Load();
        var bankVectors = encoder.Encode(bankPrompts, progress, cancellationToken);
        var truth = encoder.Encode(test, progress, cancellationToken);
        string bankPath = Path.Combine(workDirectory, $"inversion-{Environment.ProcessId}.rsdbank");
        PromptBankBuilder.Write(bankPath, bankPrompts, bankVectors, new PromptBankInfo
        {
            Encoder = PromptBank.EncoderIdentity, EncoderSha256 = PromptBank.EncoderSha256, Sources = [.. inputs], Filters = "none", PromptsRead = bankPrompts.Count,
            FrequentPhrases = PromptBankBuilder.FrequentPhrases(bankPrompts, 200),
        });
        StreamWriter? samples = null;
        try
        {
            using var bank = PromptBank.Open(bankPath);
            // One composer per method, so no method's cache holds another's embeddings.
            var composers = Methods.ToDictionary(m => m, _ => new PromptComposer(bank, options, encoder, ownsEncoder: false));
            var noisy = Blur(truth, noiseCosine, seed + 1);
            double measured = truth.Select((t, i) => PromptEmbeddingEvaluator.Cosine(t, noisy[i])).Average();
            var oracle = bank.Search(truth, 1).Select(m => (double)m[0].Score).ToList();
            if (samplesPath != null)
            {
                samples = new StreamWriter(samplesPath, append: false, new System.Text.UTF8Encoding(false));
                samples.WriteLine("index,setting,method,cosine,milliseconds,cpu_milliseconds,texts_embedded,oracle_cosine,true_prompt,answer");
            }
            var settings = new[] { ("exact", truth), ("blurred", noisy) };
            var results = settings.ToDictionary(s => s.Item1, _ => Methods.ToDictionary(m => m, _ => new List<(double Cosine, double Ms, double CpuMs, int Texts)>()));
            var process = System.Diagnostics.Process.GetCurrentProcess();
            for (int i = 0; i < test.Count; i++)
            {
                foreach (var (setting, targets) in settings)
                    foreach (var method in Methods)
                    {
                        cancellationToken.ThrowIfCancellationRequested();
                        process.Refresh();
                        var cpu = process.TotalProcessorTime;
                        var composed = composers[method].Compose([targets[i]], method, null, cancellationToken)[0];
                        process.Refresh();
                        double cpuMs = (process.TotalProcessorTime - cpu).TotalMilliseconds;
                        double cosine = PromptEmbeddingEvaluator.Cosine(encoder.Encode(composed.Prompt), truth[i]);
                        results[setting][method].Add((cosine, composed.Time.TotalMilliseconds, cpuMs, composed.TextsEmbedded));
                        samples?.WriteLine(string.Join(",", i.ToString(CultureInfo.InvariantCulture), setting, Name(method),
                            cosine.ToString("R", CultureInfo.InvariantCulture), composed.Time.TotalMilliseconds.ToString("F1", CultureInfo.InvariantCulture),
                            cpuMs.ToString("F1", CultureInfo.InvariantCulture), composed.TextsEmbedded.ToString(CultureInfo.InvariantCulture),
                            oracle[i].ToString("R", CultureInfo.InvariantCulture), Csv(test[i]), Csv(composed.Prompt)));
                    }
                samples?.Flush();
                progress?.Report(new ProgressReport("held-out prompts inverted (top-1, greedy, beam; exact and blurred)", i + 1, test.Count));
            }
            foreach (var composer in composers.Values) composer.Dispose();
            return new TextInversionResult(bankPrompts.Count, test.Count, noiseCosine, measured, Rows(results["exact"], oracle), Rows(results["blurred"], oracle));
        }
        finally
        {
            samples?.Dispose();
            File.Delete(bankPath);
        }
    }

    private static List<TextInversionRow> Rows(Dictionary<CompositionMethod, List<(double Cosine, double Ms, double CpuMs, int Texts)>> results, List<double> oracle)
    {
        var top1 = results[CompositionMethod.None].Select(r => r.Cosine).ToList();
        var rows = Methods.Select(method =>
        {
            var r = results[method];
            var cosines = r.Select(x => x.Cosine).ToList();
            return new TextInversionRow(Name(method), CosineMetrics.FromSamples(cosines), method == CompositionMethod.None ? null : PairedTTest.Run(cosines, top1),
                r.Average(x => x.Ms), r.Average(x => x.Texts), r.Average(x => x.CpuMs));
        }).ToList();
        rows.Add(new TextInversionRow("bank oracle (best bank prompt for the true embedding)", CosineMetrics.FromSamples(oracle), PairedTTest.Run(oracle, top1), 0, 0));
        return rows;
    }

    private static string Csv(string text) => "\"" + text.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";

    private static string Name(CompositionMethod method) => method switch
    {
        CompositionMethod.None => "top-1 retrieval",
        CompositionMethod.Greedy => "greedy composer (baseline)",
        _ => "beam composer",
    };

    /// <summary>c·t + √(1−c²)·u with u a random unit vector orthogonal to t: cosine exactly c to the unit target t.</summary>
    internal static float[][] Blur(float[][] targets, double cosine, int seed)
    {
        var random = new Random(seed);
        return targets.Select(t =>
        {
            var u = new double[t.Length];
            for (int i = 0; i < u.Length; i++)
                u[i] = Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
            double along = 0;
            for (int i = 0; i < u.Length; i++) along += u[i] * t[i];
            double norm = 0;
            for (int i = 0; i < u.Length; i++)
            {
                u[i] -= along * t[i];
                norm += u[i] * u[i];
            }
            norm = Math.Sqrt(norm);
            double s = Math.Sqrt(1 - cosine * cosine);
            return t.Select((x, i) => (float)(cosine * x + s * u[i] / norm)).ToArray();
        }).ToArray();
    }
}
