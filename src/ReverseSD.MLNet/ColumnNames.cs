namespace ReverseSD.MLNet;

/// <summary>
/// The column names the stages read and write by default, in one place: a stage's options start from these, so
/// <c>backbone.Append(heads)</c> connects without naming columns.
/// </summary>
public static class ColumnNames
{
    /// <summary>Path of an image file (input of the image backbone).</summary>
    public const string ImagePath = "ImagePath";

    /// <summary>The prompt text that generated an image.</summary>
    public const string Prompt = "Prompt";

    /// <summary>Image features produced by a backbone.</summary>
    public const string ImageFeatures = "ImageFeatures";

    /// <summary>Sentence embedding of the prompt, the training target s(y).</summary>
    public const string PromptEmbedding = "PromptEmbedding";

    /// <summary>Multi-hot vocabulary labels of the prompt (training target of the vocabulary head).</summary>
    public const string VocabularyLabels = "VocabularyLabels";

    /// <summary>The predicted prompt embedding (unit norm).</summary>
    public const string PredictedEmbedding = "PredictedEmbedding";

    /// <summary>The vocabulary head's sigmoid probability per word.</summary>
    public const string VocabularyProbabilities = "VocabularyProbabilities";

    /// <summary>The vocabulary words, in the order of the <see cref="VocabularyProbabilities"/> slots.</summary>
    public const string VocabularyWords = "VocabularyWords";

    /// <summary>Each vocabulary word's training frequency (share of training prompts that contain it), same order as the words.</summary>
    public const string VocabularyFrequencies = "VocabularyFrequencies";

    /// <summary>The model format version a saved model reports on every row.</summary>
    public const string ModelInfo = "ModelInfo";

    /// <summary>The ensemble's combined embedding (input of DAKL).</summary>
    public const string EnsembleEmbedding = "EnsembleEmbedding";

    /// <summary>The nearest bank prompts of a model zip with a prompt bank (text vector, best first).</summary>
    public const string NearestPrompts = "NearestPrompts";

    /// <summary>Their cosines to the predicted embedding.</summary>
    public const string NearestPromptScores = "NearestPromptScores";
}
