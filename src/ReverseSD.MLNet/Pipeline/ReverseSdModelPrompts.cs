using Microsoft.ML;
using Microsoft.ML.Data;
using ReverseSD.MLNet.Composer;
using ReverseSD.MLNet.Retrieval;

namespace ReverseSD.MLNet.Pipeline;

/// <summary>Options of <see cref="ReverseSdModel.Predict(MLContext, ITransformer, IReadOnlyList{string}, PromptPredictionOptions, out IReadOnlyList{UnreadableImage}, CancellationToken)"/>.</summary>
public sealed class PromptPredictionOptions
{
    /// <summary>Vocabulary words listed per image.</summary>
    public int TopWords { get; set; } = 10;

    /// <summary>How the listed words are ranked (lift by default, as predict).</summary>
    public WordRanking WordRanking { get; set; } = WordRanking.Lift;

    /// <summary>A prompt bank to search; null uses the bank inside the model zip, when it has one.</summary>
    public PromptBank? Bank { get; set; }

    /// <summary>How the prompt is made from the nearest prompts: beam (default), greedy or none (the nearest prompt).</summary>
    public CompositionMethod Composition { get; set; } = CompositionMethod.Beam;

    /// <summary>The composer's options (beam width, steps, candidates, nearest prompts listed).</summary>
    public PromptComposerOptions Composer { get; set; } = new();
}

public static partial class ReverseSdModel
{
    /// <summary>
    /// Scores image files and answers in words: embedding, vocabulary words, the nearest bank prompts (from
    /// <see cref="PromptPredictionOptions.Bank"/>, else from the bank in the zip) and the composed prompt with its cosine to
    /// the embedding. Without any bank, the prompt fields stay empty. The CLI's predict and the server call this.
    /// </summary>
    public static IReadOnlyList<PromptPrediction> Predict(MLContext mlContext, ITransformer model, IReadOnlyList<string> imagePaths,
        PromptPredictionOptions options, out IReadOnlyList<UnreadableImage> skipped, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        var predictions = Predict(mlContext, model, imagePaths, options.TopWords, out skipped, options.WordRanking);
        if (predictions.Count == 0) return predictions;
        if (options.Bank == null && predictions[0].NearestPrompts.Count == 0) return predictions;
        if (options.Bank != null && options.Bank.Dimension != predictions[0].Embedding.Length)
            throw new ReverseSdInputException(
                $"Prompt bank '{options.Bank.Path}' holds {options.Bank.Dimension}-d vectors but the model predicts {predictions[0].Embedding.Length}-d embeddings: use a bank built with 'reversesd bank build'.");
        using var composer = PromptComposer.Create(options.Bank, options.Composer);
        var composed = composer.Compose(predictions.Select(p => p.Embedding).ToList(), options.Composition,
            predictions.Select(p => (IReadOnlyList<(string Word, float Probability)>)p.TopWords.Select(w => (w.Word, w.Probability)).ToList()).ToList(), options.Bank == null ? predictions.Select(p => p.NearestPrompts).ToList() : null,
            cancellationToken);
        return predictions.Select((p, i) => p with
        {
            Prompt = composed[i].Prompt,
            PromptScore = composed[i].Score,
            NearestPrompts = composed[i].NearestPrompts,
        }).ToList();
    }

    /// <summary>The NearestPrompts/NearestPromptScores columns of scored rows, or null when the model has no bank.</summary>
    private static List<IReadOnlyList<PromptMatch>>? NearestPromptsOf(IDataView scored)
    {
        if (scored.Schema.GetColumnOrNull(ColumnNames.NearestPrompts) == null || scored.Schema.GetColumnOrNull(ColumnNames.NearestPromptScores) == null)
            return null;
        var texts = Heads.ReverseSdModelFormat.ReadTextVectors(scored, ColumnNames.NearestPrompts).ToList();
        var scores = Evaluation.PromptEmbeddingEvaluator.ReadVectors(scored, ColumnNames.NearestPromptScores);
        return texts.Select((t, i) => (IReadOnlyList<PromptMatch>)t.Select((p, j) => new PromptMatch(-1, p, scores[i][j])).ToList()).ToList();
    }
}
