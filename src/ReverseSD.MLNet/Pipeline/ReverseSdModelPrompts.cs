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
    /// the embedding. Without any bank, the prompt fields stay empty. The server calls this; the CLI's predict streams
    /// the same results with <see cref="PredictStream(MLContext, ITransformer, IReadOnlyList{string}, PromptPredictionOptions, int, IProgress{ProgressReport}?, CancellationToken)"/>.
    /// </summary>
    public static IReadOnlyList<PromptPrediction> Predict(MLContext mlContext, ITransformer model, IReadOnlyList<string> imagePaths,
        PromptPredictionOptions options, out IReadOnlyList<UnreadableImage> skipped, CancellationToken cancellationToken = default)
    {
        var good = new List<PromptPrediction>();
        var bad = new List<UnreadableImage>();
        foreach (var result in PredictStream(mlContext, model, imagePaths, options, cancellationToken: cancellationToken))
        {
            if (result.Prediction != null) good.Add(result.Prediction);
            else bad.Add(new UnreadableImage(result.ImagePath, result.Problem!));
        }
        skipped = bad;
        return good;
    }

    /// <summary>
    /// Scores image files chunk by chunk and yields each image's result in input order as its chunk finishes, answering in
    /// words as <see cref="Predict(MLContext, ITransformer, IReadOnlyList{string}, PromptPredictionOptions, out IReadOnlyList{UnreadableImage}, CancellationToken)"/>
    /// does: the prompts of a chunk are composed together, by one composer kept for the whole stream, which starts each chunk with no embedded text kept (a chunk's results do not depend on the chunks before it). Memory stays flat
    /// for any number of images; an unreadable image is a result with its problem, never fatal. Chunk k always holds
    /// images k·<paramref name="chunkSize"/> onwards, so a run restarted at a chunk boundary gives the same results.
    /// </summary>
    public static IEnumerable<ImagePredictionResult> PredictStream(MLContext mlContext, ITransformer model, IReadOnlyList<string> imagePaths,
        PromptPredictionOptions options, int chunkSize = DefaultPredictChunkSize, IProgress<ProgressReport>? progress = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        var scored = PredictStream(mlContext, model, imagePaths, options.TopWords, chunkSize, progress, cancellationToken, options.WordRanking);
        return Stream();

        IEnumerable<ImagePredictionResult> Stream()
        {
            PromptComposer? composer = null;
            try
            {
                var chunk = new List<ImagePredictionResult>(chunkSize);
                foreach (var result in scored)
                {
                    chunk.Add(result);
                    if (chunk.Count < chunkSize) continue;
                    foreach (var composed in Compose(chunk)) yield return composed;
                    chunk.Clear();
                }
                foreach (var composed in Compose(chunk)) yield return composed;
            }
            finally
            {
                composer?.Dispose();
            }

            // The chunk's readable images with their prompt composed (they are unchanged when there is no bank at all).
            List<ImagePredictionResult> Compose(List<ImagePredictionResult> chunk)
            {
                var predictions = chunk.Where(r => r.Prediction != null).Select(r => r.Prediction!).ToList();
                if (predictions.Count == 0 || (options.Bank == null && predictions[0].NearestPrompts.Count == 0)) return chunk;
                if (options.Bank != null && options.Bank.Dimension != predictions[0].Embedding.Length)
                    throw new ReverseSdInputException(
                        $"Prompt bank '{options.Bank.Path}' holds {options.Bank.Dimension}-d vectors but the model predicts {predictions[0].Embedding.Length}-d embeddings: use a bank built with 'reversesd bank build'.");
                composer ??= PromptComposer.Create(options.Bank, options.Composer);
                // Each chunk is composed as by a new composer, so a run resumed at a chunk boundary writes the same bytes.
                composer.ForgetTexts();
                using var _ = PhaseTimes.Measure("compose prompts (" + options.Composition.ToString().ToLowerInvariant() + ")");
                var composed = composer.Compose(predictions.Select(p => p.Embedding).ToList(), options.Composition,
                    predictions.Select(p => (IReadOnlyList<(string Word, float Probability)>)p.TopWords.Select(w => (w.Word, w.Probability)).ToList()).ToList(),
                    options.Bank == null ? predictions.Select(p => p.NearestPrompts).ToList() : null, cancellationToken);
                int k = 0;
                return chunk.Select(r => r.Prediction == null ? r : r with
                {
                    Prediction = r.Prediction with { Prompt = composed[k].Prompt, PromptScore = composed[k].Score, NearestPrompts = composed[k++].NearestPrompts },
                }).ToList();
            }
        }
    }
}
