namespace ReverseSD.MLNet.Dakl;

/// <summary>One DAKL grid point and the validation mean cosine of the ensemble + DAKL fitted with it.</summary>
/// <param name="Gamma">DAKL's γ.</param>
/// <param name="Alpha">DAKL's α.</param>
/// <param name="ValidationMeanCosine">Mean cosine on the validation split.</param>
public sealed record DaklGridPoint(float Gamma, float Alpha, double ValidationMeanCosine);

/// <summary>How DAKL's settings were chosen and whether the fitted chain keeps DAKL.</summary>
/// <param name="OnValidation">True when chosen on the validation split; false when fixed.</param>
/// <param name="Gamma">The chosen (or fixed) γ.</param>
/// <param name="Alpha">The chosen (or fixed) α.</param>
/// <param name="Used">True when DAKL is kept: fixed settings, or the best grid point beat its input (the plain ensemble) on validation.</param>
/// <param name="PlainEnsembleValidationMeanCosine">The validation mean cosine of DAKL's input (the plain ensemble); null when fixed.</param>
/// <param name="Grid">Every grid point with its validation mean cosine, in grid order; empty when fixed.</param>
public sealed record DaklSelectionResult(bool OnValidation, float Gamma, float Alpha, bool Used, double? PlainEnsembleValidationMeanCosine,
    IReadOnlyList<DaklGridPoint> Grid);
