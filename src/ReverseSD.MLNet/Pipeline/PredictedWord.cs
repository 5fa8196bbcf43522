namespace ReverseSD.MLNet.Pipeline;

/// <summary>
/// A vocabulary word predicted for an image: the head's probability, the word's training frequency (share of training prompts
/// containing it; null for models saved before it was stored) and the lift, probability ÷ training frequency.
/// </summary>
public sealed record PredictedWord(string Word, float Probability, float? TrainingFrequency, float? Lift);
