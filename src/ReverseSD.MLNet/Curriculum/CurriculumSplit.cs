namespace ReverseSD.MLNet.Curriculum;

/// <summary>How the training set is cut into easy, medium and hard chunks (paper §3).</summary>
public enum CurriculumSplitting
{
    /// <summary>No curriculum: the ordinary training regime.</summary>
    None = 0,

    /// <summary>Three equally sized chunks by difficulty (inspired by Ionescu et al., 2016).</summary>
    Thirds = 1,

    /// <summary>Two difficulty thresholds: a large easy chunk and a small hard one.</summary>
    Thresholds = 2,
}

/// <summary>The easy, medium and hard chunks of a training set, as sample indices sorted from easiest to hardest.</summary>
public sealed record CurriculumChunks(int[] Easy, int[] Medium, int[] Hard)
{
    /// <summary>All indices, easiest first.</summary>
    public int[] Ordered => [.. Easy, .. Medium, .. Hard];
}

/// <summary>Splits samples into curriculum chunks by their difficulty (paper §3, "two alternative data splitting heuristics").</summary>
public static class CurriculumSplit
{
    /// <summary>Three equal chunks; ties are broken by sample index so the split is deterministic.</summary>
    public static CurriculumChunks Thirds(IReadOnlyList<double> difficulty)
    {
        var order = SortedByDifficulty(difficulty);
        int n = order.Length, a = n / 3, b = 2 * n / 3;
        return new CurriculumChunks(order[..a], order[a..b], order[b..]);
    }

    /// <summary>
    /// Easy = difficulty ≤ <paramref name="easyMax"/>, hard = difficulty &gt; <paramref name="mediumMax"/>, medium in between.
    /// The paper sets the first threshold so "easy" holds a large share and the second so "hard" holds a small one.
    /// </summary>
    public static CurriculumChunks ByThresholds(IReadOnlyList<double> difficulty, double easyMax, double mediumMax)
    {
        if (!(easyMax <= mediumMax))
            throw new ArgumentException($"The easy threshold ({easyMax}) must not exceed the medium threshold ({mediumMax}).");
        var order = SortedByDifficulty(difficulty);
        return new CurriculumChunks(
            order.Where(i => difficulty[i] <= easyMax).ToArray(),
            order.Where(i => difficulty[i] > easyMax && difficulty[i] <= mediumMax).ToArray(),
            order.Where(i => difficulty[i] > mediumMax).ToArray());
    }

    /// <summary>Picks the two thresholds that give the target shares (e.g. 0.6 easy, 0.3 medium, the rest hard).</summary>
    public static (double EasyMax, double MediumMax) ThresholdsFromShares(IReadOnlyList<double> difficulty, double easyShare, double mediumShare)
    {
        if (easyShare <= 0 || mediumShare < 0 || easyShare + mediumShare > 1)
            throw new ArgumentException($"Shares must satisfy 0 < easy, 0 ≤ medium and easy + medium ≤ 1 (got {easyShare}, {mediumShare}).");
        var sorted = difficulty.Order().ToArray();
        if (sorted.Length == 0) throw new ArgumentException("No difficulty scores.", nameof(difficulty));
        double At(double share) => sorted[Math.Clamp((int)Math.Ceiling(share * sorted.Length) - 1, 0, sorted.Length - 1)];
        return (At(easyShare), At(easyShare + mediumShare));
    }

    private static int[] SortedByDifficulty(IReadOnlyList<double> difficulty)
    {
        ArgumentNullException.ThrowIfNull(difficulty);
        return Enumerable.Range(0, difficulty.Count).OrderBy(i => difficulty[i]).ThenBy(i => i).ToArray();
    }
}
