using Microsoft.ML;

namespace ReverseSD.MLNet.Ensemble;

/// <summary>One row of an ensemble ablation (paper Table 9): a combination of members and its mean cosine similarity.</summary>
public sealed record EnsembleAblationRow(IReadOnlyList<string> Members, double MeanCosine);

/// <summary>Evaluates every non-empty combination of ensemble members (paper Table 9).</summary>
public static class EnsembleAblation
{
    /// <summary>
    /// Mean cosine of every non-empty subset of <paramref name="memberColumnNames"/> combined by <paramref name="combination"/>,
    /// ordered as Table 9: single models, then pairs, triples, ..., each in member order. For a weighted mean,
    /// <paramref name="weights"/> (one per member) are restricted to the subset and renormalised.
    /// </summary>
    public static IReadOnlyList<EnsembleAblationRow> Evaluate(
        IDataView data, IReadOnlyList<string> memberColumnNames, string labelColumnName = ColumnNames.PromptEmbedding,
        EnsembleCombination combination = EnsembleCombination.Mean, float[]? weights = null)
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(memberColumnNames);
        if (memberColumnNames.Count is 0 or > 16)
            throw new ArgumentException("Between 1 and 16 members are needed.", nameof(memberColumnNames));
        if (combination == EnsembleCombination.WeightedMean)
        {
            ArgumentNullException.ThrowIfNull(weights, nameof(weights));
            EmbeddingCombiner.CheckWeights(weights, memberColumnNames.Count, nameof(weights));
        }
        var targets = EmbeddingMatrix.Read(data, labelColumnName, "ablation data (label column)");
        var members = memberColumnNames.Select(c => EmbeddingMatrix.Read(data, c, "ablation data (ensemble member)")).ToArray();
        foreach (var (x, name) in members.Zip(memberColumnNames))
            if (x.Columns != targets.Columns)
                throw new ReverseSdInputException($"Member column '{name}' has {x.Columns} values per row; the label column has {targets.Columns}.");

        var rows = new List<EnsembleAblationRow>();
        foreach (var subset in Subsets(members.Length))
        {
            var combined = EmbeddingCombiner.Combine(subset.Select(i => members[i]).ToArray(), combination, weights == null ? null : subset.Select(i => weights[i]).ToArray());
            rows.Add(new EnsembleAblationRow(subset.Select(i => memberColumnNames[i]).ToArray(), EmbeddingCombiner.MeanCosine(combined, targets.Values, targets.Columns)));
        }
        return rows;
    }

    /// <summary>Every non-empty subset of <paramref name="m"/> members as ascending indices, in Table 9 order: singles, pairs, ..., each in member order.</summary>
    internal static IReadOnlyList<int[]> Subsets(int m) => Enumerable.Range(1, (1 << m) - 1)
        .Select(mask => Enumerable.Range(0, m).Where(i => (mask & (1 << i)) != 0).ToArray())
        .OrderBy(s => s.Length)
        .ThenBy(s => s, Comparer<int[]>.Create((x, y) => x.Zip(y).Select(p => p.First.CompareTo(p.Second)).FirstOrDefault(c => c != 0)))
        .ToList();
}
