
namespace ReverseSD.MLNet.Ensemble;

/// <summary>
/// Coordinate search on the simplex for the weighted-mean ensemble: starting from equal weights, move one weight up or down
/// by a step (renormalising), keep moves that raise the mean cosine, halve the step when none does.
/// </summary>
internal static class EnsembleWeightSearch
{
    public sealed record Result(float[] Weights, double MeanCosine, double EqualWeightsMeanCosine);

    public static Result Run(IReadOnlyList<EmbeddingMatrix> members, EmbeddingMatrix targets, double initialStep = 0.2, double finalStep = 0.005)
    {
        int m = members.Count, n = targets.Rows, d = targets.Columns;
        foreach (var x in members)
            if (x.Rows != n || x.Columns != d)
                throw new ReverseSdInputException($"The validation data's members and labels differ in shape ({x.Rows}×{x.Columns} vs {n}×{d}).");
        // Per row: a[k] = <u_k, t>/|t| and gram[k,l] = <u_k, u_l> for unit members u; cos(w) = w·a / sqrt(wᵀ gram w).
        var normalised = members.Select(x => EmbeddingMatrix.NormaliseRows(x.Values, d)).ToArray();
        var t = EmbeddingMatrix.NormaliseRows(targets.Values, d);
        var a = new double[n * m];
        var gram = new double[n * m * m];
        for (int i = 0; i < n; i++)
        {
            for (int k = 0; k < m; k++)
            {
                var uk = normalised[k].AsSpan(i * d, d);
                a[i * m + k] = Dot(uk, t.AsSpan(i * d, d));
                for (int l = k; l < m; l++)
                    gram[(i * m + k) * m + l] = gram[(i * m + l) * m + k] = Dot(uk, normalised[l].AsSpan(i * d, d));
            }
        }

        double Score(double[] w)
        {
            double total = 0;
            for (int i = 0; i < n; i++)
            {
                double num = 0, den = 0;
                for (int k = 0; k < m; k++)
                {
                    num += w[k] * a[i * m + k];
                    for (int l = 0; l < m; l++) den += w[k] * w[l] * gram[(i * m + k) * m + l];
                }
                total += num / Math.Max(Math.Sqrt(den), 1e-12);
            }
            return total / n;
        }

        var weights = Enumerable.Repeat(1.0 / m, m).ToArray();
        double equal = Score(weights), best = equal;
        for (double step = initialStep; step >= finalStep && m > 1; step /= 2)
        {
            bool improved = true;
            for (int round = 0; improved && round < 1000; round++)
            {
                improved = false;
                for (int k = 0; k < m; k++)
                {
                    foreach (double sign in (ReadOnlySpan<double>)[1.0, -1.0])
                    {
                        var candidate = (double[])weights.Clone();
                        candidate[k] = Math.Max(0, candidate[k] + sign * step);
                        double sum = candidate.Sum();
                        if (sum <= 0) continue;
                        for (int l = 0; l < m; l++) candidate[l] /= sum;
                        double score = Score(candidate);
                        if (score > best + 1e-12)
                        {
                            best = score;
                            weights = candidate;
                            improved = true;
                        }
                    }
                }
            }
        }
        return new Result(weights.Select(w => (float)w).ToArray(), best, equal);
    }

    private static double Dot(ReadOnlySpan<float> x, ReadOnlySpan<float> y)
    {
        double s = 0;
        for (int j = 0; j < x.Length; j++) s += (double)x[j] * y[j];
        return s;
    }
}
