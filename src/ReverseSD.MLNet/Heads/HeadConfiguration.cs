namespace ReverseSD.MLNet.Heads;

/// <summary>
/// How the prompt-embedding head and the vocabulary (multi-label) head are wired (paper §3, Fig. 3).
/// Values are persisted in reports: they are explicit and never renumbered.
/// </summary>
public enum HeadConfiguration
{
    /// <summary>The embedding head alone, trained with the cosine loss of Eq. 1 (no vocabulary head).</summary>
    Vanilla = 0,

    /// <summary>Configuration 1: both heads read the same image features, independently.</summary>
    Independent = 1,

    /// <summary>Configuration 2: the vocabulary logits are concatenated to the image features that feed the embedding head.</summary>
    VocabularyFeedsEmbedding = 2,

    /// <summary>Configuration 3: the vocabulary head reads the predicted embedding (best in the paper's Table 2).</summary>
    EmbeddingFeedsVocabulary = 3,
}

/// <summary>The optimizer of the heads trainer.</summary>
public enum HeadsOptimizer
{
    /// <summary>Adam; weight decay, when set, is added to the gradient (L2 penalty).</summary>
    Adam = 0,

    /// <summary>AdamW: decoupled weight decay.</summary>
    AdamW = 1,
}

/// <summary>Where the heads train.</summary>
public enum HeadsDevice
{
    /// <summary>CUDA when libtorch sees a GPU, otherwise the CPU.</summary>
    Auto = 0,

    /// <summary>The CPU.</summary>
    Cpu = 1,

    /// <summary>The first CUDA device (untested on the project's machines, which have no GPU).</summary>
    Cuda = 2,
}
