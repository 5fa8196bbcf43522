namespace ReverseSD.MLNet.Pipeline;

/// <summary>How predicted words are ranked.</summary>
public enum WordRanking
{
    /// <summary>By lift: how many times more likely for this image than in the training prompts (a word in every prompt has lift ≈ 1).</summary>
    Lift = 0,

    /// <summary>By the vocabulary head's raw probability.</summary>
    Probability = 1,
}
