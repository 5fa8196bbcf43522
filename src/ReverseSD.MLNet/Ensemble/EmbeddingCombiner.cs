
namespace ReverseSD.MLNet.Ensemble;

/// <summary>The ensemble rules on in-memory matrices (for the weight search and the ablation table).</summary>
internal static class EmbeddingCombiner
{
    public static void CheckWeights(float[] weights, int members, string optionName)
    {
        if (weights.Length != members)
            throw new ArgumentException($"{optionName} has {weights.Length} values for {members} members.", optionName);
        if (weights.Any(w => !(w >= 0) || float.IsInfinity(w)) || weights.Sum() <= 0)
            throw new ArgumentException($"{optionName} must be non-negative finite numbers with a positive sum.", optionName);
    }

    public static float[] NormaliseWeights(float[] weights)
    {
        double sum = weights.Sum(w => (double)w);
        return weights.Select(w => (float)(w / sum)).ToArray();
    }

    /// <summary>Combines members (each n × d) into the unit-norm ensemble embedding (n × d).</summary>
    public static float[] Combine(IReadOnlyList<EmbeddingMatrix> members, EnsembleCombination combination, float[]? weights = null)
    {
        int n = members[0].Rows, d = members[0].Columns, m = members.Count;
        var normalised = members.Select(x => EmbeddingMatrix.NormaliseRows(x.Values, d)).ToArray();
        float[] w = combination == EnsembleCombination.WeightedMean && weights != null ? NormaliseWeights(weights) : Enumerable.Repeat(1f / m, m).ToArray();
        var result = new float[n * d];
        var column = new float[m];
        for (int i = 0; i < n; i++)
        {
            for (int j = 0; j < d; j++)
            {
                int at = i * d + j;
                if (combination == EnsembleCombination.Median)
                {
                    for (int k = 0; k < m; k++) column[k] = normalised[k][at];
                    Array.Sort(column);
                    result[at] = m % 2 == 1 ? column[m / 2] : (column[m / 2 - 1] + column[m / 2]) / 2f;
                }
                else
                {
                    float sum = 0;
                    for (int k = 0; k < m; k++) sum += w[k] * normalised[k][at];
                    result[at] = sum;
                }
            }
        }
        return EmbeddingMatrix.NormaliseRows(result, d);
    }

    /// <summary>Mean cosine similarity between the rows of two n × d matrices.</summary>
    public static double MeanCosine(float[] predictions, float[] targets, int d)
    {
        int n = predictions.Length / d;
        double total = 0;
        for (int i = 0; i < n; i++)
        {
            double dot = 0, pp = 0, tt = 0;
            for (int j = 0; j < d; j++)
            {
                double p = predictions[i * d + j], t = targets[i * d + j];
                dot += p * t; pp += p * p; tt += t * t;
            }
            total += dot / Math.Max(Math.Sqrt(pp * tt), 1e-12);
        }
        return total / n;
    }
}
