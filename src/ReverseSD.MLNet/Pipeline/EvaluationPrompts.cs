using System.Diagnostics;
using ReverseSD.MLNet.Composer;
using ReverseSD.MLNet.Evaluation;
using ReverseSD.MLNet.Retrieval;
using ReverseSD.MLNet.Text;

namespace ReverseSD.MLNet.Pipeline;

/// <summary>Options of the prompt rows of <see cref="ReverseSdModel.Evaluate(Microsoft.ML.MLContext, Microsoft.ML.ITransformer, string, string, string?, PromptEvaluationOptions?, IProgress{ProgressReport}?, CancellationToken)"/>.</summary>
public sealed class PromptEvaluationOptions
{
    /// <summary>The bank to search; null: the distinct prompts of the data set's train split.</summary>
    public PromptBank? Bank { get; set; }

    /// <summary>How the composed row's prompts are made: beam (default), greedy, or none (no composed row).</summary>
    public CompositionMethod Composition { get; set; } = CompositionMethod.Beam;

    /// <summary>The composer's options (as predict's).</summary>
    public PromptComposerOptions Composer { get; set; } = new();
}

/// <summary>
/// The prompt rows of an evaluation: for each image, the nearest bank prompt to the predicted embedding (top-1), the
/// composed prompt and the bank oracle (the bank prompt nearest the TRUE embedding: the ceiling of pure retrieval), each
/// scored by cos(MiniLM(text), true embedding) and paired-tested against the predicted embedding's own cosines.
/// </summary>
internal static class EvaluationPrompts
{
    public static PromptEvaluation Evaluate(IReadOnlyList<float[]> predicted, IReadOnlyList<IReadOnlyList<(string Word, float Probability)>>? words,
        float[][] targets, IReadOnlyList<double> embeddingCosines, IReadOnlyList<string> trainPrompts, float[][] trainTargets,
        PromptEvaluationOptions options, SentenceEncoder encoder, IProgress<ProgressReport>? progress, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfNotEqual(trainTargets.Length, trainPrompts.Count, nameof(trainTargets));
        string? temporary = null;
        PromptBank? owned = null;
        try
        {
            var bank = options.Bank;
            if (bank == null)
            {
                var seen = new HashSet<string>(StringComparer.Ordinal);
                var prompts = new List<string>();
                var vectors = new List<float[]>();
                for (int i = 0; i < trainPrompts.Count; i++)
                    if (seen.Add(trainPrompts[i].ToLowerInvariant()))
                    {
                        prompts.Add(trainPrompts[i]);
                        vectors.Add(trainTargets[i]);
                    }
                temporary = Path.Combine(Path.GetTempPath(), $"reversesd-train-bank-{Environment.ProcessId}-{Guid.NewGuid():N}.rsdbank");
                PromptBankBuilder.Write(temporary, prompts, vectors, new PromptBankInfo
                {
                    Encoder = PromptBank.EncoderIdentity, EncoderSha256 = PromptBank.EncoderSha256, Sources = ["train split"], Filters = "none",
                    PromptsRead = trainPrompts.Count, FrequentPhrases = PromptBankBuilder.FrequentPhrases(prompts, 200),
                });
                bank = owned = PromptBank.Open(temporary);
            }
            if (bank.Dimension != targets[0].Length)
                throw new ReverseSdInputException($"Prompt bank '{bank.Path}' holds {bank.Dimension}-d vectors but the model predicts {targets[0].Length}-d embeddings: use a bank built with 'reversesd bank build'.");

            var nearest = bank.Search(predicted, options.Composer.Neighbors);
            var top1 = nearest.Select((n, i) => PromptEmbeddingEvaluator.Cosine(bank.Vector(n[0].Index), targets[i])).ToList();
            var rows = new List<PromptEvaluationRow> { Row("top1", "nearest bank prompt to the predicted embedding (top-1 retrieval)", top1, embeddingCosines) };

            double milliseconds = 0;
            if (options.Composition != CompositionMethod.None)
            {
                using var composer = new PromptComposer(bank, options.Composer, encoder, ownsEncoder: false);
                var composed = new List<ComposedPrompt>(predicted.Count);
                var clock = Stopwatch.StartNew();
                const int Group = 16;
                for (int start = 0; start < predicted.Count; start += Group)
                {
                    int n = Math.Min(Group, predicted.Count - start);
                    composed.AddRange(composer.Compose(predicted.Skip(start).Take(n).ToList(), options.Composition, words?.Skip(start).Take(n).ToList(),
                        nearest.Skip(start).Take(n).ToList(), cancellationToken));
                    progress?.Report(new ProgressReport($"composing prompts ({Name(options.Composition)})", composed.Count, predicted.Count));
                }
                milliseconds = clock.Elapsed.TotalMilliseconds / Math.Max(1, predicted.Count);
                var vectors = encoder.Encode(composed.Select(c => c.Prompt).ToList(), null, cancellationToken);
                var cosines = vectors.Select((v, i) => PromptEmbeddingEvaluator.Cosine(v, targets[i])).ToList();
                rows.Add(Row("composed", $"composed prompt ({Name(options.Composition)}) from the predicted embedding", cosines, embeddingCosines));
            }

            var oracle = bank.Search(targets, 1).Select(m => (double)m[0].Score).ToList();
            rows.Add(Row("oracle", "bank oracle: the bank prompt nearest the TRUE embedding (ceiling of pure retrieval)", oracle, embeddingCosines));
            return new PromptEvaluation
            {
                Bank = options.Bank == null ? "training prompts" : options.Bank.Path,
                BankSize = bank.Count,
                Composition = Name(options.Composition),
                ComposeMillisecondsPerImage = milliseconds,
                Rows = rows,
            };
        }
        finally
        {
            owned?.Dispose();
            if (temporary != null) File.Delete(temporary);
        }
    }

    private static PromptEvaluationRow Row(string method, string description, IReadOnlyList<double> cosines, IReadOnlyList<double> embedding)
    {
        var metrics = CosineMetrics.FromSamples(cosines);
        return new PromptEvaluationRow
        {
            Method = method, Description = description, MeanCosine = metrics.MeanCosine, StandardError = metrics.StandardError,
            VersusEmbedding = cosines.Count > 1 ? PairedTTest.Run(cosines, embedding) : null, SampleCosines = cosines,
        };
    }

    internal static string Name(CompositionMethod method) => method.ToString().ToLowerInvariant();
}
