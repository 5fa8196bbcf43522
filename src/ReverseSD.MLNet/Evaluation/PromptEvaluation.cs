using System.Text.Json.Serialization;

namespace ReverseSD.MLNet.Evaluation;

/// <summary>
/// The answers in words of an evaluation, each scored by the cosine between its MiniLM embedding and the TRUE prompt's
/// embedding: the nearest bank prompt, the composed prompt and the bank oracle, written as "prompts" in report.json.
/// </summary>
public sealed class PromptEvaluation
{
    /// <summary>The bank searched: "training prompts" (the distinct prompts of the train split) or the bank file's path.</summary>
    public string Bank { get; init; } = "";

    /// <summary>Prompts in the bank.</summary>
    public long BankSize { get; init; }

    /// <summary>How the composed prompt was made: beam, greedy or none (no composed row).</summary>
    public string Composition { get; init; } = "";

    /// <summary>Mean time to compose one prompt, in milliseconds (0 without composition).</summary>
    public double ComposeMillisecondsPerImage { get; init; }

    /// <summary>One row per answer: nearest prompt (top-1), composed prompt, bank oracle.</summary>
    public IReadOnlyList<PromptEvaluationRow> Rows { get; init; } = [];
}

/// <summary>One answer in words: its mean cosine to the true prompt embeddings, ± SE, and a paired t-test against the embedding row.</summary>
public sealed class PromptEvaluationRow
{
    /// <summary>Short name, also the per-sample CSV column prefix: top1, composed or oracle.</summary>
    public string Method { get; init; } = "";

    /// <summary>What the row is, in words.</summary>
    public string Description { get; init; } = "";

    /// <summary>Mean of cos(MiniLM(answer), true prompt embedding) over the scored images.</summary>
    public double MeanCosine { get; init; }

    /// <summary>Standard error of <see cref="MeanCosine"/>.</summary>
    public double StandardError { get; init; }

    /// <summary>Paired t-test of this row's per-image cosines minus the model embedding's (the "mean_cosine" row).</summary>
    public PairedTTestResult? VersusEmbedding { get; init; }

    /// <summary>The per-image cosines, in split order (written to the per-sample CSV, not the JSON).</summary>
    [JsonIgnore]
    public IReadOnlyList<double> SampleCosines { get; init; } = [];
}
