using ReverseSD.MLNet.Data;
using ReverseSD.MLNet.Evaluation;
using ReverseSD.MLNet.Retrieval;
using ReverseSD.MLNet.Text;

namespace ReverseSD.MLNet.Composer;

/// <summary>One row of the text-inversion table: cosines of a method's prompts to the true prompt embeddings.</summary>
internal sealed record TextInversionRow(string Method, CosineMetrics Metrics, PairedTTestResult? VersusTop1, double MillisecondsPerPrompt, double TextsEmbeddedPerPrompt);

/// <summary>The text-inversion tables: exact targets and targets blurred to a given cosine.</summary>
internal sealed record TextInversionResult(int BankSize, int HeldOut, double NoiseCosine, double MeasuredNoiseCosine,
    IReadOnlyList<TextInversionRow> Exact, IReadOnlyList<TextInversionRow> Noisy);

/// <summary>
/// Text inversion on real prompts, independent of any image model: distinct prompts are split by prompt into a bank and
/// held-out prompts; each held-out prompt's true MiniLM embedding (and the same blurred to a cosine of about 0.7, what a
/// real image model predicts) is turned back into a prompt by top-1 retrieval, the greedy baseline and the beam composer;
/// every answer is scored by cos(MiniLM(answer), true embedding), against the bank oracle (the best bank prompt for the true
/// embedding: the ceiling of pure retrieval).
/// </summary>
internal static class TextInversionExperiment
{
    public static TextInversionResult Run(IReadOnlyList<string> inputs, int heldOut, double noiseCosine, int seed, PromptComposerOptions options,
        string workDirectory, IProgress<ProgressReport>? progress, CancellationToken cancellationToken, bool paperFilters = true)
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
        try
        {
            using var bank = PromptBank.Open(bankPath);
            using var composer = new PromptComposer(bank, options, encoder, ownsEncoder: false);
            var noisy = Blur(truth, noiseCosine, seed + 1);
            double measured = truth.Select((t, i) => PromptEmbeddingEvaluator.Cosine(t, noisy[i])).Average();
            var oracle = bank.Search(truth, 1).Select(m => (double)m[0].Score).ToList();
            var exact = Rows(composer, encoder, truth, truth, oracle, "exact", progress, cancellationToken);
            var blurred = Rows(composer, encoder, noisy, truth, oracle, "blurred", progress, cancellationToken);
            return new TextInversionResult(bankPrompts.Count, test.Count, noiseCosine, measured, exact, blurred);
        }
        finally
        {
            File.Delete(bankPath);
        }
    }

    private static List<TextInversionRow> Rows(PromptComposer composer, SentenceEncoder encoder, float[][] targets, float[][] truth,
        List<double> oracle, string setting, IProgress<ProgressReport>? progress, CancellationToken cancellationToken)
    {
        var rows = new List<TextInversionRow>();
        List<double>? top1 = null;
        foreach (var method in new[] { CompositionMethod.None, CompositionMethod.Greedy, CompositionMethod.Beam })
        {
            var composed = new List<ComposedPrompt>();
            for (int start = 0; start < targets.Length; start += 10)
            {
                composed.AddRange(composer.Compose(targets.Skip(start).Take(10).ToList(), method, null, cancellationToken));
                progress?.Report(new ProgressReport($"{setting} targets, {Name(method)}", composed.Count, targets.Length));
            }
            var vectors = encoder.Encode(composed.Select(c => c.Prompt).ToList(), null, cancellationToken);
            var cosines = vectors.Select((v, i) => PromptEmbeddingEvaluator.Cosine(v, truth[i])).ToList();
            top1 ??= cosines;
            rows.Add(new TextInversionRow(Name(method), CosineMetrics.FromSamples(cosines), method == CompositionMethod.None ? null : PairedTTest.Run(cosines, top1),
                composed.Average(c => c.Time.TotalMilliseconds), composed.Average(c => c.TextsEmbedded)));
        }
        rows.Add(new TextInversionRow("bank oracle (best bank prompt for the true embedding)", CosineMetrics.FromSamples(oracle), PairedTTest.Run(oracle, top1!), 0, 0));
        return rows;
    }

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
