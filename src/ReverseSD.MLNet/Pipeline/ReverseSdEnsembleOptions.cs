using ReverseSD.MLNet.Dakl;
using ReverseSD.MLNet.Ensemble;
using ReverseSD.MLNet.Retrieval;

namespace ReverseSD.MLNet.Pipeline;

/// <summary>Options of <see cref="ReverseSdEnsemble.Train"/>: the members, the combination rule, DAKL and the kNN baseline.</summary>
public sealed class ReverseSdEnsembleOptions
{
    /// <summary>One training setup per member (its backbone and heads); each member is trained as by <see cref="ReverseSdModel.Train"/>.</summary>
    public IReadOnlyList<ReverseSdTrainingOptions> Members { get; set; } = [];

    /// <summary>How the members' embeddings are combined (paper §4.9); a weighted mean fits its weights on the validation split (on the training split when there is none).</summary>
    public EnsembleCombination Combination { get; set; } = EnsembleCombination.Mean;

    /// <summary>Fits DAKL (paper §3, Eq. 5–7) on the ensemble embedding.</summary>
    public bool UseDakl { get; set; }

    /// <summary>DAKL's r, capped at the training set size (paper: 10,000).</summary>
    public int DaklCentroids { get; set; } = DomainAdaptiveKernelOptions.Defaults.NumberOfCentroids;

    /// <summary>How DAKL's γ and α are chosen: on the validation split over the grids (default; fixed when there is no validation split) or fixed.</summary>
    public DaklSelectionMode DaklSelection { get; set; } = DaklSelectionMode.Validation;

    /// <summary>The γ values tried by validation selection (paper Table 10 tunes γ on validation).</summary>
    public IReadOnlyList<float> DaklGammaGrid { get; set; } = [0.001f, 0.01f, 0.1f, 1f];

    /// <summary>The α values tried by validation selection.</summary>
    public IReadOnlyList<float> DaklAlphaGrid { get; set; } = [0.01f, 0.1f, 1f, 10f];

    /// <summary>DAKL's γ when the selection is fixed (paper Table 10: 0.001).</summary>
    public float DaklGamma { get; set; } = DomainAdaptiveKernelOptions.Defaults.Gamma;

    /// <summary>DAKL's ridge penalty α when the selection is fixed (official code: 10).</summary>
    public float DaklAlpha { get; set; } = DomainAdaptiveKernelOptions.Defaults.Alpha;

    /// <summary>Folder of unlabelled target-domain images for DAKL; null uses the validation and test images (never their prompts).</summary>
    public string? AdaptToDirectory { get; set; }

    /// <summary>k of the kNN regression baseline in the first member's feature space (paper §4.10); 0 leaves it out.</summary>
    public int KnnNeighbors { get; set; } = NearestNeighborRegressionOptions.Defaults.NumberOfNeighbors;

    /// <summary>
    /// The prompt bank put into the model zip as its NearestPrompts stage: "train" (default: the distinct training prompts), "none",
    /// or the path of a bank file (see <see cref="ReverseSdTrainingOptions.PromptBank"/>).
    /// </summary>
    public string PromptBank { get; set; } = ReverseSdTrainingOptions.TrainingPromptsBank;

    /// <summary>The bank size limit (a seam, so a test needs no 2 GB bank).</summary>
    internal long MaxPromptBankBytes { get; set; } = ReverseSdTrainingOptions.DefaultMaxPromptBankBytes;
}

/// <summary>How DAKL's γ and α are chosen by <see cref="ReverseSdEnsemble.Train"/>.</summary>
public enum DaklSelectionMode
{
    /// <summary>Fit DAKL at every grid point, keep the best validation mean cosine, and keep no DAKL unless it beats the plain ensemble on validation.</summary>
    Validation = 0,

    /// <summary>Use <see cref="ReverseSdEnsembleOptions.DaklGamma"/> and <see cref="ReverseSdEnsembleOptions.DaklAlpha"/> as given.</summary>
    Fixed = 1,
}
