namespace ReverseSD.MLNet.Curriculum;

/// <summary>How per-epoch cosines are averaged into a difficulty score (paper §3, "Curriculum learning").</summary>
public enum DifficultyWeighting
{
    /// <summary>The paper: the plain mean of each sample's cosine over the preliminary epochs.</summary>
    Mean = 0,

    /// <summary>The official code: only epochs that improved the validation cosine count, later epochs weighted more (weight = epoch number).</summary>
    ImprovingEpochsWeighted = 1,
}

/// <summary>Which model's cosines make a pair's difficulty.</summary>
public enum DifficultyScoring
{
    /// <summary>The paper: the preliminary model trained on all pairs scores each of them (a memorised noisy pair looks easy).</summary>
    InSample = 0,

    /// <summary>K folds: the pairs of each fold are scored by a model trained on the other folds, so no pair scores itself.</summary>
    OutOfFold = 1,
}

/// <summary>
/// Turns the cosine similarity of every training sample after every preliminary epoch into a difficulty score
/// (paper §3): the mean cosine says how well the pair can be learned; difficulty is one minus it, so noisy,
/// misaligned pairs score high.
/// </summary>
public static class DifficultyScorer
{
    /// <summary>
    /// Scores samples from <paramref name="cosinesPerEpoch"/> ([epoch][sample]); <paramref name="validationCosinePerEpoch"/>
    /// is needed for <see cref="DifficultyWeighting.ImprovingEpochsWeighted"/>. Returns each sample's difficulty in [0, 2].
    /// </summary>
    public static double[] Score(
        IReadOnlyList<float[]> cosinesPerEpoch, DifficultyWeighting weighting = DifficultyWeighting.Mean,
        IReadOnlyList<double>? validationCosinePerEpoch = null)
    {
        ArgumentNullException.ThrowIfNull(cosinesPerEpoch);
        if (cosinesPerEpoch.Count == 0)
            throw new ArgumentException("Difficulty needs at least one preliminary epoch of cosines.", nameof(cosinesPerEpoch));
        int n = cosinesPerEpoch[0].Length;
        if (cosinesPerEpoch.Any(e => e.Length != n))
            throw new ArgumentException("Every epoch must hold one cosine per training sample.", nameof(cosinesPerEpoch));

        var weights = EpochWeights(cosinesPerEpoch.Count, weighting, validationCosinePerEpoch);
        double total = weights.Sum();
        var difficulty = new double[n];
        for (int i = 0; i < n; i++)
        {
            double mean = 0;
            for (int e = 0; e < weights.Length; e++)
                if (weights[e] > 0) mean += weights[e] * cosinesPerEpoch[e][i];
            difficulty[i] = 1 - mean / total;
        }
        return difficulty;
    }

    internal static double[] EpochWeights(int epochs, DifficultyWeighting weighting, IReadOnlyList<double>? validation)
    {
        var weights = new double[epochs];
        if (weighting == DifficultyWeighting.Mean)
        {
            Array.Fill(weights, 1.0);
            return weights;
        }
        if (validation == null || validation.Count != epochs)
            throw new ArgumentException(
                $"{nameof(DifficultyWeighting.ImprovingEpochsWeighted)} needs one validation cosine per preliminary epoch ({epochs}).");
        double best = double.NegativeInfinity;
        for (int e = 0; e < epochs; e++)
        {
            if (validation[e] > best)
            {
                best = validation[e];
                weights[e] = e + 1;
            }
        }
        return weights;
    }
}
