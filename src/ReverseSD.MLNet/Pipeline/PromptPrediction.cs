namespace ReverseSD.MLNet.Pipeline;

/// <summary>
/// One image's prediction: its prompt embedding, its vocabulary words (ranked by <see cref="WordRanking"/>) and, with a prompt
/// bank (in the zip or given), the nearest bank prompts and the answer in words (the composed prompt and its cosine to the embedding).
/// </summary>
public sealed record PromptPrediction(string ImagePath, float[] Embedding, IReadOnlyList<PredictedWord> TopWords)
{
    /// <summary>The prompt: composed (or the nearest bank prompt with composition off); null without a prompt bank.</summary>
    public string? Prompt { get; init; }

    /// <summary>Cosine between the MiniLM embedding of <see cref="Prompt"/> and <see cref="Embedding"/>; null without a prompt.</summary>
    public float? PromptScore { get; init; }

    /// <summary>The nearest bank prompts with their cosines to <see cref="Embedding"/>, best first; empty without a bank.</summary>
    public IReadOnlyList<Retrieval.PromptMatch> NearestPrompts { get; init; } = [];
}

/// <summary>One image's outcome in <c>ReverseSdModel.PredictStream</c>: its prediction, or why it was skipped.</summary>
/// <param name="ImagePath">The image's full path.</param>
/// <param name="Prediction">The prediction; null when the image is unreadable.</param>
/// <param name="Problem">Why the image was skipped (missing, not an image, truncated); null when it was scored.</param>
public sealed record ImagePredictionResult(string ImagePath, PromptPrediction? Prediction, string? Problem);
