namespace ReverseSD.MLNet.Evaluation;

/// <summary>Area under the ROC curve of a score for a binary label (the Mann–Whitney U statistic, ties counted half).</summary>
public static class Auroc
{
    /// <summary>Probability that a random positive scores higher than a random negative; NaN when either class is empty.</summary>
    public static double Compute(IReadOnlyList<double> scores, IReadOnlyList<bool> positive)
    {
        ArgumentNullException.ThrowIfNull(scores);
        ArgumentNullException.ThrowIfNull(positive);
        if (scores.Count != positive.Count)
            throw new ArgumentException($"{scores.Count} scores but {positive.Count} labels.");
        var order = Enumerable.Range(0, scores.Count).OrderBy(i => scores[i]).ToArray();
        // Mid-ranks over tied scores.
        var rank = new double[scores.Count];
        for (int i = 0; i < order.Length;)
        {
            int j = i;
            while (j + 1 < order.Length && scores[order[j + 1]] == scores[order[i]]) j++;
            double mid = (i + j) / 2.0 + 1;
            for (int k = i; k <= j; k++) rank[order[k]] = mid;
            i = j + 1;
        }
        long nPos = positive.Count(p => p), nNeg = positive.Count - nPos;
        if (nPos == 0 || nNeg == 0) return double.NaN;
        double rankSum = 0;
        for (int i = 0; i < rank.Length; i++) if (positive[i]) rankSum += rank[i];
        return (rankSum - nPos * (nPos + 1) / 2.0) / ((double)nPos * nNeg);
    }
}
